import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeAnalysis

/// Representativeness (FiftyOne Brain's cluster-center method, issue 12 item 5), checked by brute
/// force: the k-means result is a Lloyd fixed point (each row on its nearest centre, each centre
/// the mean of its rows), planted clusters are recovered, and the scores are 1 − d/max d.
final class RepresentativenessTests: XCTestCase {
    /// `blobs` tight clusters of unit rows around random directions; returns rows and planted labels.
    func planted(blobs: Int, per: Int, dim d: Int, spread: Double, seed: UInt64) -> (x: [Float], labels: [Int]) {
        var g = SplitMix64(seed: seed)
        let centres = (0..<blobs).map { _ in (0..<d).map { _ in g.gaussian() } }
        var x: [Float] = [], labels: [Int] = []
        for i in 0..<(blobs * per) {
            let b = i % blobs
            var v = centres[b].map { $0 + spread * g.gaussian() }
            let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            v = v.map { $0 / n }
            x += v.map(Float.init); labels.append(b)
        }
        return (x, labels)
    }

    /// One blob whose rows are 1e-3 apart (cosines ~0.99999): k-means converges to a Lloyd fixed
    /// point (every row on its nearest centre, in Double). Uncentred float32 assignment scores put
    /// 125 of 300 rows on a farther centre and stopped at 300 iterations, "not converged". And a
    /// greedy k-means++ start (scikit-learn's) finds well-separated blobs from any seed.
    func testKMeansConvergesOnATightBlobAndSeedsGreedily() throws {
        let d = 64, n = 300, k = 3
        var g = SplitMix64(seed: 9)
        let base = (0..<d).map { _ in g.gaussian() }
        var x: [Float] = []
        for _ in 0..<n {
            var v = base.map { $0 + 1e-3 * g.gaussian() }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            v = v.map { $0 / norm }
            x += v.map(Float.init)
        }
        try x.withUnsafeBufferPointer { xp in
            let m = RowMatrix(base: xp.baseAddress!, rows: n, dim: d, stride: d)
            for seed: UInt64 in 0..<3 {
                let c = Representativeness.kMeans(m, clusters: k, seed: seed)
                XCTAssertTrue(c.converged, "seed \(seed): \(c.iterations) iterations")
                var wrong = 0
                for i in 0..<n {
                    let dist = (0..<k).map { j in (0..<d).reduce(0.0) { $0 + pow(Double(x[i * d + $1]) - c.centres[j * d + $1], 2) } }
                    if dist.indices.min(by: { dist[$0] < dist[$1] }) != c.labels[i] { wrong += 1 }
                }
                XCTAssertEqual(wrong, 0, "seed \(seed): rows not on their nearest centre")
            }
        }
        // 20 blobs: the greedy start recovers the planted partition from 7 of 10 seeds here; a plain
        // k-means++ start (one candidate per centre) from none (two or three blobs merged each time).
        let (y, planted) = planted(blobs: 20, per: 30, dim: 16, spread: 0.3, seed: 21)
        try y.withUnsafeBufferPointer { yp in
            let m = RowMatrix(base: yp.baseAddress!, rows: 600, dim: 16, stride: 16)
            var found: [Int] = []
            for seed: UInt64 in 0..<10 {
                let c = Representativeness.kMeans(m, clusters: 20, seed: seed)
                var pairs = Set<[Int]>()
                for (a, b) in zip(planted, c.labels) { pairs.insert([a, b]) }
                found.append(pairs.count)
            }
            XCTAssertGreaterThanOrEqual(found.filter { $0 == 20 }.count, 6, "seeds whose partition equals the planted one: \(found)")
        }
    }

