import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
import CKernels

/// Half-precision copies (`--storage f16|bf16`): conversions against references, the bound B
/// against measured errors, and the exactness claim — every half scan (single, batch, nearest,
/// farthest, filtered; every kernel path) answers exactly what the float32 scan answers, rows,
/// order and scores bit for bit, on random rows and on adversarial ties.
final class HalfStorageTests: XCTestCase {
    var halfPaths: [HalfPath] { HalfPath.allCases.filter(\.isSupported) }
    var gemmPaths: [GEMMPath] { GEMMPath.allCases.filter { $0 != .openblas && $0.isSupported } }

    // MARK: conversions

    func testF16ConversionTable() {
        // (float, f16 bits): ±0, ones, the largest finite, overflow by rounding, the normal and
        // subnormal boundaries, ties to even in both ranges, infinities.
        let table: [(Float, UInt16)] = [
            (0, 0x0000), (-0.0, 0x8000), (1, 0x3C00), (-2, 0xC000), (0.5, 0x3800), (1.0 / 3, 0x3555), (0.1, 0x2E66),
            (65504, 0x7BFF), (65519.99, 0x7BFF), (65520, 0x7C00), (1e10, 0x7C00), (-1e10, 0xFC00),
            (.infinity, 0x7C00), (-.infinity, 0xFC00),
            (0x1p-14, 0x0400), (0x1p-24, 0x0001), (-0x1p-24, 0x8001), (0x1.ffcp-15, 0x0400), (0x1.ff8p-15, 0x03FF), (0x1.ff7p-15, 0x03FF), (0x1.ff4p-15, 0x03FE),
            (0x1p-25, 0x0000), (0x1.000002p-25, 0x0001), (0x3p-25, 0x0002), (0x5p-25, 0x0002), (0x7p-25, 0x0004),
            (1 + 0x1p-11, 0x3C00), (1 + 0x3p-11, 0x3C02), (1 + 0x1p-11 + 0x1p-23, 0x3C01), (1e-9, 0x0000),
        ]
        for path in halfPaths {
            let got = HalfConvert.toHalf(table.map(\.0), storage: .f16, path: path)
            for (i, (x, want)) in table.enumerated() {
                XCTAssertEqual(got[i], want, "\(path): f16(\(x)) = 0x\(String(got[i], radix: 16)), expected 0x\(String(want, radix: 16))")
            }
            let nan = HalfConvert.toHalf([.nan, -.nan], storage: .f16, path: path)
            XCTAssertTrue(nan.allSatisfy { $0 & 0x7C00 == 0x7C00 && $0 & 0x03FF != 0 }, "\(path): NaN must stay NaN, got \(nan)")
        }
    }

    func testBF16ConversionTable() {
        let table: [(Float, UInt16)] = [
            (0, 0x0000), (-0.0, 0x8000), (1, 0x3F80), (3, 0x4040), (-1.5, 0xBFC0),
            (1 + 0x1p-8, 0x3F80), (1 + 0x3p-8, 0x3F82), (1 + 0x1p-8 + 0x1p-20, 0x3F81),
            (.greatestFiniteMagnitude, 0x7F80), (.infinity, 0x7F80), (-.infinity, 0xFF80),
            (0x1p-133, 0x0001), (0x1p-134, 0x0000), (0x1p-126, 0x0080),
        ]
        for path in halfPaths {
            let got = HalfConvert.toHalf(table.map(\.0), storage: .bf16, path: path)
            for (i, (x, want)) in table.enumerated() {
                XCTAssertEqual(got[i], want, "\(path): bf16(\(x)) = 0x\(String(got[i], radix: 16)), expected 0x\(String(want, radix: 16))")
            }
        }
    }

