import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeAnalysis
@testable import EmbedScopeCore

/// Damage the unit-length check of the scans cannot see, found by the fuzzer's answer oracle
/// (`EmbedScopeFuzz --strict-answers`: a command on a damaged index that exits 0 must print what it
/// prints on the intact one).
final class SideFileDamageTests: XCTestCase {
    func current(_ idx: URL) -> URL { idx.appendingPathComponent("current") }

    func insert(_ bytes: Data, into file: URL, at offset: Int) throws {
        var d = try Data(contentsOf: file)
        d.insert(contentsOf: bytes, at: offset)
        try d.write(to: file)
    }

    /// 14 bytes inserted at a half row's start shifted it inside its padded stride: the scan's
    /// length check (over the padded width) still summed to 1, and `query` answered without that
    /// row, exit 0. The file's size is now checked on open, for half copies and `.vec` files.
    func testBytesInsertedIntoAVectorFileAreRefusedOnOpen() throws {
        let dir = try temporaryDirectory(self)
        let n = 30, d = 8
        let idx = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 7), rows: n, dim: d,
                                        classes: (0..<n).map { ["a", "b", "c"][$0 % 3] }, storage: .f16)
        let half = current(idx).appendingPathComponent("embedding.f16.vec")
        let h = try HalfVectorFile(url: half)
        let rowStart = Int(h.header.payloadOffset) + 21 * h.stride * 2
        try insert(Data(count: 14), into: half, at: rowStart)
        let q = try CLI.run(["query", idx.path, "--row", "6", "-k", "5"])
        XCTAssertEqual(q.status, 1, q.stdout)
        XCTAssertTrue(q.stderr.contains("bytes more than were written"), q.stderr)

        let idx2 = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 7), rows: n, dim: d,
                                         classes: (0..<n).map { ["a", "b", "c"][$0 % 3] }, name: "plain")
        let vec = current(idx2).appendingPathComponent("embedding.vec")
        try insert(Data(count: 4), into: vec, at: 64 + 10 * 16 * 4)
        XCTAssertThrowsKind(.checksumMismatch, try Index.open(idx2).vectors(space: "embedding"))
        XCTAssertEqual(try CLI.run(["query", idx2.path, "--row", "0"]).status, 1)
    }

    /// A norm changed in place but still positive changed that row's logit in `rank`, exit 0; the
    /// norms file (read whole by rank) now has its checksum compared. A prototype's value with its
    /// sign flipped (same length) changed every score; its small file's checksum is compared too.
    func testANormOrPrototypeChangedInPlaceIsRefusedByRank() throws {
        let dir = try temporaryDirectory(self)
        let a = try makeIndexWithHead(in: dir, rows: 30, dim: 8, seed: 3, name: "a")
        XCTAssertEqual(try CLI.run(["rank", a.path, "--prototype", "b", "-k", "3"]).status, 0)
        let norms = current(a).appendingPathComponent("embedding.norms.vec")
        var bytes = try Data(contentsOf: norms)
        bytes[64 + 4 * 8 + 3] ^= 0x01   // row 8's norm: its exponent's low bit, ×2 or ×½
        try bytes.write(to: norms)
        let r = try CLI.run(["rank", a.path, "--prototype", "b", "-k", "3"])
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertTrue(r.stderr.contains("payload checksum mismatch") && r.stderr.contains("embedding.norms.vec"), r.stderr)

        let b = try makeIndexWithHead(in: dir, rows: 30, dim: 8, seed: 3, name: "b")
        let proto = current(b).appendingPathComponent("prototypes-head.vec")
        let p = try VectorFile(url: proto)
        var pb = try Data(contentsOf: proto)
        pb[Int(p.header.payloadOffset) + 1 * p.stride * 4 + 2 * 4 + 3] ^= 0x80   // prototype 1, value 2: sign
        try pb.write(to: proto)
        let r2 = try CLI.run(["rank", b.path, "--prototype", "b", "-k", "3"])
        XCTAssertEqual(r2.status, 1, r2.stdout)
        XCTAssertTrue(r2.stderr.contains("payload checksum mismatch") && r2.stderr.contains("prototypes-head.vec"), r2.stderr)
    }
}

