import Dispatch
import Foundation
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeModels
import EmbedScopeAnalysis
import EmbedScopeReport

/// `embedscope build`: an image folder → an index. Each image is read and decoded once;
/// every space (pixels, the model's embedding) is computed from that one decode, and the
/// model's classifier head becomes a prototype set. Images that cannot be decoded are
/// reported and skipped (or, with `strict`, fail the build before anything is written).
public struct BuildRequest: Sendable {
    public var dataset: URL
    public var out: URL
    /// A native model name (`ModelRegistry.names`) or nil for pixels only.
    public var model: String? = nil
    public var weights: URL? = nil
    /// Images per forward pass.
    public var batchSize = 32
    public var pixelSize: Int = PixelSpace.defaultSize
    public var strict = false
    public var force = false
    /// Index at most this many images, spread over the classes (`StratifiedLimit`, seeded by `limitSeed`).
    public var limit: Int? = nil
    public var limitSeed: UInt64 = 0
    /// Index only the images of this shard (`build --shard i/n`, after `limit`); `merge` joins the shards.
    public var shard: Shard? = nil
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
    /// Seconds spent in the model's forward pass (0 without a model).
    public var forwardSeconds: Double = 0
    public var prototypeSet: (name: String, count: Int, namesFrom: String)? = nil
}

public enum FolderBuilder {
    /// The `preprocessing` text of a model's embedding space (compared by `add`).
    public static func embeddingPreprocessing(_ model: LoadedModel) -> String {
        model.preprocessing.summary + "; penultimate features (global average pool)"
    }

    public static func run(_ req: BuildRequest, progress: ProgressSink = SilentProgress()) throws -> BuildSummary {
        let t0 = DispatchTime.now()
        guard (4...256).contains(req.pixelSize) else {
            throw EmbedScopeError(.invalidArgument, "--pixel-size \(req.pixelSize) is out of range (4…256)")
        }
        try IndexDirectory.refuseOverlap(req.out, protecting: [req.dataset])
        var folder = try DatasetFolder.scan(req.dataset)
        if let limit = req.limit {
            folder.entries = StratifiedLimit.select(labels: folder.entries.map(\.classId), limit: limit, seed: req.limitSeed).map { folder.entries[$0] }
        }
        if let shard = req.shard { folder.entries = try shard.select(folder.entries, root: req.dataset) }
        let model = try req.model.map { try ModelRegistry.load($0, weights: req.weights, datasetClasses: folder.classes) }
        let builder = try IndexBuilder(destination: req.out, overwrite: req.force, protecting: [req.dataset])
        let s = req.pixelSize
        let pixelDim = 3 * s * s
        let pixels = try builder.beginSpace(name: "pixel", model: "pixels", dim: pixelDim, preprocessing: PixelSpace.describe(size: s))
        let embedding = try model.map {
            try builder.beginSpace(name: "embedding", model: $0.extractor.name, dim: $0.extractor.featureDim,
                                   preprocessing: embeddingPreprocessing($0))
        }
        var images: [ImageRecord] = []
        var skipped: [(String, String)] = []
        var counts = [Int](repeating: 0, count: folder.classes.count)
        var forwardSeconds = 0.0

        struct Decoded { var vector: [Float]; var input: [Float]; var width: Int; var height: Int; var bytes: Int; var hash: String }
        let total = folder.entries.count
        progress.begin(model.map { "build (\($0.extractor.name))" } ?? "build", total: total)
        let batch = model == nil ? 256 : max(1, req.batchSize)
        var start = 0
        while start < total {
            let end = min(total, start + batch)
            let results = parallelResults(end - start) { j -> Decoded in
                let url = folder.root.appendingPathComponent(folder.entries[start + j].path)
                let data: Data
                do { data = try Data(contentsOf: url) } catch {
                    throw ImageError(kind: .unreadable, path: url.path, reason: "cannot read file (\(error.localizedDescription))")
                }
                let img = try ImageDecoder.decode(data: data, path: url.path)
                let v = PixelSpace.vector(of: img, size: s)
                guard v.contains(where: { $0 != 0 }) else {
                    throw ImageError(kind: .unsupported, path: url.path, reason: "all-black image: its pixel vector has no direction")
                }
                return Decoded(vector: v, input: model?.preprocessing.apply(img) ?? [], width: img.width, height: img.height,
                               bytes: data.count, hash: hex(Checksum.crc32(data)))
            }
            var good: [(entry: DatasetFolder.Entry, decoded: Decoded)] = []
            for (j, r) in results.enumerated() {
                let e = folder.entries[start + j]
                switch r {
                case .success(let d): good.append((e, d))
                case .failure(let err):
                    if req.strict {
                        progress.end()
                        throw EmbedScopeError(.dataset, "cannot use \(e.path): \(err)", path: req.dataset.path,
                                              hint: "remove or fix the file, or build without --strict to skip such files")
                    }
                    skipped.append((e.path, (err as? ImageError)?.reason ?? String(describing: err)))
                }
            }
            var features: [Float] = []
            if let model, !good.isEmpty {
                let t = DispatchTime.now().uptimeNanoseconds
                features = try model.extractor.forward(good.flatMap(\.decoded.input), count: good.count).features
                forwardSeconds += Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
            }
            for (i, g) in good.enumerated() {
                try pixels.append(g.decoded.vector, what: g.entry.path)
                if let embedding {
                    let d = embedding.dim
                    try features.withUnsafeBufferPointer { try embedding.append(UnsafeBufferPointer(rebasing: $0[(i * d)..<((i + 1) * d)]), what: "features of \(g.entry.path)") }
                }
                images.append(ImageRecord(row: images.count, path: g.entry.path, classId: g.entry.classId, split: g.entry.split, width: g.decoded.width,
                                          height: g.decoded.height, bytes: g.decoded.bytes, contentHash: g.decoded.hash))
                counts[g.entry.classId] += 1
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
        var spaces = [("pixel", pixelDim)]
        var meta = ["created": isoNow(), "source": "build", "datasetRoot": req.dataset.standardizedFileURL.path]
        var protoSummary: (String, Int, String)?
        if let model, let embedding {
            try embedding.finish()
            spaces.insert(("embedding", embedding.dim), at: 0)
            // A headless backbone (no classifier in the checkpoint) gives embeddings only.
            if model.extractor.classCount > 0 {
                let head = model.extractor.head
                try builder.addPrototypeSet(name: model.prototypeSet, space: "embedding", dim: embedding.dim,
                                            source: "\(model.extractor.name) classifier head (\(model.weights.lastPathComponent))",
                                            names: model.headNames, weights: head.weights, bias: head.bias)
                protoSummary = (model.prototypeSet, model.headNames.count, model.headNamesSource)
            }
            meta["model"] = model.extractor.name
            meta["weights"] = model.weights.standardizedFileURL.path
            meta["weightsHash"] = try IndexGrowth.fileHash(model.weights)
        }
        if let shard = req.shard { meta[Growth.shardKey] = shard.description }
        try builder.setImages(classes: folder.classes, images: images, meta: meta)
        try builder.commit()
        let secs = Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9
        return BuildSummary(rows: images.count, classes: folder.classes, classCounts: counts, skipped: skipped,
                            ignoredFiles: folder.ignored, spaces: spaces, seconds: secs, forwardSeconds: forwardSeconds,
                            prototypeSet: protoSummary)
    }
}
