import XCTest
@testable import EmbedScopeCore
import CKernels

/// The batch-query scan kernels (`ckscan.h`, `Scorer+Scan.swift`) on every own path, forced:
/// scores against a Double reference on odd shapes, scores that do not depend on where a row or a
/// query sits, the candidate search against a scalar reference (NaN, ±Inf, ties, NaN thresholds),
/// and the batch search's answers against the exact top-k of the same scores.
///
/// Error measure per score: |got − ref| / (Σ_p |a_ip · q_jp| + 1e-30), the scale a float32 sum of
/// these products is rounded against. Bar: 1e-5 (observed ≤ ~1e-6 at k = 1,280). NaN fails (`!(err <= bar)`).
final class ScanKernelTests: XCTestCase {
    static let bar = 1e-5

    /// Every own path this CPU runs (AVX-512, AVX2 + FMA, portable).
    var paths: [GEMMPath] { GEMMPath.allCases.filter { $0 != .openblas && $0.isSupported } }

    func testPathsRun() {
        XCTAssertTrue(paths.contains(.portable))
        print("scan kernel paths tested here: \(paths.map(\.rawValue))")
    }

    func testScoresOddShapesEveryPath() {
        var rng = SplitMix64(seed: 41)
        for m in [1, 7, 13, 65] {
            for k in [1, 7, 63, 65, 1280] {
                for n in [1, 31, 33, 64] {
                    let pad = (m + k + n) % 2 == 0 ? 3 : 0
                    let lda = k + pad, ldq = k + 1, ldc = n + 2
                    let a = (0..<(m * lda)).map { _ in Float(rng.gaussian()) }
                    let q = (0..<(n * ldq)).map { _ in Float(rng.gaussian()) }
                    var ref = [Double](repeating: 0, count: m * n), scale = ref
                    for i in 0..<m {
                        for j in 0..<n {
                            var s = 0.0, t = 0.0
                            for p in 0..<k {
                                let v = Double(a[i * lda + p]) * Double(q[j * ldq + p])
                                s += v; t += abs(v)
                            }
                            ref[i * n + j] = s; scale[i * n + j] = t
                        }
                    }
                    for path in paths {
                        let panels = q.withUnsafeBufferPointer { QueryPanels(queries: $0.baseAddress!, count: n, dim: k, ldq: ldq, path: path) }
                        // One row more than m, and the padding columns, hold a sentinel that must survive.
                        var c = [Float](repeating: -7, count: (m + 1) * ldc)
                        a.withUnsafeBufferPointer { ap in
                            c.withUnsafeMutableBufferPointer { cp in
                                panels.scores(rows: m, a: ap.baseAddress!, lda: lda, c: cp.baseAddress!, ldc: ldc)
                            }
                        }
                        var worst = 0.0
                        for i in 0..<m {
                            for j in 0..<n {
                                worst = maxKeepingNaN(worst, abs(Double(c[i * ldc + j]) - ref[i * n + j]) / (scale[i * n + j] + 1e-30))
                            }
                        }
                        let what = "path \(path) m \(m) k \(k) n \(n) lda \(lda)"
                        XCTAssertTrue(worst <= Self.bar, "\(what): relative error \(worst), bar \(Self.bar)")
                        let untouched = (0..<(m + 1)).allSatisfy { i in
                            (0..<ldc).allSatisfy { j in (i < m && j < n) || c[i * ldc + j] == -7 }
                        }
                        XCTAssertTrue(untouched, "\(what): wrote outside the m × n tile")
                    }
                }
            }
        }
    }

