import Dispatch
import Foundation

/// `embedscope build`: an image folder → an index. Each image is read and decoded once;
/// every space is computed from that one decode. Images that cannot be decoded are
/// reported and skipped (or, with `strict`, fail the build before anything is written).
public struct BuildRequest: Sendable {
    public var dataset: URL
    public var out: URL
    public var pixelSize: Int = PixelSpace.defaultSize
    public var strict = false
    public var force = false
    public var limit: Int? = nil
    public init(dataset: URL, out: URL) { self.dataset = dataset; self.out = out }
}

public struct BuildSummary: Sendable {
    public var rows: Int
    public var classes: [String]
    public var classCounts: [Int]
    public var skipped: [(path: String, reason: String)]
    public var ignoredFiles: Int
    public var spaces: [(name: String, dim: Int)]
    public var seconds: Double
}

public enum FolderBuilder {
    public static func run(_ req: BuildRequest, progress: ProgressSink = SilentProgress()) throws -> BuildSummary {
        let t0 = DispatchTime.now()
        guard (4...256).contains(req.pixelSize) else {
            throw EmbedScopeError(.invalidArgument, "--pixel-size \(req.pixelSize) is out of range (4…256)")
        }
        var folder = try DatasetFolder.scan(req.dataset)
        if let limit = req.limit { folder.entries = Array(folder.entries.prefix(limit)) }
        let builder = try IndexBuilder(destination: req.out, overwrite: req.force)
        let s = req.pixelSize
        let pixelDim = 3 * s * s
        let pixels = try builder.beginSpace(name: "pixel", model: "pixels", dim: pixelDim, preprocessing: PixelSpace.describe(size: s))
        var images: [ImageRecord] = []
        var skipped: [(String, String)] = []
        var counts = [Int](repeating: 0, count: folder.classes.count)

        struct Decoded { var vector: [Float]; var width: Int; var height: Int; var bytes: Int; var hash: String }
        let total = folder.entries.count
        progress.begin("build", total: total)
        let batch = 256
        var start = 0
        while start < total {
            let end = min(total, start + batch)
            var results = [Result<Decoded, Error>?](repeating: nil, count: end - start)
            results.withUnsafeMutableBufferPointer { out in
                let o = out
                DispatchQueue.concurrentPerform(iterations: end - start) { j in
                    let url = folder.root.appendingPathComponent(folder.entries[start + j].path)
                    o[j] = Result {
                        let data: Data
                        do { data = try Data(contentsOf: url) } catch {
                            throw ImageError(kind: .unreadable, path: url.path, reason: "cannot read file (\(error.localizedDescription))")
                        }
                        let img = try ImageDecoder.decode(data: data, path: url.path)
                        let v = PixelSpace.vector(of: img, size: s)
                        guard v.contains(where: { $0 != 0 }) else {
                            throw ImageError(kind: .unsupported, path: url.path, reason: "all-black image: its pixel vector has no direction")
                        }
                        return Decoded(vector: v, width: img.width, height: img.height, bytes: data.count,
                                       hash: hex(Checksum.crc32(data)))
                    }
                }
            }
            for (j, r) in results.enumerated() {
                let e = folder.entries[start + j]
                switch r! {
                case .success(let d):
                    try pixels.append(d.vector, what: e.path)
                    images.append(ImageRecord(row: images.count, path: e.path, classId: e.classId, width: d.width,
                                              height: d.height, bytes: d.bytes, contentHash: d.hash))
                    counts[e.classId] += 1
                case .failure(let err):
                    if req.strict {
                        progress.end()
                        throw EmbedScopeError(.dataset, "cannot use \(e.path): \(err)", path: req.dataset.path,
                                              hint: "remove or fix the file, or build without --strict to skip such files")
                    }
                    skipped.append((e.path, (err as? ImageError)?.reason ?? String(describing: err)))
                }
            }
            start = end
            progress.update(end)
        }
        progress.end()
        guard !images.isEmpty else {
            throw EmbedScopeError(.dataset, "none of the \(total) images could be decoded", path: req.dataset.path)
        }
        // A class whose every image was skipped keeps its id (ids stay ImageFolder's) with zero rows.
        try pixels.finish()
        try builder.setImages(classes: folder.classes, images: images, meta: [
            "created": isoNow(), "source": "build", "datasetRoot": req.dataset.standardizedFileURL.path,
        ])
        try builder.commit()
        let secs = Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9
        return BuildSummary(rows: images.count, classes: folder.classes, classCounts: counts, skipped: skipped,
                            ignoredFiles: folder.ignored, spaces: [("pixel", pixelDim)], seconds: secs)
    }
}
