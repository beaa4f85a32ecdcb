import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Versus: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "versus", abstract: "Neighbour quality per space (precision@k, k-NN accuracy) and where embedding and pixel neighbours disagree (Jaccard@k).",
            discussion: reflow("""
            For every row, its k nearest other rows by cosine (the row itself excluded; equal cosine: \
            the lower row is nearer). precision@k = same-class neighbours / k, per class and overall. \
            k-NN accuracy: the majority class of the k neighbours is the prediction (tie: the class of \
            the nearest tied neighbour). Jaccard@k = |A ∩ B| / |A ∪ B| of a row's neighbour sets in the \
            embedding and pixel spaces (or the first two spaces when either is missing).
            """))

        @Argument(help: "Index directory.") var index: String
        @Option(name: .shortAndLong, parsing: .unconditional, help: "Neighbours per row.") var k = 10
        @Option(parsing: .unconditional, help: "List this many images whose two neighbour lists disagree most.") var worst = 10
        @Option(help: "Only these spaces (comma-separated; default: all).") var spaces: String?
        @Option(parsing: .unconditional, help: "Threads (default: the CPUs this process may use; see `info --system`).") var threads: Int?
        @Option(help: "Only the rows of this split, their neighbours from the same split; printed, not recorded in metrics.json.") var split: String?
        @OptionGroup var output: OutputOptions
        @OptionGroup var lockOptions: LockOptions

        func validate() throws {
            guard k >= 1 else { throw ValidationError("-k must be at least 1") }
            guard worst >= 0 else { throw ValidationError("--worst must be 0 or more") }
            try validateThreads(threads)
        }

        func run() throws {
            lockOptions.apply()
            try runCommand {
                let idx = try Index.open(resolveURL(index))
                var o = VersusOptions()
                o.k = k; o.worst = worst
                if let spaces { o.spaces = spaces.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
                if let threads { o.threads = threads }
                o.split = split
                let r = try idx.versus(options: o, progress: TerminalProgress())
                // metrics.json holds the whole index's figures; a split's are printed only.
                if split == nil { try recordMetrics { try idx.recordVersus(r) } }
                if output.json { try printJSON(r) } else { print(Self.text(r)) }
            }
        }

        static func text(_ r: VersusReport) -> String {
            var lines = ["\(r.rows) rows, k = \(r.k); \(r.similarity); ties: \(r.tieRule)", ""]
            lines.append("space".padded(to: 12) + "    dim  precision@\(r.k)  kNN accuracy")
            for s in r.spaces {
                lines.append(s.space.padded(to: 12)
                             + String(format: " %6d  %11.4f  %12.4f", s.dim, s.precisionAtK, s.knnAccuracy))
            }
            lines.append("")
            let names = r.spaces.first?.perClass.map(\.name.displayEscaped) ?? []
            let w = max(5, min(30, names.map(\.count).max() ?? 5))
            var header = "class".padded(to: w) + "    rows"
            for s in r.spaces { header += "  " + String("P@\(r.k) \(s.space)".prefix(14)).leftPad(14) + "  " + String("kNN \(s.space)".prefix(14)).leftPad(14) }
            lines.append(header)
            for (ci, name) in names.enumerated() {
                var shown = name
                if shown.count > w { shown = String(shown.prefix(w - 1)) + "…" }
                var line = shown.padded(to: w) + String(format: "  %6d", r.spaces[0].perClass[ci].rows)
                for s in r.spaces {
                    let c = s.perClass[ci]
                    line += String(format: "  %14.4f  %14.4f", c.precisionAtK, c.knnAccuracy)
                }
                lines.append(line)
            }
            lines.append("")
            if let a = r.agreement {
                lines.append(String(format: "Jaccard@%d %@ vs %@: mean %.4f, median %.4f; identical lists %d, disjoint %d",
                                    a.k, a.spaceA, a.spaceB, a.meanJaccard, a.medianJaccard, a.identical, a.disjoint))
                if !a.worst.isEmpty {
                    lines.append("most disagreeing (lowest Jaccard; same-class neighbours of \(a.k) in each space):")
                    let pw = min(50, max(4, a.worst.map(\.path.displayEscaped.count).max() ?? 4))
                    let cw = max(5, min(20, a.worst.map(\.class.displayEscaped.count).max() ?? 5))
                    lines.append("   row  " + "path".padded(to: pw) + "  " + "class".padded(to: cw)
                                 + "  jaccard  " + String(a.spaceA.prefix(9)).leftPad(9) + "  " + String(a.spaceB.prefix(9)).leftPad(9))
                    for d in a.worst {
                        var p = d.path.displayEscaped
                        if p.count > pw { p = "…" + p.suffix(pw - 1) }
                        lines.append(String(format: "%6d  ", d.row) + p.padded(to: pw) + "  "
                                     + String(d.class.displayEscaped.prefix(cw)).padded(to: cw)
                                     + String(format: "  %7.4f  %9d  %9d", d.jaccard, d.sameClassA, d.sameClassB))
                    }
                }
            } else if let note = r.agreementNote {
                lines.append("Jaccard@\(r.k): skipped — \(note)")
            }
            return lines.joined(separator: "\n")
        }
    }
}

extension String {
    func leftPad(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
