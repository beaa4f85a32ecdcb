import EmbedScopeCore
import EmbedScopeImages

/// Where a network's keys sit in a checkpoint's state dict, and what was left out.
///
/// Training code wraps the network: PyTorch Lightning modules hold it as `self.model`
/// (`model.conv1.weight`), DataParallel as `module`, a module with a backbone and its own head as
/// `model.backbone`, next to tensors that are not the network's at all (`criterion.weight`, an EMA
/// copy). The prefix is given (`--strip-prefix`) or found from *anchor* keys every checkpoint of
/// the architecture has (ResNet: `conv1.weight`, `layer1.0.conv1.weight`): the one prefix P with
/// P + every anchor present. Tensors outside P are left out and listed, never read as the network's.
public struct KeyPrefix: Sendable, Equatable, Codable {
    /// Removed from the keys that were kept ("" = the keys are used as they are).
    public var prefix: String
    /// true when found from the anchors, false when given.
    public var detected: Bool
    /// Tensors outside the prefix, left out (sorted).
    public var ignoredKeys: [String]

    public init(prefix: String, detected: Bool, ignoredKeys: [String] = []) {
        self.prefix = prefix; self.detected = detected; self.ignoredKeys = ignoredKeys
    }
}

enum StateDictPrefix {
    /// The network's tensors of `raw` (keys exactly as saved) under `given`, or under the prefix the
    /// anchors point at. With no anchor found anywhere the keys are returned as they are, so the
    /// model's own "… missing" error names what is not there.
    static func select(_ raw: StateDict, anchors: [String], given: String?, model: String, path: String) throws -> (StateDict, KeyPrefix) {
        func under(_ p: String, detected: Bool) -> (StateDict, KeyPrefix) {
            guard !p.isEmpty else { return (raw, KeyPrefix(prefix: "", detected: detected)) }
            var kept = StateDict(minimumCapacity: raw.count)
            var ignored: [String] = []
            for (k, v) in raw {
                if k.hasPrefix(p) && k.count > p.count { kept[String(k.dropFirst(p.count))] = v } else { ignored.append(k) }
            }
            return (kept, KeyPrefix(prefix: p, detected: detected, ignoredKeys: ignored.sorted()))
        }
        if let given {
            guard given.isEmpty || raw.keys.contains(where: { $0.hasPrefix(given) && $0.count > given.count }) else {
                let found = candidates(raw, anchors: anchors)
                throw EmbedScopeError(.checkpoint, "no key of the checkpoint starts with '\(given)' (--strip-prefix)", path: path,
                                      hint: found.count == 1 ? "its \(model) keys start with '\(found[0].escapedForDisplay)': use --strip-prefix '\(found[0].escapedForDisplay)' or leave --strip-prefix out"
                                                             : "list the keys with `embedscope checkpoint \(path) --strip-prefix ''`")
            }
            // "model" for "model.": every key would keep a leading "." and none would be found.
            if !given.isEmpty, !given.hasSuffix("."), candidates(raw, anchors: anchors).contains(given + ".") {
                throw EmbedScopeError(.checkpoint, "--strip-prefix '\(given.escapedForDisplay)' leaves every \(model) key starting with '.'", path: path,
                                      hint: "use --strip-prefix '\(given.escapedForDisplay).' (with the dot)")
            }
            return under(given, detected: false)
        }
        let found = candidates(raw, anchors: anchors)
        if found.contains("") || found.isEmpty { return (raw, KeyPrefix(prefix: "", detected: true)) }
        guard found.count == 1 else {
            throw EmbedScopeError(.checkpoint, "holds \(found.count) copies of a \(model) (key prefixes \(found.map { "'\($0.escapedForDisplay)'" }.joined(separator: ", ")))",
                                  path: path, hint: "choose one with --strip-prefix, e.g. --strip-prefix '\(found[0].escapedForDisplay)'")
        }
        return under(found[0], detected: true)
    }

    /// Every prefix P (empty, or ending in ".") under which all anchors are present, sorted.
    static func candidates(_ raw: StateDict, anchors: [String]) -> [String] {
        guard let first = anchors.first else { return [] }
        var found = Set<String>()
        for k in raw.keys where k.hasSuffix(first) {
            let p = String(k.dropLast(first.count))
            guard p.isEmpty || p.hasSuffix(".") else { continue }
            if anchors.allSatisfy({ raw[p + $0] != nil }) { found.insert(p) }
        }
        return found.sorted()
    }
}
