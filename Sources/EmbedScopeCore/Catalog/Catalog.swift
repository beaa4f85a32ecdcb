import Foundation
internal import GRDB

/// Row → image mapping and everything else about an index that is not a vector: classes,
/// spaces, prototype sets, metrics. One SQLite file (`catalog.sqlite`) through GRDB.
public struct ImageRecord: Codable, Sendable, Equatable {
    static let databaseTableName = "images"
    public var row: Int
    /// Path relative to the data set root (or as given in an import manifest).
    public var path: String
    public var classId: Int
    public var split: String?
    public var width: Int?
    public var height: Int?
    public var bytes: Int?
    /// CRC-32 of the file's bytes, hex; nil when the file was not read (import without images).
    public var contentHash: String?

    public init(row: Int, path: String, classId: Int, split: String? = nil, width: Int? = nil, height: Int? = nil,
                bytes: Int? = nil, contentHash: String? = nil) {
        self.row = row; self.path = path; self.classId = classId; self.split = split
        self.width = width; self.height = height; self.bytes = bytes; self.contentHash = contentHash
    }
}

public struct ClassRecord: Codable, Sendable, Equatable {
    static let databaseTableName = "classes"
    public var id: Int
    public var name: String
    public init(id: Int, name: String) { self.id = id; self.name = name }
}

public struct SpaceRecord: Codable, Sendable, Equatable {
    static let databaseTableName = "spaces"
    /// `embedding`, `pixel`, or any name given at import.
    public var name: String
    /// What produced the vectors: `pixels`, `efficientnet-lite0`, `imported`, ...
    public var model: String
    public var dim: Int
    public var rows: Int
    /// Human-readable description of the preprocessing, e.g. "resize 32x32 antialiased, RGB, x/255".
    public var preprocessing: String
    public var file: String
    public var normsFile: String
    public init(name: String, model: String, dim: Int, rows: Int, preprocessing: String) {
        self.name = name; self.model = model; self.dim = dim; self.rows = rows; self.preprocessing = preprocessing
        self.file = "\(name).vec"; self.normsFile = "\(name).norms.vec"
    }
}

public struct PrototypeSetRecord: Codable, Sendable, Equatable {
    static let databaseTableName = "prototypeSets"
    public var name: String
    public var space: String
    public var source: String
    public var count: Int
    public var file: String
    public init(name: String, space: String, source: String, count: Int) {
        self.name = name; self.space = space; self.source = source; self.count = count
        self.file = "prototypes-\(name).vec"
    }
}

public struct PrototypeRecord: Codable, Sendable, Equatable {
    static let databaseTableName = "prototypes"
    public var setName: String
    /// Row in the set's vector file (= class index of the classifier head).
    public var idx: Int
    public var name: String
    public var bias: Double
    /// L2 norm of the original weight row (the file stores the unit row).
    public var norm: Double
    public init(setName: String, idx: Int, name: String, bias: Double, norm: Double) {
        self.setName = setName; self.idx = idx; self.name = name; self.bias = bias; self.norm = norm
    }
}

// GRDB persistence stays inside the core: the public record types are plain Codable values, and
// `Stored<T>` is their internal GRDB face (same columns, same coding), so no GRDB protocol appears
// in a public conformance.
protocol CatalogTable: Codable { static var databaseTableName: String { get } }
extension ImageRecord: CatalogTable {}
extension ClassRecord: CatalogTable {}
extension SpaceRecord: CatalogTable {}
extension PrototypeSetRecord: CatalogTable {}
extension PrototypeRecord: CatalogTable {}

