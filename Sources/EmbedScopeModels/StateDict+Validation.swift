import EmbedScopeCore
import EmbedScopeImages
/// Fetches tensors from a state dict with the shape a model expects, turning a missing key or
/// a wrong shape into an error that names the key, the model and both shapes.
struct StateDictReader {
    let stateDict: StateDict
    /// Used in messages: "this checkpoint is not an efficientnet-lite0: ...".
    let model: String

    /// Keys read so far (a class: the reader is passed by value to every layer's init).
    let readKeys = KeyLog()

    init(_ stateDict: StateDict, model: String) {
        self.stateDict = stateDict
        self.model = model
    }

    /// "this checkpoint is not an efficientnet-lite0: <detail>".
    func notThisModel(_ detail: String) -> String {
        let article = model.first.map { "aeio".contains($0.lowercased()) } == true ? "an" : "a"
        return "this checkpoint is not \(article) \(model): \(detail)"
    }

    /// The tensor under `key`, checked against the shape the architecture fixes. A missing key is
    /// noted and stands in as zeros of that shape, so that the model reads on and
    /// `requireExactKeys` can list every missing key at once, not only the first.
    func tensor(_ key: String, shape: [Int]) throws -> Tensor {
        readKeys.keys.insert(key)
        guard let t = stateDict[key] else {
            readKeys.missing.append(key)
            return Tensor(shape: shape, data: [Float](repeating: 0, count: shape.reduce(1, *)))
        }
        guard t.shape == shape else {
            throw EmbedScopeError(.shapeMismatch, notThisModel("\(key) has shape \(t.shape), expected \(shape)"))
        }
        // A weight that is NaN or infinite makes every image's features so: refused here, by name,
        // not later as "features of <the first image> contain NaN — drop that vector".
        if let i = t.data.firstIndex(where: { !$0.isFinite }) {
            throw EmbedScopeError(.checkpoint, "\(model): \(key.escapedForDisplay)[\(i)] (flat index) is \(t.data[i]); every weight must be finite",
                                  hint: "the checkpoint was saved from a diverged or damaged run: pick an earlier one")
        }
        return t
    }

    /// The shape stored under `key`, or a "missing" error.
    func shape(_ key: String) throws -> [Int] {
        readKeys.keys.insert(key)
        guard let t = stateDict[key] else {
            readKeys.missing.append(key)
            throw missingKeysError()
        }
        return t.shape
    }

    /// True when the state dict has `key` (an optional part, e.g. a classifier head).
    func has(_ key: String) -> Bool { stateDict[key] != nil }

    /// Strict keys: after a model has read everything it needs, a missing key (listed all
    /// together, see `tensor`) or a key it did not read means the
    /// checkpoint is of another architecture (ResNet-34 weights given as resnet18 read fine for
    /// 18 layers and leave 96 keys over). BatchNorm's `num_batches_tracked` counters are not weights.
    func requireExactKeys() throws {
        guard readKeys.missing.isEmpty else { throw missingKeysError() }
        let unexpected = stateDict.keys.filter { !readKeys.keys.contains($0) && !$0.hasSuffix(".num_batches_tracked") }.sorted()
        guard unexpected.isEmpty else {
            throw EmbedScopeError(.checkpoint, notThisModel("\(unexpected.count) unexpected \(unexpected.count == 1 ? "key" : "keys") (\(unexpected.prefix(5).map(\.escapedForDisplay).joined(separator: ", "))\(unexpected.count > 5 ? ", …" : ""))"),
                                  hint: "pick the --model the checkpoint was trained as; for other architectures use Scripts/extract.py and `embedscope import`")
        }
    }

    /// "N missing keys (first five…), M unexpected keys (…)": everything the model looked for
    /// and did not find so far, and what the checkpoint has that the model did not read.
    func missingKeysError() -> EmbedScopeError {
        let missing = readKeys.missing
        let unexpected = stateDict.keys.filter { !readKeys.keys.contains($0) && !$0.hasSuffix(".num_batches_tracked") }.sorted()
        func list(_ keys: [String], _ what: String) -> String {
            "\(keys.count) \(what) \(keys.count == 1 ? "key" : "keys") (\(keys.prefix(5).map(\.escapedForDisplay).joined(separator: ", "))\(keys.count > 5 ? ", …" : ""))"
        }
        var detail = list(missing, "missing")
        if !unexpected.isEmpty { detail += "; " + list(unexpected, "unexpected") }
        var hint = "export the model's state_dict() (torch.save(model.state_dict(), path)) from the matching architecture"
        if missing.contains(where: { stateDict["module." + $0] != nil }) {
            hint = "the keys carry a 'module.' prefix (saved from DataParallel): strip it, or save model.module.state_dict()"
        }
        return EmbedScopeError(.notFound, notThisModel(detail), hint: hint)
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

/// The keys a `StateDictReader` has read.
final class KeyLog {
    var keys: Set<String> = []
    /// Keys the model asked for that the state dict does not have, in the order asked.
    var missing: [String] = []
}
