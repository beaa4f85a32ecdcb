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
        /// `cluster-center-downweight`: whether a more representative image lies within the ball
        /// radius, so this one's score was multiplied by the factor (always false for `cluster-center`).
        public var downweighted: Bool
    }
    public var space: String
    /// FiftyOne Brain's method name: `cluster-center` or `cluster-center-downweight`.
    public var method: String
    public var rows: Int
    /// Clusters that hold images (at most the number asked; fewer when the rows have fewer
    /// distinct points).
    public var clusters: Int
    public var seed: UInt64
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
/// vectors; k-means here is Lloyd's algorithm from a seeded greedy k-means++ start (one start, at most
/// 300 iterations, as scikit-learn's defaults, which FiftyOne uses), the assignment step as one GEMM per pass.
///
/// `cluster-center-downweight` (FiftyOne's `_adjust_rankings`, ball radius 0.5, factor 0.7) then
/// walks the images from the highest score down; each one's not yet visited neighbours within
/// Euclidean distance 0.5 are marked visited and their scores multiplied by 0.7, and the scores are
/// divided by their largest. An image is therefore downweighted exactly when an image ranked before
/// it lies within the ball (it is visited either as such a neighbour, or first as a query, after
/// which nothing downweights it): that is how it is computed here, from one all-pairs pass
/// (`downweighted(_:order:)`), not a walk with a k-d tree.
public enum Representativeness {
    public static let defaultClusters = 20
    public static let maxIterations = 300

    public enum Method: String, Sendable, CaseIterable {
        case clusterCenter = "cluster-center"
        case clusterCenterDownweight = "cluster-center-downweight"
    }
    /// FiftyOne's `_adjust_rankings` constants.
    public static let downweightRadius = 0.5
    public static let downweightFactor = 0.7

    public struct Clustering: Sendable {
        public var labels: [Int]
        /// Cluster centres, row-major [clusters × dim].
        public var centres: [Double]
        public var iterations: Int
        public var converged: Bool
    }

