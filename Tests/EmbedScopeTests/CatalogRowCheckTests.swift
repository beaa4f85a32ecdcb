import Foundation
import GRDB
import XCTest
import CZlib
@testable import EmbedScope
@testable import EmbedScopeCore

/// Catalog migration v3: every row of images, classes, spaces, prototypeSets and prototypes
/// carries `rowCheck`, compared whenever the row is read (docs/index-format.md, "Row checks").
final class CatalogRowCheckTests: XCTestCase {
    func catalogURL(_ idx: URL) -> URL { idx.appendingPathComponent("current").appendingPathComponent(Catalog.fileName) }

    /// Changes the catalog with SQL the way damage would: the value only, its row check left as it was.
    func damage(_ idx: URL, _ sql: String) throws {
        var config = Configuration()
        config.foreignKeysEnabled = false
        try DatabaseQueue(path: catalogURL(idx).path, configuration: config).write { try $0.execute(sql: sql) }
    }

    /// The check is CRC-32 (zlib) of the documented stream: the table name (u64 length + UTF-8),
    /// then each listed column as a tag byte and its value, little-endian.
    func testRowCheckIsTheDocumentedCRC() throws {
        let dir = try temporaryDirectory(self)
        let idx = try makeIndexWithHead(in: dir, rows: 12, dim: 6, seed: 5)
        let q = try DatabaseQueue(path: catalogURL(idx).path)
        let (stored, path, classId) = try q.read { db -> (Int64, String, Int64) in
            let r = try XCTUnwrap(try Row.fetchOne(db, sql: "SELECT rowCheck, path, classId FROM images WHERE row = 7"))
            return (r["rowCheck"], r["path"], r["classId"])
        }
        var b: [UInt8] = []
        func u64(_ v: UInt64) { for i in 0..<8 { b.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }
        func text(_ s: String) { b.append(3); u64(UInt64(s.utf8.count)); b += Array(s.utf8) }
        u64(6); b += Array("images".utf8)
        b.append(1); u64(7)                    // row
        text(path)                             // path
        b.append(1); u64(UInt64(classId))      // classId
        for _ in 0..<5 { b.append(0) }         // split, width, height, bytes, contentHash: null (import without images)
        let crc = b.withUnsafeBufferPointer { UInt32(CZlib.crc32(0, $0.baseAddress, UInt32($0.count))) }
        XCTAssertEqual(path, "img/b/7.png")
        XCTAssertEqual(stored, Int64(crc))
        // Every row of every checked table has one.
        for table in ["images", "classes", "spaces", "prototypeSets", "prototypes", "meta"] {
            let missing = try q.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM \(table) WHERE rowCheck IS NULL") }
            XCTAssertEqual(missing, 0, table)
        }
    }

    /// A byte flipped inside a stored path (same length; SQLite reads the page as valid) was shown
    /// by `query` as another image, exit 0. Now the row that would be shown is refused.
    func testFlippedPathByteIsRefusedWhereTheRowIsShown() throws {
        let dir = try temporaryDirectory(self)
        let idx = try makeIndexWithHead(in: dir, rows: 40, dim: 8, seed: 11)
        let near = try Index.open(idx).search(.row(0), options: { var o = SearchOptions(); o.k = 3; return o }())
        let top = near[0].row
        let needle = Data("img/\(["a", "b", "c"][top % 3])/\(top).png".utf8)
        var bytes = try Data(contentsOf: catalogURL(idx))
        let at = try XCTUnwrap(bytes.range(of: needle))
        bytes[at.lowerBound + 4] ^= 0x02   // img/a → img/c, img/b → img/`, …
        try bytes.write(to: catalogURL(idx))

        let q = try CLI.run(["query", idx.path, "--row", "0", "-k", "3"])
        XCTAssertEqual(q.status, 1, q.stdout)
        XCTAssertTrue(q.stderr.contains("catalog table images, row \(top) does not match its check"), q.stderr)
        XCTAssertTrue(q.stdout.isEmpty, q.stdout)
        let j = try CLI.run(["query", idx.path, "--row", "0", "-k", "3", "--json"])
        XCTAssertEqual(j.status, 1)
        XCTAssertThrowsKind(.checksumMismatch, try Index.open(idx).catalog.images(rows: [top]))
        XCTAssertThrowsKind(.checksumMismatch, try Index.open(idx).catalog.allImages())
        // A row that is not shown still answers: the damage is found where it is read.
        let other = (0..<40).first { r in r != top && r != 0 }!
        XCTAssertNoThrow(try Index.open(idx).catalog.images(rows: [other]))
        // verify names it by its row check and by the content checksum.
        let report = Index.verifyReport(idx)
        XCTAssertFalse(report.ok)
        XCTAssertTrue(report.failures.contains { $0.check == "catalog-row-checks" }, report.text)
        XCTAssertTrue(report.failures.contains { $0.check == "catalog-checksum" }, report.text)
    }

    /// Class names, prototype biases and norms, a space's record: each read checks its rows.
    func testDamagedNamesAndHeadValuesAreRefused() throws {
        let dir = try temporaryDirectory(self)
        let a = try makeIndexWithHead(in: dir, rows: 30, dim: 8, seed: 2, name: "a")
        XCTAssertEqual(try CLI.run(["rank", a.path, "--prototype", "b", "-k", "3"]).status, 0, "rank on an intact index")
        try damage(a, "UPDATE prototypes SET bias = 40.0 WHERE idx = 1")
        let r = try CLI.run(["rank", a.path, "--prototype", "b", "-k", "3"])
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertTrue(r.stderr.contains("catalog table prototypes, prototype 1 of set head does not match its check"), r.stderr)

        let b = try makeIndexWithHead(in: dir, rows: 30, dim: 8, seed: 2, name: "b")
        try damage(b, "UPDATE classes SET name = 'x' WHERE id = 2")
        XCTAssertThrowsKind(.checksumMismatch, try Index.open(b).catalog.classes())
        XCTAssertNotEqual(try CLI.run(["query", b.path, "--row", "0"]).status, 0)

        let c = try makeIndexWithHead(in: dir, rows: 30, dim: 8, seed: 2, name: "c")
        try damage(c, "UPDATE images SET split = 'test' WHERE row = 4")
        XCTAssertThrowsKind(.checksumMismatch, try Index.open(c).catalog.classIds())
        XCTAssertNotEqual(try CLI.run(["metrics", c.path]).status, 0)

        // A row's class changed: `info` and the report count images per class from the checked
        // rows (an SQL aggregate showed the changed counts, exit 0).
        let f = try makeIndexWithHead(in: dir, rows: 30, dim: 8, seed: 2, name: "f")
        let before = try CLI.run(["info", f.path, "--json"])
        XCTAssertEqual(before.status, 0, before.stderr)
        XCTAssertTrue(before.stdout.contains("\"count\" : 10"), before.stdout)
        try damage(f, "UPDATE images SET classId = (classId + 1) % 3 WHERE row = 5")
        XCTAssertThrowsKind(.checksumMismatch, try Index.open(f).catalog.classCounts())
        let info = try CLI.run(["info", f.path])
        XCTAssertEqual(info.status, 1, info.stdout)
        XCTAssertTrue(info.stderr.contains("catalog table images, row 5 does not match its check"), info.stderr)

        // A setting in meta (the data set root the server reads images from).
        let e = try makeIndexWithHead(in: dir, rows: 30, dim: 8, seed: 2, name: "e")
        try damage(e, "UPDATE meta SET value = '/elsewhere' WHERE key = 'datasetRoot'")
        XCTAssertThrowsKind(.checksumMismatch, try Index.open(e).catalog.meta())

        // A check removed is not a pass: every row of a v3 catalog has one.
        let d = try makeIndexWithHead(in: dir, rows: 30, dim: 8, seed: 2, name: "d")
        try damage(d, "UPDATE images SET rowCheck = NULL WHERE row = 9")
        XCTAssertThrowsKind(.checksumMismatch, try Index.open(d).catalog.images(rows: [9]))
    }

    /// A damaged page can hide a row from one lookup and not from the open's COUNT/MIN/MAX (found by
    /// the fuzzer's answer oracle: `query --farthest` printed path "?" and class "?", exit 0). A
    /// row asked for that has no record, and a gap in the rows read in order, are errors.
    func testARowMissingFromTheCatalogIsAnErrorNotAQuestionMark() throws {
        let dir = try temporaryDirectory(self)
        let idx = try makeIndexWithHead(in: dir, rows: 30, dim: 8, seed: 8)
        try damage(idx, "DELETE FROM images WHERE row = 12")
        let cat = try Catalog.openReadOnly(at: catalogURL(idx))
        XCTAssertEqual(try cat.images(rows: [11, 13]).count, 2)
        XCTAssertThrowsKind(.catalog, try cat.images(rows: [11, 12]))
        XCTAssertThrowsKind(.catalog, try cat.classIds())
        try damage(idx, "DELETE FROM images WHERE row = 29")
        XCTAssertThrowsKind(.catalog, try Catalog.openReadOnly(at: catalogURL(idx)).classIds())
    }

    /// The path index's entry for one image rewritten to another image's path (the table row intact):
    /// SQLite follows the entry to the row it points to and takes the path from the index entry, not
    /// the row, so the row read is the pointed-to row with the asked-for path — which its check refuses
    /// (else `query --path` would answer for another image, exit 0).
    func testADamagedPathIndexIsNotFollowedToAnotherImage() throws {
        let dir = try temporaryDirectory(self)
        let idx = try makeIndexWithHead(in: dir, rows: 30, dim: 8, seed: 4)
        let (root, pageSize) = try DatabaseQueue(path: catalogURL(idx).path).read { db in
            (try Int.fetchOne(db, sql: "SELECT rootpage FROM sqlite_master WHERE name = 'images_path'")!,
             try Int.fetchOne(db, sql: "PRAGMA page_size")!)
        }
        var bytes = try Data(contentsOf: catalogURL(idx))
        // img/a/3.png → img/a/6.png in the index page only: (img/a/6.png, 3) then sorts before (img/a/6.png, 6).
        let page = (root - 1) * pageSize..<root * pageSize
        let at = try XCTUnwrap(bytes.range(of: Data("img/a/3.png".utf8), in: page))
        bytes[at.lowerBound + 6] = UInt8(ascii: "6")
        try bytes.write(to: catalogURL(idx))
        XCTAssertThrowsKind(.checksumMismatch, try Index.open(idx).catalog.image(path: "img/a/6.png"))
        let q = try CLI.run(["query", idx.path, "--path", "img/a/6.png", "-k", "3"])
        XCTAssertEqual(q.status, 1, q.stdout)
        XCTAssertTrue(q.stderr.contains("catalog table images, row 3 does not match its check"), q.stderr)
        // Images whose entries are intact still resolve.
        XCTAssertEqual(try Index.open(idx).catalog.image(path: "img/b/4.png")?.row, 4)
    }

    /// A writer that copies a catalog (a prototype set stored, add, remove, merge) compares its
    /// content checksum first: damage its row check does not show (here a path rewritten with a
    /// matching check, as a catalog from before v3 has none to compare) is not covered by the new
    /// generation's checksums, and nothing changes.
    func testWritersRefuseACatalogWhoseContentChecksumFails() throws {
        let dir = try temporaryDirectory(self)
        let a = try makeIndexWithHead(in: dir, rows: 30, dim: 8, seed: 4, name: "a")
        let row = try XCTUnwrap(try Index.open(a).catalog.images(rows: [5])[5])
        let forged = RowCheck.value(table: "images") { name -> DatabaseValue in
            switch name {
            case "row": return 5.databaseValue
            case "path": return "img/c/elsewhere.png".databaseValue
            case "classId": return row.classId.databaseValue
            default: return .null
            }
        }
        try damage(a, "UPDATE images SET path = 'img/c/elsewhere.png', rowCheck = \(forged) WHERE row = 5")
        XCTAssertEqual(try Index.open(a).catalog.images(rows: [5])[5]?.path, "img/c/elsewhere.png")
        let before = try FileManager.default.destinationOfSymbolicLink(atPath: a.appendingPathComponent("current").path)
        XCTAssertThrowsKind(.checksumMismatch, try Index.writePrototypeSet(at: a, name: "p", space: "embedding", source: "test",
                                                                          names: ["u", "v"], weights: randomMatrix(rows: 2, dim: 8, seed: 1), bias: [0, 0]))
        let remove = try CLI.run(["remove", a.path, "--path", "img/a/3.png"])
        XCTAssertEqual(remove.status, 1, remove.stdout)
        XCTAssertTrue(remove.stderr.contains("content checksum mismatch"), remove.stderr)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: a.appendingPathComponent("current").path), before)
        // An intact index takes both.
        let b = try makeIndexWithHead(in: dir, rows: 30, dim: 8, seed: 4, name: "b")
        XCTAssertNoThrow(try Index.writePrototypeSet(at: b, name: "p", space: "embedding", source: "test",
                                                     names: ["u", "v"], weights: randomMatrix(rows: 2, dim: 8, seed: 1), bias: [0, 0]))
        XCTAssertEqual(try CLI.run(["remove", b.path, "--path", "img/a/3.png"]).status, 0)
        XCTAssertTrue(Index.verifyReport(b).ok)
    }

    /// An index from before v3 (the v1 fixture) still reads unchecked; a writer migrates its copy
    /// and fills every row's check, and the new generation verifies.
    func testOlderCatalogGainsRowChecksWhenAWriterCopiesIt() throws {
        let dir = try temporaryDirectory(self)
        let old = dir.appendingPathComponent("old")
        try FileManager.default.copyItem(at: FormatCompatibilityTests.v1, to: old)
        let idx = try Index.open(old)
        XCTAssertTrue(idx.catalog.checkedTables.isEmpty)
        XCTAssertEqual(try idx.catalog.checkAllRows(), "no row checks (a catalog written before they existed)")
        try Index.writePrototypeSet(at: old, name: "extra", space: "embedding", source: "test", names: ["u", "v"],
                                    weights: randomMatrix(rows: 2, dim: 4, seed: 9), bias: [0, 1])
        let now = try Index.open(old)
        XCTAssertEqual(try now.catalog.appliedMigrations(), ["v1", "v2", "v3"])
        XCTAssertEqual(now.catalog.checkedTables, ["images", "classes", "spaces", "prototypeSets", "prototypes", "meta"])
        XCTAssertNil(try now.catalog.checkAllRows())
        let report = Index.verifyReport(old)
        XCTAssertTrue(report.ok, report.text)
        var o = SearchOptions(); o.k = 3
        XCTAssertEqual(try now.search(.row(0), options: o).map(\.row), FormatCompatibilityTests.expectedNeighbours)
    }
}