    /// Every f16 and bf16 bit pattern widens exactly (f16 against Swift's Float16) and rounds
    /// back to itself; random floats (all binades, subnormal ones included) round as Swift's
    /// Float16 conversion does (round to nearest, ties to even), on every path.
    func testEveryPatternAgainstReferences() {
        let all = (0...0xFFFF).map { UInt16($0) }
        var g = SplitMix64(seed: 16)
        var samples: [Float] = (0..<20_000).map { _ in
            let e = Int(g.next() % 40) - 30
            return Float(sign: g.next() & 1 == 0 ? .plus : .minus, exponent: e, significand: 1 + Float(g.next() >> 40) / Float(1 << 24))
        }
        // Exact midpoints between neighbouring f16 values: ties.
        for h in stride(from: UInt16(0), to: 0x7BFF, by: 97) {
            let a = Float(Float16(bitPattern: h)), b = Float(Float16(bitPattern: h + 1))
            samples.append((a + b) / 2)
        }
        for path in halfPaths {
            let wide = HalfConvert.toFloat(all, storage: .f16, path: path)
            for (h, f) in zip(all, wide) {
                let ref = Float(Float16(bitPattern: h))
                if ref.isNaN { XCTAssertTrue(f.isNaN, "\(path): 0x\(String(h, radix: 16))"); continue }
                if f.bitPattern != ref.bitPattern { XCTFail("\(path): f16 0x\(String(h, radix: 16)) widened to \(f), expected \(ref)"); break }
            }
            let back = HalfConvert.toHalf(wide, storage: .f16, path: path)
            XCTAssertEqual(zip(all, back).filter { Float(Float16(bitPattern: $0.0)).isNaN == false && $0.0 != $0.1 }.count, 0, "\(path): f16 round trip")
            let rounded = HalfConvert.toHalf(samples, storage: .f16, path: path)
            for (x, h) in zip(samples, rounded) where Float16(x).bitPattern != h {
                XCTFail("\(path): f16(\(x)) = 0x\(String(h, radix: 16)), Swift's Float16 gives 0x\(String(Float16(x).bitPattern, radix: 16))")
                break
            }
            let bw = HalfConvert.toFloat(all, storage: .bf16, path: path)
            XCTAssertTrue(zip(all, bw).allSatisfy { $0.1.bitPattern == UInt32($0.0) << 16 }, "\(path): bf16 widening is a shift")
            let bback = HalfConvert.toHalf(bw, storage: .bf16, path: path)
            XCTAssertEqual(zip(all, bback).filter { !$0.0.isNaN(bf16: true) && $0.0 != $0.1 }.count, 0, "\(path): bf16 round trip")
        }
    }

    // MARK: data

    /// Unit rows as a float32 matrix (stride a multiple of 16) and their half copy.
    final class Rows {
        let n: Int, d: Int, fs: Int, hs: Int
        var floats: [Float]
        var halves: [UInt16]
        let storage: HalfStorage
        init(_ unit: [Float], n: Int, d: Int, storage: HalfStorage) {
            self.n = n; self.d = d; self.storage = storage
            fs = (d + 15) & ~15; hs = (d + 31) & ~31
            floats = [Float](repeating: 0, count: n * fs)
            halves = [UInt16](repeating: 0, count: n * hs)
            for i in 0..<n {
                for j in 0..<d { floats[i * fs + j] = unit[i * d + j] }
                let h = HalfConvert.toHalf(Array(unit[(i * d)..<((i + 1) * d)]), storage: storage)
                for j in 0..<d { halves[i * hs + j] = h[j] }
            }
        }
        func with<T>(_ body: (RowMatrix, HalfRows) throws -> T) rethrows -> T {
            try floats.withUnsafeBufferPointer { f in
                try halves.withUnsafeBufferPointer { h in
                    try body(RowMatrix(base: f.baseAddress!, rows: n, dim: d, stride: fs),
                             HalfRows(base: h.baseAddress!, rows: n, dim: d, stride: hs, storage: storage))
                }
            }
        }
    }

    func unitRows(_ raw: [Float], d: Int) throws -> [Float] {
        var out = raw
        for i in 0..<(raw.count / d) {
            var r = Array(raw[(i * d)..<((i + 1) * d)])
            _ = try Normalize.toUnit(&r, what: "row \(i)")
            for j in 0..<d { out[i * d + j] = r[j] }
        }
        return out
    }

