import EmbedScope
import EmbedScopeCommandLine
import Foundation

/// The text form of a `ClassificationReport`: accuracy, per-class P/R/F1, confusion matrix.
func classificationText(_ r: ClassificationReport) -> [String] {
    var lines = [String(format: "accuracy %.4f (%d of %d); macro precision %.4f, recall %.4f, F1 %.4f",
                        r.accuracy, r.correct, r.total, r.macroPrecision, r.macroRecall, r.macroF1), ""]
    // Names as shown (escaped: a line feed in one would break the table's line), so the columns line up.
    let w = max(5, min(24, r.labels.map(\.displayEscaped.count).max() ?? 5))
    func name(_ raw: String) -> String {
        let s = raw.displayEscaped
        return (s.count > w ? String(s.prefix(w - 1)) + "…" : s).padded(to: w)
    }
    lines.append(name("class") + "  support  predicted  precision  recall      F1")
    for c in r.perClass {
        lines.append(name(c.name) + String(format: "  %7d  %9d  %9.4f  %6.4f  %6.4f", c.support, c.predictedCount, c.precision, c.recall, c.f1))
    }
    lines.append("")
    lines.append("confusion matrix (rows: true class, columns: predicted, in the order above)")
    let cw = max(4, String(r.confusion.flatMap { $0 }.max() ?? 0).count)
    lines.append(name("") + " " + r.labels.indices.map { String($0).leftPad(cw) }.joined(separator: " "))
    for (i, row) in r.confusion.enumerated() {
        lines.append(name("\(i) \(r.labels[i])") + " " + row.map { String($0).leftPad(cw) }.joined(separator: " "))
    }
    return lines
}
