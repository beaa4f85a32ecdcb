import Foundation
import EmbedScopeCore

extension Index {
    /// `rows` (this index's comparison rows) with the weights file and the checkpoint's epoch and
    /// step filled in from the catalog's `meta` for the spaces its model made: metrics.json may be
    /// older than them, the catalog is what the vectors were built with.
    /// A space the index's model did not make (an imported one, `import --model NAME`) keeps the
    /// model its space record names (it showed none).
    public func withCheckpoint(_ rows: [ComparisonRow]) throws -> [ComparisonRow] {
        let meta = try catalog.meta()
        let spaceModel = Dictionary(spaces.map { ($0.name, $0.model) }, uniquingKeysWith: { a, _ in a })
        let named = rows.map { r in
            var r = r
            if r.model == nil, let m = spaceModel[r.space], !m.isEmpty { r.model = m }
            return r
        }
        guard let model = meta["model"] else { return named }
        let ck = MetaKey.checkpoint(meta)
        let modelSpaces = Set(spaces.filter { $0.model == model }.map(\.name))
        return named.map { r in
            guard modelSpaces.contains(r.space) else { return r }
            var r = r
            r.model = model
            if let w = meta["weights"] { r.weights = URL(fileURLWithPath: w).lastPathComponent }
            r.epoch = ck.epoch
            r.globalStep = ck.step
            return r
        }
    }
}

/// Per-class change against a baseline index: where a checkpoint got better, class by class.
public struct PerClassComparison: Sendable, Codable, Equatable {
    public struct Value: Sendable, Codable, Equatable {
        public var index: String
        public var silhouette: Double?
        public var precisionAtK: Double?
        /// This index minus the baseline (null when either is missing; 0 for the baseline itself).
        public var deltaSilhouette: Double?
        public var deltaPrecisionAtK: Double?
    }
    public struct ClassRow: Sendable, Codable, Equatable {
        /// The class name (per-class figures are lists of objects with `name`, docs/json.md).
        public var name: String
        /// One per index, the baseline first.
        public var values: [Value]
    }
    public var space: String
    public var baseline: String
    /// The k of precision@k (null when no index has it).
    public var k: Int?
    public var indexes: [String]
    public var classes: [ClassRow]
}

extension Comparison {
    /// Per-class silhouette (exact; the sampled estimate when only that exists) and precision@k of
    /// `space` in each record, with deltas against `records[baseline]`. Classes: the union, sorted.
    /// Precision@k values measured at another k than the baseline's are left out (null).
    public static func perClass(_ records: [MetricsRecord], names: [String], baseline: Int, space: String) throws -> PerClassComparison {
        guard records.count == names.count, records.indices.contains(baseline) else {
            throw EmbedScopeError(.invalidArgument, "per-class comparison: \(records.count) records, \(names.count) names, baseline \(baseline)")
        }
        let order = [baseline] + records.indices.filter { $0 != baseline }
        let entries = order.map { records[$0].spaces[space] }
        let k = entries[0]?.neighbours?.k ?? entries.compactMap { $0?.neighbours?.k }.first
        func silhouettes(_ e: MetricsRecord.Space?) -> [String: Double?] {
            Dictionary(((e?.cluster ?? e?.clusterSampled)?.perClass ?? []).map { ($0.name, $0.silhouette) }, uniquingKeysWith: { a, _ in a })
        }
        func precision(_ e: MetricsRecord.Space?) -> [String: Double] {
            e?.neighbours?.k == k ? Dictionary((e?.neighbours?.perClass ?? []).map { ($0.name, $0.precisionAtK) }, uniquingKeysWith: { a, _ in a }) : [:]
        }
        var classes = Set<String>()
        for e in entries { classes.formUnion(silhouettes(e).keys); classes.formUnion(precision(e).keys) }
        let base = entries[0]
        let rows = classes.sorted().map { c -> PerClassComparison.ClassRow in
            let bs = silhouettes(base)[c] ?? nil, bp = precision(base)[c]
            let values = zip(order, entries).map { i, e -> PerClassComparison.Value in
                let s = silhouettes(e)[c] ?? nil, p = precision(e)[c]
                return .init(index: names[i], silhouette: s, precisionAtK: p,
                             deltaSilhouette: s.flatMap { x in bs.map { x - $0 } }, deltaPrecisionAtK: p.flatMap { x in bp.map { x - $0 } })
            }
            return .init(name: c, values: values)
        }
        return PerClassComparison(space: space, baseline: names[baseline], k: k, indexes: order.map { names[$0] }, classes: rows)
    }

    /// A text table: the baseline's values, then each other index's deltas (silhouette / precision@k).
    package static func perClassTable(_ p: PerClassComparison) -> String {
        func f(_ v: Double?, _ signed: Bool) -> String {
            guard let v else { return "—" }
            return String(format: signed ? "%+.4f" : "%.4f", v)
        }
        let kText = p.k.map { "precision@\($0)" } ?? "precision@k"
        var table = [["class"] + p.indexes.enumerated().map { i, n in i == 0 ? "\(n) (baseline)" : "Δ \(n)" }]
        for row in p.classes {
            table.append([row.name.displayEscaped] + row.values.enumerated().map { i, v in
                i == 0 ? "\(f(v.silhouette, false)) / \(f(v.precisionAtK, false))"
                       : "\(f(v.deltaSilhouette, true)) / \(f(v.deltaPrecisionAtK, true))"
            })
        }
        let widths = table[0].indices.map { c in table.map { $0[c].count }.max() ?? 0 }
        let lines = table.map { r in r.enumerated().map { c, v in v.padded(to: widths[c]) }.joined(separator: "  ") }
        return "per-class silhouette / \(kText) in space '\(p.space)' against \(p.baseline) (Δ > 0: the class separates better)\n"
            + lines.joined(separator: "\n")
    }

    /// The same as Markdown.
    package static func perClassMarkdown(_ p: PerClassComparison) -> String {
        let esc = { (s: String) in s.displayEscaped.replacingOccurrences(of: "|", with: "\\|") }
        func f(_ v: Double?, _ signed: Bool) -> String { v.map { String(format: signed ? "%+.4f" : "%.4f", $0) } ?? "—" }
        var lines = ["| class | " + p.indexes.enumerated().map { i, n in esc(i == 0 ? "\(n) (baseline)" : "Δ \(n)") }.joined(separator: " | ") + " |",
                     "|" + Array(repeating: "---", count: p.indexes.count + 1).joined(separator: "|") + "|"]
        for row in p.classes {
            lines.append("| \(esc(row.name)) | " + row.values.enumerated().map { i, v in
                i == 0 ? "\(f(v.silhouette, false)) / \(f(v.precisionAtK, false))" : "\(f(v.deltaSilhouette, true)) / \(f(v.deltaPrecisionAtK, true))"
            }.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
