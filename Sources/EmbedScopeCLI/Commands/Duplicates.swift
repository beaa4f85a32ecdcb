import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Duplicates: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "duplicates", abstract: "Near-duplicate images: every pair above a cosine threshold, grouped; cross-split pairs (leakage) first.",
            discussion: reflow("""
            Exact over all pairs (blocked sgemm tiles, pairs near the threshold recomputed in Double). \
            Pairs whose two images are in different splits (train / val / test) are leakage and come \
            first, then pairs whose labels differ, then by cosine. Groups are the connected components \
            of the pairs. Try the pixel space for resized or re-encoded copies, the embedding space for \
            crops and edits.
            """))

        @Argument(help: "Index directory.") var index: String
        @Option(help: "Space (default: embedding if the index has it, else its first space).") var space: String?
        @Option(parsing: .unconditional, help: "Cosine at or above which two images are duplicates.") var threshold = 0.98
        @Option(parsing: .unconditional, help: "Refuse when more pairs than this reach the threshold.") var maxPairs = 1_000_000
        @Option(parsing: .unconditional, help: "Print at most this many pairs and groups (JSON: all).") var show = 20
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard threshold > -1 && threshold <= 1 else { throw ValidationError("--threshold is a cosine in (−1, 1]") }
            guard maxPairs >= 1 else { throw ValidationError("--max-pairs must be at least 1") }
            guard show >= 0 else { throw ValidationError("--show must be 0 or more") }
        }

        func run() throws {
            try runCommand {
                let idx = try Index.open(resolveURL(index))
                let r = try idx.duplicates(space: space, threshold: threshold, maxPairs: maxPairs, progress: TerminalProgress())
                if output.json { try printJSON(r) } else { print(Self.text(r, show: show)) }
            }
        }

        static func text(_ r: DuplicateReport, show: Int) -> String {
            var lines = [String(format: "space %@: %d rows; %d pairs with cosine ≥ %g in %d groups; %d cross-split (leakage), %d with different labels",
                                r.space, r.rows, r.pairCount, r.threshold, r.groups.count, r.leakagePairs, r.differentClassPairs)]
            func img(_ i: DuplicateReport.Image) -> String { "\(i.row) \(i.path.displayEscaped) [\(i.class.displayEscaped)\(i.split.map { ", \($0.displayEscaped)" } ?? "")]" }
            if !r.pairs.isEmpty { lines.append(""); lines.append("pairs (leakage first):") }
            for p in r.pairs.prefix(show) {
                let flags = [p.leakage ? "LEAKAGE" : nil, p.differentClass ? "labels differ" : nil].compactMap { $0 }.joined(separator: ", ")
                lines.append(String(format: "  %.5f  ", p.score) + img(p.a) + "  ~  " + img(p.b) + (flags.isEmpty ? "" : "  (\(flags))"))
            }
            if r.pairs.count > show { lines.append("  … \(r.pairs.count - show) more (--show N, or --json)") }
            if !r.groups.isEmpty { lines.append(""); lines.append("groups:") }
            for g in r.groups.prefix(show) {
                let flags = [g.leakage ? "LEAKAGE" : nil, g.differentClass ? "labels differ" : nil].compactMap { $0 }.joined(separator: ", ")
                lines.append(String(format: "  %d images, cosine %.4f–%.4f", g.images.count, g.minScore, g.maxScore) + (flags.isEmpty ? "" : " (\(flags))") + ": "
                             + g.images.prefix(6).map(img).joined(separator: "; ") + (g.images.count > 6 ? "; …" : ""))
            }
            if r.groups.count > show { lines.append("  … \(r.groups.count - show) more") }
            return lines.joined(separator: "\n")
        }
    }
}
