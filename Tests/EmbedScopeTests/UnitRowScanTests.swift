import CKernels
import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeAnalysis
@testable import EmbedScopeCore

/// Rows damaged in place (a zeroed page, garbage, a scaled row) found by the scans themselves:
/// the checking kernels (`ck_scan_dots_unit`, `ck_mark_not_unit`, `ck_half_dots` with a tolerance)
/// against the plain ones on every own path, the tolerance (`UnitRows.scanTolerance`) against rows
/// written unit length, and every scan and analysis of an index with one row zeroed — the row
/// the answer should have shown. Before, only the rows an answer showed were checked: the
/// zeroed top-1 fell out of the answer (score 0) and the query answered with the second-best
/// as its top-1, exit 0.
final class UnitRowScanTests: XCTestCase {
    var paths: [GEMMPath] { GEMMPath.allCases.filter { $0 != .openblas && $0.isSupported } }
    var halfPaths: [HalfPath] { HalfPath.allCases.filter(\.isSupported) }

    /// Rows written unit length (`Normalize.toUnit`), shaped to stress a float32 sum of squares:
    /// Gaussian, all values equal, one-hot, one dominant value over tiny ones (subnormal in f16),
    /// heavy-tailed, alternating signs.
    func unitRows(dim d: Int, seed: UInt64) throws -> [[Float]] {
        var g = SplitMix64(seed: seed)
        var shapes: [[Float]] = []
        shapes.append((0..<d).map { _ in Float(g.gaussian()) })
        shapes.append([Float](repeating: 0.3, count: d))
        shapes.append((0..<d).map { $0 == d / 2 ? 2 : 0 })
        shapes.append((0..<d).map { $0 == 0 ? 1e3 : Float(g.gaussian()) * 1e-4 })
        shapes.append((0..<d).map { _ in Float(g.gaussian() * exp(3 * g.gaussian())) })
        shapes.append((0..<d).map { $0 % 2 == 0 ? 5 : -5 })
        return try shapes.map { s in
            var v = s
            if !v.contains(where: { $0 != 0 }) { v[0] = 1 }
            _ = try Normalize.toUnit(&v, what: "row")
            return v
        }
    }

    /// Damaged versions of a unit row `u` for dimension d (tolerance `tol` on the sum of squares).
    func damaged(_ u: [Float], tol: Float) -> [(String, [Float])] {
        let big = u.indices.max { abs(u[$0]) < abs(u[$1]) }!
        var out: [(String, [Float])] = []
        out.append(("zeroed", [Float](repeating: 0, count: u.count)))
        out.append(("scaled just past the tolerance", u.map { $0 * (1 + 2 * tol) }))
        out.append(("scaled down", u.map { $0 * 0.5 }))
        var n = u; n[big] = .nan; out.append(("NaN", n))
        var i = u; i[big] = -.infinity; out.append(("-Inf", i))
        var e = u; e[big] *= 0x1p20; out.append(("exponent bit", e))
        if u.count > 1 {
            var h = u
            for j in (u.count / 2)..<u.count { h[j] = 0 }
            if h.contains(where: { $0 != 0 }), abs(h.reduce(0) { $0 + $1 * $1 } - 1) > 4 * tol { out.append(("tail zeroed", h)) }
        }
        return out
    }

    /// Rows laid out with stride `lda` (padding filled with 7: never read).
    func layout(_ rows: [[Float]], dim d: Int, lda: Int) -> [Float] {
        var a = [Float](repeating: 7, count: rows.count * lda)
        for (r, row) in rows.enumerated() { for j in 0..<d { a[r * lda + j] = row[j] } }
        return a
    }

