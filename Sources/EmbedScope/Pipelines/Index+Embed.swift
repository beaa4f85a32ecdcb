import Foundation
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
        let recorded = meta["weights"].map { URL(fileURLWithPath: $0) }
        let w = weights ?? recorded.flatMap { FileManager.default.fileExists(atPath: $0.path) ? $0 : nil }
        let classes = try catalog.classes().map(\.name)
        // The key prefix and preprocessing the build recorded (an older index has neither: defaults).
        return try ModelRegistry.load(name, weights: w, datasetClasses: classes, options: CheckpointMeta.options(meta))
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
