import Foundation
import EmbedScopeCore
import EmbedScopeAnalysis

/// The weights file and the training step an index's model space was made with (catalog `meta`).
public struct ReportCheckpoint: Sendable, Equatable {
    public var weights: String
    public var epoch: Int?
    public var step: Int?
}

extension IndexReport {
    /// The checkpoint behind `space` when the index's model made it (nil for pixels and imports).
    func checkpoint(space: String) -> ReportCheckpoint? {
        let meta = Dictionary(summary.meta, uniquingKeysWith: { a, _ in a })
        guard let model = meta["model"], let weights = meta["weights"],
              summary.spaces.contains(where: { $0.name == space && $0.model == model }) else { return nil }
        let ck = MetaKey.checkpoint(meta)
        return ReportCheckpoint(weights: URL(fileURLWithPath: weights).lastPathComponent, epoch: ck.epoch, step: ck.step)
    }
}

extension ReportWriter {
    static func checkpointCells(_ c: ReportCheckpoint?, _ h: HTML) -> String {
        "<td>\(c.map { h.breakable($0.weights) } ?? "—")</td><td class=\"num\">\(c?.epoch.map(String.init) ?? "—")</td><td class=\"num\">\(c?.step.map(String.init) ?? "—")</td>"
    }

    /// Per-class silhouette and precision@k of every other index against the first (the
    /// baseline), for each space every index has metrics of, except pixel when they share
    /// another one (the pixel space is the same in every index of a checkpoint sweep) — the
    /// spaces `compare` shows deltas for.
    static func perClassDeltas(_ doc: ReportDocument, _ h: inout HTML) {
        guard let base = doc.indexes.first, doc.indexes.count > 1 else { return }
        var common = Set(base.metrics.map(\.space))
        for ix in doc.indexes.dropFirst() { common.formIntersection(ix.metrics.map(\.space)) }
        if common.count > 1 { common.remove("pixel") }
        let spaces = base.metrics.map(\.space).filter(common.contains)
        func silhouette(_ ix: IndexReport, _ space: String, _ c: String) -> Double? {
            ix.metrics.first { $0.space == space }?.perClass.first { $0.name == c }?.silhouette
        }
        func precision(_ ix: IndexReport, _ space: String, _ c: String) -> Double? {
            guard let v = ix.versus, let j = v.spaces.firstIndex(of: space) else { return nil }
            return v.perClass.first { $0.name == c }.flatMap { j < $0.precision.count ? $0.precision[j] : nil }
        }
        func d(_ v: Double?) -> String { v.map { String(format: "%+.4f", $0) } ?? "—" }
        func cls(_ v: Double?) -> String { guard let v, v != 0 else { return "num" }; return v > 0 ? "num up" : "num down" }
        for space in spaces {
            let others = doc.indexes.dropFirst().filter { o in o.metrics.contains { $0.space == space } }
            guard !others.isEmpty, let m = base.metrics.first(where: { $0.space == space }) else { continue }
            let k = base.versus?.k
            h.line("<section class=\"card\" id=\"deltas-\(slug(space))\"><h2>Per-class change against \(h.esc(base.name)) (space \(h.esc(space)))</h2>")
            h.line("<p class=\"sub\">Silhouette / precision@\(k.map(String.init) ?? "k") of the baseline, then each index's difference (Δ &gt; 0: the class separates better).</p>")
            h.collapsible(rows: m.perClass.count, summary: "\(m.perClass.count) classes: show them all") { h in
            h.line("<table><thead><tr><th>class</th><th class=\"num\">\(h.esc(base.name))</th>"
                   + others.map { "<th class=\"num\">Δ \(h.esc($0.name))</th>" }.joined() + "</tr></thead><tbody>")
            for c in m.perClass.map(\.name) {
                let bs = silhouette(base, space, c), bp = precision(base, space, c)
                var row = "<tr><td>\(h.esc(c))</td><td class=\"num\">\(bs.map(f4) ?? "—") / \(bp.map(f4) ?? "—")</td>"
                for o in others {
                    let ds = silhouette(o, space, c).flatMap { x in bs.map { x - $0 } }
                    let dp = precision(o, space, c).flatMap { x in bp.map { x - $0 } }
                    row += "<td class=\"\(cls(ds))\">\(d(ds)) / \(d(dp))</td>"
                }
                h.line(row + "</tr>")
            }
            h.line("</tbody></table>")
            }
            h.line("</section>")
        }
    }
}
