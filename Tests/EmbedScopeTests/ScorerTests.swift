import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport

/// Query results against a brute-force Double-precision reference on seeded data.
final class ScorerTests: XCTestCase {
    /// Unit rows in Float, as an index stores them; a few exact duplicates to exercise ties.
    func unitRows(n: Int, d: Int, seed: UInt64) -> [Float] {
        var x = randomMatrix(rows: n, dim: d, seed: seed)
        for dup in stride(from: 0, to: n / 10, by: 1) { // rows 10i+9 duplicate row 10i
            let a = dup * 10, b = dup * 10 + 9
            if b < n { for j in 0..<d { x[b * d + j] = x[a * d + j] } }
        }
        for i in 0..<n {
            var s = 0.0
            for j in 0..<d { s += Double(x[i * d + j]) * Double(x[i * d + j]) }
            for j in 0..<d { x[i * d + j] = Float(Double(x[i * d + j]) / s.squareRoot()) }
        }
        return x
    }

    /// Reference: Double dot products of the stored Float rows, sorted by (score desc, row asc).
    func reference(_ x: [Float], n: Int, d: Int, q: [Float], k: Int, farthest: Bool, accept: (Int) -> Bool = { _ in true }) -> [(Int, Double)] {
        var all: [(Int, Double)] = []
        for i in 0..<n where accept(i) {
            var s = 0.0
            for j in 0..<d { s += Double(x[i * d + j]) * Double(q[j]) }
            all.append((i, s))
        }
        all.sort { farthest ? ($0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0)) : ($0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0)) }
        return Array(all.prefix(k))
    }

    /// Float scores differ from the Double reference by summation order: |Δ| ≤ d·ε·Σ|x_j q_j| ≤ d·ε
    /// for unit vectors. Where two reference scores are closer than that, either order is right,
    /// so rows are compared only where the reference gap exceeds the tolerance.
    func check(_ hits: [Hit], _ ref: [(Int, Double)], d: Int, file: StaticString = #filePath, line: UInt = #line) {
        let tol = Double(d) * Double(Float.ulpOfOne)
        XCTAssertEqual(hits.count, ref.count, file: file, line: line)
        for (i, (h, r)) in zip(hits, ref).enumerated() {
            XCTAssertEqual(Double(h.score), r.1, accuracy: tol, "rank \(i): expected \(r), observed \(h), tolerance \(tol)", file: file, line: line)
            let gapBefore = i > 0 ? abs(ref[i - 1].1 - r.1) : .infinity
            let gapAfter = i + 1 < ref.count ? abs(ref[i + 1].1 - r.1) : .infinity
            if min(gapBefore, gapAfter) > 2 * tol {
                XCTAssertEqual(h.row, r.0, "rank \(i): expected row \(r.0) (score \(r.1)), observed \(h.row) (\(h.score))", file: file, line: line)
            }
        }
    }

    func testNearestAndFarthestMatchDoubleReference() {
        for (n, d, seed) in [(5000, 64, UInt64(1)), (3001, 37, 2), (1024, 512, 3), (7, 16, 4)] {
            let x = unitRows(n: n, d: d, seed: seed)
            x.withUnsafeBufferPointer { xp in
                let m = RowMatrix(base: xp.baseAddress!, rows: n, dim: d, stride: d)
                var g = SeededGenerator(seed: seed &+ 100)
                for trial in 0..<4 {
                    let qi = Int.random(in: 0..<n, using: &g)
                    let q = Array(x[(qi * d)..<((qi + 1) * d)])
                    for farthest in [false, true] {
                        for kernel in ScoreKernel.allCases {
                            for threads in [1, 2, 3] {
                                let k = [1, 10, 100][trial % 3]
                                let hits = Scorer.search(m, query: q, k: k, farthest: farthest, kernel: kernel, threads: threads)
                                check(hits, reference(x, n: n, d: d, q: q, k: k, farthest: farthest), d: d)
                            }
                        }
                    }
                }
            }
        }
    }

    func testBatchMatchesSingleQueries() {
        let (n, d, b) = (4100, 48, 13)
        let x = unitRows(n: n, d: d, seed: 9)
        let q = Array(x[0..<(b * d)])
        x.withUnsafeBufferPointer { xp in
            let m = RowMatrix(base: xp.baseAddress!, rows: n, dim: d, stride: d)
            for farthest in [false, true] {
                let batch = Scorer.searchBatch(m, queries: q, count: b, k: 7, farthest: farthest)
                for i in 0..<b {
                    let qi = Array(q[(i * d)..<((i + 1) * d)])
                    check(batch[i], reference(x, n: n, d: d, q: qi, k: 7, farthest: farthest), d: d)
                }
            }
        }
    }

    func testEverySelfQueryFindsItselfFirst() {
        // No duplicates here: with exact duplicates the lower row legitimately wins the tie.
        let (n, d) = (2000, 32)
        var x = randomMatrix(rows: n, dim: d, seed: 21)
        for i in 0..<n {
            var s: Float = 0
            for j in 0..<d { s += x[i * d + j] * x[i * d + j] }
            for j in 0..<d { x[i * d + j] /= s.squareRoot() }
        }
        x.withUnsafeBufferPointer { xp in
            let m = RowMatrix(base: xp.baseAddress!, rows: n, dim: d, stride: d)
            let hits = Scorer.searchBatch(m, queries: x, count: n, k: 1)
            for i in 0..<n { XCTAssertEqual(hits[i].first?.row, i, "row \(i)") }
            for i in stride(from: 0, to: n, by: 97) {
                XCTAssertEqual(Scorer.search(m, query: Array(x[(i * d)..<((i + 1) * d)]), k: 1).first?.row, i)
            }
        }
    }

    func testFiltersAndLargeK() {
        let (n, d) = (3000, 24)
        let x = unitRows(n: n, d: d, seed: 5)
        let q = Array(x[(17 * d)..<(18 * d)])
        x.withUnsafeBufferPointer { xp in
            let m = RowMatrix(base: xp.baseAddress!, rows: n, dim: d, stride: d)
            // k larger than the index returns every row, once, best first.
            let all = Scorer.search(m, query: q, k: n + 50)
            XCTAssertEqual(all.count, n)
            XCTAssertEqual(Set(all.map(\.row)).count, n)
            // Exclude self; allow only multiples of 3.
            var f = RowFilter.allowing(rows: stride(from: 0, to: n, by: 3), total: n)
            f.excluded = [18]
            let hits = Scorer.search(m, query: q, k: 5000, filter: f)
            XCTAssertEqual(hits.count, n / 3 - 1)
            XCTAssertTrue(hits.allSatisfy { $0.row % 3 == 0 && $0.row != 18 })
            check(Array(hits.prefix(20)), reference(x, n: n, d: d, q: q, k: 20, farthest: false, accept: { $0 % 3 == 0 && $0 != 18 }), d: d)
        }
    }

    func testTopKTieBreakIsByRow() {
        var h = TopK(k: 3)
        for r in [9, 4, 7, 1, 8] { h.push(0.5, r) }
        XCTAssertEqual(h.sorted().map(\.row), [1, 4, 7])
    }
}
