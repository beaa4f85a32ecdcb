import Foundation
internal import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// What `Index.open` checks before answering anything, in O(1) per file (no payload is read):
/// the catalog's own counts, every space's `.vec` and `.norms.vec` header against the catalog,
/// and every prototype set's file and catalog rows against each other. Without it a short
/// `.vec` under a catalog that lists more rows is a read past the mapping (SIGSEGV), not an error.
extension Index {
    func checkConsistency() throws {
        let hint = "the index is damaged; run `embedscope verify \(url.path)` and rebuild it"
        let catalogPath = directory.appendingPathComponent(Catalog.fileName).path
        // Rows are 0..<rowCount with no gaps (the primary key makes them unique).
        let (minRow, maxRow) = try readCatalog { db -> (Int?, Int?) in
            // `decode` throws on a damaged value where the subscripts would trap.
            guard let r = try Row.fetchOne(db, sql: "SELECT MIN(row) AS lo, MAX(row) AS hi FROM images") else { return (nil, nil) }
            return (try r.decode(Int?.self, forColumn: "lo"), try r.decode(Int?.self, forColumn: "hi"))
        }
        if rowCount > 0, minRow != 0 || maxRow != rowCount - 1 {
            throw EmbedScopeError(.catalog, "the catalog's \(rowCount) image rows are not numbered 0…\(rowCount - 1) (they run \(minRow ?? -1)…\(maxRow ?? -1))",
                                  path: catalogPath, hint: hint)
        }
        // Classes are numbered 0..<count (every writer numbers them so, and the analyses size
        // their per-class arrays by it), and every image's class is one of them: two indexed
        // MIN/MAX lookups, not a scan (a damaged class id indexed past such an array: `mislabels` trapped).
        let (classes, classLo, classHi, imageLo, imageHi) = try readCatalog { db -> (Int, Int?, Int?, Int?, Int?) in
            guard let c = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, MIN(id) AS lo, MAX(id) AS hi FROM classes"),
                  let i = try Row.fetchOne(db, sql: "SELECT MIN(classId) AS lo, MAX(classId) AS hi FROM images") else { return (0, nil, nil, nil, nil) }
            return (try c.decode(Int.self, forColumn: "n"), try c.decode(Int?.self, forColumn: "lo"), try c.decode(Int?.self, forColumn: "hi"),
                    try i.decode(Int?.self, forColumn: "lo"), try i.decode(Int?.self, forColumn: "hi"))
        }
        if classes > 0, classLo != 0 || classHi != classes - 1 {
            throw EmbedScopeError(.catalog, "the catalog's \(classes) classes are not numbered 0…\(classes - 1) (they run \(classLo ?? -1)…\(classHi ?? -1))",
                                  path: catalogPath, hint: hint)
        }
        if let lo = imageLo, let hi = imageHi, lo < 0 || hi >= classes {
            throw EmbedScopeError(.catalog, "images refer to class ids \(lo)…\(hi), but the catalog has \(classes) classes (0…\(classes - 1))",
                                  path: catalogPath, hint: hint)
        }
        // The payload CRC each vector file had when this generation was committed (none recorded
        // in indexes written before: not compared).
        let meta = try readCatalog { db in
            try Dictionary(Row.fetchAll(db, sql: "SELECT key, value FROM meta WHERE substr(key, 1, ?) = ?", arguments: [MetaKey.fileChecksumPrefix.count, MetaKey.fileChecksumPrefix])
                .map { (try $0.decode(String.self, forColumn: "key"), try $0.decode(String.self, forColumn: "value")) }, uniquingKeysWith: { a, _ in a })
        }
        func checkRecorded(_ name: String, _ h: VectorFileHeader) throws {
            guard let recorded = meta[MetaKey.fileChecksum(name)] else { return }
            let actual = MetaKey.checksumText(h.payloadCRC)
            guard recorded == actual else {
                throw EmbedScopeError(.checksumMismatch,
                                      "this is not the file this generation was written with: its payload checksum is \(actual), the catalog records \(recorded) (a file copied from another index, or restored from another version)",
                                      path: directory.appendingPathComponent(name).path, hint: "put back the index's own file, or rebuild the index")
            }
        }
        for s in spaces {
            guard s.dim >= 1, s.rows >= 0 else {
                throw EmbedScopeError(.catalog, "space '\(s.name)' has dim \(s.dim) and \(s.rows) rows in the catalog", path: catalogPath, hint: hint)
            }
            guard s.rows == rowCount else {
                throw EmbedScopeError(.catalog, "space '\(s.name)' has \(s.rows) rows but the catalog lists \(rowCount) images",
                                      path: catalogPath, hint: hint)
            }
            try Self.checkName(s.file, catalogPath: catalogPath)
            try Self.checkName(s.normsFile, catalogPath: catalogPath)
            let v = try VectorFileHeader.read(directory.appendingPathComponent(s.file))
            guard v.rows == UInt64(s.rows), v.dim == UInt64(s.dim) else {
                throw EmbedScopeError(.catalog, "vector file is \(v.rows)×\(v.dim) but the catalog says \(s.rows)×\(s.dim) for space '\(s.name)'",
                                      path: directory.appendingPathComponent(s.file).path, hint: hint)
            }
            try checkRecorded(s.file, v)
            try checkHalfCopy(space: s, vectors: v, catalogPath: catalogPath)
            let n = try VectorFileHeader.read(directory.appendingPathComponent(s.normsFile))
            try checkRecorded(s.normsFile, n)
            guard n.rows == 1, n.dim == UInt64(s.rows) else {
                throw EmbedScopeError(.catalog, "norms file is \(n.rows)×\(n.dim) but space '\(s.name)' has \(s.rows) rows (expected 1×\(s.rows))",
                                      path: directory.appendingPathComponent(s.normsFile).path, hint: hint)
            }
        }
        let protoStats = try readCatalog { db -> [String: (n: Int, lo: Int, hi: Int)] in
            var out: [String: (Int, Int, Int)] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT setName, COUNT(*) AS n, MIN(idx) AS lo, MAX(idx) AS hi FROM prototypes GROUP BY setName") {
                out[try r.decode(String.self, forColumn: "setName")] =
                    (try r.decode(Int.self, forColumn: "n"), try r.decode(Int.self, forColumn: "lo"), try r.decode(Int.self, forColumn: "hi"))
            }
            return out
        }
        for p in prototypeSets {
            guard let s = spaces.first(where: { $0.name == p.space }) else {
                throw EmbedScopeError(.catalog, "prototype set '\(p.name)' belongs to space '\(p.space)', which the catalog does not have",
                                      path: catalogPath, hint: hint)
            }
            let st = protoStats[p.name] ?? (0, 0, -1)
            guard p.count >= 1, st.n == p.count, st.lo == 0, st.hi == p.count - 1 else {
                throw EmbedScopeError(.catalog, "prototype set '\(p.name)' has count \(p.count) but the catalog lists \(st.n) prototypes with indexes \(st.lo)…\(st.hi)",
                                      path: catalogPath, hint: hint)
            }
            try Self.checkName(p.file, catalogPath: catalogPath)
            let h = try VectorFileHeader.read(directory.appendingPathComponent(p.file))
            try checkRecorded(p.file, h)
            guard h.rows == UInt64(p.count), h.dim == UInt64(s.dim) else {
                throw EmbedScopeError(.catalog, "prototype file is \(h.rows)×\(h.dim) but the catalog says \(p.count)×\(s.dim) for set '\(p.name)'",
                                      path: directory.appendingPathComponent(p.file).path, hint: hint)
            }
        }
        if let orphan = Set(protoStats.keys).subtracting(prototypeSets.map(\.name)).sorted().first {
            throw EmbedScopeError(.catalog, "the catalog lists prototypes of set '\(orphan)', which it does not have", path: catalogPath, hint: hint)
        }
    }

    private func readCatalog<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try catalog.dbQueue.read(body)
        } catch let e as EmbedScopeError {
            throw e
        } catch {
            throw EmbedScopeError(.catalog, "cannot read catalog", path: url.path, hint: "the index is damaged; rebuild it", underlying: error)
        }
    }

    /// A file name from the catalog must name a file inside the index, nothing else.
    static func checkName(_ name: String, catalogPath: String) throws {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != "..", !name.contains("\0") else {
            throw EmbedScopeError(.catalog, "the catalog names file '\(name)', which is not a file of the index", path: catalogPath,
                                  hint: "the index is damaged; rebuild it")
        }
    }
}