    /// Seeded k-means as scikit-learn's `KMeans` (FiftyOne's): greedy k-means++ start — each next
    /// centre the best of 2 + ⌊ln k⌋ candidates drawn ∝ squared distance, the one leaving the least
    /// total squared distance — then Lloyd iterations until no assignment changes (at most 300).
    ///
    /// Distances are taken about the rows' mean μ, as scikit-learn centres the data: a row's
    /// squared distance to a centre c is ‖x − μ‖² + ‖c − μ‖² − 2 (x·(c − μ) − μ·(c − μ)), with
    /// x·(c − μ) from one float32 GEMM per pass and the rest in Double. Its rounding is then
    /// relative to ‖c − μ‖, the clusters' own scale, not to ‖x‖ = 1: in a class whose rows are
    /// 1e-3 apart, uncentred float32 scores (x·c − ‖c‖²/2) assigned 125 of 300 rows to a farther
    /// centre and never converged.
    package static func kMeans(_ x: RowMatrix, clusters requested: Int, seed: UInt64) -> Clustering {
        let n = x.rows, d = x.dim
        let k = max(1, min(requested, n))
        var g = SplitMix64(seed: seed)
        var mu = [Double](repeating: 0, count: d)
        for i in 0..<n { let p = x.row(i); for t in 0..<d { mu[t] += Double(p[t]) } }
        for t in 0..<d { mu[t] /= Double(max(n, 1)) }
        // ‖x_i − μ‖², in Double.
        let rowSq: [Double] = (0..<n).map { i in
            let p = x.row(i)
            var s = 0.0
            for t in 0..<d { let v = Double(p[t]) - mu[t]; s += v * v }
            return s
        }
        /// Squared distances of every row to each of the centres `c` (row-major, count × d):
        /// [n × count], clamped at 0.
        func distances(to c: [Double], count: Int) -> [Double] {
            var shifted = [Float](repeating: 0, count: count * d)
            var bias = [Double](repeating: 0, count: count)   // ‖c − μ‖² + 2 μ·(c − μ)
            for j in 0..<count {
                var sq = 0.0, dot = 0.0
                for t in 0..<d {
                    let v = c[j * d + t] - mu[t]
                    shifted[j * d + t] = Float(v); sq += v * v; dot += mu[t] * v
                }
                bias[j] = sq + 2 * dot
            }
            var dots = [Float](repeating: 0, count: n * count)
            shifted.withUnsafeBufferPointer { cp in
                dots.withUnsafeMutableBufferPointer { sp in
                    SGEMM.multiply(m: n, n: count, k: d, a: x.base, lda: x.stride, b: cp.baseAddress!, ldb: d, bTransposed: true,
                                   c: sp.baseAddress!, ldc: count, threads: Scorer.defaultThreads)
                }
            }
            var out = [Double](repeating: 0, count: n * count)
            for i in 0..<n { for j in 0..<count { out[i * count + j] = max(0, rowSq[i] + bias[j] - 2 * Double(dots[i * count + j])) } }
            return out
        }
        func row(_ i: Int) -> [Double] { let p = x.row(i); return (0..<d).map { Double(p[$0]) } }

        // Greedy k-means++ (scikit-learn's `_kmeans_plusplus`).
        let trials = 2 + Int(log(Double(k)))
        var centres = [Double](repeating: 0, count: k * d)
        let first = Int(g.next() % UInt64(max(n, 1)))
        centres.replaceSubrange(0..<d, with: row(first))
        var nearest = distances(to: Array(centres[0..<d]), count: 1)
        for j in 1..<k {
            let total = nearest.reduce(0, +)
            var candidates: [Int] = []
            for _ in 0..<trials {
                if total > 0 {
                    var r = Double(g.next() >> 11) / Double(1 << 53) * total
                    var chosen = n - 1
                    for i in 0..<n { r -= nearest[i]; if r < 0 { chosen = i; break } }
                    candidates.append(chosen)
                } else {
                    candidates.append(Int(g.next() % UInt64(n)))
                }
            }
            let dist = distances(to: candidates.flatMap(row), count: candidates.count)
            var best = 0, bestPotential = Double.infinity
            for (c, _) in candidates.enumerated() {
                var potential = 0.0
                for i in 0..<n { potential += min(nearest[i], dist[i * candidates.count + c]) }
                if potential < bestPotential { best = c; bestPotential = potential }
            }
            centres.replaceSubrange(j * d..<(j + 1) * d, with: row(candidates[best]))
            for i in 0..<n { nearest[i] = min(nearest[i], dist[i * candidates.count + best]) }
        }
        var labels = [Int](repeating: -1, count: n)
        var iterations = 0, converged = false
        while iterations < maxIterations {
            iterations += 1
            let dist = distances(to: centres, count: k)
            var changed = false
            for i in 0..<n {
                var best = 0, bestValue = Double.infinity
                for j in 0..<k where dist[i * k + j] < bestValue { best = j; bestValue = dist[i * k + j] }
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

    /// For each row, whether a row ranked before it (`order`: most representative first) lies within
    /// Euclidean distance `radius` of it. The pairs come from the all-pairs float32 tiles (cosine
    /// c ↔ distance √(2 − 2c) for unit rows); a pair whose float32 cosine is within `margin` of the
    /// radius's cosine is decided by its distance in Double (differences of float32 values and their
    /// squares exact, the sum compensated), so the answer is that of the distances of the stored rows.
    package static func downweighted(_ x: RowMatrix, order: [Int], radius: Double = downweightRadius,
                                     threads: Int = Scorer.defaultThreads, progress: ProgressSink = SilentProgress()) throws -> [Bool] {
        let n = x.rows, d = x.dim
        var position = [Int](repeating: 0, count: n)
        for (p, r) in order.enumerated() { position[r] = p }
        let c = 1 - radius * radius / 2, margin = 1e-4
        let hi = Float(c + margin), lo = Float(c - margin), r2 = radius * radius
        let states = try position.withUnsafeBufferPointer { pos in
            try NearestNeighbours.forEachTile(x, threads: threads, progress: progress, label: "representativeness (downweight)",
                                              stateBytes: Double(n), makeState: { [Bool](repeating: false, count: n) }) { st, tile in
                let t = tile.scores
                for i in 0..<tile.rowCount {
                    let a = tile.rowStart + i, s = t + i * tile.columnCount
                    let j0 = tile.isDiagonal ? i + 1 : 0
                    guard j0 < tile.columnCount else { continue }
                    for j in j0..<tile.columnCount where s[j] >= lo {
                        let b = tile.columnStart + j
                        if s[j] < hi {
                            let ra = x.row(a), rb = x.row(b)
                            var sum = Duplicates.CompensatedSum()
                            for k in 0..<d { let v = Double(ra[k]) - Double(rb[k]); sum.add(v * v) }
                            guard sum.value <= r2 else { continue }
                        }
                        st[pos[a] > pos[b] ? a : b] = true
                    }
                }
            }
        }
        var out = states[0]
        for st in states.dropFirst() { for i in 0..<n where st[i] { out[i] = true } }
        return out
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
                                   seed: UInt64 = 0, method: Representativeness.Method = .clusterCenter,
                                   progress: ProgressSink = SilentProgress()) throws -> RepresentativenessReport {
        guard clusters >= 1 else { throw EmbedScopeError(.invalidArgument, "--clusters must be at least 1, got \(clusters)") }
        let name = try space ?? defaultSpace()
        try requireFinite(space: name)
        let v = try vectors(space: name)
        let images = try catalog.allImages()
        guard images.count == v.rows else {
            throw EmbedScopeError(.catalog, "space '\(name)' has \(v.rows) rows but the catalog lists \(images.count) images", path: url.path)
        }
        let x = RowMatrix(v)
        // Under `ulimit -v`: each pass's distances (Double) beside their float32 inner products,
        // the rows' distances to the mean, labels, scores and the order (an error, not an abort).
        let k = Double(min(clusters, v.rows)), n = Double(v.rows)
        try AddressSpace.require(estimate: n * k * 12 + n * 48 + k * Double(v.dim) * 24, for: "k-means of \(v.rows) rows into \(Int(k)) clusters")
        let c = Representativeness.kMeans(x, clusters: clusters, seed: seed)
        var s = Representativeness.scores(x, clustering: c)
        var order = s.indices.sorted { s[$0] != s[$1] ? s[$0] > s[$1] : $0 < $1 }
        var down = [Bool](repeating: false, count: v.rows)
        if method == .clusterCenterDownweight {
            down = try Representativeness.downweighted(x, order: order, progress: progress)
            for i in s.indices where down[i] { s[i] *= Representativeness.downweightFactor }
            let top = s.max() ?? 0
            if top > 0 { for i in s.indices { s[i] /= top } }
            order = s.indices.sorted { s[$0] != s[$1] ? s[$0] > s[$1] : $0 < $1 }
        }
        let names = try classNames()
        // The clusters that hold images: fewer than asked when the rows have fewer distinct points
        // (d = 1: every unit row is ±1, 2 clusters of 20 asked).
        let used = Set(c.labels).count, asked = min(clusters, max(1, v.rows))
        let base = "k-means (\(used) cluster\(used == 1 ? "" : "s")\(used < asked ? " holding images, of \(asked) asked" : ""), seeded greedy k-means++ as scikit-learn's KMeans), score 1 − d/max d within each cluster; d = Euclidean distance of the unit row to its cluster centre"
        let definition = method == .clusterCenter
            ? "FiftyOne Brain's cluster-center representativeness: " + base
            : "FiftyOne Brain's cluster-center-downweight representativeness: " + base
                + "; then an image with a higher-scoring image within Euclidean distance \(Representativeness.downweightRadius) has its score multiplied by \(Representativeness.downweightFactor), and every score is divided by the largest"
        return RepresentativenessReport(
            space: name, method: method.rawValue, rows: v.rows, clusters: used, seed: seed, iterations: c.iterations, converged: c.converged,
            definition: definition,
            results: order.map { .init(row: $0, path: images[$0].path, class: names[images[$0].classId] ?? String(images[$0].classId), score: s[$0],
                                       cluster: c.labels[$0], downweighted: down[$0]) })
    }
}