    func testTheCheckingScanScoresUnitRowsBitForBitAndDamagedRowsNaN() throws {
        for d in [1, 7, 63, 65, 512, 1280] {
            let tol = UnitRows.scanTolerance(dim: d)
            var rows: [[Float]] = []
            for seed in 0..<3 { rows += try unitRows(dim: d, seed: UInt64(d * 10 + seed)) }
            let good = rows.count
            var names: [String] = []
            for (name, r) in damaged(rows[0], tol: tol) + damaged(rows[4], tol: tol) { rows.append(r); names.append(name) }
            let lda = d + 3
            let a = layout(rows, dim: d, lda: lda)
            var q = try unitRows(dim: d, seed: 99)[0]
            q = q.map { -$0 }
            for path in paths {
                let kp = try XCTUnwrap(path.kernelPath)
                var plain = [Float](repeating: 0, count: rows.count), checked = plain
                ck_scan_dots(kp, rows.count, d, a, lda, q, &plain)
                ck_scan_dots_unit(kp, rows.count, d, a, lda, q, tol, &checked)
                for r in 0..<good {
                    XCTAssertEqual(checked[r].bitPattern, plain[r].bitPattern, "d \(d) \(path) unit row \(r): the check changed the score")
                }
                for r in good..<rows.count {
                    XCTAssertTrue(checked[r].isNaN, "d \(d) \(path) \(names[r - good]) row: scored \(checked[r])")
                }
                // The check alone, on scores laid out as a tile of three queries (row step 3) and as
                // columns (query step = rows).
                var tile = [Float](repeating: 0.25, count: rows.count * 3)
                let marked = ck_mark_not_unit(kp, rows.count, d, a, lda, tol, &tile, 3, 1, 3)
                XCTAssertEqual(marked, rows.count - good, "d \(d) \(path)")
                for r in 0..<rows.count {
                    for j in 0..<3 {
                        let v = tile[r * 3 + j]
                        XCTAssertTrue(r < good ? v == 0.25 : v.isNaN, "d \(d) \(path) tile row \(r) query \(j): \(v)")
                    }
                }
                var columns = [Float](repeating: 0.25, count: rows.count * 2)
                XCTAssertEqual(ck_mark_not_unit(kp, rows.count, d, a, lda, tol, &columns, 1, rows.count, 2), rows.count - good)
                for r in 0..<rows.count {
                    XCTAssertTrue(r < good ? columns[r] == 0.25 && columns[rows.count + r] == 0.25 : columns[r].isNaN && columns[rows.count + r].isNaN,
                                  "d \(d) \(path) column layout row \(r)")
                }
            }
        }
    }

    /// No row written unit length is ever flagged, in float32 or in its half copies, on any path,
    /// whatever its shape; a row whose sum of squares is off by twice the tolerance always is.
    func testTheToleranceNeverFlagsARowWrittenUnitAndAlwaysFlagsOneBeyondIt() throws {
        XCTAssertLessThan(UnitRows.scanTolerance(dim: 512), 2e-4)
        XCTAssertLessThan(UnitRows.scanTolerance(dim: 512, storage: .f16), 2e-3)
        XCTAssertLessThan(UnitRows.scanTolerance(dim: 512, storage: .bf16), 1e-2)
        XCTAssertGreaterThan(UnitRows.scanTolerance(dim: 1), Float(2 * UnitRows.tolerance))
        for d in [1, 2, 3, 5, 8, 16, 31, 64, 100, 257, 512, 1000, 1280, 2048, 4096] {
            var rows: [[Float]] = []
            for seed in 0..<(d > 1000 ? 4 : 20) { rows += try unitRows(dim: d, seed: UInt64(7919 * d + seed)) }
            let tol = UnitRows.scanTolerance(dim: d)
            let zero = [Float](repeating: 0, count: d)
            let a = layout(rows, dim: d, lda: d)
            let beyond = rows.map { r in r.map { $0 * Float((1 + 2 * Double(tol)).squareRoot()) } }
            let b = layout(beyond, dim: d, lda: d)
            for path in paths {
                let kp = try XCTUnwrap(path.kernelPath)
                var out = [Float](repeating: 1, count: rows.count)
                ck_scan_dots_unit(kp, rows.count, d, a, d, zero, tol, &out)
                let flagged = out.indices.filter { out[$0].isNaN }
                XCTAssertEqual(flagged, [], "d \(d) \(path): rows written unit length flagged (tolerance \(tol))")
                ck_scan_dots_unit(kp, rows.count, d, b, d, zero, tol, &out)
                XCTAssertTrue(out.allSatisfy(\.isNaN), "d \(d) \(path): a row off by 2 × the tolerance passed")
            }
            for storage in HalfStorage.allCases {
                let dp = (d + 31) & ~31
                var half = [UInt16](repeating: 0, count: rows.count * dp)
                for (r, row) in rows.enumerated() {
                    let h = HalfConvert.toHalf(row, storage: storage)
                    for j in 0..<d { half[r * dp + j] = h[j] }
                }
                let htol = UnitRows.scanTolerance(dim: dp, storage: storage)
                let qz = [Float](repeating: 0, count: dp)
                for path in halfPaths {
                    var out = [Float](repeating: 1, count: rows.count)
                    ck_half_dots(path.kernelPath, storage.kernelType, half, dp, rows.count, dp, qz, htol, &out)
                    XCTAssertEqual(out.indices.filter { out[$0].isNaN }, [], "d \(d) \(storage) \(path): half copies of unit rows flagged")
                }
            }
        }
    }