    /// Adversarial rows around one unit direction v: exact duplicates, rows that differ from v by
    /// a few float32 ulps (the same half vector, different float32 scores), rows one half ulp
    /// away in one coordinate, then random background rows. The k-th score falls inside the cluster.
    func adversarialRows(n: Int, d: Int, seed: UInt64, storage: HalfStorage) throws -> (rows: [Float], v: [Float]) {
        var g = SplitMix64(seed: seed)
        var v = (0..<d).map { _ in Float(g.gaussian()) }
        _ = try Normalize.toUnit(&v, what: "v")
        var rows: [Float] = []
        let cluster = n / 3
        // One half ulp is 2^-8 relative for bf16: moved on a small coordinate, the row stays unit
        // within HalfStorage.rowNormBound.
        let small = (0..<d).filter { abs(v[$0]) < 0.1 }
        func pick() -> Int { small.isEmpty ? Int(g.next() % UInt64(d)) : small[Int(g.next() % UInt64(small.count))] }
        for c in 0..<cluster {
            var r = v
            switch c % 4 {
            case 0: break                                              // duplicate
            case 1:                                                    // float32 ulps: same half vector
                for _ in 0..<3 { let j = Int(g.next() % UInt64(d)); r[j] = g.next() & 1 == 0 ? r[j].nextUp : r[j].nextDown }
            case 2:                                                    // one coordinate moved by one half ulp
                let j = pick()
                let h = HalfConvert.toHalf([r[j]], storage: storage)[0]
                let a = HalfConvert.toFloat([h, h &+ 1], storage: storage)
                if a.allSatisfy(\.isFinite) { r[j] += g.next() & 1 == 0 ? a[1] - a[0] : a[0] - a[1] }
            default:                                                   // half-way between two half values
                let h = HalfConvert.toHalf(v, storage: storage)
                let j = pick()
                let a = HalfConvert.toFloat([h[j], h[j] &+ 1], storage: storage)
                if a.allSatisfy(\.isFinite) { r[j] = (a[0] + a[1]) / 2 }
            }
            let norm = Normalize.norm(r.withUnsafeBufferPointer { $0 })
            XCTAssertLessThanOrEqual(norm, HalfStorage.rowNormBound, "adversarial row \(c) is not unit")
            rows += r
        }
        rows += try unitRows(randomMatrix(rows: n - cluster, dim: d, seed: seed &+ 1), d: d)
        return (rows, v)
    }

    func assertSame(_ a: [Hit], _ b: [Hit], _ what: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line) {
        guard a.count == b.count else { return XCTFail("\(what()): \(a.count) hits vs \(b.count)", file: file, line: line) }
        for (i, (x, y)) in zip(a, b).enumerated() where x.row != y.row || x.score.bitPattern != y.score.bitPattern {
            return XCTFail("\(what()): rank \(i + 1) is row \(x.row) score \(x.score), float32 says row \(y.row) score \(y.score)", file: file, line: line)
        }
    }

    // MARK: exactness

