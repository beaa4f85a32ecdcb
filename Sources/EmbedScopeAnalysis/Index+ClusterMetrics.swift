import Foundation
import EmbedScopeCore

extension Index {
    /// Silhouette, Davies–Bouldin and Calinski–Harabasz of a space's unit rows, with the
    /// catalog's classes as labels. Euclidean distance on unit rows: d² = 2 − 2·cos.
    ///
    /// With `split`, only the rows of that split (the catalog's `split` column: `train`, `val`,
    /// `test`, …) are scored, as a data set of their own.
    ///
    /// A damaged row anywhere in the space — NaN or ±Inf, or not unit length — is an error naming
    /// the rows (`requireFinite`, one read of the rows by the scan kernel first: ~1–2 ms of a 0.45 s
    /// run at 10,000 × 1,280; a split is scanned whole too, its damaged rows could lie outside it).
    public func clusterScores(space name: String, split: String? = nil, options: SilhouetteOptions = SilhouetteOptions(),
                              progress: ProgressSink = SilentProgress()) throws -> ClusterScores {
        try requireFinite(space: name)
        return try unscannedClusterScores(space: name, split: split, options: options, progress: progress)
    }

    private func unscannedClusterScores(space name: String, split: String?, options: SilhouetteOptions,
                                        progress: ProgressSink) throws -> ClusterScores {
        let v = try vectors(space: name)
        let labels = try catalog.classIds()
        guard labels.count == v.rows else {
            throw EmbedScopeError(.catalog, "the catalog lists \(labels.count) images but space '\(name)' has \(v.rows) rows",
                                  path: url.path, hint: "the index is damaged; rebuild it")
        }
        guard let split else {
            return try ClusterMetrics.all(RowMatrix(v), labels: labels, options: options, progress: progress)
        }
        let rows = try self.rows(inSplit: split)
        return try RowMatrix(v).gathering(rows: rows) { x in
            try ClusterMetrics.all(x, labels: rows.map { labels[$0] }, options: options, progress: progress)
        }
    }

    /// Rows whose catalog split is `split`, in row order; an unknown split names the known ones.
    public func rows(inSplit split: String) throws -> [Int] {
        let images = try catalog.allImages()
        let rows = images.filter { $0.split == split }.map(\.row).sorted()
        guard !rows.isEmpty else {
            let known = Set(images.compactMap(\.split)).sorted()
            throw EmbedScopeError(.notFound, "no rows in split '\(split)'" + (known.isEmpty ? " (this index records no splits)" : " (splits: \(known.joined(separator: ", ")))"),
                                  path: url.path)
        }
        return rows
    }
}

/// The numbers of `ClusterScores` with class names, as printed by `embedscope metrics --json`
/// (per-row silhouettes are left out; they are in `ClusterScores.silhouette`).
public struct ClusterMetricsReport: Sendable, Codable, Equatable {
    public struct Silhouette: Sendable, Codable, Equatable {
        public var mean: Double
        /// True when every row was evaluated.
        public var exact: Bool
        public var sample: Int?
        public var seed: UInt64?
        /// Standard error of `mean` as an estimate of the exact mean (sampling only).
        public var standardError: Double?
    }

    public struct ClassEntry: Sendable, Codable, Equatable {
        public var id: Int
        public var name: String
        public var rows: Int
        public var evaluated: Int
        public var silhouette: Double?
    }

    public var space: String
    /// The split the rows were taken from, or null for every row.
    public var split: String?
    public var rows: Int
    public var dim: Int
    /// The number of classes (`classes` in schema version 1).
    public var classCount: Int
    public var distance: String
    public var silhouette: Silhouette
    public var daviesBouldin: Double
    public var calinskiHarabasz: Double
    public var perClass: [ClassEntry]

    public init(_ s: ClusterScores, space: String, split: String? = nil, classNames: [Int: String]) {
        self.space = space
        self.split = split
        rows = s.rows
        dim = s.dim
        classCount = s.classes
        distance = "euclidean on unit rows (d² = 2 − 2·cos)"
        silhouette = Silhouette(mean: s.silhouette.mean, exact: s.silhouette.isExact, sample: s.silhouette.sample,
                                seed: s.silhouette.seed, standardError: s.silhouette.standardError)
        daviesBouldin = s.daviesBouldin
        calinskiHarabasz = s.calinskiHarabasz
        perClass = s.silhouette.perClass.map {
            ClassEntry(id: $0.classId, name: classNames[$0.classId] ?? "class \($0.classId)", rows: $0.rows,
                       evaluated: $0.evaluated, silhouette: $0.mean)
        }
    }
}