    func testTheHalfScanChecksItsRows() throws {
        for storage in HalfStorage.allCases {
            for d in [16, 100, 512] {
                let dp = (d + 31) & ~31
                let rows = try unitRows(dim: d, seed: 5) + unitRows(dim: d, seed: 6)
                var half = [UInt16](repeating: 0, count: (rows.count + 4) * dp)
                for (r, row) in rows.enumerated() {
                    let h = HalfConvert.toHalf(row, storage: storage)
                    for j in 0..<d { half[r * dp + j] = h[j] }
                }
                // Four damaged half rows after them: zeroed, scaled by 1.05, a NaN, one value ×2^10.
                let n = rows.count
                let base = HalfConvert.toHalf(rows[0], storage: storage)
                let scaled = HalfConvert.toHalf(rows[0].map { $0 * 1.05 }, storage: storage)
                let big = rows[0].indices.max { abs(rows[0][$0]) < abs(rows[0][$1]) }!
                for j in 0..<d {
                    half[(n + 1) * dp + j] = scaled[j]
                    half[(n + 2) * dp + j] = base[j]
                    half[(n + 3) * dp + j] = base[j]
                }
                half[(n + 2) * dp + big] = storage == .f16 ? 0x7E00 : 0x7FC0
                half[(n + 3) * dp + big] = HalfConvert.toHalf([rows[0][big] * 1024], storage: storage)[0]
                var q = [Float](repeating: 0, count: dp)
                for j in 0..<d { q[j] = rows[1][j] }
                let tol = UnitRows.scanTolerance(dim: dp, storage: storage)
                for path in halfPaths {
                    var plain = [Float](repeating: 0, count: n + 4), checked = plain
                    ck_half_dots(path.kernelPath, storage.kernelType, half, dp, n + 4, dp, q, -1, &plain)
                    ck_half_dots(path.kernelPath, storage.kernelType, half, dp, n + 4, dp, q, tol, &checked)
                    for r in 0..<n {
                        XCTAssertEqual(checked[r].bitPattern, plain[r].bitPattern, "\(storage) d \(d) \(path) row \(r)")
                    }
                    for r in n..<(n + 4) { XCTAssertTrue(checked[r].isNaN, "\(storage) d \(d) \(path) damaged half row \(r - n)") }
                }
            }
        }
    }

    // MARK: - An index with the top-1 row zeroed

    /// Writes `value` over every value of row `row` of `file` in the index's current generation
    /// (header and CRC left as they were: damage in place).
    func overwrite(_ index: Index, file: String, row: Int, scale: Float = 0) throws {
        let url = index.directory.appendingPathComponent(file)
        if file.hasSuffix(".f16.vec") || file.hasSuffix(".bf16.vec") {
            let h = try HalfVectorFile(url: url)
            let offset = Int(h.header.payloadOffset) + row * h.stride * 2
            var values = HalfConvert.toFloat(Array(h.row(row)), storage: h.storage)
            values = values.map { $0 * scale }
            let bytes = HalfConvert.toHalf(values, storage: h.storage).withUnsafeBytes { Data($0) }
            try write(bytes, to: url, at: offset)
        } else {
            let v = try VectorFile(url: url)
            let offset = Int(v.header.payloadOffset) + row * v.stride * 4
            let bytes = Array(v.row(row)).map { $0 * scale }.withUnsafeBytes { Data($0) }
            try write(bytes, to: url, at: offset)
        }
    }

