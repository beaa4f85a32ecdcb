import Foundation
import EmbedScopeCore

extension Comparison {
    static let perClassHeaders = ["space", "baseline", "class", "index", "k", "silhouette", "precision_at_k",
                                  "delta_silhouette", "delta_precision_at_k"]

    /// The per-class deltas of `compare --csv`, in long form: one line per space × class × index
    /// (the baseline first, its deltas 0), the same values as `compare --json`'s `perClass`
    /// printed exactly (shortest round-trip decimal); a missing value is an empty field.
    public static func perClassCSV(_ deltas: [PerClassComparison]) -> String {
        func f(_ v: Double?) -> String { v.map { "\($0)" } ?? "" }
        var lines = [perClassHeaders]
        for p in deltas {
            for row in p.classes {
                for v in row.values {
                    lines.append([p.space, p.baseline, row.name, v.index, p.k.map(String.init) ?? "",
                                  f(v.silhouette), f(v.precisionAtK), f(v.deltaSilhouette), f(v.deltaPrecisionAtK)])
                }
            }
        }
        return lines.map { $0.map(CSV.textField).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }
}
