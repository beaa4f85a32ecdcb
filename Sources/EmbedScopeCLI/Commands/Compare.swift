import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One table across indexes (models, checkpoints) and spaces: silhouette, DB, CH, precision@k, probe accuracy.",
            discussion: """
            Reads each index's metrics.json (written by metrics, versus, probe and project). A space \
            with no cluster metrics yet gets them computed (exact silhouette) unless --no-compute; \
            precision@k and probe accuracy appear once `embedscope versus` / `embedscope probe` have run. \
            Missing values print as — (null in JSON).
            """)

        @Argument(help: "Index directories.") var indexes: [String]
        @Option(help: "Only this space.") var space: String?
        @Option(help: "Sort by silhouette, db (lower first), ch, precision, knn, probe or name.") var sort = "silhouette"
        @Flag(help: "Do not compute missing cluster metrics.") var noCompute = false
        @Flag(help: "Print CSV.") var csv = false
        @Flag(help: "Print a Markdown table.") var markdown = false
        @OptionGroup var output: OutputOptions
        @OptionGroup var lockOptions: LockOptions

        func validate() throws {
            guard !indexes.isEmpty else { throw ValidationError("give at least one index") }
            guard Comparison.SortKey(rawValue: sort) != nil else {
                throw ValidationError("--sort must be one of \(Comparison.SortKey.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard [csv, markdown, output.json].filter({ $0 }).count <= 1 else { throw ValidationError("choose one of --json, --csv, --markdown") }
        }

        func run() throws {
            lockOptions.apply()
            try runCommand {
                var rows: [ComparisonRow] = []
                for path in indexes {
                    let idx = try Index.open(resolveURL(path))
                    let spaces = try space.map { [try idx.space($0).name] } ?? idx.spaces.map(\.name)
                    var record: MetricsRecord? = try? idx.readMetrics()
                    if !noCompute {
                        for s in spaces where record?.spaces[s]?.cluster == nil {
                            note("compare: computing cluster metrics for \(idx.url.lastPathComponent)/\(s)")
                            let scores = try idx.clusterScores(space: s, progress: TerminalProgress())
                            try recordMetrics { try idx.recordCluster(scores, space: s) }
                        }
                        record = try idx.readMetrics()
                    }
                    guard let record else {
                        throw EmbedScopeError(.notFound, "no metrics.json (or a damaged one) and --no-compute", path: idx.metricsURL.path,
                                              hint: "run `embedscope metrics \(path)` first")
                    }
                    rows += Comparison.rows(record, path: idx.url.path, spaces: spaces)
                }
                rows = Comparison.sorted(rows, by: Comparison.SortKey(rawValue: sort) ?? .silhouette)
                if output.json {
                    try printJSON(["rows": rows])
                } else if csv {
                    print(Comparison.csv(rows), terminator: "")
                } else if markdown {
                    print(Comparison.markdown(rows), terminator: "")
                } else {
                    print(Comparison.table(rows))
                }
            }
        }
    }
}
