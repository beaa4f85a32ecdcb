import Foundation
import EmbedScopeCore

/// What `embedscope representativeness --json` prints.
public struct RepresentativenessReport: Sendable, Codable, Equatable {
    public struct Entry: Sendable, Codable, Equatable {
        public var row: Int
        public var path: String
        public var `class`: String
        /// Representativeness in [0, 1]: 1 at its cluster's centre, 0 for the member farthest from it.
        public var score: Double
        /// The k-means cluster the image belongs to.
        public var cluster: Int
    }
    public var space: String
    public var rows: Int
    /// Clusters that hold images (at most the number asked; fewer when the rows have fewer
    /// distinct points).
    public var clusters: Int
    public var seed: Int
    /// Lloyd iterations run and whether the assignments stopped changing before the limit.
    public var iterations: Int
    public var converged: Bool
    public var definition: String
    /// Every row, most representative first (ties: lower row).
    public var results: [Entry]
}

/// Representativeness per image after FiftyOne Brain's `cluster-center` method
/// (`fiftyone/brain/internal/core/representativeness.py`, `_cluster_ranker`): k-means with
/// N = 20 clusters, each image's Euclidean distance d to its cluster's centre, normalised within
/// the cluster by the largest such distance ("local" normalisation). FiftyOne then keeps the
/// normalised *distance* d / max d as the score, so its top images are the ones farthest from their
/// centre, which contradicts its own documentation ("how representative … closer to cluster
/// centers"); we follow the documented meaning and report 1 − d / max d. Rows are the index's unit
/// vectors; k-means here is Lloyd's algorithm from a seeded k-means++ start (one start, at most 300
/// iterations, as scikit-learn's defaults), the assignment step as one GEMM per pass. FiftyOne's
/// `cluster-center-downweight` variant is not implemented.
public enum Representativeness {
    public static let defaultClusters = 20
    public static let maxIterations = 300

    public struct Clustering: Sendable {
        public var labels: [Int]
        /// Cluster centres, row-major [clusters × dim].
        public var centres: [Double]
        public var iterations: Int
        public var converged: Bool
    }

    /// Seeded k-means (k-means++ start, Lloyd iterations until no assignment changes).
    package static func kMeans(_ x: RowMatrix, clusters requested: Int, seed: UInt64) -> Clustering {
        let n = x.rows, d = x.dim
        let k = max(1, min(requested, n))
        var g = SplitMix64(seed: seed)
        func sq(_ i: Int, _ c: [Double], _ j: Int) -> Double {
            var s = 0.0
            let p = x.row(i)
            for t in 0..<d { let v = Double(p[t]) - c[j * d + t]; s += v * v }
            return s
        }
        // k-means++: the first centre uniformly, each next one with probability ∝ squared distance.
        var centres = [Double](repeating: 0, count: k * d)
        var chosen = Int(g.next() % UInt64(max(n, 1)))
        for t in 0..<d { centres[t] = Double(x.row(chosen)[t]) }
        var nearest = (0..<n).map { sq($0, centres, 0) }
        for j in 1..<k {
            let total = nearest.reduce(0, +)
            if total > 0 {
                var r = Double(g.next() >> 11) / Double(1 << 53) * total
                chosen = n - 1
                for i in 0..<n { r -= nearest[i]; if r < 0 { chosen = i; break } }
            } else {
                chosen = Int(g.next() % UInt64(n))
            }
            for t in 0..<d { centres[j * d + t] = Double(x.row(chosen)[t]) }
            for i in 0..<n { nearest[i] = min(nearest[i], sq(i, centres, j)) }
        }
        var labels = [Int](repeating: -1, count: n)
        var scores = [Float](repeating: 0, count: n * k)
        var iterations = 0, converged = false
        while iterations < maxIterations {
            iterations += 1
            // Assignment: argmin ‖x − c‖² = argmax (x·c − ‖c‖²/2), x·c for all rows in one GEMM.
            let cf = centres.map(Float.init)
            var half = [Double](repeating: 0, count: k)
            for j in 0..<k { for t in 0..<d { half[j] += centres[j * d + t] * centres[j * d + t] / 2 } }
            cf.withUnsafeBufferPointer { cp in
                scores.withUnsafeMutableBufferPointer { sp in
                    SGEMM.multiply(m: n, n: k, k: d, a: x.base, lda: x.stride, b: cp.baseAddress!, ldb: d, bTransposed: true,
                                   c: sp.baseAddress!, ldc: k, threads: Scorer.defaultThreads)
                }
            }
            var changed = false
            for i in 0..<n {
                var best = 0, bestValue = -Double.infinity
                for j in 0..<k {
                    let v = Double(scores[i * k + j]) - half[j]
                    if v > bestValue { best = j; bestValue = v }
                }
                if labels[i] != best { labels[i] = best; changed = true }
            }
            if !changed { converged = true; break }
            // Update: each centre the mean of its members; an emptied cluster keeps its centre.
            var sums = [Double](repeating: 0, count: k * d), counts = [Int](repeating: 0, count: k)
            for i in 0..<n {
                let j = labels[i], p = x.row(i)
                counts[j] += 1
                for t in 0..<d { sums[j * d + t] += Double(p[t]) }
            }
            for j in 0..<k where counts[j] > 0 {
                for t in 0..<d { centres[j * d + t] = sums[j * d + t] / Double(counts[j]) }
            }
        }
        return Clustering(labels: labels, centres: centres, iterations: iterations, converged: converged)
    }