struct Stored<Value: CatalogTable>: Codable, FetchableRecord, PersistableRecord {
    var value: Value
    static var databaseTableName: String { Value.databaseTableName }
    init(_ value: Value) { self.value = value }
    init(from decoder: any Decoder) throws { value = try Value(from: decoder) }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }

    /// The record's columns as Codable gives them, plus its row check (`Catalog+RowCheck.swift`).
    func encode(to container: inout PersistenceContainer) throws {
        try PlainColumns(value: value).encode(to: &container)
        let c = container
        if RowCheck.columns[Value.databaseTableName] != nil {
            container[RowCheck.column] = RowCheck.value(table: Value.databaseTableName) { c[$0]?.databaseValue ?? .null }
        }
    }

    /// GRDB's Codable encoding of the record alone.
    private struct PlainColumns: Encodable, EncodableRecord {
        let value: Value
        func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
    }
}

/// The catalog database: opened read-only for queries, read-write only inside a build.
public final class Catalog: Sendable {
    public static let fileName = "catalog.sqlite"
    let dbQueue: DatabaseQueue

    /// Creates (or migrates) a catalog at `url`. Used by builders only.
    public static func create(at url: URL) throws -> Catalog {
        do {
            let queue = try DatabaseQueue(path: url.path)
            // A catalog copied from the index a writer starts from: its content must still match
            // its checksum, or the new generation's checksum (and the row checks `v3` adds to an
            // older catalog) would vouch for damaged rows.
            let existing = try queue.read { db in try db.tableExists("meta") }
            if existing {
                try queue.read { db in try requireContentHash(db, path: url.path, refusal: "it is not copied into a new generation, whose new checksums would hide the damage") }
            }
            try migrator.migrate(queue)
            return Catalog(queue, sealsOnClose: true, checkedTables: try queue.read(tablesWithRowCheck))
        } catch let e as EmbedScopeError {
            throw e
        } catch {
            if let shortage = DescriptorRoom.shortage(opening: url.path) { throw shortage }
            throw EmbedScopeError(.catalog, "cannot create catalog", path: url.path, underlying: error)
        }
    }