    func testSingleQueryEqualsFloat32OnRandomAndAdversarialRows() throws {
        for storage in HalfStorage.allCases {
            // 200 and 300: the AVX-512 kernel holds 2 and 4 of the query's 64-float blocks in registers (6 at 512).
            for (d, n) in [(67, 2500), (200, 1200), (300, 1200), (512, 3000)] {
                var g = SplitMix64(seed: UInt64(d))
                let random = try unitRows(randomMatrix(rows: n, dim: d, seed: UInt64(d) &+ 7), d: d)
                let adv = try adversarialRows(n: n, d: d, seed: UInt64(d) &+ 11, storage: storage)
                for (name, unit) in [("random", random), ("adversarial", adv.rows)] {
                    let rows = Rows(unit, n: n, d: d, storage: storage)
                    let classes = RowFilter.allowing(rows: (0..<n).filter { $0 % 3 != 1 }, total: n)
                    var queries: [[Float]] = [adv.v, Array(unit[0..<d])]
                    queries.append((0..<d).map { _ in Float(g.gaussian()) * 3 })       // not unit: B scales with ‖q‖
                    queries.append(adv.v.enumerated().map { $1 + ($0 == 0 ? 0x1p-20 : 0) })
                    var rescoredMax = 0
                    try rows.with { m, h in
                        for path in halfPaths {
                            // Every query and k on the best path; two queries at k = 10 on the others.
                            for (qi, q) in queries.enumerated() where path == HalfPath.best || qi < 2 {
                                for k in [1, 10, 257] where path == HalfPath.best || k == 10 {
                                    for farthest in [false, true] {
                                        for filter in [RowFilter(), classes, RowFilter(excluded: [0, 5])] {
                                            let want = try Scorer.search(m, query: q, k: k, farthest: farthest, filter: filter, kernel: .simd)
                                            let got = try Scorer.searchHalfWithStats(m, half: h, query: q, k: k, farthest: farthest,
                                                                                     filter: filter, path: path)
                                            rescoredMax = max(rescoredMax, got.stats.rescored)
                                            assertSame(got.hits, want, "\(storage) \(name) d \(d) \(path) query \(qi) k \(k) farthest \(farthest)")
                                        }
                                    }
                                }
                            }
                        }
                    }
                    print("\(storage) \(name) d \(d): up to \(rescoredMax) of \(n) rows re-scored")
                }
            }
        }
    }

