import Foundation
import GRDB
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis

/// Issue 9, the reader side: hostile sizes, inconsistent indexes, FIFOs, non-finite data, and
/// `verify` catching catalog damage. Each test failed (crash, hang, wrong answer or exit 0) before.
final class TrustTests: XCTestCase {
    /// A full disk said "Error Domain=NSCocoaErrorDomain Code=640 … UserInfo={…}" in every message
    /// that carried a Foundation error; the POSIX reason is what a person needs.
    func testSystemErrorsAreDescribedInAFewWords() {
        let full = NSError(domain: NSCocoaErrorDomain, code: 640,
                           userInfo: [NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC)), NSFilePathErrorKey: "/x/y"])
        XCTAssertEqual(EmbedScopeError.describe(full), String(cString: strerror(ENOSPC)))
        XCTAssertEqual(EmbedScopeError.describe(NSError(domain: NSPOSIXErrorDomain, code: Int(ENOENT))), String(cString: strerror(ENOENT)))
        let ours = EmbedScopeError(.io, "cannot write", path: "/x", underlying: full)
        XCTAssertEqual(ours.description, "/x: cannot write (\(String(cString: strerror(ENOSPC))))")
        XCTAssertEqual(EmbedScopeError.describe(ours), ours.description)
        XCTAssertFalse(EmbedScopeError.describe(full).contains("Domain"))
    }

    let classes = ["ant", "bee", "cat"]

    func makeIndex(_ dir: URL, n: Int = 40, d: Int = 8, name: String = "index", seed: UInt64 = 3) throws -> URL {
        try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: seed), rows: n, dim: d,
                              classes: (0..<n).map { classes[$0 % 3] },
                              head: (randomMatrix(rows: 3, dim: d, seed: seed + 1), [0, 1, 2], classes), name: name)
    }

    /// The folder holding the index's files: the generation `current` names (docs/index-format.md).
    func files(_ idx: URL) -> URL { idx.appendingPathComponent("current") }

    func writeCatalog(_ idx: URL, _ sql: String) throws {
        let q = try DatabaseQueue(path: files(idx).appendingPathComponent(Catalog.fileName).path)
        try q.write { try $0.execute(sql: sql) }
    }

    /// Item 1: a shape whose byte size overflows is an error, not a wrapped size (was a trap / abort).
    func testNPYShapeOverflowIsAnError() throws {
        var header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1152921504606846976, 2), }"
        header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
        data.append(contentsOf: Array(header.utf8))
        data.append(Data(count: 64))
        XCTAssertThrowsKind(.npy, try NPYArray.parse(data, path: "big.npy"))
        XCTAssertNil(CheckedSize.product([1 << 62, 4]))
        XCTAssertEqual(CheckedSize.product([3, 0, 1 << 62]), 0)
    }

    /// A float64 value beyond float32's range is named as such (it read as an "infinity" the file does not hold).
    func testNPYFloat64BeyondFloat32IsNamed() throws {
        func npy(_ values: [Double], shape: String) -> Data {
            var header = "{'descr': '<f8', 'fortran_order': False, 'shape': \(shape), }"
            header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
            var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
            data.append(contentsOf: Array(header.utf8))
            for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
            return data
        }
        do {
            _ = try NPYArray.parse(npy([1, 2, 3, 4, 1e300, 6], shape: "(3, 2)"), path: "q.npy")
            XCTFail("accepted")
        } catch let e as EmbedScopeError {
            XCTAssertEqual(e.kind, .npy)
            XCTAssertTrue(e.message.contains("row 2, column 0") && e.message.contains("beyond float32"), e.message)
        }
        // Infinity and NaN in the file stay what they are (the checks downstream name them); large finite values pass.
        let a = try NPYArray.parse(npy([.infinity, .nan, 3e38, -3e38], shape: "(4,)"), path: "q.npy")
        XCTAssertEqual(a.values[0], .infinity); XCTAssertTrue(a.values[1].isNaN); XCTAssertEqual(a.values[2], 3e38)
    }

    /// Item 1: a vector header with an absurd stride (and no rows) is refused, not converted to Int.
    func testVectorHeaderHugeStrideRefused() throws {
        var h = VectorFileHeader(rows: 0, dim: 4, flags: [])
        h.strideBytes = UInt64(1) << 63
        h.payloadLength = 0
        XCTAssertThrowsKind(.corruptHeader, try h.encoded().withUnsafeBytes { try VectorFileHeader.decode($0, fileSize: 64, path: "x.vec") })
    }

    /// Item 2: the catalog listing more images than the space's file holds (was SIGSEGV on query --row).
    func testOpenRefusesCatalogWithMoreImagesThanVectors() throws {
        let idx = try makeIndex(try temporaryDirectory(self))
        try writeCatalog(idx, "INSERT INTO images(row, path, classId) VALUES (40, 'extra.png', 0)")
        XCTAssertThrowsKind(.catalog, try Index.open(idx))
    }

    /// Values damaged in place — a meta value that is a blob, a text class id: what one flipped
    /// bit in a record header gives (the fuzzed catalog had a NULL key, past its NOT NULL). `meta()` and `classCounts()`
    /// throw, and `info` (which reads both) fails with the catalog named; both trapped in the row
    /// decoding before (SIGILL from `info`, `query`, `metrics` on a fuzzed catalog).
    func testDamagedCatalogValuesAreAnErrorNotATrap() throws {
        let dir = try temporaryDirectory(self)
        let a = try makeIndex(dir, name: "a")
        try writeCatalog(a, "UPDATE meta SET value = X'FF00' WHERE rowid = (SELECT MIN(rowid) FROM meta)")
        XCTAssertThrowsError(try Index.open(a).catalog.meta())
        XCTAssertThrowsError(try IndexInfo.collect(try Index.open(a)))
        let b = try makeIndex(dir, name: "b")
        var config = Configuration()
        config.foreignKeysEnabled = false
        try DatabaseQueue(path: files(b).appendingPathComponent(Catalog.fileName).path, configuration: config).write {
            try $0.execute(sql: "UPDATE images SET classId = 'abc' WHERE row = 5")
        }
        XCTAssertThrowsError(try Catalog.openReadOnly(at: files(b).appendingPathComponent(Catalog.fileName)).classCounts())
        // A prototype index turned to text: the open's consistency check says so (its MAX was decoded by a trapping subscript).
        let d = try makeIndex(dir, name: "d")
        try writeCatalog(d, "UPDATE prototypes SET idx = 'abc' WHERE idx = 2")
        XCTAssertThrowsKind(.catalog, try Index.open(d))
        // An image's class id outside the classes (a fuzzed catalog: mislabels indexed its per-class
        // array with it, SIGILL), and classes not numbered 0..<count: refused at open; the class ids
        // as read row by row are checked too (a damaged page can disagree with the classId index).
        let e = try makeIndex(dir, name: "e")
        try DatabaseQueue(path: files(e).appendingPathComponent(Catalog.fileName).path, configuration: config).write {
            try $0.execute(sql: "UPDATE images SET classId = 18 WHERE row = 17")
        }
        XCTAssertThrowsKind(.catalog, try Index.open(e))
        // Read row by row, the row's own check (catalog v3) finds it first.
        XCTAssertThrowsKind(.checksumMismatch, try Catalog.openReadOnly(at: files(e).appendingPathComponent(Catalog.fileName)).classIds())
        let f = try makeIndex(dir, name: "f")
        try DatabaseQueue(path: files(f).appendingPathComponent(Catalog.fileName).path, configuration: config).write {
            try $0.execute(sql: "UPDATE classes SET id = 9 WHERE id = 2")
        }
        XCTAssertThrowsKind(.catalog, try Index.open(f))
        // Undamaged, both read.
        let c = try makeIndex(dir, name: "c")
        let cat = try Index.open(c).catalog
        XCTAssertEqual(try cat.classCounts(), [0: 14, 1: 13, 2: 13])
        XCTAssertFalse(try cat.meta().isEmpty)
        XCTAssertEqual(try cat.classIds(), (0..<40).map { Int32($0 % 3) })
    }

    /// Item 2: a shorter `.vec` (a valid file of another index) under the catalog is named on open.
    func testOpenRefusesShortVectorFile() throws {
        let dir = try temporaryDirectory(self)
        let idx = try makeIndex(dir)
        let small = try makeIndex(dir, n: 30, name: "small")
        try FileManager.default.removeItem(at: files(idx).appendingPathComponent("embedding.vec"))
        try FileManager.default.copyItem(at: files(small).appendingPathComponent("embedding.vec"), to: files(idx).appendingPathComponent("embedding.vec"))
        do {
            _ = try Index.open(idx)
            XCTFail("opened an index whose embedding.vec has 30 rows for 40 images")
        } catch let e as EmbedScopeError {
            XCTAssertEqual(e.kind, .catalog)
            XCTAssertTrue(e.path?.hasSuffix("embedding.vec") == true, e.description)
        }
    }

    /// Item 2: a prototype index outside the prototype file (was SIGSEGV in rank, and verify said ok).
    func testOpenRefusesPrototypeIndexOutsideFile() throws {
        let idx = try makeIndex(try temporaryDirectory(self))
        try writeCatalog(idx, "UPDATE prototypes SET idx = 7 WHERE idx = 2")
        XCTAssertThrowsKind(.catalog, try Index.open(idx))
        XCTAssertFalse(Index.verifyReport(idx).ok)
    }

    /// Item 2: a FIFO in place of a vector file or the catalog is refused without blocking; so is
    /// one where SQLite looks for its rollback journal or WAL (a FIFO named
    /// `catalog.sqlite-journal` blocked every query before).
    func testFIFOInsteadOfIndexFileIsRefusedWithoutBlocking() throws {
        let sidecars = ["-journal", "-wal", "-shm"].map { Catalog.fileName + $0 }
        for name in ["embedding.vec", "embedding.norms.vec", Catalog.fileName] + sidecars {
            let idx = try makeIndex(try temporaryDirectory(self))
            let path = files(idx).appendingPathComponent(name).path
            if !sidecars.contains(name) { try FileManager.default.removeItem(atPath: path) }
            XCTAssertEqual(mkfifo(path, 0o644), 0)
            let done = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var outcome: Error?
            Thread.detachNewThread {
                do { _ = try Index.open(idx) } catch { outcome = error }
                done.signal()
            }
            guard done.wait(timeout: .now() + 10) == .success else {
                XCTFail("Index.open blocked on a FIFO named \(name)")
                continue
            }
            let e = try XCTUnwrap(outcome as? EmbedScopeError, "\(name): \(String(describing: outcome))")
            XCTAssertTrue(e.message.contains("FIFO"), e.description)
        }
    }

    /// Writes NaN into row `row` of a space's vector file (the header and its CRC stay as they were).
    func damage(_ idx: URL, row: Int, value: Float = .nan, column: Int = 0, file: String = "embedding.vec") throws {
        let f = try VectorFile(url: files(idx).appendingPathComponent(file))
        let offset = 64 + row * f.stride * 4 + column * 4
        let h = try FileHandle(forWritingTo: f.url)
        try h.seek(toOffset: UInt64(offset))
        try h.write(contentsOf: withUnsafeBytes(of: value) { Data($0) })
        try h.close()
    }

    /// `body` fails with an `EmbedScopeError` of `kind` whose description holds every one of `phrases`.
    func assertDamageError(_ body: @autoclosure () throws -> Any, _ kind: EmbedScopeError.Kind, mentioning phrases: [String], _ what: String,
                           file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try body()
            XCTFail("\(what): no error on damaged rows", file: file, line: line)
        } catch let e as EmbedScopeError {
            XCTAssertEqual(e.kind, kind, "\(what): \(e.description)", file: file, line: line)
            for p in phrases { XCTAssertTrue(e.description.contains(p), "\(what): no '\(p)' in \(e.description)", file: file, line: line) }
        } catch { XCTFail("\(what): \(error)", file: file, line: line) }
    }

    /// Item 3: a NaN row never reaches a result (was: silently dropped, or `-nan` printed with exit 0).
    func testNonFiniteRowIsAnErrorEverywhere() throws {
        let idx = try makeIndex(try temporaryDirectory(self))
        try damage(idx, row: 5)
        try damage(idx, row: 17, value: .infinity)
        let i = try Index.open(idx)
        var o = SearchOptions(); o.k = 3
        func assertNamesRows(_ body: @autoclosure () throws -> Any, _ what: String) {
            assertDamageError(try body(), .nonFinite, mentioning: ["5", "verify"], what)
        }
        assertNamesRows(try i.search(.row(0), options: o), "query --row 0")
        assertNamesRows(try i.search(.row(5), options: o), "query --row 5 (the damaged row)")
        o.farthest = true
        assertNamesRows(try i.search(.row(1), options: o), "query --farthest")
        o.kernel = .blas
        assertNamesRows(try i.search(.row(1), options: o), "query --kernel blas")
        assertNamesRows(try i.rank(prototype: "bee", set: nil, least: false, k: 3), "rank")
        assertNamesRows(try i.clusterScores(space: "embedding"), "metrics")
        assertNamesRows(try i.versus(), "versus")
        assertNamesRows(try i.probe(ProbeRequest()), "probe")
        assertNamesRows(try i.projection(method: .pca, components: 2), "project")
        // The batch scanner reports the rows too.
        let v = try i.vectors(space: "embedding")
        XCTAssertThrowsError(try Scorer.searchBatch(RowMatrix(v), queries: Array(v.row(0)) + Array(v.row(1)), count: 2, k: 3)) { e in
            XCTAssertEqual((e as? NonFiniteScores)?.rows, [5, 17])
        }
        let report = Index.verifyReport(idx)
        XCTAssertFalse(report.ok)
        XCTAssertTrue(report.failures.contains { $0.check == "finite" }, report.text)
    }

    /// Finite damage — a zeroed page, garbage bytes — used to give a different answer with exit 0
    /// (`verify` alone found it). Every row a result shows, and the query row, must be unit length.
    func testRowsNotOfUnitLengthNeverReachAResult() throws {
        let idx = try makeIndex(try temporaryDirectory(self))
        var o = SearchOptions(); o.k = 40
        // No false alarm: every row of a fresh index, on every path that checks.
        let fresh = try Index.open(idx)
        XCTAssertEqual(try fresh.search(.row(0), options: o).count, 39)
        XCTAssertEqual(try fresh.searchBatch([.row(0), .row(1)], options: o).map(\.count), [39, 39])
        XCTAssertEqual(try fresh.rank(prototype: "bee", set: nil, least: false, k: 40).count, 40)
        for c in 0..<8 { try damage(idx, row: 5, value: 0, column: c) }   // a zeroed row
        try damage(idx, row: 17, value: 3)                                  // a garbled value
        let i = try Index.open(idx)
        func assertRefused(_ body: @autoclosure () throws -> Any, _ what: String, row: Int? = nil) {
            assertDamageError(try body(), .checksumMismatch, mentioning: ["verify", "not 1"] + (row.map { ["row \($0) has length"] } ?? []), what)
        }
        assertRefused(try i.search(.row(0), options: o), "query --row 0 -k 40")
        assertRefused(try i.search(.row(5), options: o), "query --row 5 (the zeroed row)", row: 5)
        assertRefused(try i.search(.row(17), options: o), "query --row 17 (the garbled row)", row: 17)
        o.farthest = true
        assertRefused(try i.search(.row(1), options: o), "query --farthest")
        o.kernel = .blas
        assertRefused(try i.search(.row(1), options: o), "query --kernel blas")
        o = SearchOptions(); o.k = 40
        assertRefused(try i.searchBatch([.row(0), .row(1)], options: o), "query --rows")
        assertRefused(try i.rank(prototype: "bee", set: nil, least: false, k: 40), "rank")
        // A result that would not show a damaged row is refused too: the scan read the row and
        // found it damaged (it might have been the answer; `UnitRowScanTests`).
        o.k = 1; o.includeSelf = true
        assertRefused(try i.search(.row(3), options: o), "query --row 3 -k 1 --include-self", row: 5)
        o.kernel = .blas
        assertRefused(try i.search(.row(3), options: o), "query --row 3 -k 1 --kernel blas", row: 5)
        let report = Index.verifyReport(idx)
        XCTAssertFalse(report.ok, report.text)
    }

    /// Item 3: a NaN query vector is refused (it would score NaN against every row).
    func testNonFiniteQueryVectorRefused() throws {
        let i = try Index.open(try makeIndex(try temporaryDirectory(self)))
        var q = [Float](repeating: 0.5, count: 8)
        q[3] = .nan
        XCTAssertThrowsKind(.nonFinite, try i.search(.vector(q), options: SearchOptions()))
    }

    /// Item 8: a fresh index verifies; a catalog cut by one byte, or one flipped byte in a stored
    /// path, does not (SQLite keeps no checksum of its own).
    func testVerifyCatchesTruncatedCatalogAndFlippedPathByte() throws {
        let dir = try temporaryDirectory(self)
        let idx = try makeIndex(dir)
        let good = Index.verifyReport(idx)
        XCTAssertTrue(good.ok, good.text)
        XCTAssertTrue(good.checks.contains { $0.check == "catalog-checksum" && $0.ok })

        let cat = files(idx).appendingPathComponent(Catalog.fileName)
        let original = try Data(contentsOf: cat)
        try original.dropLast().write(to: cat)
        XCTAssertFalse(Index.verifyReport(idx).ok, "one byte cut off the catalog")

        var flipped = original
        let needle = Data("img/bee/1.png".utf8)
        let at = try XCTUnwrap(flipped.range(of: needle), "path not found in catalog bytes")
        flipped[at.lowerBound + 4] = UInt8(ascii: "c")   // img/bee → img/cee
        try flipped.write(to: cat)
        let report = Index.verifyReport(idx)
        XCTAssertFalse(report.ok)
        XCTAssertTrue(report.failures.contains { $0.check == "catalog-checksum" }, report.text)
        XCTAssertThrowsError(try Index.open(idx).verify())
    }

    /// A vector file copied from another index of the same shape (its own checksums intact) used to
    /// answer with the other index's rows, exit 0, and pass `verify`: the catalog records each
    /// file's payload checksum at commit (`fileChecksum.<file>`), `Index.open` compares it.
    func testAFileFromAnotherIndexOfTheSameShapeIsRefused() throws {
        let dir = try temporaryDirectory(self)
        let fm = FileManager.default
        for file in ["embedding.vec", "embedding.norms.vec", "prototypes-head.vec"] {
            let a = try makeIndex(dir, name: "a-\(file)", seed: 3)
            let b = try makeIndex(dir, name: "b-\(file)", seed: 11)
            XCTAssertNoThrow(try Index.open(a))
            let target = files(a).appendingPathComponent(file)
            guard fm.fileExists(atPath: target.path) else { return XCTFail("no \(file) in \(try fm.contentsOfDirectory(atPath: files(a).path))") }
            try fm.removeItem(at: target)
            try fm.copyItem(at: files(b).appendingPathComponent(file), to: target)
            XCTAssertThrowsKind(.checksumMismatch, try Index.open(a), file)
            let q = try CLI.run(["query", a.path, "--row", "0"])
            XCTAssertEqual(q.status, 1, file)
            XCTAssertTrue(q.stderr.contains("not the file this generation was written with"), q.stderr)
            XCTAssertEqual(try CLI.run(["verify", a.path]).status, 1, file)
        }
    }

    /// Item 8 through the binary: exit status and --json.
    func testVerifyCommandExitStatusAndJSON() throws {
        let idx = try makeIndex(try temporaryDirectory(self))
        let ok = try CLI.run(["verify", idx.path, "--json"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let parsed = try JSONDecoder().decode(VerifyReport.self, from: Data(ok.stdout.utf8))
        XCTAssertTrue(parsed.ok)
        try damage(idx, row: 2)
        let bad = try CLI.run(["verify", idx.path])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("checksum") && bad.stderr.contains("finite"), bad.stderr)
        let q = try CLI.run(["query", idx.path, "--row", "2"])
        XCTAssertNotEqual(q.status, 0)
        XCTAssertFalse(q.stdout.lowercased().contains("nan"), q.stdout)
        XCTAssertTrue(q.stderr.contains("verify"), q.stderr)
        let r = try CLI.run(["rank", idx.path, "--prototype", "ant"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertFalse(r.stdout.lowercased().contains("nan"), r.stdout)
    }

    /// Both passed `verify` (held-out sweep): bytes appended to a vector file after its payload,
    /// and a damaged metrics.json (which `compare --no-compute` and the report refuse).
    func testVerifyCatchesAppendedBytesAndADamagedMetricsFile() throws {
        let dir = try temporaryDirectory(self)
        for damage in ["append", "metrics"] {
            let idx = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 20, dim: 4, seed: 3), rows: 20, dim: 4,
                                            classes: (0..<20).map { ["a", "b"][$0 % 2] }, name: damage)
            XCTAssertEqual(try CLI.run(["metrics", idx.path]).status, 0)
            let clean = try CLI.run(["verify", idx.path])
            XCTAssertEqual(clean.status, 0, clean.stderr)
            let current = try Index.open(idx).directory
            if damage == "append" {
                let h = try FileHandle(forWritingTo: current.appendingPathComponent("embedding.vec"))
                try h.seekToEnd(); try h.write(contentsOf: Data(count: 4096)); try h.close()
            } else {
                try Data("{\"spaces\":".utf8).write(to: current.appendingPathComponent("metrics.json"))
            }
            let bad = try CLI.run(["verify", idx.path, "--json"])
            XCTAssertEqual(bad.status, 1, damage)
            let report = try JSONDecoder().decode(VerifyReport.self, from: Data(bad.stdout.utf8))
            // Appended bytes: the file no longer opens either (its size is checked on open, as an
            // insertion would shift the rows), so the scan for finite values fails too.
            XCTAssertEqual(report.failures.map(\.check), damage == "append" ? ["checksum", "finite"] : ["metrics-file"], damage)
        }
    }
}