    /// Opens an existing catalog read-only and checks that its schema is one this build knows.
    public static func openReadOnly(at url: URL) throws -> Catalog {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw EmbedScopeError(.notFound, "no catalog.sqlite here", path: url.deletingLastPathComponent().path,
                                  hint: "is this an index directory? Build one with `embedscope build` or `embedscope import`")
        }
        // SQLite's open() would block forever on a FIFO: refuse anything but a regular file first.
        try RegularFile.requireRegular(url.path)
        for sidecar in ["-journal", "-wal", "-shm"] { try RegularFile.requireRegularIfPresent(url.path + sidecar) }
        try checkFileSize(url)
        var config = Configuration()
        config.readonly = true
        do {
            let queue = try DatabaseQueue(path: url.path, configuration: config)
            let applied = try queue.read { try migrator.appliedIdentifiers($0) }
            let known = Set(migrator.migrations)
            if let unknown = applied.first(where: { !known.contains($0) }) {
                throw EmbedScopeError(.unsupportedVersion, "catalog has migration '\(unknown)' that this build does not know",
                                      path: url.path, hint: "upgrade embedscope")
            }
            // Read-only: an older catalog is read as it is. v1 differs from v2 only by the unused
            // `metrics` table, so any complete prefix of the migrations is a readable schema.
            guard !applied.isEmpty, migrator.migrations.prefix(applied.count).elementsEqual(migrator.migrations.filter(applied.contains)) else {
                throw EmbedScopeError(.catalog, "catalog schema is incomplete (\(applied.count) of \(known.count) migrations)",
                                      path: url.path, hint: "rebuild the index")
            }
            return Catalog(queue, checkedTables: try queue.read(tablesWithRowCheck))
        } catch let e as EmbedScopeError {
            throw e
        } catch {
            if let shortage = DescriptorRoom.shortage(opening: url.path) { throw shortage }
            throw EmbedScopeError(.catalog, "cannot read catalog", path: url.path, hint: "the index is damaged; rebuild it", underlying: error)
        }
    }

    private init(_ q: DatabaseQueue, sealsOnClose: Bool = false, checkedTables: Set<String>) {
        dbQueue = q; self.sealsOnClose = sealsOnClose; self.checkedTables = checkedTables
    }

    /// The tables whose rows carry a check (`Catalog+RowCheck.swift`): all six from `v3` on,
    /// none in an older catalog read as it is.
    let checkedTables: Set<String>

    /// A catalog opened by `create` (a writer's) records its content checksum when it is
    /// closed, so every committed index carries one (`Catalog+ContentHash.swift`). A failure is
    /// not hidden: `verify` then reports a missing or wrong checksum.
    private let sealsOnClose: Bool

    deinit {
        if sealsOnClose { try? seal() }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.create(table: "meta") { t in
                t.primaryKey("key", .text)
                t.column("value", .text).notNull()
            }
            try db.create(table: "classes") { t in
                t.primaryKey("id", .integer)
                t.column("name", .text).notNull().unique()
            }
            try db.create(table: "images") { t in
                t.primaryKey("row", .integer)
                t.column("path", .text).notNull()
                t.column("classId", .integer).notNull().references("classes")
                t.column("split", .text)
                t.column("width", .integer)
                t.column("height", .integer)
                t.column("bytes", .integer)
                t.column("contentHash", .text)
            }
            try db.create(index: "images_path", on: "images", columns: ["path"])
            try db.create(index: "images_class", on: "images", columns: ["classId"])
            try db.create(table: "spaces") { t in
                t.primaryKey("name", .text)
                t.column("model", .text).notNull()
                t.column("dim", .integer).notNull()
                t.column("rows", .integer).notNull()
                t.column("preprocessing", .text).notNull()
                t.column("file", .text).notNull()
                t.column("normsFile", .text).notNull()
            }
            try db.create(table: "prototypeSets") { t in
                t.primaryKey("name", .text)
                t.column("space", .text).notNull().references("spaces")
                t.column("source", .text).notNull()
                t.column("count", .integer).notNull()
                t.column("file", .text).notNull()
            }
            try db.create(table: "prototypes") { t in
                t.column("setName", .text).notNull().references("prototypeSets", onDelete: .cascade)
                t.column("idx", .integer).notNull()
                t.column("name", .text).notNull()
                t.column("bias", .double).notNull()
                t.column("norm", .double).notNull()
                t.primaryKey(["setName", "idx"])
            }
            try db.create(table: "metrics") { t in
                t.column("space", .text).notNull()
                t.column("name", .text).notNull()
                t.column("value", .double).notNull()
                t.column("computedAt", .text).notNull()
                t.primaryKey(["space", "name"])
            }
        }
        // v2: metrics live in metrics.json (one owner, EmbedScopeAnalysis); the v1 table was never written.
        m.registerMigration("v2") { db in
            try db.drop(table: "metrics")
        }
        // v3: a check on every row (`rowCheck`), compared by every read (`Catalog+RowCheck.swift`).
        m.registerMigration("v3") { db in
            try RowCheck.migrate(db)
        }
        return m
    }
}

extension Catalog {
    /// The records `tail` selects from `T`'s table, each row's check compared first and each
    /// decoded as it is read (the rows were all copied first: a million `Row` objects, then the
    /// records beside them).
    private func fetch<T: CatalogTable>(_: T.Type, _ db: Database, _ tail: String, _ arguments: StatementArguments = StatementArguments()) throws -> [T] {
        var out: [T] = []
        try forEachCheckedRow(db, table: T.databaseTableName, sql: "SELECT * FROM \(T.databaseTableName) \(tail)", arguments: arguments) {
            out.append(try Stored<T>(row: $0).value)
        }
        return out
    }

