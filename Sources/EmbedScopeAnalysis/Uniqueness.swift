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
/// between the index's unit rows, d = √(2 − 2·cos), neighbours by `NearestNeighbours.leaveOneOut`.
public enum Uniqueness {
    public static let weights = [0.6, 0.3, 0.1]

    package static func scores(_ x: RowMatrix, progress: ProgressSink = SilentProgress()) throws -> [Double] {
        let n = x.rows, k = weights.count
        guard n > k else { return [Double](repeating: 1, count: n) }
        let nn = try NearestNeighbours.leaveOneOut(x, k: k, progress: progress)
        var raw = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var s = 0.0
            for (j, nb) in nn.neighbours(of: i).enumerated() {
                var dot = 0.0
                let a = x.row(i), b = x.row(Int(nb))
                for t in 0..<x.dim { dot += Double(a[t]) * Double(b[t]) }
                s += weights[j] * max(0, 2 - 2 * dot).squareRoot()
            }
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
        let s = try Uniqueness.scores(RowMatrix(v), progress: progress)
        let names = try classNames()
        let order = s.indices.sorted { s[$0] != s[$1] ? s[$0] > s[$1] : $0 < $1 }
        return UniquenessReport(space: name, rows: v.rows,
                                definition: "FiftyOne Brain's uniqueness: (0.6·d1 + 0.3·d2 + 0.1·d3)/3 over the 3 nearest other images, divided by its maximum; d = Euclidean distance of the unit rows",
                                results: order.map { .init(row: $0, path: images[$0].path, class: names[images[$0].classId] ?? String(images[$0].classId), score: s[$0]) })
    }
}
