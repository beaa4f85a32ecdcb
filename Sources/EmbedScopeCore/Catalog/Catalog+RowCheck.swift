import Foundation
internal import GRDB
internal import GRDBSQLite
#if canImport(Glibc)
import Glibc
#endif

/// Per-row checks (catalog migration `v3`): every row of `images`, `classes`, `spaces`,
/// `prototypeSets`, `prototypes` and `meta` carries `rowCheck`, the CRC-32 of its own values, written
/// with the row and compared whenever a reader fetches it. The content checksum
/// (`meta.contentHash`) covers the whole catalog but costs a read of all of it, so only `verify`
/// and the writers that copy a catalog recompute it; without a per-row check a byte flipped
/// inside a stored path (SQLite keeps no page checksums) came back from `query` as another path,
/// exit 0. A row's check covers exactly the columns listed in `RowCheck.columns` (the table's
/// columns before `v3`, in schema order), each tagged and length-prefixed as in the content
/// checksum, after the table's name: a value moved to another column, another row or another
/// table does not match (docs/index-format.md, "Row checks").
enum RowCheck {
    static let column = "rowCheck"

    /// The checked tables and the columns each check covers, in schema order.
    static let columns: [String: [String]] = [
        "images": ["row", "path", "classId", "split", "width", "height", "bytes", "contentHash"],
        "classes": ["id", "name"],
        "spaces": ["name", "model", "dim", "rows", "preprocessing", "file", "normsFile"],
        "prototypeSets": ["name", "space", "source", "count", "file"],
        "prototypes": ["setName", "idx", "name", "bias", "norm"],
        "meta": ["key", "value"],
    ]

    /// Writes one `meta` row with its check (every writer of `meta` goes through here).
    static func putMeta(_ db: Database, _ key: String, _ value: String) throws {
        let check = Self.value(table: "meta") { $0 == "key" ? key.databaseValue : value.databaseValue }
        try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value, \(column)) VALUES (?, ?, ?)", arguments: [key, value, check])
    }

    /// The check of one row: CRC-32 over the table's name and the listed columns' values, as an
    /// unsigned 32-bit value (stored as an SQLite integer).
    static func value(table: String, _ value: (String) -> DatabaseValue) -> Int64 {
        var e = TaggedValueEncoder()
        e.put(bytes: Array(table.utf8))
        for name in columns[table] ?? [] { e.put(value(name)) }
        return Int64(e.finish())
    }

    /// Adds the column to every checked table and fills it for the rows already there (a
    /// catalog copied from an older index; `Catalog.create` checks its content checksum first,
    /// so no damaged row gets a check that would vouch for it).
    static func migrate(_ db: Database) throws {
        for table in columns.keys.sorted() {
            try db.alter(table: table) { $0.add(column: column, .integer) }
            // In batches of rowids (a catalog of millions of rows is not held in memory), each
            // row's values read in place (`RowChecker`).
            let select = try db.makeStatement(sql: "SELECT rowid AS \"__rowid\", * FROM \(table) WHERE rowid > ? ORDER BY rowid LIMIT 4096")
            let update = try db.makeStatement(sql: "UPDATE \(table) SET \(column) = ? WHERE rowid = ?")
            var checker = RowChecker(table: table, columnNames: select.columnNames)
            var last = Int64.min
            var batch: [(rowid: Int64, check: Int64)] = []
            repeat {
                batch.removeAll(keepingCapacity: true)
                try select.setArguments([last])
                let cursor = try Row.fetchCursor(select)
                while try cursor.next() != nil {
                    batch.append((sqlite3_column_int64(select.sqliteStatement, 0), checker.check(select).computed))
                }
                for b in batch { try update.execute(arguments: [b.check, b.rowid]) }
                last = batch.last?.rowid ?? last
            } while !batch.isEmpty
        }
    }
}