    /// Long rows of positive values (the worst case for one chain: every partial sum grows): at
    /// k = 4,097 one chain of multiply-adds per score lost ~2e-6 of a cosine of ~1 (numpy's sgemm:
    /// 2.7e-7; the one-query scan: 8e-8), so a batch could rank two rows the other way round from
    /// the same query alone. Summed in slices of 256, every path stays within 10 ulps of 1.
    func testLongPositiveRowsStayWithinTenUlps() {
        var rng = SplitMix64(seed: 47)
        let (m, n) = (24, 8)
        for k in [257, 2048, 4097, 8192] {
            func unitRows(_ count: Int) -> [Float] {
                var x = (0..<(count * k)).map { _ in Float(abs(rng.gaussian())) }
                for r in 0..<count {
                    var ss = 0.0
                    for p in 0..<k { ss += Double(x[r * k + p]) * Double(x[r * k + p]) }
                    let inv = 1 / ss.squareRoot()
                    for p in 0..<k { x[r * k + p] = Float(Double(x[r * k + p]) * inv) }
                }
                return x
            }
            let a = unitRows(m), q = Array(a[0..<(n * k)])   // the queries are rows of the index
            for path in paths {
                let panels = QueryPanels.packing(q, count: n, dim: k, path: path)
                var c = [Float](repeating: 0, count: m * n)
                a.withUnsafeBufferPointer { ap in panels.scores(rows: m, a: ap.baseAddress!, lda: k, c: &c, ldc: n) }
                var worst = 0.0
                for i in 0..<m {
                    for j in 0..<n {
                        var s = 0.0
                        for p in 0..<k { s += Double(a[i * k + p]) * Double(q[j * k + p]) }
                        worst = maxKeepingNaN(worst, abs(Double(c[i * n + j]) - s))
                    }
                }
                XCTAssertLessThanOrEqual(worst, 10 * Double(Float.ulpOfOne) / 2, "path \(path) k \(k): worst |error| \(worst)")
                print("scan k \(k) path \(path): worst |error| \(worst)")
            }
        }
    }

    /// What the half batch scan relies on: a score depends only on its row, its query and the path —
    /// not on the block the row falls in, the other rows, nor the other queries packed with it.
    func testScoreDependsOnlyOnRowQueryAndPath() {
        let (m, k, n) = (65, 300, 64)
        let a = randomMatrix(rows: m, dim: k, seed: 42)
        let q = randomMatrix(rows: n, dim: k, seed: 43)
        for path in paths {
            let all = QueryPanels.packing(q, count: n, dim: k, path: path)
            var full = [Float](repeating: 0, count: m * n)
            a.withUnsafeBufferPointer { ap in all.scores(rows: m, a: ap.baseAddress!, lda: k, c: &full, ldc: n) }
            // Rows 13..<20 alone (another position in the micro-kernel's block, a short block).
            var part = [Float](repeating: 0, count: 7 * n)
            a.withUnsafeBufferPointer { ap in all.scores(rows: 7, a: ap.baseAddress! + 13 * k, lda: k, c: &part, ldc: n) }
            for r in 0..<7 {
                for j in 0..<n {
                    XCTAssertEqual(part[r * n + j].bitPattern, full[(13 + r) * n + j].bitPattern, "path \(path) row \(13 + r) query \(j)")
                }
            }
            // Query 33 packed alone (lane 0 of a narrow panel instead of lane 1 of the second panel).
            let one = QueryPanels.packing(Array(q[(33 * k)..<(34 * k)]), count: 1, dim: k, path: path)
            var col = [Float](repeating: 0, count: m)
            a.withUnsafeBufferPointer { ap in one.scores(rows: m, a: ap.baseAddress!, lda: k, c: &col, ldc: 1) }
            for r in 0..<m { XCTAssertEqual(col[r].bitPattern, full[r * n + 33].bitPattern, "path \(path) row \(r), query 33 alone") }
        }
    }

    func testCandidatesEveryPathAgainstScalarReference() {
        var rng = SplitMix64(seed: 44)
        for m in [1, 5, 64] {
            for n in [1, 7, 16, 17, 33, 64] {
                for trial in 0..<3 {
                    let ldc = n + (trial == 1 ? 5 : 0)
                    var c = (0..<(m * ldc)).map { _ in Float(rng.gaussian()) }
                    let thr: [Float] = (0..<n).map { j in
                        switch (j + trial) % 5 {
                        case 0: return -.infinity
                        case 1: return .nan
                        case 2: return 0.5
                        case 3: return c[j]  // a tie with row 0
                        default: return Float(rng.gaussian())
                        }
                    }
                    if trial == 2 {
                        c[(m - 1) * ldc + n / 2] = .nan
                        c[0] = .infinity
                        if m * n > 2 { c[(m / 2) * ldc + (n - 1)] = -.infinity }
                    }
                    var want: [Int32] = []
                    var wantBad = false
                    for r in 0..<m {
                        for j in 0..<n {
                            let s = c[r * ldc + j]
                            if !s.isFinite { wantBad = true }
                            if s >= thr[j] { want.append(Int32(r * n + j)) }
                        }
                    }
                    for path in paths {
                        var out = [Int32](repeating: -1, count: m * n)
                        var bad: Int32 = 0
                        let count = ck_scan_candidates(path.kernelPath!, m, n, c, ldc, thr, &out, &bad)
                        let what = "path \(path) m \(m) n \(n) trial \(trial)"
                        XCTAssertEqual(Array(out.prefix(count)), want, what)
                        XCTAssertEqual(bad != 0, wantBad, "\(what): non-finite flag")
                    }
                }
            }
        }
    }