    /// 1 − d / max d within each cluster (d: Euclidean distance to the cluster's centre, in Double);
    /// a cluster whose members all sit on its centre scores 1.
    package static func scores(_ x: RowMatrix, clustering c: Clustering) -> [Double] {
        let n = x.rows, d = x.dim
        var dist = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var s = 0.0
            let p = x.row(i), j = c.labels[i]
            for t in 0..<d { let v = Double(p[t]) - c.centres[j * d + t]; s += v * v }
            dist[i] = s.squareRoot()
        }
        var top = [Int: Double]()
        for i in 0..<n { top[c.labels[i]] = max(top[c.labels[i]] ?? 0, dist[i]) }
        return (0..<n).map { i in
            let m = top[c.labels[i]] ?? 0
            return m > 0 ? 1 - dist[i] / m : 1
        }
    }
}

extension Index {
    public func representativeness(space: String? = nil, clusters: Int = Representativeness.defaultClusters,
                                   seed: UInt64 = 0) throws -> RepresentativenessReport {
        guard clusters >= 1 else { throw EmbedScopeError(.invalidArgument, "--clusters must be at least 1, got \(clusters)") }
        let name = try space ?? defaultSpace()
        try requireFinite(space: name)
        let v = try vectors(space: name)
        let images = try catalog.allImages()
        guard images.count == v.rows else {
            throw EmbedScopeError(.catalog, "space '\(name)' has \(v.rows) rows but the catalog lists \(images.count) images", path: url.path)
        }
        let x = RowMatrix(v)
        let c = Representativeness.kMeans(x, clusters: clusters, seed: seed)
        let s = Representativeness.scores(x, clustering: c)
        let names = try classNames()
        let order = s.indices.sorted { s[$0] != s[$1] ? s[$0] > s[$1] : $0 < $1 }
        // The clusters that hold images: fewer than asked when the rows have fewer distinct points
        // (d = 1: every unit row is ±1, 2 clusters of 20 asked).
        let used = Set(c.labels).count, asked = min(clusters, max(1, v.rows))
        return RepresentativenessReport(
            space: name, rows: v.rows, clusters: used, seed: Int(seed), iterations: c.iterations, converged: c.converged,
            definition: "FiftyOne Brain's cluster-center representativeness: k-means (\(used) clusters\(used < asked ? " holding images, of \(asked) asked" : ""), seeded k-means++), score 1 − d/max d within each cluster; d = Euclidean distance of the unit row to its cluster centre",
            results: order.map { .init(row: $0, path: images[$0].path, class: names[images[$0].classId] ?? String(images[$0].classId), score: s[$0], cluster: c.labels[$0]) })
    }
}
