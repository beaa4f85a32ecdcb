import Foundation
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeAnalysis

/// What `Index.reportSection` computes for the report.
public struct ReportOptions: Sendable {
    /// Space of the contact sheets (default: `Index.defaultSpace()`); cluster metrics cover every space.
    public var space: String?
    /// Number of seeded sample queries (contact sheets and embedding-vs-pixel sheets each).
    public var queries = 4
    public var seed: UInt64 = 0
    /// Neighbours per sheet row.
    public var neighbours = 8
    /// Estimate silhouettes from this many seeded rows instead of all rows.
    public var sample: Int?
    /// Tried first when looking for the images of a catalog path.
    public var imageRoot: URL?
    public var thumb = 96
    /// Also PCA and LDA scatter plots, neighbour quality (versus), prototype-set evaluations
    /// and the probe's accuracy (from metrics.json). Off: metrics and sheets only.
    public var analyses = true
    /// Also the data-quality section (duplicates at `duplicateThreshold`, leakage, likely
    /// mislabels) in the sheet space.
    public var quality = true
    public var duplicateThreshold = 0.98
    /// Cluster metrics, precision@k and the prototype evaluations on this split's rows only (the
    /// catalog's `split`), as `metrics --split` / `versus --split` / `evaluate --split` compute them;
    /// not recorded in metrics.json (which holds whole-index figures). Projections, sheets and the
    /// quality section keep every row. nil: every row.
    public var split: String?
    public init() {}
}

extension Index {
    /// The summary, cluster metrics (every space, or only `options.space`), and the seeded
    /// contact and embedding-vs-pixel sheets of this index. Undefined metrics (one class, …)
    /// become notes, never failures; missing images become grey tiles.
    public func reportSection(name: String, options: ReportOptions = ReportOptions(),
                              progress: ProgressSink = SilentProgress()) throws -> IndexReport {
        let classRecords = try catalog.classes()
        let counts = try catalog.classCounts()
        let meta = try catalog.meta()
        let summary = IndexSummary(
            rows: rowCount,
            classes: classRecords.map { ($0.name, counts[$0.id] ?? 0) },
            spaces: spaces.map { .init(name: $0.name, model: $0.model, dim: $0.dim, preprocessing: $0.preprocessing) },
            prototypeSets: prototypeSets.map { .init(name: $0.name, space: $0.space, count: $0.count, source: $0.source) },
            meta: ["source", "created", "datasetRoot", "model", "weights", MetaKey.checkpointEpoch, MetaKey.checkpointStep,
                   MetaKey.checkpointVersion].compactMap { k in meta[k].map { (k, $0) } })
        var report = IndexReport(name: name, path: url.path, summary: summary)
        if let split = options.split {
            report.split = IndexReport.SplitScope(name: split, rows: try rows(inSplit: split).count)
        }

        let sheetSpace = try options.space ?? defaultSpace()
        _ = try space(sheetSpace)
        let names = try classNames()
        for s in spaces where options.space == nil || s.name == options.space {
            do {
                var o = SilhouetteOptions(sample: options.sample, seed: options.seed)
                if let n = options.sample, n >= rowCount { o.sample = nil }
                if let n = options.sample, let r = report.split?.rows, n >= r { o.sample = nil }
                let scores = try clusterScores(space: s.name, split: options.split, options: o, progress: progress)
                if options.split == nil { _ = try? recordCluster(scores, space: s.name) }
                report.metrics.append(ClusterMetricsReport(scores, space: s.name, split: options.split, classNames: names))
            } catch let e as EmbedScopeError where e.kind == .undefined {
                report.metricNotes.append("space \(s.name): \(e.message)")
                report.unmeasured.append((s.name, e.message))
            }
        }

        if options.analyses {
            try addAnalyses(to: &report, options: options, classNames: names, progress: progress)
        }

        let rows = try sampleQueryRows(count: options.queries, seed: options.seed)
        let resolver = imageResolver(extraRoot: options.imageRoot, maxSide: max(2 * options.thumb, 64))
        let k = max(1, min(options.neighbours, rowCount - 1))
        guard rowCount > 1 else { return report }
        if options.quality {
            do {
                report.quality = try qualitySection(space: sheetSpace, threshold: options.duplicateThreshold, neighbours: k,
                                                    resolver: resolver, thumb: options.thumb, seed: options.seed, progress: progress)
            } catch let e as EmbedScopeError where e.kind == .undefined || e.kind == .invalidArgument {
                report.qualityNote = e.message
            }
        }
        progress.begin("report: queries", total: rows.count)
        for (i, r) in rows.enumerated() {
            report.contactSheets.append(try contactSheet(row: r, space: sheetSpace, k: k, resolver: resolver, thumb: options.thumb))
            progress.update(i + 1)
        }
        progress.end()
        let pixel = spaces.first { $0.name == "pixel" }
        let others = spaces.filter { $0.name != "pixel" }.map(\.name)
        if pixel != nil, !others.isEmpty {
            let embedding = others.contains(sheetSpace) ? sheetSpace : (others.contains("embedding") ? "embedding" : others[0])
            for r in rows {
                report.spaceSheets.append(try spacesSheet(row: r, spaces: [embedding, "pixel"], k: k, resolver: resolver, thumb: options.thumb))
            }
        } else {
            report.spaceSheetNote = pixel == nil
                ? "This index has no pixel space (only \(spaces.map(\.name).joined(separator: ", "))): build the index from the image folder to compare with raw pixels."
                : "This index has only the pixel space: import or extract embeddings to compare them with raw pixels."
        }
        return report
    }
}