    func testKMeansIsALloydFixedPointAndRecoversPlantedClusters() throws {
        let d = 16, blobs = 5, per = 40
        let (x, planted) = planted(blobs: blobs, per: per, dim: d, spread: 0.05, seed: 4)
        try x.withUnsafeBufferPointer { xp in
            let m = RowMatrix(base: xp.baseAddress!, rows: blobs * per, dim: d, stride: d)
            let c = Representativeness.kMeans(m, clusters: blobs, seed: 1)
            XCTAssertTrue(c.converged)
            XCTAssertEqual(c.labels.count, m.rows)
            // Same partition as the planted one (labels equal up to renaming).
            var map: [Int: Int] = [:]
            for (a, b) in zip(planted, c.labels) {
                if let seen = map[a] { XCTAssertEqual(seen, b, "planted cluster \(a) split") } else { map[a] = b }
            }
            XCTAssertEqual(Set(map.values).count, blobs)
            // Fixed point, by brute force in Double.
            for j in 0..<blobs {
                let members = c.labels.indices.filter { c.labels[$0] == j }
                XCTAssertFalse(members.isEmpty)
                for t in 0..<d {
                    let mean = members.reduce(0.0) { $0 + Double(x[$1 * d + t]) } / Double(members.count)
                    XCTAssertEqual(c.centres[j * d + t], mean, accuracy: 1e-9)
                }
            }
            for i in 0..<m.rows {
                let dist = (0..<blobs).map { j in (0..<d).reduce(0.0) { $0 + pow(Double(x[i * d + $1]) - c.centres[j * d + $1], 2) } }
                XCTAssertEqual(dist.indices.min { dist[$0] < dist[$1] }, c.labels[i], "row \(i) is on its nearest centre")
            }
            // Scores: 1 − d/max d per cluster, in [0, 1], exactly 0 for each cluster's farthest row.
            let s = Representativeness.scores(m, clustering: c)
            XCTAssertTrue(s.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 })
            for j in 0..<blobs {
                let members = c.labels.indices.filter { c.labels[$0] == j }
                let dist = members.map { i in (0..<d).reduce(0.0) { $0 + pow(Double(x[i * d + $1]) - c.centres[j * d + $1], 2) }.squareRoot() }
                let top = dist.max() ?? 0
                for (i, dd) in zip(members, dist) { XCTAssertEqual(s[i], 1 - dd / top, accuracy: 1e-9) }
                XCTAssertEqual(members.map { s[$0] }.min() ?? -1, 0, accuracy: 1e-12)
            }
        }
    }

    func testIndexReportAndCLI() throws {
        let dir = try temporaryDirectory(self)
        let (x, planted) = planted(blobs: 3, per: 20, dim: 12, spread: 0.1, seed: 9)
        let url = try makeImportedIndex(in: dir, vectors: x, rows: 60, dim: 12, classes: planted.map { ["a", "b", "c"][$0] })
        let r = try Index.open(url).representativeness(clusters: 3, seed: 2)
        XCTAssertEqual(r.results.count, 60)
        XCTAssertEqual(Set(r.results.map(\.row)), Set(0..<60))
        XCTAssertTrue(zip(r.results, r.results.dropFirst()).allSatisfy { $0.score >= $1.score }, "most representative first")
        XCTAssertEqual(try Index.open(url).representativeness(clusters: 3, seed: 2), r, "seeded: the same answer twice")
        let cli = try CLI.run(["representativeness", url.path, "--clusters", "3", "--seed", "2", "--json"])
        XCTAssertEqual(cli.status, 0, cli.stderr)
        let decoded = try JSONDecoder().decode(RepresentativenessReport.self, from: Data(cli.stdout.utf8))
        XCTAssertEqual(decoded.results.map(\.row), r.results.map(\.row))
        let bad = try CLI.run(["representativeness", url.path, "--clusters", "0"])
        XCTAssertNotEqual(bad.status, 0)
        // A seed above Int.max (metrics, probe and mislabels take any UInt64) stopped the process
        // with SIGILL where the report's seed was converted to Int.
        let big = try CLI.run(["representativeness", url.path, "--clusters", "3", "--seed", "18446744073709551615", "--json"])
        XCTAssertEqual(big.status, 0, big.stderr)
        XCTAssertEqual(try JSONDecoder().decode(RepresentativenessReport.self, from: Data(big.stdout.utf8)).seed, .max)
    }

    // MARK: - cluster-center-downweight

    /// Against FiftyOne Brain's `_adjust_rankings` walk (transcribed in Scripts/make_quality_fixtures.py,
    /// scipy's cKDTree, radius 0.5, factor 0.7, / max) on 400 seeded unit rows: the same scores, and
    /// an image downweighted exactly where the walk lowered it.
    func testDownweightMatchesFiftyOnesWalk() throws {
        struct F: Decodable { var rows: Int; var dim: Int; var x: [[Float]]; var initial: [Double]; var expected: [Double] }
        let url = try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/quality/downweight.json")
        let f = try JSONDecoder().decode(F.self, from: Data(contentsOf: url))
        let flat = f.x.flatMap { $0 }
        let order = f.initial.indices.sorted { f.initial[$0] > f.initial[$1] }
        for threads in [1, 2] {
            let down = try flat.withUnsafeBufferPointer { b in
                try Representativeness.downweighted(RowMatrix(base: b.baseAddress!, rows: f.rows, dim: f.dim, stride: f.dim), order: order, threads: threads)
            }
            var s = f.initial
            for i in s.indices where down[i] { s[i] *= Representativeness.downweightFactor }
            let top = s.max() ?? .nan
            s = s.map { $0 / top }
            let err = zip(s, f.expected).map { abs($0 - $1) }.max() ?? .nan
            XCTAssertLessThanOrEqual(err, 1e-12, "threads \(threads): max |Δ| against the walk")
            let lowered = f.initial.indices.map { f.expected[$0] < f.initial[$0] / (f.initial.max() ?? 1) - 1e-9 }
            XCTAssertEqual(down, lowered, "threads \(threads)")
            XCTAssertGreaterThan(down.filter { $0 }.count, 50)
            XCTAssertLessThan(down.filter { $0 }.count, 350)
        }
    }

    /// Pairs within float32 rounding of the radius are decided by their Double distance: rows on a
    /// circle at angles around the chord of 0.5 (2·asin(0.25)), ±1e-6 rad, against a Double brute force.
    func testDownweightDecidesTheRadiusInDouble() throws {
        let theta = 2 * asin(0.25)
        var g = SplitMix64(seed: 4)
        var x: [Float] = [1, 0, 0]
        for _ in 0..<300 {
            let a = theta + (Double(g.next() >> 11) / Double(1 << 53) - 0.5) * 2e-6
            let z = 1e-3 * (Double(g.next() >> 11) / Double(1 << 53))
            var v = [cos(a), sin(a), z]
            let nv = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            v = v.map { $0 / nv }
            x += v.map(Float.init)
        }
        let n = x.count / 3
        // Row 0 first, then the rest in row order: each of the others is downweighted when it lies
        // within 0.5 of row 0 or of an earlier one among them.
        let order = Array(0..<n)
        let down = try x.withUnsafeBufferPointer { b in
            try Representativeness.downweighted(RowMatrix(base: b.baseAddress!, rows: n, dim: 3, stride: 3), order: order)
        }
        var expected = [Bool](repeating: false, count: n)
        for j in 0..<n {
            for i in 0..<j {
                let d2 = (0..<3).reduce(0.0) { $0 + pow(Double(x[i * 3 + $1]) - Double(x[j * 3 + $1]), 2) }
                if d2 <= 0.25 { expected[j] = true; break }
            }
        }
        XCTAssertEqual(down, expected)
        let onRow0 = (1..<n).filter { j in (0..<3).reduce(0.0) { $0 + pow(Double(x[$1]) - Double(x[j * 3 + $1]), 2) } <= 0.25 }
        XCTAssertGreaterThan(onRow0.count, 20, "rows inside the radius of row 0")
        XCTAssertLessThan(onRow0.count, n - 21, "rows outside it")
    }

    func testDownweightFromTheIndexAndTheCLI() throws {
        let dir = try temporaryDirectory(self)
        // Blobs of near-copies: every blob keeps one image at full weight, the rest are downweighted.
        let (x, planted) = planted(blobs: 3, per: 20, dim: 12, spread: 0.02, seed: 9)
        let url = try makeImportedIndex(in: dir, vectors: x, rows: 60, dim: 12, classes: planted.map { ["a", "b", "c"][$0] })
        let plain = try Index.open(url).representativeness(clusters: 3, seed: 2)
        let r = try Index.open(url).representativeness(clusters: 3, seed: 2, method: .clusterCenterDownweight)
        XCTAssertEqual(r.method, "cluster-center-downweight")
        XCTAssertEqual(plain.method, "cluster-center")
        XCTAssertFalse(plain.results.contains { $0.downweighted })
        XCTAssertEqual(r.results.filter { !$0.downweighted }.count, 3, "one per blob")
        XCTAssertEqual(Set(r.results.filter { !$0.downweighted }.map { planted[$0.row] }), [0, 1, 2])
        XCTAssertEqual(r.results.first?.score ?? .nan, 1, accuracy: 1e-15)
        XCTAssertTrue(zip(r.results, r.results.dropFirst()).allSatisfy { $0.score >= $1.score }, "most representative first")
        let before = Dictionary(uniqueKeysWithValues: plain.results.map { ($0.row, $0.score) })
        let top = plain.results.first?.score ?? .nan
        for e in r.results {
            let want = (before[e.row] ?? .nan) * (e.downweighted ? 0.7 : 1) / top
            XCTAssertEqual(e.score, want, accuracy: 1e-12, "row \(e.row)")
        }
        let cli = try CLI.run(["representativeness", url.path, "--clusters", "3", "--seed", "2", "--method", "cluster-center-downweight", "--json"])
        XCTAssertEqual(cli.status, 0, cli.stderr)
        XCTAssertEqual(try JSONDecoder().decode(RepresentativenessReport.self, from: Data(cli.stdout.utf8)), r)
        let table = try CLI.run(["representativeness", url.path, "--clusters", "3", "--method", "cluster-center-downweight"])
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertTrue(table.stdout.contains("57 of 60 images downweighted"), table.stdout)
        let bad = try CLI.run(["representativeness", url.path, "--method", "downweight"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("cluster-center-downweight"), bad.stderr)
    }
}