    func write(_ data: Data, to url: URL, at offset: Int) throws {
        let h = try FileHandle(forWritingTo: url)
        try h.seek(toOffset: UInt64(offset))
        try h.write(contentsOf: data)
        try h.close()
    }

    func assertDamaged(_ body: @autoclosure () throws -> Any, row: Int, file: String, _ what: String,
                       sourceFile: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try body()
            XCTFail("\(what): answered from an index whose row \(row) is zeroed", file: sourceFile, line: line)
        } catch let e as EmbedScopeError {
            XCTAssertEqual(e.kind, .checksumMismatch, "\(what): \(e.description)", file: sourceFile, line: line)
            XCTAssertTrue(e.message.contains("row \(row) has length 0"), "\(what): \(e.message)", file: sourceFile, line: line)
            XCTAssertEqual(e.path.map { URL(fileURLWithPath: $0).lastPathComponent }, file, "\(what)", file: sourceFile, line: line)
        } catch { XCTFail("\(what): \(error)", file: sourceFile, line: line) }
    }

    func testAZeroedRowTheAnswerWouldNotShowIsFoundByEveryScan() throws {
        let dir = try temporaryDirectory(self)
        let classes = ["a", "b", "c"]
        let url = try makeIndexWithHead(in: dir, rows: 3000, dim: 16, seed: 21)
        var o = SearchOptions()
        o.k = 1
        let top = try XCTUnwrap(Index.open(url).search(.row(7), options: o).first?.row)
        let index = try Index.open(url)
        try overwrite(index, file: "embedding.vec", row: top)
        let f = "embedding.vec"
        assertDamaged(try index.search(.row(7), options: o), row: top, file: f, "query -k 1")
        var far = o
        far.farthest = true
        assertDamaged(try index.search(.row(7), options: far), row: top, file: f, "query --farthest")
        var blas = o
        blas.kernel = .blas
        assertDamaged(try index.search(.row(7), options: blas), row: top, file: f, "query --kernel blas")
        var cls = o
        cls.className = classes[(top + 1) % 3]   // a class the zeroed row is not in: it is read all the same
        assertDamaged(try index.search(.row(7), options: cls), row: top, file: f, "query --class")
        assertDamaged(try index.searchBatch([.row(7), .row(8)], options: o), row: top, file: f, "batch, own GEMM")
        assertDamaged(try SGEMM.withPath(.openblas) { try index.searchBatch([.row(7), .row(8)], options: o) }, row: top, file: f,
                      "batch, OpenBLAS")
        assertDamaged(try index.rank(prototype: "a", set: nil, least: false, k: 1), row: top, file: f, "rank")
        assertDamaged(try index.duplicates(), row: top, file: f, "duplicates")
        assertDamaged(try index.clusterScores(space: "embedding"), row: top, file: f, "metrics")
        assertDamaged(try index.uniqueness(), row: top, file: f, "uniqueness")
        assertDamaged(try index.mislabels(), row: top, file: f, "mislabels")
        assertDamaged(try index.requireFinite(space: "embedding"), row: top, file: f, "requireFinite")
        XCTAssertFalse(Index.verifyReport(url).ok)
    }

    func testAHalfCopyWithARowZeroedIsFoundAndAnIntactCopyStillAnswersRight() throws {
        let dir = try temporaryDirectory(self)
        let n = 3000, d = 16
        let classes = ["a", "b", "c"]
        let vectors = randomMatrix(rows: n, dim: d, seed: 31)
        for storage in HalfStorage.allCases {
            let url = try makeImportedIndex(in: dir, vectors: vectors, rows: n, dim: d, classes: (0..<n).map { classes[$0 % 3] },
                                            name: "\(storage)", storage: storage)
            var o = SearchOptions()
            o.k = 3
            let want = try Index.open(url).search(.row(7), options: o)
            let top = try XCTUnwrap(want.first?.row)
            let half = "embedding.\(storage.rawValue).vec"
            // The half row of the top-1 zeroed: the half scan finds it.
            var index = try Index.open(url)
            try overwrite(index, file: half, row: top)
            assertDamaged(try index.search(.row(7), options: o), row: top, file: half, "\(storage): query")
            assertDamaged(try index.searchBatch([.row(7), .row(8)], options: o), row: top, file: half, "\(storage): batch")
            // Rebuilt copy, then the float32 row of the top-1 zeroed: a candidate, re-scored — found.
            let url2 = try makeImportedIndex(in: dir, vectors: vectors, rows: n, dim: d, classes: (0..<n).map { classes[$0 % 3] },
                                             name: "\(storage)-2", storage: storage)
            index = try Index.open(url2)
            try overwrite(index, file: "embedding.vec", row: top)
            assertDamaged(try index.search(.row(7), options: o), row: top, file: "embedding.vec", "\(storage): float32 row of a candidate")
            assertDamaged(try index.searchBatch([.row(7), .row(8)], options: o), row: top, file: "embedding.vec", "\(storage): batch, float32 row")
            // A float32 row far from the answer, half copy intact: not read, and the answer is right.
            let url3 = try makeImportedIndex(in: dir, vectors: vectors, rows: n, dim: d, classes: (0..<n).map { classes[$0 % 3] },
                                             name: "\(storage)-3", storage: storage)
            index = try Index.open(url3)
            let far = try XCTUnwrap((0..<n).first { r in r != 7 && !want.contains { $0.row == r } && r > 100 })
            try overwrite(index, file: "embedding.vec", row: far)
            XCTAssertEqual(try index.search(.row(7), options: o), want, "\(storage): the half copy's answer, re-scored on intact rows")
        }
    }

    // MARK: - Damage the length does not show: copies and exports check the payload CRC

    /// Flips the sign of one value of row `row` (its length is kept: only the CRC sees it).
    func flipSign(_ index: Index, row: Int, column: Int = 0) throws {
        let url = index.directory.appendingPathComponent("embedding.vec")
        let v = try VectorFile(url: url)
        let value = -v.row(row)[column]
        try write(withUnsafeBytes(of: value) { Data($0) }, to: url, at: Int(v.header.payloadOffset) + (row * v.stride + column) * 4)
    }

    /// `remove` and `merge` re-write the rows they keep under a new checksum; `export` writes them
    /// to files without one. A damaged payload — even one whose rows keep their length, which no
    /// scan can see — is refused before either, and nothing is changed (before: the new
    /// generation's fresh CRC hid the damage from `verify` for good).
    func testCopiesAndExportsRefuseAPayloadThatNoLongerMatchesItsChecksum() throws {
        let dir = try temporaryDirectory(self)
        let url = try makeIndexWithHead(in: dir, rows: 600, dim: 16, seed: 41)
        let index = try Index.open(url)
        try flipSign(index, row: 77)
        let generation = try Index.open(url).directory
        let other = try makeIndexWithHead(in: dir, rows: 50, dim: 16, seed: 41, name: "other", folder: "more")
        XCTAssertNoThrow(try index.search(.row(3), options: SearchOptions()), "a flipped sign keeps the length: queries cannot see it")
        assertEachRefused([("remove", { _ = try IndexGrowth.remove(index: url, .rows([5])) }),
                           ("merge", { _ = try IndexGrowth.merge([other, url], out: dir.appendingPathComponent("merged")) }),
                           ("export", { _ = try IndexExport.run(index: url, space: nil, out: dir.appendingPathComponent("export")) })],
                          mentioning: "payload checksum mismatch", hint: "nothing was changed")
        XCTAssertEqual(try Index.open(url).directory, generation, "no new generation")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("merged").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("export").path))
        // An intact index is copied as before.
        let good = try makeIndexWithHead(in: dir, rows: 600, dim: 16, seed: 43, name: "good")
        XCTAssertEqual(try IndexGrowth.remove(index: good, .rows([5])).rowsAfter, 599)
        XCTAssertTrue(Index.verifyReport(good).ok)
    }

    /// Every analysis that reads a whole space checks its payload CRC first (once per opened
    /// file): a flipped sign keeps the row's length, and `metrics`, `versus`, `probe` (storing a
    /// head trained on it), `project` and the server answered from it with exit 0 (red team).
    func testAnalysesRefuseAPayloadThatNoLongerMatchesItsChecksum() throws {
        let dir = try temporaryDirectory(self)
        let url = try makeIndexWithHead(in: dir, rows: 600, dim: 16, seed: 45)
        try flipSign(try Index.open(url), row: 300, column: 5)
        let index = try Index.open(url)
        var probe = ProbeRequest(); probe.storeAs = nil
        assertEachRefused([("metrics", { _ = try index.clusterScores(space: "embedding") }),
                           ("versus", { _ = try index.versus() }),
                           ("probe", { _ = try index.probe(probe) }),
                           ("project", { _ = try index.projection(method: .pca, components: 2) }),
                           ("evaluate", { _ = try index.evaluate(set: "head") }),
                           ("duplicates", { _ = try index.duplicates() }),
                           ("uniqueness", { _ = try index.uniqueness() }),
                           ("mislabels", { _ = try index.mislabels() })],
                          mentioning: "payload checksum mismatch", hint: "nothing was changed")
        // `verify` names it once, as a checksum (its `finite` check does not repeat it).
        let report = Index.verifyReport(url)
        XCTAssertFalse(report.ok)
        XCTAssertEqual(report.checks.filter { !$0.ok }.map(\.check), ["checksum"], "\(report.checks.filter { !$0.ok })")
        // Intact: each runs (and the second analysis of one opened index does not read the CRC again).
        let good = try Index.open(try makeIndexWithHead(in: dir, rows: 600, dim: 16, seed: 47, name: "good"))
        XCTAssertNoThrow(try good.clusterScores(space: "embedding"))
        XCTAssertNoThrow(try good.versus())
    }

    /// A stored norm zeroed in place: `rank` would rank that row by its bias alone. Refused.
    func testAZeroedNormIsFoundBeforeRanking() throws {
        let dir = try temporaryDirectory(self)
        let url = try makeIndexWithHead(in: dir, rows: 600, dim: 16, seed: 51)
        let index = try Index.open(url)
        let normsURL = index.directory.appendingPathComponent("embedding.norms.vec")
        let n = try VectorFile(url: normsURL)
        try write(withUnsafeBytes(of: Float(0)) { Data($0) }, to: normsURL, at: Int(n.header.payloadOffset) + 4 * 123)
        assertEachRefused([("rank", { _ = try index.rank(prototype: "a", set: nil, least: false, k: 3) }),
                           ("evaluate", { _ = try index.evaluate(set: "head") }),
                           ("metrics", { _ = try index.clusterScores(space: "embedding") })],
                          mentioning: "row 123 has norm 0")
    }

    /// Each case fails with `.checksumMismatch`, its message holding `phrase` (and its hint `hint`).
    func assertEachRefused(_ cases: [(String, () throws -> Void)], mentioning phrase: String, hint: String? = nil,
                           file: StaticString = #filePath, line: UInt = #line) {
        for (what, body) in cases {
            do {
                try body()
                XCTFail("\(what): no error", file: file, line: line)
            } catch let e as EmbedScopeError {
                XCTAssertEqual(e.kind, .checksumMismatch, "\(what): \(e.description)", file: file, line: line)
                XCTAssertTrue(e.message.contains(phrase), "\(what): \(e.message)", file: file, line: line)
                if let hint { XCTAssertTrue(e.hint?.contains(hint) ?? false, "\(what): \(e.description)", file: file, line: line) }
            } catch { XCTFail("\(what): \(error)", file: file, line: line) }
        }
    }

    /// The parallel CRC (parts joined by `crc32_combine`) is zlib's CRC of the whole buffer.
    func testTheParallelChecksumIsTheChecksum() {
        let count = Checksum.parallelBytes + 12_345
        var g = SplitMix64(seed: 3)
        let bytes = (0..<(count / 8 + 1)).map { _ in g.next() }
        bytes.withUnsafeBytes { raw in
            let b = UnsafeRawBufferPointer(rebasing: raw[0..<count])
            let one = Checksum.crc32(b)
            for t in [1, 2, 3, 7] { XCTAssertEqual(Checksum.crc32(b, threads: t), one, "\(t) threads") }
            let small = UnsafeRawBufferPointer(rebasing: raw[0..<1000])
            XCTAssertEqual(Checksum.crc32(small, threads: 4), Checksum.crc32(small))
        }
    }

}
