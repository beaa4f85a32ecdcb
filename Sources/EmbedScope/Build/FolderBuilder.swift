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
    /// Key prefix and preprocessing overrides for the model (`--strip-prefix`, `--resize`, `--crop`, `--mean`, `--std`).
    public var modelOptions = ModelOptions()
    /// Decode the next batches while the network runs the current one (`FolderBuilder+Pipeline`);
    /// false runs the stages one after the other (same output). Default true, unless the
    /// environment sets `EMBEDSCOPE_BUILD_OVERLAP=0` (for benchmarks).
    public var overlap = ProcessInfo.processInfo.environment["EMBEDSCOPE_BUILD_OVERLAP"] != "0"
    /// Also write a half-precision copy of every space (`--storage f16|bf16`); nil: float32 only.
    public var storage: HalfStorage? = nil
    public init(dataset: URL, out: URL) { self.dataset = dataset; self.out = out }
}

public struct BuildSummary: Sendable {
    public var rows: Int
    public var classes: [String]
    public var classCounts: [Int]
    public var skipped: [(path: String, reason: String)]
    public var ignoredFiles: Int
    /// Images left out because their format is not read here (.webp, .bmp, …): count per extension.
    public var unreadImages: [String: Int] = [:]
    public var spaces: [(name: String, dim: Int)]
    public var seconds: Double
    /// Seconds spent in the model's forward pass (0 without a model).
    public var forwardSeconds: Double = 0
    public var prototypeSet: (name: String, count: Int, namesFrom: String)? = nil
    /// Images decoded (once each, whatever the number of checkpoints).
    public var decodes = 0
    /// What the checkpoint said about its training run, and the key prefix it was read with (nil without a model).
    public var checkpoint: CheckpointInfo? = nil
    public var keyPrefix: KeyPrefix? = nil
}

public enum FolderBuilder {
    /// The `preprocessing` text of a model's embedding space (compared by `add`).
    public static func embeddingPreprocessing(_ model: LoadedModel) -> String {
        model.preprocessing.summary + "; penultimate features (global average pool)"
    }

    public static func run(_ req: BuildRequest, progress: ProgressSink = SilentProgress()) throws -> BuildSummary {
        let t0 = DispatchTime.now()
        try PixelSpace.checkSize(req.pixelSize)
        try IndexDirectory.refuseOverlap(req.out, protecting: [req.dataset])
        var folder = try DatasetFolder.scan(req.dataset)
        if let limit = req.limit {
            folder.entries = StratifiedLimit.select(labels: folder.entries.map(\.classId), limit: limit, seed: req.limitSeed).map { folder.entries[$0] }
        }
        if let shard = req.shard { folder.entries = try shard.select(folder.entries, root: req.dataset) }
        let model = try req.model.map { try ModelRegistry.load($0, weights: req.weights, datasetClasses: folder.classes, options: req.modelOptions) }
        let target = try Target(model: model, out: req.out, req: req)
        let pass = try decodePass(folder, targets: [target], req: req, label: model.map { "build (\($0.extractor.name))" } ?? "build", progress: progress)
        let (spaces, protoSummary) = try commit(target, pass: pass, folder: folder, req: req)
        let secs = Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9
        return BuildSummary(rows: pass.images.count, classes: folder.classes, classCounts: pass.counts, skipped: pass.skipped,
                            ignoredFiles: folder.ignored, unreadImages: folder.unreadImages, spaces: spaces, seconds: secs, forwardSeconds: target.forwardSeconds,
                            prototypeSet: protoSummary, decodes: pass.decodes, checkpoint: model?.checkpoint, keyPrefix: model?.keyPrefix)
    }
}
