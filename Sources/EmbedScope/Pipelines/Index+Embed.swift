import Foundation
#if canImport(Glibc)
import Glibc
#endif
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeModels
import EmbedScopeAnalysis
import EmbedScopeReport

extension Index {
    /// The model that made this index's embedding space, loaded from the weights recorded at
    /// build time (or `weights`, which overrides them), with the recorded preprocessing.
    public func loadModel(weights: URL? = nil) throws -> LoadedModel {
        let meta = try catalog.meta()
        guard let name = meta["model"] else {
            let how = spaces.contains { $0.name == "embedding" } ? "its embeddings were imported, so EmbedScope cannot compute new ones"
                                                                : "it has no model embedding space"
            throw EmbedScopeError(.invalidArgument, "this index was not built with a native model: \(how)", path: url.path,
                                  hint: "build it with `embedscope build DATASET --model efficientnet-lite0`, or embed the image yourself and use --vector")
        }
        let w = try buildWeights(given: weights, meta: meta, changed: "no image was embedded")
        let classes = try catalog.classes().map(\.name)
        // The key prefix and preprocessing the build recorded (an older index has neither: defaults).
        return try ModelRegistry.load(name, weights: w, datasetClasses: classes, options: CheckpointMeta.options(meta))
    }

    /// The checkpoint this index's embedding space was made with: the recorded file, or `given`
    /// when it holds the same bytes (a moved or copied file; the model's default weights found
    /// where they are now, when those are the bytes recorded), its CRC-32 compared with the one
    /// recorded at build time (`meta.weightsHash`). Anything else is refused: other weights embed
    /// into another space, and a query against this index would answer from it with exit 0 (the
    /// recorded file gone, `query --image` loaded the model's default weights; overwritten by a
    /// later checkpoint, it loaded those). `changed` ends the refusals ("nothing was changed").
    func buildWeights(given: URL?, meta: [String: String], changed: String) throws -> URL {
        let recorded = meta["weights"].map { URL(fileURLWithPath: $0) }
        let recordedExists = recorded.map { FileManager.default.fileExists(atPath: $0.path) } ?? false
        var use = recordedExists ? recorded : nil
        var hashed: String?  // the checksum of `use`, once read (a checkpoint is read once)
        if let given = given?.standardizedFileURL {
            let same = recorded.map { Growth.canonical(given) == Growth.canonical($0) } ?? false
            if !same {
                // Another path: the same bytes are fine (a moved or copied file), anything else is refused.
                let expected = try meta["weightsHash"] ?? recorded.flatMap { recordedExists ? $0 : nil }.map(IndexGrowth.fileHash)
                guard let expected else {
                    throw EmbedScopeError(.refused, "cannot tell whether \(given.lastPathComponent) are the weights this index was built with (\(meta["weights"] ?? "not recorded"), which is gone)",
                                          path: url.path, hint: "rebuild the index with these weights; \(changed)")
                }
                hashed = try IndexGrowth.fileHash(given)
                guard hashed == expected else {
                    throw EmbedScopeError(.refused, "--weights \(given.path) are not the weights this index was built with (\(meta["weights"] ?? "?"))",
                                          path: url.path, hint: "use the index's own weights, or build a new index for other weights; \(changed)")
                }
            }
            use = given
        }
        if use == nil, given == nil, let name = meta["model"], let h = meta["weightsHash"],
           let fallback = try? ModelWeights.locate(model: name, override: nil), (try? IndexGrowth.fileHash(fallback)) == h {
            use = fallback  // the model's default weights, moved with the installation: the same bytes
            hashed = h
        }
        guard let weights = use else {
            let recorded = meta["weights"]
            // There but not readable (or behind a folder this user may not enter, like /root): not "gone".
            let unreadable = recorded.map { path -> Bool in
                var st = stat()
                if stat(path, &st) == 0 { return access(path, R_OK) != 0 }
                return errno == EACCES
            } ?? false
            throw EmbedScopeError(.refused, "the weights this index was built with are \(unreadable ? "not readable by this user" : "gone"): \(recorded ?? "not recorded")", path: url.path,
                                  hint: "pass --weights with the same file (checked against the recorded checksum); \(changed)")
        }
        if let h = meta["weightsHash"] {
            let now = try hashed ?? IndexGrowth.fileHash(weights)
            guard now == h else {
                throw EmbedScopeError(.refused, "\(weights.path) changed since the index was built (checksum \(now), recorded \(h))",
                                      path: url.path, hint: "restore the original weights, or rebuild the index; \(changed)")
            }
        }
        return weights
    }

    /// Embeds image files with `model` (decode → preprocessing → forward), in batches.
    /// Returns one raw (not normalized) feature vector per file, in order.
    public static func embed(images: [URL], with model: LoadedModel, batchSize: Int = 32) throws -> [[Float]] {
        var out: [[Float]] = []
        let d = model.extractor.featureDim
        var start = 0
        while start < images.count {
            let end = min(images.count, start + batchSize)
            let inputs = parallelResults(end - start) { j in
                model.preprocessing.apply(try ImageDecoder.decode(contentsOf: images[start + j]))
            }
            let batch = try inputs.map { try $0.get() }
            let f = try model.extractor.forward(batch.flatMap { $0 }, count: batch.count).features
            for i in 0..<batch.count { out.append(Array(f[(i * d)..<((i + 1) * d)])) }
            start = end
        }
        return out
    }
}
