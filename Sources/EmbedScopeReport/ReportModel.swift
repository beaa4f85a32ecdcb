import Foundation
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeAnalysis

/// Everything the HTML report shows, as plain values. `Index.reportSection` fills every section
/// (summary, cluster metrics, projections, classification, versus, probe, image sheets); a
/// section that is undefined for an index (one class, no prototype set named like the classes,
/// no probe yet) is shown with a note instead.
public struct ReportDocument: Sendable {
    public var title: String
    public var indexes: [IndexReport]

    public init(title: String = "EmbedScope report", indexes: [IndexReport]) {
        self.title = title; self.indexes = indexes
    }

    /// The index and space of each comparison row that has no cluster metrics, with the reason,
    /// in index order (the table shows them with dashes).
    public var comparisonGaps: [(index: String, model: String, space: String, rows: Int, classes: Int, reason: String)] {
        indexes.flatMap { ix in
            ix.unmeasured.map { u in
                (ix.name, ix.summary.spaces.first(where: { $0.name == u.space })?.model ?? "", u.space, ix.split?.rows ?? ix.summary.rows,
                 ix.summary.classes.filter { $0.rows > 0 }.count, u.reason)
            }
        }
    }

    /// One row per index and space, for the comparison table (shown with two or more indexes).
    public var comparison: [ReportComparisonRow] {
        indexes.flatMap { ix in
            ix.metrics.map { m in
                ReportComparisonRow(index: ix.name, model: ix.summary.spaces.first(where: { $0.name == m.space })?.model ?? "",
                              space: m.space, rows: m.rows, classes: m.classCount, silhouette: m.silhouette.mean,
                              silhouetteExact: m.silhouette.exact, silhouetteStandardError: m.silhouette.standardError,
                              daviesBouldin: m.daviesBouldin,
                              calinskiHarabasz: m.calinskiHarabasz,
                              precisionAtK: ix.versus.flatMap { v in v.spaces.firstIndex(of: m.space).map { v.overall[$0] } },
                              probeAccuracy: ix.probe.flatMap { $0.space == m.space ? $0.accuracy : nil },
                              knnAccuracy: ix.versus.flatMap { v in v.spaces.firstIndex(of: m.space).flatMap { j in v.knnAccuracy.flatMap { j < $0.count ? $0[j] : nil } } },
                              checkpoint: ix.checkpoint(space: m.space))
            }
        }
    }
}

public struct ReportComparisonRow: Sendable, Equatable {
    public var index: String
    public var model: String
    public var space: String
    public var rows: Int
    public var classes: Int
    public var silhouette: Double
    public var silhouetteExact: Bool
    /// The estimate's standard error when the silhouette was sampled.
    public var silhouetteStandardError: Double? = nil
    public var daviesBouldin: Double
    public var calinskiHarabasz: Double
    /// precision@k (k = 10 in the report) and the probe's validation accuracy, when measured.
    public var precisionAtK: Double? = nil
    public var probeAccuracy: Double? = nil
    /// Leave-one-out k-NN accuracy (the same `versus` run as precision@k), when measured.
    public var knnAccuracy: Double? = nil
    /// The weights file and its epoch / step, for the space the index's model made.
    public var checkpoint: ReportCheckpoint? = nil
}

/// What is known about one index.
public struct IndexReport: Sendable {
    public var name: String
    public var path: String
    public var summary: IndexSummary
    /// Cluster metrics per space (`Index.clusterScores` → `ClusterMetricsReport`).
    public var metrics: [ClusterMetricsReport] = []
    /// Spaces whose metrics could not be computed, with the reason (e.g. a single class).
    public var metricNotes: [String] = []
    /// The spaces without cluster metrics and why (the comparison table lists them with dashes:
    /// an index without any was left out of it without a word).
    public var unmeasured: [(space: String, reason: String)] = []
    /// Why there is no precision@k section (`versus` is not run on it), when there is none.
    public var versusNote: String?
    /// PCA / LDA scatter plots (from `embedscope project`), with optional variance ratios.
    public var projections: [ProjectionSection] = []
    /// Confusion matrices with per-class P/R/F1 (prototype heads, probe, k-NN).
    public var classifications: [ClassificationSection] = []
    /// Leave-one-out precision@k per class and space (from `embedscope versus`).
    public var versus: VersusSection?
    /// Linear-probe results (from `embedscope probe`).
    public var probe: ProbeSection?
    /// Duplicates, leakage and likely mislabels (nil: not computed, see `qualityNote`).
    public var quality: QualitySection?
    public var qualityNote: String?
    /// Query image with nearest and farthest neighbours.
    public var contactSheets: [ImageSheet] = []
    /// Query image with nearest neighbours in the embedding space and in the pixel space.
    public var spaceSheets: [ImageSheet] = []
    /// Why there are no embedding-vs-pixel sheets, when there are none.
    public var spaceSheetNote: String?
    /// The split the metrics, precision@k and evaluations were computed on (`report --split`), nil: every row.
    public var split: SplitScope?
    public struct SplitScope: Sendable { public var name: String; public var rows: Int }

    public init(name: String, path: String, summary: IndexSummary) {
        self.name = name; self.path = path; self.summary = summary
    }
}

