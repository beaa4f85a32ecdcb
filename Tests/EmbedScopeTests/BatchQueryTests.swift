import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore

/// Many queries in one pass (`Index.searchBatch`, `query --vectors/--rows`): the same answers as
/// one query at a time, in input order, across more than one pass.
final class BatchQueryTests: XCTestCase {
    /// Same rows in the same order and scores within float rounding of the one-query kernel.
    func assertSameAnswers(_ batch: [ResultRow], _ one: [ResultRow], _ context: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(batch.map(\.row), one.map(\.row), context, file: file, line: line)
        XCTAssertEqual(batch.map(\.path), one.map(\.path), context, file: file, line: line)
        XCTAssertLessThanOrEqual(maxAbsDifference(batch.map(\.score), one.map(\.score)), 1e-5, context, file: file, line: line)
    }

    func testBatchEqualsOneAtATimeOverSeveralPasses() throws {
        let dir = try temporaryDirectory(self)
        let n = 3_000, d = 24
        let names = (0..<n).map { ["ant", "bee", "cat", "dog"][$0 % 4] }
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 11), rows: n, dim: d, classes: names)
        let idx = try Index.open(url)
        // More queries than one pass holds, rows and raw vectors mixed.
        let count = Index.batchQueriesPerPass + 37
        var g = SplitMix64(seed: 3)
        let sources: [QuerySource] = (0..<count).map { i in
            i % 3 == 0 ? .vector((0..<d).map { _ in Float(g.gaussian()) }) : .row(Int(g.next() % UInt64(n)))
        }
        for (farthest, className) in [(false, nil), (true, nil), (false, "cat")] as [(Bool, String?)] {
            var o = SearchOptions(); o.k = 7; o.farthest = farthest; o.className = className
            let batch = try idx.searchBatch(sources, options: o)
            XCTAssertEqual(batch.count, count)
            for (i, s) in sources.enumerated() {
                let one = try idx.search(s, options: o)
                assertSameAnswers(batch[i], one, "query \(i) farthest \(farthest) class \(className ?? "-")")
                if case .row(let r) = s { XCTAssertFalse(batch[i].contains { $0.row == r }, "own row excluded") }
                if let className { XCTAssertTrue(batch[i].allSatisfy { $0.class == className }) }
            }
        }
        // A bad row anywhere refuses the whole batch with the row named.
        XCTAssertThrowsKind(.notFound, try idx.searchBatch([.row(1), .row(n + 5)], options: SearchOptions()))
        XCTAssertThrowsKind(.shapeMismatch, try idx.searchBatch([.vector([1, 2, 3])], options: SearchOptions()))
        // A query's norm is not stored: one beyond float32's range is only a direction (it was
        // refused as "its stored norm would be infinite").
        let unit = (0..<d).map { _ in Float(g.gaussian()) }
        let s: Float = 3e38 / (unit.map(abs).max() ?? 1), huge = unit.map { $0 * s }
        XCTAssertTrue(huge.allSatisfy(\.isFinite))
        let a = try idx.search(.vector(huge), options: SearchOptions()), b = try idx.search(.vector(unit), options: SearchOptions())
        assertSameAnswers(a, b, "a query of norm beyond float32")
    }

    func testCLIVectorsAndRows() throws {
        let dir = try temporaryDirectory(self)
        let n = 200, d = 10
        let names = (0..<n).map { ["ant", "bee"][$0 % 2] }
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 21), rows: n, dim: d, classes: names)
        let idx = try Index.open(url)
        let q = randomMatrix(rows: 5, dim: d, seed: 22)
        let qURL = dir.appendingPathComponent("Q.npy")
        try NPYArray.write(shape: [5, d], values: q, to: qURL)

        struct Answer: Decodable {
            struct Q: Decodable { var row: Int?; var path: String?; var vector: Int?; var image: String? }
            var query: Q; var results: [ResultRow]
        }
        struct Many: Decodable { var queries: [Answer] }

        let r = try CLI.run(["query", url.path, "--vectors", qURL.path, "-k", "4", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let parsed = try JSONDecoder().decode(Many.self, from: Data(r.stdout.utf8))
        XCTAssertEqual(parsed.queries.map(\.query.vector), [0, 1, 2, 3, 4])
        // The same directions as float64 at scale 1e-300 (each value underflowed to a float32 zero:
        // "the query vector is all zeros"): rows normalized in Double first, the same answers.
        var f8 = npyHeader(descr: "<f8", shape: "(5, \(d))")
        for v in q { withUnsafeBytes(of: (Double(v) * 1e-300).bitPattern.littleEndian) { f8.append(contentsOf: $0) } }
        let tinyURL = dir.appendingPathComponent("Q-tiny.npy")
        try f8.write(to: tinyURL)
        let tiny = try CLI.run(["query", url.path, "--vectors", tinyURL.path, "-k", "4", "--json"])
        XCTAssertEqual(tiny.status, 0, tiny.stderr)
        let tinyParsed = try JSONDecoder().decode(Many.self, from: Data(tiny.stdout.utf8))
        XCTAssertEqual(tinyParsed.queries.map { $0.results.map(\.row) }, parsed.queries.map { $0.results.map(\.row) })
        for i in 0..<5 {
            var o = SearchOptions(); o.k = 4
            assertSameAnswers(parsed.queries[i].results, try idx.search(.vector(Array(q[i * d ..< (i + 1) * d])), options: o), "vector \(i)")
        }
        // Every field of the query object is present, null when it does not apply.
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let first = ((obj?["queries"] as? [[String: Any]])?.first?["query"]) as? [String: Any]
        XCTAssertEqual(Set(first?.keys.map { $0 } ?? []), ["row", "path", "vector", "image"])
        XCTAssertTrue(first?["row"] is NSNull)

        let rowsFile = dir.appendingPathComponent("rows.txt")
        try "# rows to look at\n3\n\n17  # a comment\n199\n".write(to: rowsFile, atomically: true, encoding: .utf8)
        let rr = try CLI.run(["query", url.path, "--rows", rowsFile.path, "-k", "3", "--farthest", "--json"])
        XCTAssertEqual(rr.status, 0, rr.stderr)
        let byRows = try JSONDecoder().decode(Many.self, from: Data(rr.stdout.utf8))
        XCTAssertEqual(byRows.queries.map(\.query.row), [3, 17, 199])
        XCTAssertEqual(byRows.queries[1].query.path, "img/bee/17.png")
        for a in byRows.queries {
            var o = SearchOptions(); o.k = 3; o.farthest = true
            assertSameAnswers(a.results, try idx.search(.row(a.query.row ?? -1), options: o), "row \(a.query.row ?? -1)")
        }
        let text = try CLI.run(["query", url.path, "--rows", rowsFile.path, "-k", "2"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("query row 17 (img/bee/17.png):"), text.stdout)

        // CRLF line ends (a file written on Windows was read as one line), and a CSV with a `row`
        // column (the page's "Export CSV": row,path,class) give the same rows.
        for text in ["3\r\n17\r\n199\r\n", "row,path,class\r\n3,img/ant/3.png,ant\r\n17,\"img/bee/17.png\",bee\n199,x,y\n"] {
            try text.write(to: rowsFile, atomically: true, encoding: .utf8)
            let again = try CLI.run(["query", url.path, "--rows", rowsFile.path, "-k", "3", "--farthest", "--json"])
            XCTAssertEqual(again.status, 0, again.stderr)
            XCTAssertEqual(try JSONDecoder().decode(Many.self, from: Data(again.stdout.utf8)).queries.map(\.query.row), [3, 17, 199], text)
        }

        // Refusals: a bad line, a row out of range, a [d] vector file, two sources at once.
        try "3\nseven\n".write(to: rowsFile, atomically: true, encoding: .utf8)
        let badLine = try CLI.run(["query", url.path, "--rows", rowsFile.path])
        XCTAssertNotEqual(badLine.status, 0); XCTAssertTrue(badLine.stderr.contains("line 2"), badLine.stderr)
        XCTAssertTrue(badLine.stdout.isEmpty)
        try "3\n900\n".write(to: rowsFile, atomically: true, encoding: .utf8)
        let outOfRange = try CLI.run(["query", url.path, "--rows", rowsFile.path])
        XCTAssertNotEqual(outOfRange.status, 0); XCTAssertTrue(outOfRange.stderr.contains("out of range"), outOfRange.stderr)
        let oneD = dir.appendingPathComponent("v.npy")
        try NPYArray.write(shape: [d], values: Array(q[0..<d]), to: oneD)
        let wrongShape = try CLI.run(["query", url.path, "--vectors", oneD.path])
        XCTAssertNotEqual(wrongShape.status, 0); XCTAssertTrue(wrongShape.stderr.contains("[n, d]"), wrongShape.stderr)
        // A bad vector among many is named by its number (from 0, as the output's "vector").
        for (bad, word) in [(Float.nan, "NaN"), (0, "all zeros")] {
            var qs = [Float]((0..<(3 * d)).map { Float($0 % 7) + 1 })
            for j in 0..<d { qs[2 * d + j] = bad == 0 ? 0 : (j == 1 ? bad : 1) }
            let badVectors = dir.appendingPathComponent("bad.npy")
            try NPYArray.write(shape: [3, d], values: qs, to: badVectors)
            let r = try CLI.run(["query", url.path, "--vectors", badVectors.path])
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("query vector 2 ") && r.stderr.contains(word), r.stderr)
            XCTAssertTrue(r.stdout.isEmpty)
        }
        // A 79-byte file declaring a billion rows of no columns: refused at once (it allocated without bound).
        let noColumns = dir.appendingPathComponent("empty-rows.npy")
        try npyHeader(descr: "<f4", shape: "(1000000000, 0)").write(to: noColumns)
        let zeroD = try CLI.run(["query", url.path, "--vectors", noColumns.path])
        XCTAssertEqual(zeroD.status, 1, zeroD.stderr); XCTAssertTrue(zeroD.stderr.contains("d ≥ 1"), zeroD.stderr)
        // Devices and FIFOs named as input files: refused by name (Foundation said "Permission denied").
        for (option, device) in [("--rows", "/dev/null"), ("--vector", "/dev/zero"), ("--vectors", "/dev/zero")] {
            let r = try CLI.run(["query", url.path, option, device])
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("is a character device, not a regular file"), "\(option) \(device): \(r.stderr)")
        }
        let both = try CLI.run(["query", url.path, "--vectors", qURL.path, "--row", "1"])
        XCTAssertNotEqual(both.status, 0)
    }
}

/// A version-1 .npy header (magic, version, padded dictionary) for `descr` and `shape`, no data.
private func npyHeader(descr: String, shape: String) -> Data {
    let header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
    let padded = header + String(repeating: " ", count: (64 - (10 + header.count + 1) % 64) % 64) + "\n"
    return Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(padded.utf8.count & 0xFF), UInt8(padded.utf8.count >> 8)] + Array(padded.utf8))
}
