import EmbedScopeCore
import EmbedScopeImages
/// The zip serialization (PyTorch ≥ 1.6): an archive whose entries sit in one folder, named
/// after the file when it was saved (`<archive>/`):
///
///     <archive>/data.pkl       the pickled object; storages are persistent ids
///                              ('storage', storage_type, key, location, numel)
///     <archive>/data/<key>     each storage's raw elements, little endian, stored uncompressed
///     <archive>/byteorder      "little" or "big" (absent in files from before PyTorch 1.10: little)
///     <archive>/version        the serialization version (not needed to read the data)
extension TorchCheckpoint {
    static func readZip(_ raw: UnsafeRawBufferPointer, path: String) throws -> Decoded {
        func fail(_ message: String, hint: String? = nil) -> EmbedScopeError {
            EmbedScopeError(.checkpoint, message.escapedForDisplay, path: path, hint: hint) // names come from the file
        }
        let directory: ZipDirectory
        do {
            directory = try ZipDirectory(raw)
        } catch ZipDirectory.Failure.malformed(let why) {
            throw fail("is a damaged zip archive: \(why)", hint: "the file is incomplete or corrupt: download or copy it again")
        }
        func range(_ entry: ZipDirectory.Entry) throws -> Range<Int> {
            do {
                return try directory.dataRange(of: entry, in: raw)
            } catch ZipDirectory.Failure.malformed(let why) {
                throw fail("is a damaged zip archive: \(why)", hint: "the file is incomplete or corrupt: download or copy it again")
            } catch ZipDirectory.Failure.compressed(let why) {
                throw fail("was re-zipped with compression: \(why)",
                           hint: "save it again uncompressed: python -c \"import torch; torch.save(torch.load('IN', weights_only=True), 'OUT')\"")
            }
        }

        // The archive folder varies (the file's name when it was saved): find <folder>/data.pkl.
        guard let pickle = directory.entries.first(where: { entry in
            let parts = entry.name.split(separator: "/", omittingEmptySubsequences: false)
            return parts.count == 2 && parts[1] == "data.pkl" && !parts[0].isEmpty
        }) else {
            let torchScript = directory.entries.contains { $0.name.contains("/code/") || $0.name.hasSuffix("/constants.pkl") }
            throw fail(torchScript ? "is a TorchScript archive (torch.jit.save), not a torch.save checkpoint"
                                   : "is a zip archive without <archive>/data.pkl, so not a torch.save checkpoint",
                       hint: "in Python, save the weights alone: torch.save(model.state_dict(), path)")
        }
        let folder = String(pickle.name.dropLast("data.pkl".count))

        if let entry = directory[folder + "byteorder"] {
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: raw[try range(entry)]), as: UTF8.self)
            switch text.trimmingCharacters(in: .whitespacesAndNewlines) {
            case "little": break
            case "big": throw fail("was saved on a big-endian machine (byteorder 'big'); this reader reads little-endian checkpoints",
                                   hint: "load and save it again on a little-endian machine (x86, ARM)")
            default: throw fail("has an unreadable byteorder entry '\(text.prefix(20))'")
            }
        }

        var unpickler = Unpickler(path: path)
        unpickler.maxStorageBytes = raw.count
        let pickleRange = try range(pickle)
        let (root, _) = try unpickler.load(UnsafeRawBufferPointer(rebasing: raw[pickleRange]), label: pickle.name,
                                           fileOffset: pickleRange.lowerBound)
        return Decoded(unpickler: unpickler, root: root) { key, byteCount in
            guard let entry = directory[folder + "data/" + key] else {
                throw fail("has no entry \(folder)data/\(key.prefix(40)) for a storage its pickle refers to", hint: "the file is damaged")
            }
            let r = try range(entry)
            guard r.count >= byteCount else {
                throw fail("entry \(entry.name.prefix(80)) holds \(r.count) bytes, its storage needs \(byteCount)", hint: "the file is damaged")
            }
            return r
        }
    }
}
