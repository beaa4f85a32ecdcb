import EmbedScopeCore
import EmbedScopeImages
/// Fetches tensors from a state dict with the shape a model expects, turning a missing key or
/// a wrong shape into an error that names the key, the model and both shapes.
struct StateDictReader {
    let stateDict: StateDict
    /// Used in messages: "this checkpoint is not an efficientnet-lite0: ...".
    let model: String

    init(_ stateDict: StateDict, model: String) {
        self.stateDict = stateDict
        self.model = model
    }

    /// "this checkpoint is not an efficientnet-lite0: <detail>".
    func notThisModel(_ detail: String) -> String {
        let article = model.first.map { "aeio".contains($0.lowercased()) } == true ? "an" : "a"
        return "this checkpoint is not \(article) \(model): \(detail)"
    }

    func tensor(_ key: String, shape: [Int]) throws -> Tensor {
        guard let t = stateDict[key] else {
            var hint = "export the model's state_dict() (torch.save(model.state_dict(), path)) from the matching architecture"
            if stateDict["module." + key] != nil {
                hint = "the keys carry a 'module.' prefix (saved from DataParallel): strip it, or save model.module.state_dict()"
            }
            throw EmbedScopeError(.notFound, notThisModel("\(key) missing"), hint: hint)
        }
        guard t.shape == shape else {
            throw EmbedScopeError(.shapeMismatch, notThisModel("\(key) has shape \(t.shape), expected \(shape)"))
        }
        return t
    }

    /// The shape stored under `key`, or a "missing" error.
    func shape(_ key: String) throws -> [Int] {
        guard let t = stateDict[key] else {
            throw EmbedScopeError(.notFound, notThisModel("\(key) missing"))
        }
        return t.shape
    }

    /// A BatchNorm layer (`prefix.weight`, `.bias`, `.running_mean`, `.running_var`) as the
    /// per-channel affine map it is at inference: y = scale · x + shift, in Double.
    func batchNorm(_ prefix: String, channels: Int, eps: Double) throws -> (scale: [Double], shift: [Double]) {
        let gamma = try tensor(prefix + ".weight", shape: [channels]).data
        let beta = try tensor(prefix + ".bias", shape: [channels]).data
        let mean = try tensor(prefix + ".running_mean", shape: [channels]).data
        let variance = try tensor(prefix + ".running_var", shape: [channels]).data
        var scale = [Double](repeating: 0, count: channels), shift = scale
        for c in 0..<channels {
            let v = Double(variance[c])
            guard v >= 0, v.isFinite else {
                throw EmbedScopeError(.invalidArgument, "\(model): \(prefix).running_var[\(c)] is \(v); a variance must be finite and ≥ 0")
            }
            scale[c] = Double(gamma[c]) / (v + eps).squareRoot()
            shift[c] = Double(beta[c]) - Double(mean[c]) * scale[c]
        }
        return (scale, shift)
    }
}