/// Opening a path that must be a regular file without ever blocking on it: a FIFO or a device
/// in place of an index file is refused (a plain `open` of a FIFO waits for a writer forever).
package enum RegularFile {
    /// `stat` first (a FIFO is refused before `open`), then `open` with `O_NONBLOCK` and `fstat`
    /// again (the name may have been replaced in between). Returns the descriptor and the size.
    package static func open(_ path: String) throws -> (fd: Int32, size: Int) {
        try requireRegular(path)
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            throw EmbedScopeError(errno == ENOENT ? .notFound : .io, "cannot open: \(String(cString: strerror(errno)))", path: path)
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd)
            throw EmbedScopeError(.io, "cannot stat: \(String(cString: strerror(e)))", path: path)
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw notRegular(path, mode: st.st_mode)
        }
        return (fd, Int(st.st_size))
    }

    /// Throws if `path` exists and is not a regular file; nothing when it does not exist. For
    /// files another library opens by name beside ours (SQLite's `-journal`, `-wal`, `-shm`): a
    /// FIFO there would block SQLite's open() forever.
    package static func requireRegularIfPresent(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        try requireRegular(path)
    }

    /// Throws unless `path` exists and is a regular file (symbolic links are followed).
    package static func requireRegular(_ path: String, hint: String = indexHint) throws {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw EmbedScopeError(errno == ENOENT ? .notFound : .io, "cannot open: \(String(cString: strerror(errno)))", path: path)
        }
        guard st.st_mode & S_IFMT == S_IFREG else { throw notRegular(path, mode: st.st_mode, hint: hint) }
    }

    /// For a file the user names (`--rows`, `--vector(s)`, `--manifest`, `--head`): a FIFO or a
    /// device is refused by name (Foundation said "Permission denied", or read /dev/zero forever).
    package static func requireRegularInput(_ url: URL) throws {
        try requireRegular(url.path, hint: "give a file (save what a pipe produces to a file first)")
    }

    static func notRegular(_ path: String, mode: mode_t, hint: String = indexHint) -> EmbedScopeError {
        let kind: String
        switch mode & S_IFMT {
        case S_IFIFO: kind = "a FIFO (named pipe)"
        case S_IFCHR: kind = "a character device"
        case S_IFBLK: kind = "a block device"
        case S_IFDIR: kind = "a directory"
        case S_IFSOCK: kind = "a socket"
        default: kind = "not a regular file"
        }
        return EmbedScopeError(.io, "is \(kind), not a regular file; refusing to read it", path: path, hint: hint)
    }

    /// What a file of an index that is not a regular file means.
    static let indexHint = "the index is damaged or tampered with; rebuild it"

}

extension VectorFileHeader {
    /// Reads and validates only the 64-byte header of a vector file (O(1), no mapping).
    package static func read(_ url: URL) throws -> VectorFileHeader {
        let (fd, size) = try RegularFile.open(url.path)
        defer { close(fd) }
        var raw = [UInt8](repeating: 0, count: Self.size)
        let n = raw.withUnsafeMutableBytes { pread(fd, $0.baseAddress, Self.size, 0) }
        guard n == Self.size || size < Self.size else {
            throw EmbedScopeError(.io, "cannot read the header: \(n < 0 ? String(cString: strerror(errno)) : "short read")", path: url.path)
        }
        return try raw.withUnsafeBytes { try decode($0, fileSize: size, path: url.path) }
    }
}
