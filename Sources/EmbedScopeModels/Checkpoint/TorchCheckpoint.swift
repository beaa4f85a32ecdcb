import Foundation
import EmbedScopeCore
import EmbedScopeImages

/// Reads PyTorch checkpoints (`torch.save` files: .pth, .pt, .ckpt) without Python and without
/// running any of the code a pickle can name. Both serializations are read:
///
/// * the zip format (PyTorch ≥ 1.6 default): `<archive>/data.pkl` plus one uncompressed entry
///   per storage, `<archive>/data/<key>` (`TorchCheckpoint+Zip.swift`);
/// * the legacy format (before 1.6, or `_use_new_zipfile_serialization=False`): five pickles
///   followed by the raw storages (`TorchCheckpoint+Legacy.swift`).
///
/// The pickle is decoded by a restricted unpickler (`Unpickler`) that accepts only the globals
/// in `TorchGlobal.allowList`. Tensors are resolved through their offset and strides into
/// C-contiguous Float tensors (`TorchCheckpoint+Tensors.swift`).
package enum TorchCheckpoint {
    /// Reads a state_dict from a .pth/.pt/.ckpt in either PyTorch format. If the top-level object is a dict
    /// holding a nested state dict (PyTorch Lightning: key "state_dict"; also "model", "model_state_dict", "module"
    /// when they hold tensors), that one is used. `stripPrefix`: remove this key prefix when every tensor key has it
    /// (e.g. "model." from Lightning, "module." from DataParallel); nil = automatic (strip a common "model."/"module." prefix).
    ///
    /// Only tensors end up in the result; other entries (ints, strings, optimizer settings) are
    /// skipped. Every dtype is converted to Float; 0-d tensors have shape `[]` and one value.
    /// `stripPrefix: ""` keeps the keys as they are.
    package static func load(contentsOf url: URL, stripPrefix: String? = nil) throws -> StateDict {
        // A guarded mapping (`MappedInput`): a file cut short meanwhile is an error, not SIGBUS.
        try MappedInput.read(url) { try load(data: $0, path: url.path, stripPrefix: stripPrefix) }
    }

    /// `load(contentsOf:)` on bytes in memory; `path` names them in errors.
    static func load(data: Data, path: String, stripPrefix: String? = nil) throws -> StateDict {
        try data.withUnsafeBytes { raw in try load(raw, path: path, stripPrefix: stripPrefix) }
    }

    /// What a format reader hands back: the unpickled object, and where each storage's bytes are.
    struct Decoded {
        var unpickler: Unpickler
        var root: PickleValue
        /// The byte range of root storage `key`, which must hold at least `byteCount` bytes.
        var storageBytes: (_ key: String, _ byteCount: Int) throws -> Range<Int>
    }

    static func load(_ raw: UnsafeRawBufferPointer, path: String, stripPrefix: String?) throws -> StateDict {
        try loadWithInfo(raw, path: path, stripPrefix: stripPrefix).stateDict
    }

    /// `load`, plus what the top-level dict says about the training run (`CheckpointInfo`).
    static func loadWithInfo(_ raw: UnsafeRawBufferPointer, path: String, stripPrefix: String?) throws -> (stateDict: StateDict, info: CheckpointInfo) {
        let decoded: Decoded
        switch try Format.detect(raw, path: path) {
        case .zip: decoded = try readZip(raw, path: path)
        case .legacy: decoded = try readLegacy(raw, path: path)
        }
        let heap = decoded.unpickler.heap
        let entries = try stateDictEntries(decoded.root, heap: heap, path: path)
        let names = strip(entries.map(\.name), prefix: stripPrefix)

        // Memory: a state dict's tensors normally hold no more elements than its storages, i.e.
        // fewer than the file has bytes; views that repeat elements (expand, overlapping strides)
        // may hold more. Refuse, before allocating, anything beyond 16 elements per byte of file
        // or 64 Mi elements (256 MB of Float, a ResNet-50 is 25 M), whichever is more.
        let budget = max(raw.count * 16, 1 << 26)
        var total = 0
        for entry in entries {
            let count = heap.tensors[entry.tensor].count
            guard count <= budget - total else {
                throw EmbedScopeError(.checkpoint, "its tensors would expand to more than \(budget) values (16 per byte of the file, at least 64 Mi); refusing to allocate that much",
                                      path: path, hint: "the file is corrupt, or saves huge expanded views: save tensor.clone() instead")
            }
            total += count
        }

        var rootBytes: [String: Range<Int>] = [:]
        var result = StateDict(minimumCapacity: entries.count)
        for (name, entry) in zip(names, entries) {
            // The pickle's dict keeps keys apart by their exact bytes, as Python does; a StateDict
            // is keyed by Swift strings, equal under Unicode canonical equivalence. Two names that
            // differ only in normalization form would silently become one tensor: refuse instead.
            if let i = result.index(forKey: name) {
                let other = result[i].key
                throw EmbedScopeError(.checkpoint, "holds tensors '\(other.escapedToASCII)' and '\(name.escapedToASCII)', two spellings of one name "
                                          + "in different Unicode normalization forms, which this reader cannot keep apart (one would replace the other)",
                                      path: path, hint: "rename one of them, e.g. normalize the names to NFC, and save the checkpoint again")
            }
            let tensor = heap.tensors[entry.tensor]
            let storage = heap.storages[tensor.storage]
            let size = storage.dtype.size
            let range: Range<Int>
            if let known = rootBytes[storage.key] {
                range = known
            } else {
                // Persistent ids checked that count × size fits the file, and that roots agree.
                let rootCount = decoded.unpickler.storageRoots[storage.key]?.count ?? 0
                range = try decoded.storageBytes(storage.key, rootCount * size)
                guard range.count >= rootCount * size, range.upperBound <= raw.count else {
                    throw EmbedScopeError(.checkpoint, "storage '\(String(storage.key.prefix(40)).escapedForDisplay)' is shorter than its \(rootCount) elements", path: path)
                }
                rootBytes[storage.key] = range
            }
            let start = range.lowerBound + storage.viewOffset * size
            let view = UnsafeRawBufferPointer(rebasing: raw[start..<(start + storage.count * size)])
            result[name] = tensor.materialize(dtype: storage.dtype, elements: view)
        }
        return (result, CheckpointInfo(root: decoded.root, heap: heap))
    }

    // MARK: - Format detection

    enum Format {
        case zip, legacy

        static func detect(_ raw: UnsafeRawBufferPointer, path: String) throws -> Format {
            func fail(_ message: String, hint: String? = nil) -> EmbedScopeError {
                EmbedScopeError(.checkpoint, message, path: path,
                                hint: hint ?? "expected a file written by torch.save (.pth, .pt, .ckpt)")
            }
            guard !raw.isEmpty else { throw fail("is empty") }
            if raw.count >= 4, raw[0] == 0x50, raw[1] == 0x4B, (raw[2] == 3 && raw[3] == 4) || (raw[2] == 5 && raw[3] == 6) {
                return .zip
            }
            if raw[0] == 0x80 { return .legacy } // PROTO: the legacy format starts with a pickle.
            if raw.count > 262, Array(raw[257..<262]) == Array("ustar".utf8) {
                throw fail("is a tar archive: the tar-based serialization of PyTorch before 0.4, which this reader does not read",
                           hint: "load it with an old PyTorch and save it again: torch.save(torch.load(path), path)")
            }
            // safetensors: u64 LE header length, then a JSON header.
            if raw.count >= 9, raw[8] == UInt8(ascii: "{"),
               UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self)) <= UInt64(raw.count - 8) {
                throw fail("is not a PyTorch checkpoint (it looks like a safetensors file)")
            }
            let head = raw.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")
            throw fail("is not a PyTorch checkpoint: it is neither a zip archive nor a pickle (starts with \(head))")
        }
    }

    // MARK: - Finding the state dict

    /// Keys under which checkpoints nest their state dict, in the order they are tried.
    static let nestedStateDictKeys = ["state_dict", "model", "model_state_dict", "module"]

    /// The tensor entries of the state dict: the top-level dict's, or those of a nested one.
    static func stateDictEntries(_ root: PickleValue, heap: PickleHeap, path: String) throws -> [(name: String, tensor: Int)] {
        guard case .dict(let top) = root else {
            throw EmbedScopeError(.checkpoint, "holds a \(root.typeName), not a dict of tensors", path: path,
                                  hint: "save the weights as a dict: torch.save(model.state_dict(), path)")
        }
        let dict = heap.dicts[top]
        for key in nestedStateDictKeys {
            if let value = dict[string: key], case .dict(let inner) = value {
                let found = tensorEntries(heap.dicts[inner])
                if !found.isEmpty { return found }
            }
        }
        let found = tensorEntries(dict)
        guard found.isEmpty else { return found }
        var described = zip(dict.keys, dict.values).prefix(12).map { key, value in
            "\(key.stringValue.map { "'\(String($0.prefix(60)).escapedForDisplay)'" } ?? key.typeName) (\(value.typeName))"
        }
        if dict.count > 12 { described.append("…") }
        throw EmbedScopeError(.checkpoint,
                              "holds no tensors: its top-level dict has " + (described.isEmpty ? "no keys" : "keys " + described.joined(separator: ", "))
                                  + ", and none of " + nestedStateDictKeys.map { "'\($0)'" }.joined(separator: ", ") + " is a dict of tensors",
                              path: path, hint: "save the weights as a dict: torch.save(model.state_dict(), path)")
    }

    private static func tensorEntries(_ dict: PickleDict) -> [(name: String, tensor: Int)] {
        zip(dict.keys, dict.values).compactMap { key, value in
            guard case .string(let name) = key, case .tensor(let t) = value else { return nil }
            return (name, t)
        }
    }

    // MARK: - Prefixes

    /// Prefixes stripped automatically (Lightning modules hold the network as `self.model`,
    /// DataParallel / DistributedDataParallel wrap it as `module`), at most twice
    /// ("model.module.conv.weight" → "conv.weight").
    static let automaticPrefixes = ["module.", "model."]

    static func strip(_ names: [String], prefix: String?) -> [String] {
        func allHave(_ p: String, _ names: [String]) -> Bool {
            !names.isEmpty && names.allSatisfy { $0.hasPrefix(p) && $0.count > p.count }
        }
        if let prefix {
            return allHave(prefix, names) ? names.map { String($0.dropFirst(prefix.count)) } : names
        }
        var names = names
        for _ in 0..<2 {
            guard let p = automaticPrefixes.first(where: { allHave($0, names) }) else { break }
            names = names.map { String($0.dropFirst(p.count)) }
        }
        return names
    }
}