extension Index {
    /// Projections, neighbour quality, prototype evaluations and the probe, each section left
    /// out with a note when it is undefined for this index (one class, no matching prototypes).
    func addAnalyses(to report: inout IndexReport, options: ReportOptions, classNames names: [Int: String],
                     progress: ProgressSink) throws {
        let measured = spaces.map(\.name).filter { options.space == nil || $0 == options.space }
        let ordered = names.keys.sorted().compactMap { names[$0] }
        let classCount = Set(try catalog.classIds()).count
        let matchingSets = prototypeSets.filter { set in
            guard let recs = try? catalog.prototypes(inSet: set.name) else { return false }
            return recs.contains { r in ordered.contains(r.name) }
        }
        for space in measured {
            for method in [Projection.Method.pca, .lda] {
                if method == .lda && classCount < 3 {
                    report.metricNotes.append("space \(space): LDA needs 3 classes for a 2-D plot")
                    continue
                }
                do {
                    let p = try projection(space: space, method: method, components: 2,
                                           prototypeSets: matchingSets.filter { $0.space == space }.map(\.name), progress: progress)
                    _ = try? recordProjection(p)  // derived data: a read-only index still gets its report
                    report.projections.append(ProjectionSection(plot: scatter(p, classNames: ordered), varianceRatios: p.explainedVarianceRatio,
                                                                note: [p.reducedBy?.reason, p.shrinkage.flatMap { $0 > 0 ? String(format: "within-class covariance shrunk by %g (singular without)", $0) : nil }].compactMap { $0 }.joined(separator: "; ").nilIfEmpty,
                                                                axisPrefix: method == .pca ? "PC" : "LD"))
                } catch let e as EmbedScopeError where e.kind == .undefined || e.kind == .invalidArgument {
                    report.metricNotes.append("space \(space): \(method.rawValue.uppercased()): \(e.message)")
                }
            }
        }
        let scoredRows = try options.split.map { try rows(inSplit: $0).count } ?? rowCount
        // `versus` refuses these (a note said precision@k "comes from embedscope versus", which
        // refuses them too): the note says why instead.
        if classCount < 2 {
            report.versusNote = "precision@k counts same-class neighbours: it needs two or more classes, and this index has \(classCount)."
        } else if scoredRows <= 10 {
            report.versusNote = "precision@10 needs more than 10 rows (each row's 10 neighbours, itself left out); this index has \(scoredRows)\(options.split.map { " in split \($0)" } ?? "")."
        }
        if scoredRows > 10, classCount >= 2 {
            var o = VersusOptions()
            o.k = 10
            o.spaces = measured
            o.split = options.split
            let v = try versus(options: o, progress: progress)
            if options.split == nil { _ = try? recordVersus(v) }
            let classRows = v.spaces.first?.perClass.map(\.name) ?? []
            report.versus = VersusSection(
                k: v.k, spaces: v.spaces.map(\.space),
                perClass: classRows.enumerated().map { i, name in (name, v.spaces.map { $0.perClass[i].precisionAtK }) },
                overall: v.spaces.map(\.precisionAtK), knnAccuracy: v.spaces.map(\.knnAccuracy), meanJaccard: v.agreement?.meanJaccard)
        }
        for set in matchingSets {
            // Held-out rows only: a probe's training rows (its recorded split) are left out.
            let e: PrototypeEvaluation
            // With a report split: that split's rows (evaluate --split val|test|train).
            let which: EvaluationSplit
            if let s = options.split {
                guard let w = EvaluationSplit(rawValue: s.lowercased() == "validation" ? "val" : s.lowercased()), w != .heldout, w != .all else {
                    report.metricNotes.append("prototype set '\(set.name)': not evaluated on split '\(s)' (evaluate --split takes val, test or train)")
                    continue
                }
                which = w
            } else { which = .heldout }
            do { e = try evaluate(set: set.name, lowest: 12, split: which) } catch let err as EmbedScopeError where err.kind == .undefined || err.kind == .notFound {
                report.metricNotes.append("prototype set '\(set.name)': \(err.message)")
                continue
            }
            let c = e.classification
            report.classifications.append(ClassificationSection(
                title: "prototype set '\(set.name)' (\(set.source)) — argmax of logits, \(e.evaluatedRows) \(e.split) rows",
                classNames: c.labels, counts: c.confusion,
                lowMargins: e.lowestMargins.map { ClassificationSection.MarginEntry(row: $0.row, path: $0.path, trueClass: $0.class, predicted: $0.predicted, margin: $0.margin) },
                note: "Rows: " + e.splitNote + "."))
        }
        if let record = try? readMetrics() {
            for space in measured {
                if let p = record.spaces[space]?.probe {
                    report.probe = ProbeSection(space: space, accuracy: p.validationAccuracy, trainRows: p.trainRows,
                                                validationRows: p.validationRows, seed: p.seed)
                }
            }
        }
    }

