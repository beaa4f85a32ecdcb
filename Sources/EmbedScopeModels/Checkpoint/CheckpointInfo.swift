import Foundation
import EmbedScopeCore
import EmbedScopeImages

/// What a checkpoint says about the training run that wrote it: PyTorch Lightning saves the
/// top-level ints `epoch` and `global_step` beside `state_dict`, and lays checkpoints out as
/// `lightning_logs/version_<k>/checkpoints/<name>.ckpt` (the version is read from that folder
/// name). Every field is nil when absent (a plain `torch.save(model.state_dict())`).
public struct CheckpointInfo: Sendable, Equatable, Codable {
    public var epoch: Int?
    public var globalStep: Int?
    /// `k` of a `version_<k>` folder among the checkpoint's parent folders (nearest first).
    public var version: Int?

    public init(epoch: Int? = nil, globalStep: Int? = nil, version: Int? = nil) {
        self.epoch = epoch; self.globalStep = globalStep; self.version = version
    }

    /// The top-level dict's `epoch` and `global_step`, when they are ints (anything else is ignored).
    init(root: PickleValue, heap: PickleHeap) {
        guard case .dict(let top) = root, top < heap.dicts.count else { return }
        let dict = heap.dicts[top]
        func int(_ key: String) -> Int? {
            guard let v = dict[string: key], case .int(let i) = v else { return nil }
            return i
        }
        epoch = int("epoch")
        globalStep = int("global_step")
    }

    /// `k` of the nearest `version_<k>` folder above `url` (Lightning's logger layout), if any.
    public static func version(of url: URL) -> Int? {
        for part in url.standardizedFileURL.deletingLastPathComponent().pathComponents.reversed() where part.hasPrefix("version_") {
            if let k = Int(part.dropFirst("version_".count)), k >= 0 { return k }
        }
        return nil
    }

    /// "epoch 3, step 120, version 1", or nil when nothing is known.
    public var summary: String? {
        let parts = [epoch.map { "epoch \($0)" }, globalStep.map { "step \($0)" }, version.map { "version \($0)" }].compactMap { $0 }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }
}

extension TorchCheckpoint {
    /// `load(contentsOf:stripPrefix:)`, plus the run's epoch / step / version (`CheckpointInfo`),
    /// from one read of the file.
    public static func loadWithInfo(contentsOf url: URL, stripPrefix: String? = nil) throws -> (stateDict: StateDict, info: CheckpointInfo) {
        var (sd, info) = try MappedInput.read(url) { data in
            try data.withUnsafeBytes { raw in try loadWithInfo(raw, path: url.path, stripPrefix: stripPrefix) }
        }
        info.version = CheckpointInfo.version(of: url)
        return (sd, info)
    }
}
