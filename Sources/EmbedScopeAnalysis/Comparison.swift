import Foundation
import EmbedScopeCore

/// The table for choosing between models and checkpoints: one row per index and space, from
/// each index's metrics.json.
public struct ComparisonRow: Sendable, Codable, Equatable {
    public var index: String
    public var path: String
    public var space: String
    public var model: String?
    public var weights: String?
    /// Epoch and global step of the checkpoint (catalog `meta`, from a Lightning checkpoint), for the model's spaces.
    public var epoch: Int? = nil
    public var globalStep: Int? = nil
    public var samples: Int
    /// The number of classes (`classes` in schema version 1).
    public var classCount: Int
    public var dim: Int
    public var silhouette: Double?
    /// true when the silhouette is an estimate from `silhouetteSample` seeded rows (only shown
    /// when the index has no exact figure), with its standard error; false when exact; nil when missing.
    public var silhouetteSampled: Bool?
    public var silhouetteSample: Int?
    public var silhouetteStandardError: Double?
    public var daviesBouldin: Double?
    public var calinskiHarabasz: Double?
    /// precision@k of same-class neighbours and the k it was measured at (`embedscope versus`).
    public var precisionAtK: Double?
    public var k: Int?
    public var knnAccuracy: Double?
    public var probeAccuracy: Double?
}

public enum Comparison {
    public enum SortKey: String, CaseIterable, Sendable {
        case silhouette, db, ch, precision, knn, probe, name

        /// Davies-Bouldin: lower is better; the others: higher is better.
        func value(_ r: ComparisonRow) -> Double? {
            switch self {
            case .silhouette: return r.silhouette
            case .db: return r.daviesBouldin.map { -$0 }
            case .ch: return r.calinskiHarabasz
            case .precision: return r.precisionAtK
            case .knn: return r.knnAccuracy
            case .probe: return r.probeAccuracy
            case .name: return nil
            }
        }
    }

    public static func rows(_ record: MetricsRecord, path: String, spaces: [String]? = nil) -> [ComparisonRow] {
        record.spaces.keys.sorted().filter { spaces?.contains($0) ?? true }.map { name in
            let s = record.spaces[name]!
            let cluster = s.cluster ?? s.clusterSampled
            return ComparisonRow(index: record.index, path: path, space: name, model: name == "pixel" ? "pixels" : record.model,
                                 weights: name == "pixel" ? nil : record.weights.map { URL(fileURLWithPath: $0).lastPathComponent },
                                 samples: record.samples, classCount: record.classCount, dim: s.dim,
                                 silhouette: cluster?.silhouette, silhouetteSampled: cluster.map { !$0.exact },
                                 silhouetteSample: cluster?.sample, silhouetteStandardError: cluster?.standardError,
                                 daviesBouldin: cluster?.daviesBouldin, calinskiHarabasz: cluster?.calinskiHarabasz, precisionAtK: s.neighbours?.precisionAtK,
                                 k: s.neighbours?.k, knnAccuracy: s.neighbours?.knnAccuracy, probeAccuracy: s.probe?.validationAccuracy)
        }
    }

    /// Best first; rows without the value last; ties (and `.name`) by index then space.
    public static func sorted(_ rows: [ComparisonRow], by key: SortKey) -> [ComparisonRow] {
        rows.sorted { a, b in
            let va = key.value(a), vb = key.value(b)
            switch (va, vb) {
            case let (x?, y?) where x != y: return x > y
            case (.some, nil): return true
            case (nil, .some): return false
            default: return (a.index, a.space) < (b.index, b.space)
            }
        }
    }

    static let headers = ["index", "space", "model", "weights", "epoch", "step", "samples", "classes", "dim", "silhouette",
                          "davies_bouldin", "calinski_harabasz", "precision_at_k", "k", "knn_accuracy", "probe_accuracy"]

    /// One row's cells: rounded for reading, or (`exact`) each number as its shortest round-trip
    /// decimal and the silhouette as the bare value.
    static func fields(_ r: ComparisonRow, missing: String, exact: Bool = false) -> [String] {
        func f(_ v: Double?, _ format: String) -> String { v.map { exact ? "\($0)" : String(format: format, $0) } ?? missing }
        return [r.index, r.space, r.model ?? missing, r.weights ?? missing, r.epoch.map(String.init) ?? missing,
                r.globalStep.map(String.init) ?? missing, String(r.samples), String(r.classCount), String(r.dim),
                exact ? f(r.silhouette, "") : silhouetteText(r, missing: missing), f(r.daviesBouldin, "%.4f"), f(r.calinskiHarabasz, "%.1f"), f(r.precisionAtK, "%.4f"),
                r.k.map(String.init) ?? missing, f(r.knnAccuracy, "%.4f"), f(r.probeAccuracy, "%.4f")]
    }

    /// "0.1234", or "0.1234 ± 0.0040 (sampled, n = 100)" for an estimate.
    static func silhouetteText(_ r: ComparisonRow, missing: String) -> String {
        guard let v = r.silhouette else { return missing }
        guard r.silhouetteSampled == true else { return String(format: "%.4f", v) }
        return String(format: "%.4f ± %.4f (sampled, n = %d)", v, r.silhouetteStandardError ?? .nan, r.silhouetteSample ?? 0)
    }

    static let csvHeaders = headers + ["silhouette_sample", "silhouette_standard_error"]

    /// The table as CSV: the values as `compare --json` has them (shortest round-trip decimals, not
    /// the table's rounding); a sampled silhouette is its estimate, with its sample size and
    /// standard error in the last two columns (empty for an exact one); a missing value is empty.
    package static func csv(_ rows: [ComparisonRow]) -> String {
        let lines = rows.map { r -> [String] in
            let sampled = r.silhouetteSampled == true
            return fields(r, missing: "", exact: true)
                + [sampled ? r.silhouetteSample.map(String.init) ?? "" : "", sampled ? r.silhouetteStandardError.map { "\($0)" } ?? "" : ""]
        }
        return ([csvHeaders] + lines).map { $0.map(CSV.textField).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    package static func markdown(_ rows: [ComparisonRow]) -> String {
        // A | would end the cell and a line break the row: both shown escaped.
        let esc = { (s: String) in
            s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n")
        }
        var lines = ["| " + headers.joined(separator: " | ") + " |",
                     "|" + headers.map { _ in "---" }.joined(separator: "|") + "|"]
        for r in rows { lines.append("| " + fields(r, missing: "—").map(esc).joined(separator: " | ") + " |") }
        return lines.joined(separator: "\n") + "\n"
    }

    package static func table(_ rows: [ComparisonRow]) -> String {
        let all = [headers] + rows.map { fields($0, missing: "—").map(\.displayEscaped) }  // a line feed in a name: shown escaped
        let widths = headers.indices.map { c in all.map { $0[c].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { c, v in
                c < 4 ? v.padded(to: widths[c])
                      : String(repeating: " ", count: widths[c] - v.count) + v
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
