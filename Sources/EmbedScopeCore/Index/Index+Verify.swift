import Foundation
internal import GRDB

/// What `embedscope verify` checks, all of it: the catalog (SQLite `integrity_check`,
/// `foreign_key_check`, the content checksum recorded at build time), the catalog against the
/// vector files (`Index.open`'s consistency checks), every vector file's payload checksum, and
/// every stored value finite (a full scan). `ok` only when every check passed.
public struct VerifyReport: Codable, Sendable {
    public struct Check: Codable, Sendable, Equatable {
        /// `catalog-integrity`, `catalog-foreign-keys`, `catalog-checksum`, `catalog-row-checks`, `open`, `checksum`, `finite`,
        /// `half-copy` (a half-precision copy within one rounding of its float32 rows), `metrics-file`
        /// (metrics.json, when there is one, reads).
        public var check: String
        public var path: String
        public var ok: Bool
        public var message: String?
        /// The error kind when the check failed.
        public var kind: String?
    }

    public var path: String
    public var ok: Bool
    public var rows: Int?
    /// Number of spaces and of prototype sets (null when the index does not open).
    public var spaceCount: Int?
    public var prototypeSetCount: Int?
    public var checks: [Check]

    public var failures: [Check] { checks.filter { !$0.ok } }

    /// One line per failure, or the one-line summary.
    public var text: String {
        if ok {
            func n(_ count: Int?, _ word: String) -> String { "\(count ?? 0) \(word)\(count == 1 ? "" : "s")" }
            return "ok: \(n(rows, "row")), \(n(spaceCount, "space")), \(n(prototypeSetCount, "prototype set")); \(checks.count) checks passed "
                + "(catalog integrity, foreign keys, content checksum and row checks, file checksums and sizes, catalog against files, finite values, metrics.json)"
        }
        return failures.map { "FAILED \($0.check): \($0.message ?? "")" }.joined(separator: "\n")
            + "\n\(failures.count) of \(checks.count) checks failed"
    }
}

extension VerifyReport.Check {
    /// Runs one check: passed, or failed with the error's message, kind and path.
    static func outcome(_ check: String, _ path: String, _ body: () throws -> Void) -> Self {
        do {
            try body()
            return .init(check: check, path: path, ok: true)
        } catch let e as EmbedScopeError {
            return .init(check: check, path: e.path ?? path, ok: false, message: e.description, kind: e.kind.rawValue)
        } catch {
            return .init(check: check, path: path, ok: false, message: "\(path): \(error)", kind: EmbedScopeError.Kind.io.rawValue)
        }
    }
}

extension Index {
    /// Runs every check on the index at `url`; never throws (a failure is a failed check).
    /// `also`: checks of layers above this one, run on the opened index (name, file, body), e.g.
    /// the analysis layer's metrics.json.
    public static func verifyReport(_ url: URL, also: [(check: String, file: String, body: (Index) throws -> Void)] = []) -> VerifyReport {
        var checks: [VerifyReport.Check] = []
        func run(_ check: String, _ path: String, _ body: () throws -> Void) { checks.append(.outcome(check, path, body)) }
        // The generation `current` names, held (shared) while the checks run, so the catalog and
        // files checked are one generation's even if a writer switches meanwhile.
        let generation = try? IndexDirectory.openGeneration(url)
        let catalogURL = (generation?.directory ?? url).appendingPathComponent(Catalog.fileName)
        var catalog: Catalog?
        run("catalog-open", catalogURL.path) { catalog = try Catalog.openReadOnly(at: catalogURL) }
        if let catalog {
            run("catalog-integrity", catalogURL.path) { try catalog.checkIntegrity(path: catalogURL.path) }
            run("catalog-foreign-keys", catalogURL.path) { try catalog.checkForeignKeys(path: catalogURL.path) }
            var note: String?
            run("catalog-checksum", catalogURL.path) { note = try catalog.checkContentHash(path: catalogURL.path) }
            if let note, let last = checks.indices.last, checks[last].ok { checks[last].message = note }
            var rowNote: String?
            run("catalog-row-checks", catalogURL.path) { rowNote = try catalog.checkAllRows() }
            if let rowNote, let last = checks.indices.last, checks[last].ok { checks[last].message = rowNote }
        }
        var idx: Index?
        run("open", url.path) { idx = try Index.open(url) }
        if let idx {
            checks += idx.fileChecks()
            for a in also { run(a.check, idx.directory.appendingPathComponent(a.file).path) { try a.body(idx) } }
        }
        withExtendedLifetime(generation) {}
        return VerifyReport(path: url.path, ok: checks.allSatisfy(\.ok), rows: idx?.rowCount, spaceCount: idx?.spaces.count,
                            prototypeSetCount: idx?.prototypeSets.count, checks: checks)
    }