    public func classes() throws -> [ClassRecord] {
        try dbQueue.read { try fetch(ClassRecord.self, $0, "ORDER BY id") }
    }
    public func spaces() throws -> [SpaceRecord] {
        try dbQueue.read { try fetch(SpaceRecord.self, $0, "ORDER BY name") }
    }
    public func prototypeSets() throws -> [PrototypeSetRecord] {
        try dbQueue.read { try fetch(PrototypeSetRecord.self, $0, "ORDER BY name") }
    }
    public func prototypes(inSet name: String) throws -> [PrototypeRecord] {
        try dbQueue.read { try fetch(PrototypeRecord.self, $0, "WHERE setName = ? ORDER BY idx", [name]) }
    }
    public func imageCount() throws -> Int {
        try dbQueue.read { try Stored<ImageRecord>.fetchCount($0) }
    }
    public func images(rows: [Int]) throws -> [Int: ImageRecord] {
        try dbQueue.read { db in
            var out: [Int: ImageRecord] = [:]
            // In pieces: SQLite limits the number of bound parameters.
            for start in stride(from: 0, to: rows.count, by: 500) {
                let part = Array(rows[start..<min(rows.count, start + 500)])
                let marks = Array(repeating: "?", count: part.count).joined(separator: ",")
                for r in try fetch(ImageRecord.self, db, "WHERE row IN (\(marks))", StatementArguments(part)) { out[r.row] = r }
            }
            // Every row asked for is one the index has (the callers ask for rows of its vectors): a
            // record a damaged page hides was shown as path "?", exit 0.
            if let missing = rows.first(where: { out[$0] == nil }) {
                throw EmbedScopeError(.catalog, "the catalog has no record of row \(missing)", path: dbQueue.path,
                                      hint: "the index is damaged; run `embedscope verify` and rebuild it")
            }
            return out
        }
    }
    public func allImages() throws -> [ImageRecord] {
        try dbQueue.read { db in
            // Under an address-space limit, the room for every record first: a million images' records
            // (~112 bytes each, and their paths) were an abort, not an error. (Only here: the lookups
            // of a few rows by row or path read no more than those.)
            if AddressSpace.limit != nil {
                let n = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(ImageRecord.databaseTableName)") ?? 0
                try AddressSpace.require(n.multipliedReportingOverflow(by: MemoryLayout<ImageRecord>.stride + 96).partialValue,
                                         for: "reading the catalog's \(n) image rows")
            }
            return try fetch(ImageRecord.self, db, "ORDER BY row")
        }
    }
    public func image(path: String) throws -> ImageRecord? {
        try dbQueue.read { try fetch(ImageRecord.self, $0, "WHERE path = ? LIMIT 1", [path]).first }
    }
    /// Class id of every row, in row order.
    public func classIds() throws -> [Int32] {
        try dbQueue.read { db in
            // Checked against the classes (numbered 0..<count; `Index.open` checks that), as read
            // from the table itself: the analyses index per-class arrays with these, and a damaged
            // page can disagree with what the classId index says.
            let classes = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM classes") ?? 0
            // (row, classId) of every row in row order, each row's check compared when it has one.
            var pairs: [(row: Int64, id: Int64)] = []
            var at: (row: Int, id: Int)?
            try forEachCheckedRow(db, table: "images", sql: checkedTables.contains("images") ? "SELECT * FROM images ORDER BY row" : "SELECT row, classId FROM images ORDER BY row") { row in
                let p = try at ?? { () throws -> (row: Int, id: Int) in
                    let names = Array(row.columnNames).map { $0.lowercased() }
                    guard let r = names.firstIndex(of: "row"), let i = names.firstIndex(of: "classid") else {
                        throw EmbedScopeError(.catalog, "the images table has no row or classId column", path: dbQueue.path)
                    }
                    at = (r, i)
                    return (r, i)
                }()
                let r: DatabaseValue = row[p.row], v: DatabaseValue = row[p.id]
                guard case .int64(let rn) = r.storage, case .int64(let id) = v.storage else {
                    throw EmbedScopeError(.catalog, "an image row's number or class id is not an integer", path: dbQueue.path,
                                          hint: "the index is damaged; run `embedscope verify` and rebuild it")
                }
                pairs.append((rn, id))
            }
            // Rows a damaged page hides from the scan would shift every class id after them.
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM images") ?? 0
            if let gap = pairs.indices.first(where: { pairs[$0].row != Int64($0) }) ?? (pairs.count != count ? pairs.count : nil) {
                throw EmbedScopeError(.catalog, "the catalog's images, read in order, do not number 0…\(count - 1): row \(gap) is \(gap < pairs.count ? "numbered \(pairs[gap].row)" : "missing")",
                                      path: dbQueue.path, hint: "the index is damaged; run `embedscope verify` and rebuild it")
            }
            let ids = pairs.map { Int($0.id) }
            return try ids.enumerated().map { row, id in
                guard id >= 0, id < classes else {
                    throw EmbedScopeError(.catalog, "image row \(row) has class id \(id), but the catalog has \(classes) classes",
                                          path: dbQueue.path, hint: "the index is damaged; run `embedscope verify` and rebuild it")
                }
                return Int32(id)
            }
        }
    }
    /// Images per class id, counted from every row's class as `classIds()` reads it (each row's
    /// check compared, rows 0…n−1 required), not from an SQL aggregate over the classId index:
    /// `info` and the report show these counts, and a damaged row or index page changed them
    /// with exit 0 (1M rows: ~0.3 s more than the aggregate).
    public func classCounts() throws -> [Int: Int] {
        var out: [Int: Int] = [:]
        for id in try classIds() { out[Int(id), default: 0] += 1 }
        return out
    }
    /// The schema migrations this catalog has, in the order they were registered ("v1", "v2", …).
    package func appliedMigrations() throws -> [String] {
        let applied = try dbQueue.read { try Catalog.migrator.appliedIdentifiers($0) }
        return Catalog.migrator.migrations.filter(applied.contains)
    }
    public func meta() throws -> [String: String] {
        try dbQueue.read { db in
            var out: [String: String] = [:]
            for row in try checkedRows(db, table: "meta", sql: "SELECT * FROM meta") {
                out[try row.decode(String.self, forColumn: "key")] = try row.decode(String.self, forColumn: "value")
            }
            return out
        }
    }
}

