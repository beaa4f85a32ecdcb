import Foundation
internal import GRDB

/// A checksum of the catalog's content, recorded in `meta` under `contentHash` when a writer
/// closes the catalog and recomputed by `embedscope verify`. SQLite keeps no checksum of its
/// own pages: without this a flipped byte inside a stored path reads back as a different path.
///
/// The value is `crc32:` and 8 hex digits: CRC-32 over every row of every table in a fixed order
/// (each table by its primary key), each value tagged by type (null, integer, real, text, blob)
/// and length-prefixed, the `contentHash` row itself left out (docs/index-format.md).
extension Catalog {
    package static let contentHashKey = "contentHash"

    /// Tables and their orders, fixed: adding a table to the schema means adding it here.
    static let hashedTables: [(table: String, order: String)] = [
        ("meta", "key"), ("classes", "id"), ("images", "row"), ("spaces", "name"),
        ("prototypeSets", "name"), ("prototypes", "setName, idx"),
        ("metrics", "space, name"), // v1 catalogs only (v2 dropped it); a missing table is skipped
    ]

    /// Recomputes the content checksum (reads every row: O(catalog)).
    package func computeContentHash() throws -> String {
        try dbQueue.read { db in try Self.contentHash(db) }
    }

    /// The checksum recorded by the writer, if any.
    package func recordedContentHash() throws -> String? {
        try dbQueue.read { db in
            try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [Self.contentHashKey])
        }
    }

    /// Records the content checksum in `meta`. Called when a writable catalog is closed.
    func seal() throws {
        try dbQueue.write { db in
            let h = try Self.contentHash(db)
            try RowCheck.putMeta(db, Self.contentHashKey, h)
        }
    }

    static func contentHash(_ db: Database) throws -> String {
        var e = TaggedValueEncoder()
        for (table, order) in hashedTables where try db.tableExists(table) {
            e.put(bytes: Array(table.utf8))
            let where_ = table == "meta" ? " WHERE key <> '\(contentHashKey)'" : ""
            let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM \(table)\(where_) ORDER BY \(order)")
            while let row = try cursor.next() {
                e.put(byte: 0xFF)
                for value in row.databaseValues { e.put(value) }
                e.flushIfLarge()
            }
        }
        return "crc32:" + String(format: "%08x", e.finish())
    }

    /// Compares the recorded content checksum with the content (no recorded one: nothing to
    /// compare). `refusal` says what is not done because of a mismatch.
    static func requireContentHash(_ db: Database, path: String, refusal: String) throws {
        guard let recorded = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [contentHashKey]) else { return }
        let computed = try contentHash(db)
        guard recorded == computed else {
            throw EmbedScopeError(.checksumMismatch, "catalog content checksum mismatch (recorded \(recorded), computed \(computed)): \(refusal)",
                                  path: path, hint: "the catalog is damaged; run `embedscope verify` on the index and rebuild it; nothing was changed")
        }
    }

    /// `requireContentHash` on this catalog.
    package func requireContentIntact(refusal: String) throws {
        try dbQueue.read { db in try Self.requireContentHash(db, path: dbQueue.path, refusal: refusal) }
    }
}

extension Catalog {
    /// The catalog file's size against its own header (O(1)): SQLite's header records the page
    /// size (bytes 16–17) and, when valid (bytes 92–95 equal the change counter at 24–27), the
    /// page count (28–31). A file cut short by even one byte no longer matches; SQLite itself
    /// would silently read the partial last page as missing.
    package static func checkFileSize(_ url: URL) throws {
        let (fd, size) = try RegularFile.open(url.path)
        defer { close(fd) }
        var h = [UInt8](repeating: 0, count: 100)
        let n = h.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 100, 0) }
        func be32(_ o: Int) -> UInt32 { UInt32(h[o]) << 24 | UInt32(h[o + 1]) << 16 | UInt32(h[o + 2]) << 8 | UInt32(h[o + 3]) }
        guard n == 100, h.starts(with: Array("SQLite format 3\0".utf8)) else {
            throw EmbedScopeError(.catalog, "not an SQLite database (file is \(size) bytes)", path: url.path,
                                  hint: "the catalog is damaged; rebuild the index")
        }
        let raw = Int(h[16]) << 8 | Int(h[17])
        let pageSize = raw == 1 ? 65536 : raw
        guard pageSize >= 512, pageSize & (pageSize - 1) == 0 else {
            throw EmbedScopeError(.catalog, "SQLite header has page size \(raw)", path: url.path, hint: "the catalog is damaged; rebuild the index")
        }
        let pages = Int(be32(28))
        let headerCountValid = pages > 0 && be32(24) == be32(92)
        let expected = headerCountValid ? CheckedSize.product([pages, pageSize]) : nil
        guard size % pageSize == 0, expected == nil || expected == size else {
            throw EmbedScopeError(.truncated, "catalog is \(size) bytes, its header says \(headerCountValid ? "\(pages) pages of \(pageSize) = \(expected.map(String.init) ?? "?") bytes" : "a multiple of \(pageSize)")",
                                  path: url.path, hint: "the catalog was cut short or extended (disk full, interrupted copy); rebuild the index")
        }
    }
}