public struct IndexSummary: Sendable {
    public struct Space: Sendable { public var name: String; public var model: String; public var dim: Int; public var preprocessing: String
        public init(name: String, model: String, dim: Int, preprocessing: String) { self.name = name; self.model = model; self.dim = dim; self.preprocessing = preprocessing } }
    public struct PrototypeSet: Sendable { public var name: String; public var space: String; public var count: Int; public var source: String
        public init(name: String, space: String, count: Int, source: String) { self.name = name; self.space = space; self.count = count; self.source = source } }

    public var rows: Int
    /// (class name, rows), in class-id order.
    public var classes: [(name: String, rows: Int)]
    public var spaces: [Space]
    public var prototypeSets: [PrototypeSet]
    /// Catalog metadata shown as is (source, created, dataset root).
    public var meta: [(key: String, value: String)]

    public init(rows: Int, classes: [(name: String, rows: Int)], spaces: [Space], prototypeSets: [PrototypeSet], meta: [(key: String, value: String)]) {
        self.rows = rows; self.classes = classes; self.spaces = spaces; self.prototypeSets = prototypeSets; self.meta = meta
    }
}

/// A projection plot (PCA, LDA) and, for PCA, the explained variance ratio per component.
public struct ProjectionSection: Sendable {
    public var plot: ScatterPlot
    public var varianceRatios: [Double]?
    public var note: String?
    /// Axis names in the caption: "PC" (PCA) or "LD" (LDA).
    public var axisPrefix: String
    public init(plot: ScatterPlot, varianceRatios: [Double]? = nil, note: String? = nil, axisPrefix: String = "PC") {
        self.plot = plot; self.varianceRatios = varianceRatios; self.note = note; self.axisPrefix = axisPrefix
    }
}

/// A confusion matrix (counts[true][predicted]) and what follows from it.
public struct ClassificationSection: Sendable {
    public var title: String
    public var classNames: [String]
    public var counts: [[Int]]
    /// Hardest examples (lowest margin), shown as a table when given.
    public var lowMargins: [MarginEntry]
    public var note: String?

    public struct MarginEntry: Sendable {
        public var row: Int; public var path: String; public var trueClass: String; public var predicted: String; public var margin: Double
        public init(row: Int, path: String, trueClass: String, predicted: String, margin: Double) {
            self.row = row; self.path = path; self.trueClass = trueClass; self.predicted = predicted; self.margin = margin
        }
    }

    public init(title: String, classNames: [String], counts: [[Int]], lowMargins: [MarginEntry] = [], note: String? = nil) {
        self.title = title; self.classNames = classNames; self.counts = counts; self.lowMargins = lowMargins; self.note = note
    }

    public struct ClassScores: Sendable, Equatable {
        public var name: String; public var support: Int; public var precision: Double; public var recall: Double; public var f1: Double
    }

    /// Per-class precision, recall, F1 and support with scikit-learn's zero_division=0 convention.
    public var perClass: [ClassScores] {
        let n = classNames.count
        return (0..<n).map { i in
            let tp = i < counts.count && i < counts[i].count ? counts[i][i] : 0
            let support = i < counts.count ? counts[i].reduce(0, +) : 0
            let predicted = counts.reduce(0) { $0 + (i < $1.count ? $1[i] : 0) }
            let p = predicted > 0 ? Double(tp) / Double(predicted) : 0
            let r = support > 0 ? Double(tp) / Double(support) : 0
            let f = p + r > 0 ? 2 * p * r / (p + r) : 0
            return ClassScores(name: classNames[i], support: support, precision: p, recall: r, f1: f)
        }
    }

    /// Fraction of the matrix on the diagonal.
    public var accuracy: Double {
        let total = counts.reduce(0) { $0 + $1.reduce(0, +) }
        let diag = counts.indices.reduce(0) { $0 + ($1 < counts[$1].count ? counts[$1][$1] : 0) }
        return total > 0 ? Double(diag) / Double(total) : 0
    }
}

/// Neighbour quality per space: precision@k per class and overall, and the agreement of the
/// embedding and pixel neighbour lists.
public struct VersusSection: Sendable {
    public var k: Int
    public var spaces: [String]
    /// (class, precision@k per space in `spaces` order).
    public var perClass: [(name: String, precision: [Double])]
    public var overall: [Double]
    /// k-NN classification accuracy per space, when computed.
    public var knnAccuracy: [Double]?
    /// Mean Jaccard@k of the embedding and pixel neighbour lists, when computed.
    public var meanJaccard: Double?
    public init(k: Int, spaces: [String], perClass: [(name: String, precision: [Double])], overall: [Double],
                knnAccuracy: [Double]? = nil, meanJaccard: Double? = nil) {
        self.k = k; self.spaces = spaces; self.perClass = perClass; self.overall = overall
        self.knnAccuracy = knnAccuracy; self.meanJaccard = meanJaccard
    }
}

/// A linear probe's result.
public struct ProbeSection: Sendable {
    public var space: String
    public var accuracy: Double
    public var trainRows: Int
    public var validationRows: Int
    public var seed: UInt64?
    /// The validation confusion matrix, when given.
    public var confusion: ClassificationSection?
    public init(space: String, accuracy: Double, trainRows: Int, validationRows: Int, seed: UInt64? = nil, confusion: ClassificationSection? = nil) {
        self.space = space; self.accuracy = accuracy; self.trainRows = trainRows; self.validationRows = validationRows
        self.seed = seed; self.confusion = confusion
    }
}
