import EmbedScopeCore
import EmbedScopeImages
/// The legacy serialization (before PyTorch 1.6, or `_use_new_zipfile_serialization=False`):
///
///     pickle 1   magic number 0x1950a86a20f9469cfc6c
///     pickle 2   protocol version 1001
///     pickle 3   system info {'protocol_version', 'little_endian', 'type_sizes'}
///     pickle 4   the object; storages are persistent ids
///                ('storage', storage_type, key, location, numel, view_metadata)
///     pickle 5   the list of storage keys (torch.save sorts them as strings)
///     then, for each key in that list's order: int64 LE element count, then the raw elements.
extension TorchCheckpoint {
    /// LONG1 bytes of the magic number: little-endian two's complement.
    static let legacyMagic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]
    static let legacyProtocolVersion = 1001

    static func readLegacy(_ raw: UnsafeRawBufferPointer, path: String) throws -> Decoded {
        func fail(_ message: String, hint: String? = nil) -> EmbedScopeError {
            EmbedScopeError(.checkpoint, message.escapedForDisplay, path: path, hint: hint) // keys come from the file
        }
        var unpickler = Unpickler(path: path)
        unpickler.maxStorageBytes = raw.count

        let (magic, end1) = try unpickler.load(raw, from: 0, label: "pickle 1 of 5 (magic number)")
        guard case .bigInt(let bytes) = magic, bytes == legacyMagic else {
            throw fail("is a pickle but not a PyTorch checkpoint (no legacy magic number)",
                       hint: "expected a file written by torch.save (.pth, .pt, .ckpt)")
        }
        let (version, end2) = try unpickler.load(raw, from: end1, label: "pickle 2 of 5 (protocol version)")
        guard version.intValue == legacyProtocolVersion else {
            throw fail("has legacy protocol version \(version.intValue.map(String.init) ?? version.typeName); this reader reads \(legacyProtocolVersion)")
        }
        let (sysInfo, end3) = try unpickler.load(raw, from: end2, label: "pickle 3 of 5 (system info)")
        if case .dict(let d) = sysInfo, case .bool(false)? = unpickler.heap.dicts[d][string: "little_endian"] {
            throw fail("was saved on a big-endian machine; this reader reads little-endian checkpoints",
                       hint: "load and save it again on a little-endian machine (x86, ARM)")
        }
        let (root, end4) = try unpickler.load(raw, from: end3, label: "pickle 4 of 5 (the saved object)")
        let (keyList, end5) = try unpickler.load(raw, from: end4, label: "pickle 5 of 5 (storage keys)")
        guard let keys = unpickler.heap.sequence(keyList) else {
            throw fail("has a \(keyList.typeName) where the list of storage keys belongs; the file is corrupt")
        }

        // The storages follow, in the key list's order: count, then elements.
        var ranges: [String: Range<Int>] = [:]
        var r = ByteReader(bytes: raw, position: end5)
        for (i, keyValue) in keys.enumerated() {
            guard let key = keyValue.stringValue ?? keyValue.intValue.map(String.init) else {
                throw fail("storage key \(i) is a \(keyValue.typeName); the file is corrupt")
            }
            guard let root = unpickler.storageRoots[key] else {
                throw fail("lists storage '\(key.prefix(40))' that no tensor refers to; the file is corrupt")
            }
            let at = r.position
            guard let count = try? r.i64() else {
                throw fail("ends before storage \(i + 1) of \(keys.count) (at byte \(at)): the file is truncated",
                           hint: "the file is incomplete: download or copy it again")
            }
            guard count == Int64(root.count) else {
                throw fail("storage '\(key.prefix(40))' at byte \(at) holds \(count) elements, its persistent id says \(root.count); the file is corrupt")
            }
            let byteCount = root.count * root.dtype.size // checked against the file size by persistentLoad
            guard byteCount <= r.remaining else {
                throw fail("ends inside storage \(i + 1) of \(keys.count) (\(byteCount) bytes from byte \(r.position), the file has \(raw.count)): the file is truncated",
                           hint: "the file is incomplete: download or copy it again")
            }
            ranges[key] = r.position..<(r.position + byteCount)
            r.position += byteCount
        }
        return Decoded(unpickler: unpickler, root: root) { key, byteCount in
            guard let range = ranges[key], range.count >= byteCount else {
                throw fail("has no data for storage '\(key.prefix(40))' (missing from the storage key list); the file is corrupt")
            }
            return range
        }
    }
}
