import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Evaluate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "evaluate", abstract: "A prototype set (classifier head) as a classifier of the index's classes: accuracy, confusion, P/R/F1, lowest margins.",
            discussion: reflow("""
            Prototypes are matched to classes by name. Prediction = argmax of logit = x·w + b over the \
            matched prototypes (tie: the lower prototype index); rows whose class has no prototype are \
            left out and counted. Precision / recall / F1 are scikit-learn's (zero_division=0). The \
            margin of an image is its own class's logit minus the best other logit: the lowest margins \
            are likely mislabels or hard examples. By default (--split heldout) a probe's training rows \
            are left out (its recorded split); --split val scores exactly the probe's validation rows.
            """))

        @Argument(help: "Index directory.") var index: String
        @Option(help: "Prototype set, e.g. head or probe.") var set: String
        @Option(help: "Space (must be the set's own; default: the set's).") var space: String?
        @Option(parsing: .unconditional, help: "List this many lowest-margin images.") var lowest = 20
        @Option(help: "Rows to score: heldout (default: every row the set did not train on), val, test, train, all.") var split = "heldout"
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard lowest >= 0 else { throw ValidationError("--lowest must be 0 or more") }
            guard EvaluationSplit(rawValue: split) != nil else {
                throw ValidationError("--split must be one of \(EvaluationSplit.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }

        func run() throws {
            try runCommand {
                let idx = try Index.open(resolveURL(index))
                let r = try idx.evaluate(set: set, space: space, lowest: lowest, split: EvaluationSplit(rawValue: split) ?? .heldout)
                if output.json { try printJSON(r) } else { print(Self.text(r)) }
            }
        }

        static func text(_ r: PrototypeEvaluation) -> String {
            var lines = ["set \(r.set) on space \(r.space): \(r.evaluatedRows) of \(r.rows) rows evaluated; \(r.predictionRule)",
                         "rows (--split \(r.split)): \(r.splitNote)"]
            if !r.classesWithoutPrototype.isEmpty {
                lines.append("left out: \(r.excludedRows) rows of classes with no prototype (\(r.classesWithoutPrototype.prefix(10).joined(separator: ", "))\(r.classesWithoutPrototype.count > 10 ? ", …" : ""))")
            }
            if !r.prototypesWithoutClass.isEmpty {
                lines.append("ignored: \(r.prototypesWithoutClass.count) prototypes named like no class (\(r.prototypesWithoutClass.prefix(5).joined(separator: ", "))\(r.prototypesWithoutClass.count > 5 ? ", …" : ""))")
            }
            lines.append("")
            lines += classificationText(r.classification)
            lines.append("")
            // Logits of heads and vectors at 1e30 gave 60-digit "%.4f" margins: large ones in exponent form.
            func number(_ v: Double) -> String { abs(v) < 1e6 ? String(format: "%.4f", v) : String(format: "%.4e", v) }
            lines.append("mean margin \(number(r.meanMargin)); lowest margins (own-class logit − best other; negative = misclassified):")
            let pw = min(50, max(4, r.lowestMargins.map(\.path.displayEscaped.count).max() ?? 4))
            let cw = max(9, min(20, r.lowestMargins.map { max($0.class.displayEscaped.count, $0.predicted.displayEscaped.count) }.max() ?? 5))
            lines.append("   row  " + "path".padded(to: pw) + "  " + "class".padded(to: cw)
                         + "  " + "predicted".padded(to: cw) + "    margin")
            for m in r.lowestMargins {
                var p = m.path.displayEscaped
                if p.count > pw { p = "…" + p.suffix(pw - 1) }
                lines.append(String(format: "%6d  ", m.row) + p.padded(to: pw) + "  "
                             + String(m.class.displayEscaped.prefix(cw)).padded(to: cw) + "  "
                             + String(m.predicted.displayEscaped.prefix(cw)).padded(to: cw) + "  " + String(repeating: " ", count: max(0, 8 - number(m.margin).count)) + number(m.margin))
            }
            return lines.joined(separator: "\n")
        }
    }
}