    /// Prototype arrows drawn at most in one projection plot.
    static let maxArrows = 12

    /// A scatter plot of the first two axes, prototype directions as arrows scaled to the data.
    func scatter(_ p: ProjectionReport, classNames: [String]) -> ScatterPlot {
        let index = Dictionary(uniqueKeysWithValues: classNames.enumerated().map { ($1, $0) })
        let xs = p.points.map { $0.coordinates[0] }, ys = p.points.map { $0.coordinates[1] }
        let radius = zip(xs, ys).map { ($0 * $0 + $1 * $1).squareRoot() }.max() ?? 1
        let longest = p.prototypes.map { ($0.coordinates[0] * $0.coordinates[0] + $0.coordinates[1] * $0.coordinates[1]).squareRoot() }.max() ?? 1
        let scale = longest > 0 ? 0.8 * radius / longest : 1
        // At most `maxArrows` (1,000 ImageNet prototypes drew an unreadable star of labels): the
        // longest ones, the directions that lie most in this plane.
        let drawn = p.prototypes.enumerated().map { (i: $0.offset, len: ($0.element.coordinates[0] * $0.element.coordinates[0] + $0.element.coordinates[1] * $0.element.coordinates[1]).squareRoot()) }
            .sorted { $0.len != $1.len ? $0.len > $1.len : $0.i < $1.i }.prefix(Self.maxArrows).map(\.i).sorted()
        let arrows = drawn.map { p.prototypes[$0] }.map {
            ScatterPlot.Arrow(x: scale * $0.coordinates[0], y: scale * $0.coordinates[1], label: $0.name, classIndex: index[$0.name])
        }
        let what = p.method == .pca ? "PCA" : "LDA"
        let arrowNote = arrows.isEmpty ? "" : arrows.count == p.prototypes.count ? "; arrows: prototype directions"
            : "; arrows: the \(arrows.count) longest of \(p.prototypes.count) prototype directions"
        return ScatterPlot(title: "\(what) of the \(p.space) space (\(p.rows) images)" + arrowNote,
                           xLabel: p.axisLabel(0), yLabel: p.axisLabel(1), classNames: classNames, xs: xs, ys: ys,
                           classes: p.points.map { index[$0.class] ?? 0 }, arrows: arrows)
    }
}

extension String {
    /// nil for the empty string (optional notes).
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