extension Catalog {
    /// CRC-32 of the labels results are computed from: every class (id, name) and every image's
    /// (row, class id, split), in order. Two generations with equal digests label their rows
    /// alike; damage makes the digests differ (the safe direction for `hasSameVectorsAndLabels`).
    package func labelDigest() throws -> UInt32 {
        try dbQueue.read { db in
            var crc: UInt32 = 0
            var bytes: [UInt8] = []
            func flush() { crc = Checksum.crc32(bytes, seed: crc); bytes.removeAll(keepingCapacity: true) }
            func int(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
            // Any storage, tagged (a damaged value — NULL, text where a number was — hashes as
            // itself; GRDB's typed subscript would trap on it).
            func value(_ v: DatabaseValue) {
                switch v.storage {
                case .null: bytes.append(0)
                case .int64(let i): bytes.append(1); int(i)
                case .double(let d): bytes.append(2); int(Int64(bitPattern: d.bitPattern))
                case .string(let s): bytes.append(3); int(Int64(s.utf8.count)); bytes += s.utf8
                case .blob(let b): bytes.append(4); int(Int64(b.count)); bytes += b
                }
            }
            let classes = try Row.fetchCursor(db, sql: "SELECT id, name FROM classes ORDER BY id")
            while let row = try classes.next() {
                value(row[0]); value(row[1])
            }
            bytes.append(0xff)
            let images = try Row.fetchCursor(db, sql: "SELECT row, classId, split FROM images ORDER BY row")
            while let row = try images.next() {
                value(row[0]); value(row[1]); value(row[2])
                if bytes.count >= 1 << 16 { flush() }
            }
            flush()
            return crc
        }
    }
}
