import Foundation

extension Index {
    /// Which space a new image (`query --image`) is searched in, and its raw vectors there.
    ///
    /// Only a space this build can compute for a new image is searchable: the pixel space
    /// (no model needed — any index that has one, imported or built) and the spaces the index's
    /// own native model produced (`meta.model`, loaded from the recorded or given weights). A
    /// space of imported vectors was made by a model EmbedScope does not run, so searching it
    /// with our embedding would compare unrelated vectors: refused, naming the searchable spaces.
    /// Default: `embedding` (or another space) when the index's model made it; `pixel` on an
    /// index of pixels only. An index whose embedding was imported is refused without `space`:
    /// its pixel neighbours are not what a search of that index means by default.
    public func imageQueryVectors(images: [URL], space requested: String?, weights: URL? = nil) throws -> (space: String, vectors: [[Float]]) {
        let model = try catalog.meta()["model"]
        func isPixel(_ s: SpaceRecord) -> Bool {
            guard s.model == "pixels", s.dim % 3 == 0 else { return false }
            let side = Int(Double(s.dim / 3).squareRoot().rounded())
            return side * side * 3 == s.dim && s.preprocessing == PixelSpace.describe(size: side)
        }
        let searchable = spaces.filter { isPixel($0) || (model != nil && $0.model == model) }
        let name: String
        if let requested {
            let s = try space(requested)
            guard searchable.contains(s) else {
                throw EmbedScopeError(.invalidArgument,
                                      "space '\(requested)' holds vectors made by '\(s.model)', which EmbedScope cannot compute for a new image",
                                      path: url.path,
                                      hint: searchable.isEmpty ? "embed the image with the same model yourself and use --vector"
                                          : "search \(searchable.map { "--space \($0.name)" }.joined(separator: " or ")), or embed the image with '\(s.model)' yourself and use --vector")
            }
            name = requested
        } else if let e = searchable.first(where: { !isPixel($0) && $0.name == "embedding" }) ?? searchable.first(where: { !isPixel($0) }) {
            name = e.name
        } else if let d = try? defaultSpace(), searchable.contains(where: { $0.name == d }) {
            name = d   // what a search of this index defaults to (a pixels-only index: pixel)
        } else if !searchable.isEmpty, let imported = try? space(defaultSpace()) {
            // The space a search defaults to holds imported vectors: answering from the pixel
            // space instead, unasked, would pass pixel neighbours off as the model's.
            throw EmbedScopeError(.invalidArgument,
                                  "this index's '\(imported.name)' space holds vectors made by '\(imported.model)', which EmbedScope cannot compute for a new image",
                                  path: url.path,
                                  hint: "search \(searchable.map { "--space \($0.name)" }.joined(separator: " or ")) explicitly, or embed the image with '\(imported.model)' yourself and use --vector")
        } else {
            throw EmbedScopeError(.invalidArgument, "no space of this index can be computed for a new image (it has no pixel space and no native model space)",
                                  path: url.path, hint: "embed the image yourself and use --vector")
        }
        let s = try space(name)
        let vectors: [[Float]]
        if isPixel(s) {
            let side = Int(Double(s.dim / 3).squareRoot().rounded())
            vectors = try images.map { try PixelSpace.vector(of: ImageDecoder.decode(contentsOf: $0), size: side) }
        } else {
            vectors = try Index.embed(images: images, with: loadModel(weights: weights))
        }
        // A vector of zeros has no direction to compare (an all-black image in the pixel space):
        // named here, by its file, rather than as "query vector i" of a batch.
        if let i = vectors.firstIndex(where: { $0.allSatisfy { $0 == 0 } }) {
            throw EmbedScopeError(.invalidArgument,
                                  "this image's vector in space '\(name)' is all zeros\(isPixel(s) ? " (the image is black throughout)" : ""): it has no direction to compare",
                                  path: images[i].path,
                                  hint: images.count > 1 ? "leave it out of the folder (build skips such images too)" : "query with another image")
        }
        return (name, vectors)
    }
}

/// The answers for one new image (`query --image`).
public struct ImageQueryResult: Sendable {
    /// The image file, as given (or found in the given folder).
    public var image: String
    public var results: [ResultRow]
}

extension Index {
    /// The image files a `query --image` argument names: the file itself, or every
    /// .jpg/.jpeg/.png directly inside a folder, sorted by name.
    public static func queryImageFiles(at url: URL) throws -> [URL] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw EmbedScopeError(.notFound, "no such image or folder", path: url.path)
        }
        guard isDir.boolValue else { return [url] }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: url.path) } catch {
            throw EmbedScopeError(.io, "cannot list this folder: \(EmbedScopeError.describe(error))", path: url.path)
        }
        let files = names.filter { DatasetFolder.extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
            .map { url.appendingPathComponent($0) }
        guard !files.isEmpty else { throw EmbedScopeError(.dataset, "no .jpg/.jpeg/.png files in this folder", path: url.path) }
        return files
    }

    /// Query by new images: each image (a file, or every image in a folder) is embedded with the
    /// index's own model (or as pixels, for the pixel space; see `imageQueryVectors`) and all of
    /// them are searched in one batched pass.
    public func searchImages(at url: URL, options: SearchOptions, weights: URL? = nil,
                             progress: ProgressSink = SilentProgress()) throws -> [ImageQueryResult] {
        let files = try Index.queryImageFiles(at: url)
        let (space, vectors) = try imageQueryVectors(images: files, space: options.space, weights: weights)
        var o = options
        o.space = space
        let answers = try searchBatch(vectors.map { QuerySource.vector($0) }, options: o, progress: progress)
        return zip(files, answers).map { ImageQueryResult(image: $0.path, results: $1) }
    }
}