    /// One query's candidate pick (`ck_scan_select`, the single scan's selection) on every path against
    /// a scalar reference: every score at or above one threshold, in order, on lengths around the
    /// vector widths; ties with the threshold kept; NaN never picked; NaN and ±Inf flagged.
    func testSelectEveryPathAgainstScalarReference() {
        var rng = SplitMix64(seed: 45)
        for n in [1, 7, 8, 15, 16, 17, 33, 1024, 1025] {
            for trial in 0..<5 {
                var s = (0..<n).map { _ in Float(rng.gaussian()) }
                let threshold: Float
                switch trial {
                case 0: threshold = -.infinity
                case 1: threshold = .nan
                case 2: threshold = s[n / 2]  // a tie
                case 3: threshold = .infinity
                default: threshold = 0.75
                }
                if trial >= 3 {
                    s[n - 1] = .nan
                    s[0] = .infinity
                    if n > 2 { s[n / 2] = -.infinity }
                }
                let want = (0..<n).filter { s[$0] >= threshold }.map(Int32.init)
                let wantBad = s.contains { !$0.isFinite }
                for path in paths {
                    var out = [Int32](repeating: -1, count: n)
                    var bad: Int32 = 0
                    let count = ck_scan_select(path.kernelPath!, n, s, threshold, &out, &bad)
                    let what = "path \(path) n \(n) trial \(trial)"
                    XCTAssertEqual(Array(out.prefix(count)), want, what)
                    XCTAssertEqual(bad != 0, wantBad, "\(what): non-finite flag")
                }
            }
        }
    }

    /// The exact top-k of the kernel's own scores (sorted by score, then row), as a reference
    /// for the batch search's selection: rows and scores must be identical, not just close.
    func exactTopK(_ scores: [Float], rows n: Int, queries b: Int, query i: Int, k: Int, filter: RowFilter) -> [Hit] {
        var all: [Hit] = []
        for r in 0..<n where filter.accepts(r) { all.append(Hit(row: r, score: scores[r * b + i])) }
        all.sort { $0.score > $1.score || ($0.score == $1.score && $0.row < $1.row) }
        return Array(all.prefix(k))
    }