/// The tagged, length-prefixed value stream of the content checksum and the row checks: per
/// value a tag byte and its bytes — `0` null; `1` integer (i64); `2` real (IEEE-754 bits, u64);
/// `3` text (u64 length + UTF-8); `4` blob (u64 length + bytes); integers little-endian.
struct TaggedValueEncoder {
    private(set) var crc: UInt32 = 0
    private var buf: [UInt8] = []

    init(seed: UInt32 = 0) { crc = seed; buf.reserveCapacity(256) }
    mutating func reset(seed: UInt32) { crc = seed; buf.removeAll(keepingCapacity: true) }

    mutating func flush() {
        crc = Checksum.crc32(buf, seed: crc)
        buf.removeAll(keepingCapacity: true)
    }
    mutating func finish() -> UInt32 { flush(); return crc }
    /// Flushes once the buffer holds more than 64 KB.
    mutating func flushIfLarge() { if buf.count > 1 << 16 { flush() } }

    mutating func put(byte: UInt8) { buf.append(byte) }
    mutating func put(_ v: UInt64) { for i in 0..<8 { buf.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }
    mutating func put(bytes: some Collection<UInt8>) { put(UInt64(bytes.count)); buf.append(contentsOf: bytes) }
    mutating func put(raw: UnsafeRawBufferPointer) { put(UInt64(raw.count)); buf.append(contentsOf: raw) }
    mutating func put(_ value: DatabaseValue) {
        switch value.storage {
        case .null: buf.append(0)
        case .int64(let i): buf.append(1); put(UInt64(bitPattern: i))
        case .double(let d): buf.append(2); put(d.bitPattern)
        case .string(var s):
            buf.append(3)
            s.withUTF8 { u in put(UInt64(u.count)); buf.append(contentsOf: u) }
        case .blob(let b): buf.append(4); put(bytes: b)
        }
    }
}

/// Compares the row checks of the rows one statement returns, fast enough for every row of a
/// large catalog (`classIds()` reads them all): the listed columns' positions are found once
/// from the statement's column names, and each value is read in place through SQLite's column
/// API (no `String` made per row) into a reused buffer. Text is hashed as the UTF-8 bytes SQLite
/// holds, which for every row a writer stored are the bytes of its Swift string.
struct RowChecker {
    let table: String
    /// Per listed column, its position among the statement's columns (nil: not selected, NULL).
    private let positions: [Int32?]
    private let checkPosition: Int32?
    private let seed: UInt32
    private var encoder = TaggedValueEncoder()

    init(table: String, columnNames: [String]) {
        self.table = table
        let lower = columnNames.map { $0.lowercased() }
        positions = (RowCheck.columns[table] ?? []).map { name in lower.firstIndex(of: name.lowercased()).map { Int32($0) } }
        checkPosition = lower.firstIndex(of: RowCheck.column.lowercased()).map { Int32($0) }
        var e = TaggedValueEncoder()
        e.put(bytes: Array(table.utf8))
        seed = e.finish()
    }