    /// Payload checksums and finite values of every vector file, and the prototypes' biases and norms.
    func fileChecks() -> [VerifyReport.Check] {
        var checks: [VerifyReport.Check] = []
        func run(_ check: String, _ path: String, _ body: () throws -> Void) { checks.append(.outcome(check, path, body)) }
        for s in spaces {
            let vp = directory.appendingPathComponent(s.file).path, np = directory.appendingPathComponent(s.normsFile).path
            run("checksum", vp) { try vectors(space: s.name).verify() }
            run("checksum", np) { try norms(space: s.name).verify() }
            run("finite", vp) { try requireFinite(space: s.name, checksum: false) }
            if let storage = halfStorage[s.name] {
                let hp = directory.appendingPathComponent(storage.fileName(space: s.name)).path
                run("checksum", hp) { try halfVectors(space: s.name)?.verify() }
                run("half-copy", hp) { try checkHalfValues(space: s.name) }
            }
        }
        for p in prototypeSets {
            let pp = directory.appendingPathComponent(p.file).path
            run("checksum", pp) { try prototypes(set: p.name).vectors.verify() }
            run("finite", pp) { try requireFinite(prototypeSet: p.name) }
        }
        return checks
    }
}

extension Catalog {
    /// SQLite's `PRAGMA integrity_check`: page structure, index/table agreement, NOT NULL.
    func checkIntegrity(path: String) throws {
        let result = try sqlite { db in try String.fetchAll(db, sql: "PRAGMA integrity_check(20)") }
        guard result == ["ok"] else {
            throw EmbedScopeError(.catalog, "SQLite integrity check failed: \(result.prefix(5).joined(separator: "; "))", path: path,
                                  hint: "the catalog is damaged; rebuild the index")
        }
    }

    /// `PRAGMA foreign_key_check`: every image's class, every prototype's set, every set's space exist.
    func checkForeignKeys(path: String) throws {
        let rows = try sqlite { db in try Row.fetchAll(db, sql: "PRAGMA foreign_key_check") }
        guard rows.isEmpty else {
            let first = rows.prefix(3).map { r -> String in
                let table: String = r["table"] ?? "?", parent: String = r["parent"] ?? "?"
                let rowid: Int64? = r["rowid"]
                return "\(table) rowid \(rowid.map(String.init) ?? "?") → missing \(parent)"
            }
            throw EmbedScopeError(.catalog, "\(rows.count) rows refer to missing rows (\(first.joined(separator: "; ")))", path: path,
                                  hint: "the catalog is damaged; rebuild the index")
        }
    }

    /// The content checksum recorded at build time against the content as it reads now. Returns
    /// a note when there is nothing to compare with.
    @discardableResult
    func checkContentHash(path: String) throws -> String? {
        let (recorded, computed) = try sqlite { db -> (String?, String) in
            (try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [Self.contentHashKey]), try Self.contentHash(db))
        }
        // An index written before the checksum existed carries none: a note, not a failure.
        guard let recorded else { return "no content checksum recorded (written before it existed): the catalog's rows were not checked; rebuild or re-import the index to record one" }
        guard recorded == computed else {
            throw EmbedScopeError(.checksumMismatch, "catalog content checksum mismatch (recorded \(recorded), computed \(computed)): a stored path, class, count or name changed after the index was written",
                                  path: path, hint: "the catalog is damaged; rebuild the index")
        }
        return nil
    }

    private func sqlite<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try dbQueue.read(body)
        } catch let e as EmbedScopeError {
            throw e
        } catch {
            throw EmbedScopeError(.catalog, "cannot read the catalog", hint: "the catalog is damaged; rebuild the index", underlying: error)
        }
    }
}
