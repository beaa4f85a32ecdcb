import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Metrics: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "metrics", abstract: "How well the classes separate: silhouette (mean and per class), Davies-Bouldin, Calinski-Harabasz.",
            discussion: reflow("""
            Euclidean distance on the index's unit rows (d² = 2 − 2·cos), with the catalog's classes as \
            labels; the definitions are scikit-learn's. The silhouette is exact over all pairs unless \
            --sample N is given: then N seeded rows are each measured against all rows, and the mean is \
            reported with its standard error.
            """))

        @Argument(help: "Index directory.") var index: String
        @Option(help: "Space (default: embedding if the index has it, else its first space).") var space: String?
        @Option(parsing: .unconditional, help: "Estimate the silhouette from this many seeded rows (each against all rows).") var sample: Int?
        @Option(parsing: .unconditional, help: "Seed of the sample (default: 0).") var seed: UInt64?
        @Option(help: "Score only the rows of this split (train, val, test, …); printed, not recorded in metrics.json.") var split: String?
        @Option(help: "GEMM precision: float32 (default) or float64 (the reference, about 2× slower).") var kernel = "float32"
        @Option(parsing: .unconditional, help: "Threads (default: the CPUs this process may use; see `info --system`).") var threads: Int?
        @OptionGroup var output: OutputOptions
        @OptionGroup var lockOptions: LockOptions

        func validate() throws {
            if let sample, sample < 2 { throw ValidationError("--sample must be at least 2 (leave it out for the exact silhouette)") }
            if seed != nil && sample == nil { throw ValidationError("--seed only applies with --sample N") }
            guard SilhouetteKernel(rawValue: kernel) != nil else { throw ValidationError("--kernel must be float32 or float64") }
            try validateThreads(threads)
        }

        func run() throws {
            lockOptions.apply()
            try runCommand {
                let idx = try Index.open(resolveURL(index))
                let name = try space ?? idx.defaultSpace()
                var o = SilhouetteOptions(sample: sample, seed: seed ?? 0)
                o.kernel = SilhouetteKernel(rawValue: kernel) ?? .float32
                if let threads { o.threads = threads }
                let scores = try idx.clusterScores(space: name, split: split, options: o, progress: TerminalProgress())
                let report = ClusterMetricsReport(scores, space: name, split: split, classNames: try idx.classNames())
                // metrics.json holds the whole index's figures; a split's are printed only.
                if split == nil { try recordMetrics { try idx.recordCluster(scores, space: name) } }
                if output.json { try printJSON(report) } else { print(Self.text(report)) }
            }
        }

        static func text(_ r: ClusterMetricsReport) -> String {
            var lines = ["space \(r.space)\(r.split.map { " (split \($0))" } ?? ""): \(r.rows) rows × \(r.dim), \(r.classCount) classes; \(r.distance)"]
            let s = r.silhouette
            if let n = s.sample, let se = s.standardError {
                lines.append(String(format: "silhouette          %8.4f  ± %.4f (standard error; %d sampled rows, seed %llu, each against all rows)",
                                    s.mean, se, n, s.seed ?? 0))
            } else {
                lines.append(String(format: "silhouette          %8.4f  (exact, all %d rows)", s.mean, r.rows))
            }
            lines.append(String(format: "Davies-Bouldin      %8.4f  (lower is better)", r.daviesBouldin))
            lines.append(String(format: "Calinski-Harabasz   %8.1f  (higher is better)", r.calinskiHarabasz))
            lines.append("")
            let w = max(5, min(40, r.perClass.map(\.name.displayEscaped.count).max() ?? 5))
            let sampled = !s.exact
            lines.append("class".padded(to: w) + "     rows" + (sampled ? "  sampled" : "") + "  silhouette")
            for c in r.perClass {
                var name = c.name.displayEscaped
                if name.count > w { name = String(name.prefix(w - 1)) + "…" }
                let value = c.silhouette.map { String(format: "%10.4f", $0) } ?? "         –"
                lines.append(name.padded(to: w) + String(format: "  %7d", c.rows)
                             + (sampled ? String(format: "  %7d", c.evaluated) : "") + "  " + value)
            }
            return lines.joined(separator: "\n")
        }
    }
}