    /// The stored check and the one computed from the values of the row `statement` is on.
    mutating func check(_ statement: Statement) -> (stored: Int64?, computed: Int64) {
        let s = statement.sqliteStatement
        encoder.reset(seed: seed)
        for p in positions {
            guard let p else { encoder.put(byte: 0); continue }
            switch sqlite3_column_type(s, p) {
            case SQLITE_INTEGER: encoder.put(byte: 1); encoder.put(UInt64(bitPattern: sqlite3_column_int64(s, p)))
            case SQLITE_FLOAT: encoder.put(byte: 2); encoder.put(sqlite3_column_double(s, p).bitPattern)
            case SQLITE_TEXT:
                let bytes = sqlite3_column_text(s, p), n = Int(sqlite3_column_bytes(s, p))
                encoder.put(byte: 3); encoder.put(raw: UnsafeRawBufferPointer(start: bytes, count: bytes == nil ? 0 : n))
            case SQLITE_BLOB:
                let bytes = sqlite3_column_blob(s, p), n = Int(sqlite3_column_bytes(s, p))
                encoder.put(byte: 4); encoder.put(raw: UnsafeRawBufferPointer(start: bytes, count: bytes == nil ? 0 : n))
            default: encoder.put(byte: 0)
            }
        }
        let computed = Int64(encoder.finish())
        guard let c = checkPosition, sqlite3_column_type(s, c) == SQLITE_INTEGER else { return (nil, computed) }
        return (sqlite3_column_int64(s, c), computed)
    }
}

extension Catalog {
    /// Fetches rows of a checked table and compares each row's check (a catalog from before
    /// `v3` has none to compare). `sql` must select `*` from `table`.
    func checkedRows(_ db: Database, table: String, sql: String, arguments: StatementArguments = StatementArguments()) throws -> [Row] {
        guard checkedTables.contains(table) else { return try Row.fetchAll(db, sql: sql, arguments: arguments) }
        var out: [Row] = []
        try forEachCheckedRow(db, table: table, sql: sql, arguments: arguments) { out.append($0.copy()) }
        return out
    }

    /// Runs `body` on each row `sql` returns from `table`, its check compared first (when the
    /// table has checks). The row is valid only inside `body` (a cursor's row).
    func forEachCheckedRow(_ db: Database, table: String, sql: String, arguments: StatementArguments = StatementArguments(),
                           _ body: (Row) throws -> Void) throws {
        let statement = try db.makeStatement(sql: sql)
        try statement.setArguments(arguments)
        let cursor = try Row.fetchCursor(statement)
        guard checkedTables.contains(table) else {
            while let row = try cursor.next() { try body(row) }
            return
        }
        var checker = RowChecker(table: table, columnNames: statement.columnNames)
        while let row = try cursor.next() {
            let (stored, computed) = checker.check(statement)
            guard stored == computed else { throw rowCheckFailure(row, table: table, stored: stored, computed: computed) }
            try body(row)
        }
    }

    private func rowCheckFailure(_ row: Row, table: String, stored: Int64?, computed: Int64) -> EmbedScopeError {
        let key = table == "images" ? "row \(Self.describe(row["row"]))"
            : table == "classes" ? "class \(Self.describe(row["id"]))"
            : table == "prototypes" ? "prototype \(Self.describe(row["idx"])) of set \(Self.describe(row["setName"]))"
            : table == "meta" ? "key '\(Self.describe(row["key"]))'"
            : "'\(Self.describe(row["name"]))'"
        func hex(_ v: Int64) -> String { String(format: "%08x", UInt32(truncatingIfNeeded: v)) }
        let was = stored.map { "does not match its check (stored \(hex($0)), computed \(hex(computed)))" } ?? "has no check"
        return EmbedScopeError(.checksumMismatch, "catalog table \(table), \(key) \(was): a stored value changed after the index was written",
                               path: dbQueue.path, hint: "the catalog is damaged; run `embedscope verify` on the index and rebuild it")
    }

    private static func describe(_ v: (any DatabaseValueConvertible)?) -> String {
        guard let v else { return "?" }
        switch v.databaseValue.storage {
        case .null: return "null"
        case .int64(let i): return String(i)
        case .double(let d): return String(d)
        case .string(let s): return String(s.prefix(200)).escapingScalars(backslash: true) { $0.value < 0x20 || $0.value == 0x7F || String.isBidiControl($0) }
        case .blob(let b): return "<\(b.count) bytes>"
        }
    }

    /// Every row's check, in every checked table (`verify`). Returns a note for a catalog from
    /// before `v3`, which has none.
    func checkAllRows() throws -> String? {
        guard !checkedTables.isEmpty else { return "no row checks (a catalog written before they existed)" }
        try dbQueue.read { db in
            for table in checkedTables.sorted() {
                try forEachCheckedRow(db, table: table, sql: "SELECT * FROM \(table)") { _ in }
            }
        }
        return nil
    }

