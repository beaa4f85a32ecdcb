import Foundation
import EmbedScopeCore
import EmbedScopeModels

/// The catalog `meta` entries that say which checkpoint, read how, made an embedding space.
enum CheckpointMeta {
    static func entries(_ model: LoadedModel) -> [String: String] {
        var m = [MetaKey.keyPrefix: model.keyPrefix.prefix, MetaKey.preprocessing: ModelOptions.record(model.preprocessing)]
        if let e = model.checkpoint.epoch { m[MetaKey.checkpointEpoch] = String(e) }
        if let s = model.checkpoint.globalStep { m[MetaKey.checkpointStep] = String(s) }
        if let v = model.checkpoint.version { m[MetaKey.checkpointVersion] = String(v) }
        return m
    }

    /// The options that load the model as the build did (recorded prefix and preprocessing).
    static func options(_ meta: [String: String]) -> ModelOptions {
        ModelOptions.recorded(preprocessing: meta[MetaKey.preprocessing], prefix: meta[MetaKey.keyPrefix])
    }
}
