import Foundation
import EmbedScopeCore

/// What `embedscope uniqueness --json` prints.
public struct UniquenessReport: Sendable, Codable, Equatable {
    public struct Entry: Sendable, Codable, Equatable {
        public var row: Int
        public var path: String
        public var `class`: String
        /// Uniqueness in [0, 1]: 1 for the image farthest from its nearest neighbours.
        public var score: Double
    }
    public var space: String
    public var rows: Int
    public var definition: String
    /// Every row, most unique first (ties: lower row).
    public var results: [Entry]
}

/// Uniqueness per image as FiftyOne Brain defines it (`fiftyone/brain/internal/core/uniqueness.py`,
/// `_compute_uniqueness`, voxel51/fiftyone-brain at commit 00ec9c6d): the distances d1 ≤ d2 ≤ d3 to
/// the K = 3 nearest other images, their weighted mean (0.6·d1 + 0.3·d2 + 0.1·d3) / 3, divided by
/// the largest such value in the data set; with 3 rows or fewer every score is 1. FiftyOne's
/// neighbours come from its sklearn similarity backend, whose default metric is Euclidean
/// (`sklearn.py`, `SklearnSimilarityConfig(metric="euclidean")`); here the Euclidean distance is
/// between the index's unit rows, computed in Double; the 16 nearest by `NearestNeighbours.leaveOneOut`
/// (float32 tiles) are re-ranked by it, and a row whose 16th is within float32 rounding of its 3rd
/// is measured against every row, so the 3 nearest are exact however tight its class.
public enum Uniqueness {
    public static let weights = [0.6, 0.3, 0.1]

    /// Candidates per row from the float32 neighbour lists, re-ranked by the exact distance.
    static let candidates = 16
    /// A float32 cosine of unit rows is within ~1e-5 of the exact one (d up to ~10⁴), so d² = 2 − 2·cos
    /// within 2e-5: a row whose 16th candidate is that close to its 3rd may have a nearer row
    /// outside the list, and is measured against every row instead.
    static let squaredDistanceSlack = 4e-5

    package static func scores(_ x: RowMatrix, progress: ProgressSink = SilentProgress()) throws -> [Double] {
        let n = x.rows, k = weights.count
        guard n > k else { return [Double](repeating: 1, count: n) }
        let c = min(n - 1, candidates)
        let nn = try NearestNeighbours.leaveOneOut(x, k: c, progress: progress)
        // d² = Σ(a − b)² in Double: from 2 − 2·dot of the float32 unit rows (norms 1 ± 3e-8) the
        // distances of near-copies were rounding noise (1e-4 for rows 1e-6 apart), and so were the
        // scores of a tight class.
        func squaredDistance(_ i: Int, _ j: Int) -> Double {
            let a = x.row(i), b = x.row(j)
            var s = 0.0
            for t in 0..<x.dim { let e = Double(a[t]) - Double(b[t]); s += e * e }
            return s
        }
        var raw = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var near = nn.neighbours(of: i).map { (d2: squaredDistance(i, Int($0)), row: Int($0)) }
            near.sort { $0.d2 != $1.d2 ? $0.d2 < $1.d2 : $0.row < $1.row }
            if c < n - 1, near[c - 1].d2 - near[k - 1].d2 <= squaredDistanceSlack {
                near = (0..<n).filter { $0 != i }.map { (d2: squaredDistance(i, $0), row: $0) }
                near.sort { $0.d2 != $1.d2 ? $0.d2 < $1.d2 : $0.row < $1.row }
            }
            var s = 0.0
            for j in 0..<k { s += weights[j] * near[j].d2.squareRoot() }
            raw[i] = s / Double(k)
        }
        let top = raw.max() ?? 0
        guard top > 0 else { return [Double](repeating: 0, count: n) }  // every image has 3 exact copies
        return raw.map { $0 / top }
    }
}

extension Index {
    public func uniqueness(space: String? = nil, progress: ProgressSink = SilentProgress()) throws -> UniquenessReport {
        let name = try space ?? defaultSpace()
        let v = try vectors(space: name)
        let images = try catalog.allImages()
        guard images.count == v.rows else {
            throw EmbedScopeError(.catalog, "space '\(name)' has \(v.rows) rows but the catalog lists \(images.count) images", path: url.path)
        }
        try requireFinite(space: name)
        let s = try Uniqueness.scores(RowMatrix(v), progress: progress)
        let names = try classNames()
        let order = s.indices.sorted { s[$0] != s[$1] ? s[$0] > s[$1] : $0 < $1 }
        return UniquenessReport(space: name, rows: v.rows,
                                definition: "FiftyOne Brain's uniqueness: (0.6·d1 + 0.3·d2 + 0.1·d3)/3 over the 3 nearest other images, divided by its maximum; d = Euclidean distance of the unit rows, in Double",
                                results: order.map { .init(row: $0, path: images[$0].path, class: names[images[$0].classId] ?? String(images[$0].classId), score: s[$0]) })
    }
}
