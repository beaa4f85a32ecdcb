import Foundation
internal import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// Half-precision copies in a generation being written (`--storage f16|bf16` on `build` and
/// `import`; carried by `add`, `remove` and `merge` through the `storage.<space>` meta key).
extension IndexBuilder {
    /// Writes `<space>.<storage>.vec` from the space's finished float32 file in this builder and
    /// records `storage.<space>` in `meta`. Refuses non-unit, non-finite or overflowing rows.
    package func writeHalfCopy(space: String, storage: HalfStorage) throws {
        guard let catalog else { throw EmbedScopeError(.invalidArgument, "builder already committed") }
        let spaces = try catalog.spaces()
        guard let s = spaces.first(where: { $0.name == space }) else {
            throw EmbedScopeError(.notFound, "no space '\(space)' to make a half copy of", path: temporary.path)
        }
        let fileName = storage.fileName(space: space)
        // `<space>.f16.vec` must not be another space's file (space names may contain '.').
        if let clash = spaces.first(where: { $0.file == fileName || $0.normsFile == fileName }) {
            throw EmbedScopeError(.invalidArgument, "the half copy of space '\(space)' would be \(fileName), which is a file of space '\(clash.name)'",
                                  hint: "rename one of the spaces, or build without --storage")
        }
        try dropHalfCopy(space: space)
        let source = try VectorFile(url: temporary.appendingPathComponent(s.file))
        try HalfVectorFile.write(from: source, storage: storage, to: temporary.appendingPathComponent(fileName), what: "space '\(space)'")
        try setMeta([HalfStorage.metaKey(space: space): storage.rawValue])
    }

    /// Removes a space's half copies and its `storage.<space>` key from the new generation (a
    /// space rewritten here must not keep the copy of its old rows).
    func dropHalfCopy(space: String) throws {
        for st in HalfStorage.allCases {
            let path = temporary.appendingPathComponent(st.fileName(space: space)).path
            if unlink(path) != 0 && errno != ENOENT {
                throw EmbedScopeError(.io, "cannot remove: \(String(cString: strerror(errno)))", path: path)
            }
        }
        try write { db in try db.execute(sql: "DELETE FROM meta WHERE key = ?", arguments: [HalfStorage.metaKey(space: space)]) }
    }

    /// For `writeComposed`: the half copy a composed space carries over (from its `meta`).
    func writeRecordedHalfCopy(space: String, meta: [String: String]) throws {
        if let st = try HalfStorage.recorded(in: meta, space: space, path: temporary.path) {
            try writeHalfCopy(space: space, storage: st)
        }
    }
}
