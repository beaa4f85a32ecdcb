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
}
