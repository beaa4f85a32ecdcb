import Foundation

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
            meta: ["source", "created", "datasetRoot"].compactMap { k in meta[k].map { (k, $0) } })
        var report = IndexReport(name: name, path: url.path, summary: summary)

        let sheetSpace = try options.space ?? defaultSpace()
        _ = try space(sheetSpace)
        let names = try classNames()
        for s in spaces where options.space == nil || s.name == options.space {
            do {
                var o = SilhouetteOptions(sample: options.sample, seed: options.seed)
                if let n = options.sample, n >= rowCount { o.sample = nil }
                let scores = try clusterScores(space: s.name, options: o, progress: progress)
                report.metrics.append(ClusterMetricsReport(scores, space: s.name, classNames: names))
            } catch let e as EmbedScopeError where e.kind == .undefined {
                report.metricNotes.append("space \(s.name): \(e.message)")
            }
        }

        let rows = try sampleQueryRows(count: options.queries, seed: options.seed)
        let resolver = imageResolver(extraRoot: options.imageRoot, maxSide: max(2 * options.thumb, 64))
        let k = max(1, min(options.neighbours, rowCount - 1))
        guard rowCount > 1 else { return report }
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