    func testBatchSearchEqualsExactTopKOfTheSameScoresEveryPath() throws {
        let (n, d) = (1300, 65)
        // Unit rows; rows 10i + 9 duplicate row 10i (exact ties), row 1000 duplicates row 3.
        var x = Self.unitRowsWithTies(rows: n, dim: d, seed: 45)
        for j in 0..<d { x[1000 * d + j] = x[3 * d + j] }
        try x.withUnsafeBufferPointer { xp in
            let m = RowMatrix(base: xp.baseAddress!, rows: n, dim: d, stride: d)
            for b in [1, 31, 33, 64] {
                let q = Array(x[0..<(b * d)])
                let filters = (0..<b).map { i in
                    i % 3 == 0 ? RowFilter.allowing(rows: (0..<n).filter { $0 % 4 != 1 }, total: n)
                        : i % 3 == 1 ? RowFilter(excluded: [i]) : RowFilter()
                }
                for path in paths {
                    try SGEMM.withPath(path) {
                        for farthest in [false, true] {
                            let signed = farthest ? q.map { -$0 } : q
                            var scores = [Float](repeating: 0, count: n * b)
                            QueryPanels.packing(signed, count: b, dim: d, path: path).scores(rows: n, a: xp.baseAddress!, lda: d, c: &scores, ldc: b)
                            for (k, threads) in [(1, 1), (10, 2), (40, 3)] {
                                let got = try Scorer.searchBatch(m, queries: q, count: b, k: k, farthest: farthest, filters: filters, threads: threads)
                                XCTAssertEqual(got.count, b)
                                for i in 0..<min(b, got.count) {
                                    let want = exactTopK(scores, rows: n, queries: b, query: i, k: k, filter: filters[i])
                                        .map { Hit(row: $0.row, score: farthest ? -$0.score : $0.score) }
                                    XCTAssertEqual(got[i], want, "path \(path) b \(b) farthest \(farthest) k \(k) threads \(threads) query \(i)")
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// NaN and ±Inf rows are named as before, on every path (OpenBLAS's included), and a damaged row is
    /// never dropped silently, whichever queries want results.
    func testDamagedRowsNamedEveryPath() throws {
        let (n, d, b) = (3000, 33, 33)
        var x = randomMatrix(rows: n, dim: d, seed: 46)
        x[5 * d + 7] = .nan
        x[1700 * d] = .infinity
        x[2999 * d + 32] = -.infinity
        let q = randomMatrix(rows: b, dim: d, seed: 47)
        try x.withUnsafeBufferPointer { xp in
            let m = RowMatrix(base: xp.baseAddress!, rows: n, dim: d, stride: d)
            for path in paths + [.openblas] {
                try SGEMM.withPath(path) {
                    for farthest in [false, true] {
                        for threads in [1, 2] {
                            XCTAssertThrowsError(try Scorer.searchBatch(m, queries: q, count: b, k: 5, farthest: farthest, threads: threads)) { e in
                                XCTAssertEqual((e as? NonFiniteScores)?.rows, [5, 1700, 2999], "path \(path)")
                                XCTAssertEqual((e as? NonFiniteScores)?.count, 3, "path \(path)")
                            }
                        }
                    }
                    // Queries that want nothing (their filter allows no row) do not hide the damage.
                    var filters = [RowFilter](repeating: RowFilter(), count: b)
                    filters[0] = RowFilter(allowed: [UInt64](repeating: 0, count: (n + 63) / 64))
                    XCTAssertThrowsError(try Scorer.searchBatch(m, queries: q, count: b, k: 5, filters: filters)) { e in
                        XCTAssertEqual((e as? NonFiniteScores)?.rows, [5, 1700, 2999], "path \(path), query 0 wants nothing")
                    }
                }
            }
        }
    }

    // MARK: one query (ck_scan_dots, `Kernels.dots`)

    func testDotsOddShapesEveryPath() {
        var rng = SplitMix64(seed: 48)
        for m in [1, 7, 13, 65] {
            for k in [1, 7, 63, 65, 1280] {
                let lda = k + (m % 2 == 0 ? 0 : 5)
                let a = (0..<(m * lda)).map { _ in Float(rng.gaussian()) }
                let q = (0..<k).map { _ in Float(rng.gaussian()) }
                for path in paths {
                    var out = [Float](repeating: -7, count: m + 1)
                    ck_scan_dots(path.kernelPath!, m, k, a, lda, q, &out)
                    var worst = 0.0
                    for i in 0..<m {
                        var s = 0.0, t = 0.0
                        for p in 0..<k { let v = Double(a[i * lda + p]) * Double(q[p]); s += v; t += abs(v) }
                        worst = maxKeepingNaN(worst, abs(Double(out[i]) - s) / (t + 1e-30))
                    }
                    let what = "path \(path) m \(m) k \(k) lda \(lda)"
                    XCTAssertTrue(worst <= Self.bar, "\(what): relative error \(worst), bar \(Self.bar)")
                    XCTAssertEqual(out[m], -7, "\(what): wrote past m")
                    // A row alone scores the same bits as inside the range.
                    let r = m / 2
                    var alone: Float = 0
                    a.withUnsafeBufferPointer { ap in ck_scan_dots(path.kernelPath!, 1, k, ap.baseAddress! + r * lda, lda, q, &alone) }
                    XCTAssertEqual(alone.bitPattern, out[r].bitPattern, "\(what): row \(r) alone")
                }
            }
        }
    }

    /// The one-query scan on every path (forced through `SGEMM.withPath`): the exact top-k of the
    /// kernel's own scores, rows and scores identical; the half copy's exact re-scoring agrees bit
    /// for bit; NaN rows are named.
    func testSingleSearchEveryPath() throws {
        let (n, d, hs) = (2100, 65, 96)
        let x = Self.unitRowsWithTies(rows: n, dim: d, seed: 49)
        var halves = [UInt16](repeating: 0, count: n * hs)
        for i in 0..<n {
            let h = HalfConvert.toHalf(Array(x[(i * d)..<((i + 1) * d)]), storage: .f16)
            for j in 0..<d { halves[i * hs + j] = h[j] }
        }
        let filters = [RowFilter(), RowFilter(excluded: [0, 9]), RowFilter.allowing(rows: (0..<n).filter { $0 % 3 != 1 }, total: n)]
        try x.withUnsafeBufferPointer { xp in
            try halves.withUnsafeBufferPointer { hp in
                let m = RowMatrix(base: xp.baseAddress!, rows: n, dim: d, stride: d)
                let h = HalfRows(base: hp.baseAddress!, rows: n, dim: d, stride: hs, storage: .f16)
                for path in paths {
                    try SGEMM.withPath(path) {
                        for qi in [0, 1, 700] {
                            let q = Array(x[(qi * d)..<((qi + 1) * d)])
                            for farthest in [false, true] {
                                let signed = farthest ? q.map { -$0 } : q
                                var scores = [Float](repeating: 0, count: n)
                                ck_scan_dots(path.kernelPath!, n, d, xp.baseAddress!, d, signed, &scores)
                                for (k, threads) in [(1, 1), (10, 2), (40, 3)] {
                                    for (fi, f) in filters.enumerated() {
                                        let got = try Scorer.search(m, query: q, k: k, farthest: farthest, filter: f, kernel: .simd, threads: threads)
                                        let want = exactTopK(scores, rows: n, queries: 1, query: 0, k: k, filter: f)
                                            .map { Hit(row: $0.row, score: farthest ? -$0.score : $0.score) }
                                        let what = "path \(path) query \(qi) farthest \(farthest) k \(k) threads \(threads) filter \(fi)"
                                        XCTAssertEqual(got, want, what)
                                        let half = try Scorer.searchHalf(m, half: h, query: q, k: k, farthest: farthest, filter: f, threads: threads)
                                        XCTAssertEqual(half.map(\.row), got.map(\.row), "\(what): half copy")
                                        XCTAssertEqual(half.map(\.score.bitPattern), got.map(\.score.bitPattern), "\(what): half copy scores")
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        var damaged = x
        damaged[5 * d + 3] = .nan
        damaged[2000 * d] = .infinity
        try damaged.withUnsafeBufferPointer { xp in
            let m = RowMatrix(base: xp.baseAddress!, rows: n, dim: d, stride: d)
            for path in paths {
                try SGEMM.withPath(path) {
                    for threads in [1, 2] {
                        XCTAssertThrowsError(try Scorer.search(m, query: Array(x[0..<d]), k: 5, kernel: .simd, threads: threads)) { e in
                            XCTAssertEqual((e as? NonFiniteScores)?.rows, [5, 2000], "path \(path)")
                        }
                    }
                }
            }
        }
    }

    /// The benchmark's read pass reads every float it is given (counts that are multiples of 64 per thread).
    func testReadPassSumsEveryFloatEveryPath() {
        let x = [Float](repeating: 0.5, count: 64 * 37 * 2)
        for path in paths {
            SGEMM.withPath(path) {
                x.withUnsafeBufferPointer { xp in
                    for threads in [1, 2] {
                        XCTAssertEqual(Kernels.readPass(xp.baseAddress!, count: x.count, threads: threads), Float(x.count) / 2, "path \(path) threads \(threads)")
                    }
                }
            }
        }
    }

    /// Seeded unit rows (normalized in Double) where every tenth row repeats the row nine
    /// before it, so exact ties in score are certain.
    static func unitRowsWithTies(rows n: Int, dim d: Int, seed: UInt64) -> [Float] {
        var x = randomMatrix(rows: n, dim: d, seed: seed)
        for i in 0..<n {
            var s = 0.0
            for j in 0..<d { s += Double(x[i * d + j]) * Double(x[i * d + j]) }
            for j in 0..<d { x[i * d + j] = Float(Double(x[i * d + j]) / s.squareRoot()) }
        }
        for a in stride(from: 0, to: n - 9, by: 10) { for j in 0..<d { x[(a + 9) * d + j] = x[a * d + j] } }
        return x
    }
}