extension SideFileDamageTests {
    /// A value's sign flipped in a stored row keeps the row unit length, so the scans' length check
    /// passes it; the row's own check (each row's CRC-32 after the payload, vector format 1.2) is
    /// compared wherever the row is shown or is the query, and `verify` compares every row's.
    func testASignFlippedInAShownRowIsRefused() throws {
        let dir = try temporaryDirectory(self)
        let n = 40, d = 16
        let idx = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 12), rows: n, dim: d,
                                        classes: (0..<n).map { ["a", "b"][$0 % 2] })
        let file = current(idx).appendingPathComponent("embedding.vec")
        let v = try VectorFile(url: file)
        XCTAssertEqual(v.header.minor, 2)
        XCTAssertTrue(v.header.flags.contains(.rowChecks))
        XCTAssertEqual(v.fileSize, 64 + n * v.stride * 4 + n * 4)
        // The stored check is CRC-32 of the row's dim × 4 bytes.
        let checks = try XCTUnwrap(v.rowChecks)
        XCTAssertEqual(UInt32(littleEndian: checks[7]), Checksum.crc32(UnsafeRawBufferPointer(v.row(7))))
        let before = try CLI.run(["query", idx.path, "--row", "3", "-k", "5", "--json"])
        XCTAssertEqual(before.status, 0, before.stderr)
        let top = try Index.open(idx).search(.row(3), options: { var o = SearchOptions(); o.k = 1; return o }())[0].row

        var bytes = try Data(contentsOf: file)
        bytes[64 + top * v.stride * 4 + 5 * 4 + 3] ^= 0x80   // row `top`, value 5: sign
        try bytes.write(to: file)
        let damaged = try VectorFile(url: file)
        XCTAssertEqual(Normalize.norm(damaged.row(top)), 1, accuracy: 1e-6, "the length is kept")
        for args in [["query", idx.path, "--row", "3", "-k", "5"], ["query", idx.path, "--row", String(top), "-k", "5"]] {
            let q = try CLI.run(args)
            XCTAssertEqual(q.status, 1, "\(args): \(q.stdout)")
            XCTAssertTrue(q.stderr.contains("row \(top) does not match its check"), q.stderr)
            XCTAssertTrue(q.stdout.isEmpty, q.stdout)
        }
        // A query that does not show the row still answers.
        let far = try CLI.run(["query", idx.path, "--row", "3", "-k", "1", "--farthest"])
        XCTAssertEqual(far.status, 0, far.stderr)   // (the farthest of row 3 is not its nearest)
        XCTAssertFalse(Index.verifyReport(idx).ok)

        // Damage to the checks alone: verify names it (the payload CRC passes).
        let idx2 = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 12), rows: n, dim: d,
                                         classes: (0..<n).map { ["a", "b"][$0 % 2] }, name: "checks")
        let file2 = current(idx2).appendingPathComponent("embedding.vec")
        var b2 = try Data(contentsOf: file2)
        b2[64 + n * v.stride * 4 + 9 * 4] ^= 0x10
        try b2.write(to: file2)
        XCTAssertThrowsError(try VectorFile(url: file2).verify()) { e in
            XCTAssertTrue("\(e)".contains("the check stored for row 9 does not match the row"), "\(e)")
        }
        XCTAssertEqual(try CLI.run(["query", idx2.path, "--row", "9", "-k", "3"]).status, 1)
    }
}

/// metrics.json carries its own checksum: a figure changed in place (still valid JSON) was shown by
/// `compare` with exit 0 and passed `verify`.
final class MetricsFileSealTests: XCTestCase {
    func testAFigureChangedInPlaceIsRefusedAndMeasuredAgain() throws {
        let dir = try temporaryDirectory(self)
        let idx = try makeIndexWithHead(in: dir, rows: 30, dim: 8, seed: 6)
        XCTAssertEqual(try CLI.run(["metrics", idx.path]).status, 0)
        let file = try Index.open(idx).metricsURL
        let text = try String(contentsOf: file, encoding: .utf8)
        let sealed = try XCTUnwrap(text.firstMatch(of: #/"checksum" : "(crc32:[0-9a-f]{8})"/#))
        // The recorded value is CRC-32 of the file with the field null.
        let open = text.replacingOccurrences(of: String(sealed.0), with: "\"checksum\" : null")
        XCTAssertEqual(String(sealed.1), "crc32:" + String(format: "%08x", Checksum.crc32(Data(open.utf8))))
        let good = try CLI.run(["compare", idx.path])
        XCTAssertEqual(good.status, 0, good.stderr)

        func tamper() throws {
            let text = try String(contentsOf: file, encoding: .utf8)
            let s = try XCTUnwrap(text.firstMatch(of: #/"silhouette" : (-?0\.[0-9])/#))
            let digit = s.1.last!, other: Character = digit == "9" ? "8" : "9"
            try text.replacingCharacters(in: s.range, with: "\"silhouette\" : " + s.1.dropLast() + String(other))
                .write(to: file, atomically: true, encoding: .utf8)
        }
        try tamper()
        XCTAssertThrowsKind(.checksumMismatch, try Index.open(idx).readMetrics())
        XCTAssertTrue(Index.verifyReport(idx, also: [("metrics-file", MetricsRecord.fileName, { _ = try $0.readMetrics() })])
            .failures.contains { $0.check == "metrics-file" })
        // compare takes a damaged file as no file: it measures again and shows the figures it had
        // before (it showed the changed one, exit 0).
        let again = try CLI.run(["compare", idx.path])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stderr.contains("metrics.json was damaged and has been rewritten"), again.stderr)
        XCTAssertEqual(again.stdout, good.stdout)
        try tamper()
        // The next measurement rewrites it, sealed again.
        XCTAssertEqual(try CLI.run(["metrics", idx.path]).status, 0)
        XCTAssertEqual(try CLI.run(["compare", idx.path]).status, 0)
        XCTAssertNotNil(try Index.open(idx).readMetrics()?.checksum)
    }
}
