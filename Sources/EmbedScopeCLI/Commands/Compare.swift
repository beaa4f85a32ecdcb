import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "compare", abstract: "One table across indexes (models, checkpoints) and spaces: silhouette, DB, CH, precision@k, probe accuracy.",
            discussion: reflow("""
            Reads each index's metrics.json (written by metrics, versus, probe and project). A space \
            with no cluster metrics yet gets them computed (exact silhouette) unless --no-compute; \
            precision@k and probe accuracy appear once `embedscope versus` / `embedscope probe` have run. \
            Missing values print as — (null in JSON). The weights file and the checkpoint's epoch / step
            come from each index's catalog. With two or more indexes, per-class deltas follow: each
            class's silhouette and precision@10 in the baseline (--baseline, default the first index
            given) and their change in every other index, for --space or else every space all
            indexes have except pixel (the same in every index of a checkpoint sweep; pixel when it
            is the only space they share); precision@10
            per class is computed (`versus -k 10`) when metrics.json lacks it, unless --no-compute.
            With --csv the deltas follow the table after one empty line, as a second CSV table
            (space, baseline, class, index, k, silhouette, precision_at_k, delta_silhouette,
            delta_precision_at_k: one line per class and index); --no-deltas prints the table alone.
            """))

        @Argument(help: "Index directories.") var indexes: [String]
        @Option(help: "Only this space.") var space: String?
        @Option(help: "Sort by silhouette, db (lower first), ch, precision, knn, probe or name.") var sort = "silhouette"
        @Flag(help: "Do not compute missing cluster metrics.") var noCompute = false
        @Option(help: "The index the per-class deltas are measured against: its folder name or path as given (default: the first).") var baseline: String?
        @Flag(help: "Leave out the per-class deltas.") var noDeltas = false
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
                var opened: [(name: String, given: String, index: Index, spaces: [String])] = []
                var picked: [[String]] = []
                for path in indexes {
                    let idx = try Index.open(resolveURL(path))
                    opened.append((idx.url.lastPathComponent, path, idx, idx.spaces.map(\.name)))
                    let spaces = try space.map { [try idx.space($0).name] } ?? idx.spaces.map(\.name)
                    var record: MetricsRecord? = try? idx.readMetrics()
                    if !noCompute {
                        for s in spaces where record?.spaces[s]?.cluster == nil {
                            let progress = TerminalProgress()
                            // What it is doing, on a terminal only (as `report` says which index): in a
                            // log or a script's stderr, a success says nothing.
                            if progress.isEnabled { note("compare: computing cluster metrics for \(idx.url.lastPathComponent)/\(s)") }
                            let scores: ClusterScores
                            do {
                                scores = try idx.clusterScores(space: s, progress: progress)
                            } catch let e as EmbedScopeError where e.kind == .undefined {
                                // One index whose metrics are undefined (one class, every row a class of
                                // its own) is a row of dashes, not the end of the comparison.
                                note("compare: \(idx.url.lastPathComponent)/\(s): \(e.message); shown as —")
                                continue
                            }
                            try recordMetrics { try idx.recordCluster(scores, space: s) }
                        }
                        record = try idx.readMetrics() ?? idx.freshMetrics()
                    }
                    if record == nil, Set(try idx.catalog.classIds()).count < 2 {
                        // Nothing `metrics` could record: a row of dashes, as when computing.
                        note("compare: \(idx.url.lastPathComponent): one class, no cluster metrics; shown as —")
                        record = try idx.freshMetrics()
                    }
                    guard record != nil else {
                        throw EmbedScopeError(.notFound, "no metrics.json (or a damaged one) and --no-compute", path: idx.metricsURL.path,
                                              hint: "run `embedscope metrics \(path)` first")
                    }
                    picked.append(spaces)
                }
                // The deltas first: they may record precision@10, which the table then shows.
                let deltas = try perClassDeltas(opened)
                for (o, spaces) in zip(opened, picked) {
                    var record = try o.index.readMetrics() ?? o.index.freshMetrics()
                    // A space with nothing recorded (its metrics undefined) is still a row, of dashes.
                    for s in spaces where record.spaces[s] == nil { record.spaces[s] = .init(dim: try o.index.space(s).dim) }
                    rows += try o.index.withCheckpoint(Comparison.rows(record, path: o.index.url.path, spaces: spaces))
                }
                // Indexes that share a folder name (run1/idx, run2/idx) are told apart by their parent folder.
                let paths = Dictionary(grouping: rows, by: \.index).mapValues { Set($0.map(\.path)).count }
                for i in rows.indices where (paths[rows[i].index] ?? 0) > 1 {
                    let u = URL(fileURLWithPath: rows[i].path)
                    rows[i].index = u.deletingLastPathComponent().lastPathComponent + "/" + u.lastPathComponent
                }
                rows = Comparison.sorted(rows, by: Comparison.SortKey(rawValue: sort) ?? .silhouette)
                // precision@k of different k in one column (each row's k is shown) is not a comparison.
                let ks = Set(rows.compactMap { $0.precisionAtK == nil ? nil : $0.k })
                if ks.count > 1 {
                    note("compare: precision@k was measured at different k (\(ks.sorted().map(String.init).joined(separator: ", "))): those figures do not compare; run `embedscope versus -k K` on each index with one K")
                }
                if output.json {
                    struct J: Encodable { var entries: [ComparisonRow]; var perClass: [PerClassComparison] }
                    try printJSON(J(entries: rows, perClass: deltas))
                } else if csv {
                    Swift.print(Comparison.csv(rows), terminator: "")  // exact names (formula guard aside)
                    // The per-class deltas follow after one empty line, as a second CSV table.
                    if !deltas.isEmpty { Swift.print("\n" + Comparison.perClassCSV(deltas), terminator: "") }
                } else if markdown {
                    print(Comparison.markdown(rows), terminator: "")
                    for d in deltas { print("\n" + Comparison.perClassMarkdown(d), terminator: "") }
                } else {
                    print(Comparison.table(rows))
                    for d in deltas { print("\n" + Comparison.perClassTable(d)) }
                }
            }
        }

        /// Per-class silhouette and precision@10 against the baseline, per compared space.
        func perClassDeltas(_ opened: [(name: String, given: String, index: Index, spaces: [String])]) throws -> [PerClassComparison] {
            guard opened.count >= 2, !noDeltas else { return [] }
            let b: Int
            if let baseline {
                guard let i = opened.firstIndex(where: { $0.name == baseline || $0.given == baseline || $0.index.url.path == resolveURL(baseline).standardizedFileURL.path }) else {
                    throw EmbedScopeError(.invalidArgument, "--baseline '\(baseline)' is none of the compared indexes (\(opened.map(\.name).joined(separator: ", ")))")
                }
                b = i
            } else { b = 0 }
            var common = opened.dropFirst().reduce(Set(opened[0].spaces)) { $0.intersection($1.spaces) }
            if let space { common = common.intersection([space]) } else if common.count > 1 { common.remove("pixel") }
            let k = 10
            var out: [PerClassComparison] = []
            for s in common.sorted() {
                var records: [MetricsRecord] = []
                for o in opened {
                    if !noCompute, o.index.rowCount > k, (try? o.index.readMetrics())?.spaces[s]?.neighbours.map({ $0.k != k || $0.perClass == nil }) ?? true {
                        let progress = TerminalProgress()
                        if progress.isEnabled { note("compare: computing precision@\(k) per class for \(o.name)/\(s)") }
                        var v = VersusOptions(); v.k = k; v.spaces = [s]
                        do {
                            let report = try o.index.versus(options: v, progress: progress)
                            try recordMetrics { try o.index.recordVersus(report) }
                        } catch let e as EmbedScopeError {
                            note("compare: no precision@\(k) for \(o.name)/\(s): \(e.description)")
                        }
                    }
                    records.append(try o.index.readMetrics() ?? o.index.freshMetrics())
                }
                let names = opened.map { o in opened.filter { $0.name == o.name }.count > 1 ? o.given : o.name }
                out.append(try Comparison.perClass(records, names: names, baseline: b, space: s))
            }
            return out
        }
    }
}
