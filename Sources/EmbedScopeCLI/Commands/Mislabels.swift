import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Mislabels: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mislabels", abstract: "Images whose label disagrees with held-out evidence, ranked, with the suggested label.",
            discussion: reflow("""
            Each image is judged by models that never saw its label: a linear probe (as `probe`) trained \
            on the other folds of a stratified seeded k-fold split gives P(class | image), and its k \
            nearest other images vote (share of each label). E = ½·P + ½·vote; an image whose best class \
            by E is not its own label is listed, scored E(suggested) − E(label), highest first.
            """))

        @Argument(help: "Index directory.") var index: String
        @Option(help: "Space (default: embedding if the index has it, else its first space).") var space: String?
        @Option(name: .shortAndLong, parsing: .unconditional, help: "Neighbours of the k-NN vote.") var k = 10
        @Option(parsing: .unconditional, help: "Folds of the cross-validated probe.") var folds = 5
        @Option(parsing: .unconditional, help: "Seed of the folds.") var seed: UInt64 = 0
        @Option(name: .customLong("C"), parsing: .unconditional, help: "Inverse L2 strength of the probe (scikit-learn's C).") var c = 1.0
        @Option(parsing: .unconditional, help: "List at most this many images.") var limit = 50
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard k >= 1 else { throw ValidationError("-k must be at least 1") }
            guard folds >= 2 else { throw ValidationError("--folds must be at least 2") }
            guard c > 0 && c.isFinite else { throw ValidationError("--C must be a positive number") }
            guard limit >= 0 else { throw ValidationError("--limit must be 0 or more") }
        }

        func run() throws {
            try runCommand {
                let idx = try Index.open(resolveURL(index))
                var o = MislabelOptions()
                o.space = space; o.k = k; o.folds = folds; o.seed = seed; o.probe.c = c; o.limit = limit
                let r = try idx.mislabels(options: o, progress: TerminalProgress())
                if output.json { try printJSON(r) } else { print(Self.text(r)) }
            }
        }

        static func text(_ r: MislabelReport) -> String {
            var lines = ["space \(r.space): \(r.flagged) of \(r.rows) images disagree with their label (\(r.evidence))", ""]
            let pw = min(50, max(4, r.candidates.map(\.path.displayEscaped.count).max() ?? 4))
            let cw = max(9, min(20, r.candidates.map { max($0.class.displayEscaped.count, $0.suggested.displayEscaped.count) }.max() ?? 5))
            func pad(_ s: String, _ w: Int) -> String { String(s.prefix(w)).padded(to: w) }
            lines.append("   row  " + pad("path", pw) + "  " + pad("class", cw) + "  " + pad("suggested", cw) + "   score  P(class)  P(sugg.)  kNN(class)  kNN(sugg.)")
            for m in r.candidates {
                var p = m.path.displayEscaped
                if p.count > pw { p = "…" + p.suffix(pw - 1) }
                lines.append(String(format: "%6d  ", m.row) + pad(p, pw) + "  " + pad(m.class.displayEscaped, cw) + "  " + pad(m.suggested.displayEscaped, cw)
                             + String(format: "  %6.3f  %8.3f  %8.3f  %10.2f  %10.2f", m.score, m.probeProbability, m.probeSuggestedProbability, m.knnAgreement, m.knnSuggested))
            }
            return lines.joined(separator: "\n")
        }
    }
}