    func testBatchEqualsFloat32BatchOnEveryGEMMPath() throws {
        let d = 96, n = 2600
        for storage in HalfStorage.allCases {
            let adv = try adversarialRows(n: n, d: d, seed: 99, storage: storage)
            let rows = Rows(adv.rows, n: n, d: d, storage: storage)
            var g = SplitMix64(seed: 5)
            let b = 7
            var q: [Float] = adv.v
            for i in 1..<b { q += i % 2 == 0 ? Array(adv.rows[(i * d)..<((i + 1) * d)]) : (0..<d).map { _ in Float(g.gaussian()) } }
            let filters = (0..<b).map { i in i % 3 == 0 ? RowFilter.allowing(rows: (0..<n).filter { $0 % 2 == 0 }, total: n) : RowFilter(excluded: [i]) }
            try rows.with { m, h in
                for gp in gemmPaths {
                    try SGEMM.withPath(gp) {
                        for path in halfPaths {
                            for farthest in [false, true] {
                                for k in [1, 40] {
                                    let want = try Scorer.searchBatch(m, queries: q, count: b, k: k, farthest: farthest, filters: filters)
                                    let got = try Scorer.searchBatchHalf(m, half: h, queries: q, count: b, k: k, farthest: farthest,
                                                                         filters: filters, path: path)
                                    XCTAssertEqual(got.count, want.count)
                                    for i in 0..<min(got.count, want.count) {
                                        assertSame(got[i], want[i], "\(storage) gemm \(gp) half \(path) farthest \(farthest) k \(k) query \(i)")
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// A half copy whose values turn a row's half score NaN or ±Inf (a damaged file) is an error
    /// naming that row — single and batch queries, every path — never an answer without it.
    func testNonFiniteHalfScoresAreReportedNotSkipped() throws {
        let (n, d) = (3000, 200)
        for storage in HalfStorage.allCases {
            let unit = try unitRows(randomMatrix(rows: n, dim: d, seed: 31), d: d)
            let nan: UInt16 = storage == .f16 ? 0x7E00 : 0x7FC0, inf: UInt16 = storage == .f16 ? 0x7C00 : 0x7F80
            for (bad, value) in [(5, nan), (2047, inf), (2999, nan)] {
                let rows = Rows(unit, n: n, d: d, storage: storage)
                rows.halves[bad * rows.hs + 150] = value
                let q = Array(unit[0..<d])
                try rows.with { m, h in
                    for path in halfPaths {
                        XCTAssertThrowsError(try Scorer.searchHalf(m, half: h, query: q, k: 5, path: path), "\(storage) \(path) row \(bad)") { e in
                            XCTAssertEqual((e as? NonFiniteHalfScores)?.rows, [bad], "\(storage) \(path)")
                        }
                    }
                    for gp in gemmPaths {
                        try SGEMM.withPath(gp) {
                            XCTAssertThrowsError(try Scorer.searchBatchHalf(m, half: h, queries: q + q, count: 2, k: 5), "\(storage) \(gp) row \(bad)") { e in
                                XCTAssertEqual((e as? NonFiniteHalfScores)?.rows, [bad], "\(storage) gemm \(gp)")
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: the bound

    /// A row's half score is the same bits whatever call computes it: alone, or in a call of any
    /// number of rows (the AVX2 kernels pair each row with the one half a call further on, each
    /// keeping its own sums in the order of a row alone).
    func testHalfScoresOfARowDoNotDependOnTheCall() throws {
        for storage in HalfStorage.allCases {
            for d in [31, 512] {
                let n = 1025
                let unit = try unitRows(randomMatrix(rows: n, dim: d, seed: UInt64(d) &+ 77), d: d)
                let rows = Rows(unit, n: n, d: d, storage: storage)
                var g = SplitMix64(seed: 5)
                let q = (0..<d).map { _ in Float(g.gaussian()) }
                rows.with { _, h in
                    var qpad = [Float](repeating: 0, count: h.paddedDim)
                    for j in 0..<d { qpad[j] = q[j] }
                    for path in halfPaths {
                        let whole = Scorer.halfScores(h, query: q, path: path)
                        for count in [1, 2, 3, 7, 64, 1025] {
                            for first in Set([0, 1, n - count]) where first + count <= n {
                                var part = [Float](repeating: .nan, count: count)
                                ck_half_dots(path.kernelPath, storage.kernelType, h.base + first * h.stride, h.stride, count, h.paddedDim, qpad, -1, &part)
                                let same = (0..<count).allSatisfy { part[$0].bitPattern == whole[first + $0].bitPattern }
                                XCTAssertTrue(same, "\(storage) d \(d) \(path): rows \(first)..<\(first + count) in one call differ from the whole scan")
                            }
                        }
                    }
                }
            }
        }
    }

    /// |fl(q·x̃) − fl(q·x)| ≤ B on random rows and on rows built to maximise the rounding: values
    /// at half-way points (the largest representation error), subnormal-range values, and a query
    /// whose signs line up with the errors so nothing cancels.
    func testMeasuredErrorNeverExceedsTheBound() throws {
        for storage in HalfStorage.allCases {
            for d in [1, 31, 160, 300, 512, 1280] {
                var g = SplitMix64(seed: UInt64(d) &* 3)
                var raw = randomMatrix(rows: 200, dim: d, seed: UInt64(d))
                // Half-way rows: every value a midpoint between two neighbouring half values.
                for i in 0..<50 {
                    for j in 0..<d {
                        let h = HalfConvert.toHalf([raw[i * d + j] * 0.05], storage: storage)[0]
                        let a = HalfConvert.toFloat([h, h &+ 1], storage: storage)
                        raw[i * d + j] = (a[0] + a[1]) / 2
                    }
                }
                // Tiny values (f16 subnormal range) beside a few large ones.
                for i in 50..<100 { for j in 0..<d { raw[i * d + j] = j < 2 ? 1 : Float(g.gaussian()) * 0x1p-16 } }
                let unit = try unitRows(raw, d: d)
                let rows = Rows(unit, n: 200, d: d, storage: storage)
                var worst = 0.0
                try rows.with { m, h in
                    for t in 0..<20 {
                        let r = t * 10
                        // Signs of the rounding errors of row r, so they all add up; then random queries.
                        let x = Array(unit[(r * d)..<((r + 1) * d)])
                        let xt = HalfConvert.toFloat(HalfConvert.toHalf(x, storage: storage), storage: storage)
                        var q: [Float] = zip(x, xt).map { $1 >= $0 ? 1 : -1 }
                        if t % 2 == 1 { q = (0..<d).map { _ in Float(g.gaussian()) * (t % 4 == 1 ? 1 : 5) } }
                        let bound = HalfBound.bound(query: q, storage: storage)
                        for path in halfPaths {
                            let hs = Scorer.halfScores(h, query: q, path: path)
                            var fs = [Float](repeating: 0, count: m.rows)
                            q.withUnsafeBufferPointer { Kernels.dots(m, rows: 0..<m.rows, query: $0.baseAddress!, out: &fs) }
                            for i in 0..<m.rows {
                                let e = abs(Double(hs[i]) - Double(fs[i]))
                                worst = maxKeepingNaN(worst, e / bound)
                                if !(e <= bound) {
                                    return XCTFail("\(storage) d \(d) \(path): row \(i) half \(hs[i]) float \(fs[i]) differ by \(e) > B \(bound)")
                                }
                            }
                        }
                    }
                }
                print("\(storage) d \(d): worst measured error = \(String(format: "%.3f", worst)) × B")
                XCTAssertLessThanOrEqual(worst, 1)
            }
        }
    }

    // MARK: the index

    func testImportWithHalfStorageAnswersAsFloat32AndIsCarriedByGrowth() throws {
        let dir = try temporaryDirectory(self)
        let (n, d) = (900, 40)
        let classes = (0..<n).map { ["ant", "bee", "cow"][$0 % 3] }
        let raw = randomMatrix(rows: n, dim: d, seed: 41)
        for storage in HalfStorage.allCases {
            let x = dir.appendingPathComponent("X.npy")
            try NPYArray.write(shape: [n, d], values: raw, to: x)
            let m = dir.appendingPathComponent("rows.csv")
            try ("path,class\n" + (0..<n).map { "img/\(classes[$0])/\($0).png,\(classes[$0])\n" }.joined()).write(to: m, atomically: true, encoding: .utf8)
            var r = ImportRequest(vectors: x, manifest: m, out: dir.appendingPathComponent("idx-\(storage)"))
            r.storage = storage
            _ = try Importer.run(r)
            let idx = try Index.open(r.out)
            XCTAssertEqual(idx.halfStorage["embedding"], storage)
            XCTAssertEqual(try IndexInfo.collect(idx).spaces.first { $0.name == "embedding" }?.storage, storage.rawValue)
            XCTAssertNotNil(try idx.halfVectors(space: "embedding"))
            XCTAssertTrue(Index.verifyReport(r.out).ok, Index.verifyReport(r.out).text)
            XCTAssertTrue(Index.verifyReport(r.out).checks.contains { $0.check == "half-copy" && $0.ok })
            try assertHalfEqualsFloat(idx, n: n)

            // remove and add rebuild the generation: the half copy comes along, of the new rows.
            _ = try IndexGrowth.remove(index: r.out, .rows([3, 4, 500]))
            let after = try Index.open(r.out)
            XCTAssertEqual(after.halfStorage["embedding"], storage)
            XCTAssertEqual(try after.halfVectors(space: "embedding")?.rows, n - 3)
            XCTAssertTrue(Index.verifyReport(r.out).ok, Index.verifyReport(r.out).text)
            try assertHalfEqualsFloat(after, n: n - 3)

            // Re-importing the space without --storage drops the copy (never a copy of old rows).
            var again = ImportRequest(vectors: x, manifest: m, out: r.out)
            again.force = true
            _ = try Importer.run(again)
            let plain = try Index.open(r.out)
            XCTAssertNil(plain.halfStorage["embedding"])
            XCTAssertNil(try plain.halfVectors(space: "embedding"))
            XCTAssertFalse(FileManager.default.fileExists(atPath: plain.directory.appendingPathComponent(storage.fileName(space: "embedding")).path))
        }
    }

    func assertHalfEqualsFloat(_ idx: Index, n: Int) throws {
        for farthest in [false, true] {
            for className in [nil, "bee"] {
                for row in [0, 7, n - 1] {
                    var o = SearchOptions()
                    o.k = 25; o.farthest = farthest; o.className = className
                    var f = o
                    f.halfCopy = false
                    XCTAssertEqual(try idx.search(.row(row), options: o), try idx.search(.row(row), options: f),
                                   "row \(row) farthest \(farthest) class \(className ?? "-")")
                }
                var o = SearchOptions()
                o.k = 9; o.farthest = farthest; o.className = className
                var f = o
                f.halfCopy = false
                let sources: [QuerySource] = [.row(1), .row(2), .row(n / 2), .vector((0..<idx.spaces[0].dim).map { Float($0 % 5) - 2 })]
                XCTAssertEqual(try idx.searchBatch(sources, options: o), try idx.searchBatch(sources, options: f))
            }
        }
    }

    func testDamagedHalfCopyIsFoundByVerifyAndRefusedWhenStale() throws {
        let dir = try temporaryDirectory(self)
        let (n, d) = (64, 20)
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 3), rows: n, dim: d,
                                        classes: (0..<n).map { $0 % 2 == 0 ? "a" : "b" })
        // Add a bf16 copy to the existing index (same rows): import --space embedding --storage bf16.
        var r = ImportRequest(vectors: dir.appendingPathComponent("X-index.npy"), manifest: dir.appendingPathComponent("rows-index.csv"), out: url)
        r.storage = .bf16
        _ = try Importer.run(r)
        let idx = try Index.open(url)
        let file = idx.directory.appendingPathComponent(HalfStorage.bf16.fileName(space: "embedding"))
        let (h, e) = try HalfVectorFile.readHeader(file)
        XCTAssertEqual(h.elementType, .bfloat16)
        XCTAssertEqual(h.payloadOffset, 128)
        XCTAssertEqual(h.minor, 1)
        XCTAssertEqual(h.strideBytes, 64)
        XCTAssertEqual(e.sourcePayloadCRC, try idx.vectors(space: "embedding").header.payloadCRC)
        // A float32 reader refuses a half file, a half reader a float32 file.
        XCTAssertThrowsKind(.corruptHeader, try VectorFile(url: file))
        XCTAssertThrowsKind(.corruptHeader, try HalfVectorFile(url: idx.directory.appendingPathComponent("embedding.vec")))

        // One value moved by far more than a rounding, with the payload CRC fixed up: verify's
        // half-copy check finds it (the checksum alone would not).
        let gen = idx.directory
        var bytes = try Array(Data(contentsOf: file))
        bytes[128 + 2 * 5 + 1] ^= 0x40
        var header = h
        header.payloadCRC = bytes[128...].withUnsafeBytes { Checksum.crc32($0) }
        let enc = header.encoded()
        for i in 0..<64 { bytes[i] = enc[i] }
        try FileManager.default.removeItem(at: file)
        try Data(bytes).write(to: file)
        let report = Index.verifyReport(url)
        XCTAssertFalse(report.ok)
        XCTAssertEqual(report.failures.map(\.check), ["half-copy"], report.text)

        // A half copy of other rows (source CRC differs) is refused on open.
        var ext = [UInt8](HalfExtension(sourcePayloadCRC: e.sourcePayloadCRC ^ 1).encoded())
        for i in 0..<64 { bytes[64 + i] = ext[i] }
        ext = []
        try FileManager.default.removeItem(at: file)
        try Data(bytes).write(to: file)
        XCTAssertThrowsKind(.catalog, try Index.open(url))
        _ = gen
    }
}

private extension UInt16 {
    func isNaN(bf16: Bool) -> Bool { self & 0x7F80 == 0x7F80 && self & 0x007F != 0 }
}