    /// The checked tables that have the `rowCheck` column in this catalog.
    static func tablesWithRowCheck(_ db: Database) throws -> Set<String> {
        var out: Set<String> = []
        for table in RowCheck.columns.keys where try db.tableExists(table) {
            if try db.columns(in: table).contains(where: { $0.name == RowCheck.column }) { out.insert(table) }
        }
        return out
    }
}

extension Catalog {
    /// Whether `file` is an SQLite database whose GRDB migrations table lists `v1` (a catalog
    /// EmbedScope wrote). Opened with `immutable=1`: SQLite writes nothing (no -shm, no journal)
    /// and takes no lock, so a foreign file is left exactly as it was.
    static func recordsFirstMigration(_ file: URL) -> Bool {
        guard let db = openImmutable(file) else { return false }
        defer { sqlite3_close(db) }
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, "SELECT 1 FROM grdb_migrations WHERE identifier = 'v1'", -1, &stmt, nil) == SQLITE_OK else { return false }
        defer { sqlite3_finalize(stmt) }
        return sqlite3_step(stmt) == SQLITE_ROW
    }
}

extension Catalog {
    /// `file` opened read-only with `immutable=1` (SQLite writes nothing beside it and takes no
    /// lock); nil if it cannot be opened. The caller closes it (`sqlite3_close`).
    static func openImmutable(_ file: URL) -> OpaquePointer? {
        var db: OpaquePointer?
        var uri = URLComponents()
        uri.scheme = "file"
        uri.path = file.path
        uri.queryItems = [URLQueryItem(name: "immutable", value: "1")]
        guard let text = uri.string,
              sqlite3_open_v2(text, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nil) == SQLITE_OK, let db else {
            sqlite3_close(db)
            return nil
        }
        return db
    }

    /// The vector files that the catalog `file` names (a generation's, or a format 1.0 flat
    /// folder's): every space's `file` and `normsFile`, every prototype set's `file`, and the half
    /// copy `<space>.<f16|bf16>.vec` a `storage.<space>` meta key records. Only plain names ending
    /// in `.vec` (no '/', not starting with '.'); nil when the catalog cannot be read. Opened
    /// `immutable=1`, as `recordsFirstMigration`: nothing is written beside it.
    static func namedVectorFiles(_ file: URL) -> Set<String>? {
        var lst = stat()
        guard lstat(file.path, &lst) == 0, (lst.st_mode & S_IFMT) == S_IFREG, let db = openImmutable(file) else { return nil }
        defer { sqlite3_close(db) }
        func rows(_ sql: String) -> [[String]]? {
            var stmt: OpaquePointer?
            guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK else { return nil }
            defer { sqlite3_finalize(stmt) }
            var out: [[String]] = []
            while true {
                let rc = sqlite3_step(stmt)
                if rc == SQLITE_DONE { return out }
                guard rc == SQLITE_ROW else { return nil }
                out.append((0..<sqlite3_column_count(stmt)).map { i in
                    sqlite3_column_text(stmt, i).map { String(cString: $0) } ?? ""
                })
            }
        }
        guard let spaces = rows("SELECT name, file, normsFile FROM spaces"),
              let sets = rows("SELECT file FROM prototypeSets"),
              let storage = rows("SELECT key, value FROM meta WHERE key LIKE 'storage.%'") else { return nil }
        var names = spaces.flatMap { $0.dropFirst() } + sets.flatMap { $0 }
        for kv in storage where kv.count == 2 {
            if let s = HalfStorage(rawValue: kv[1]) { names.append(s.fileName(space: String(kv[0].dropFirst("storage.".count)))) }
        }
        return Set(names.filter { !$0.isEmpty && !$0.contains("/") && !$0.hasPrefix(".") && $0.hasSuffix(".vec") })
    }
}
