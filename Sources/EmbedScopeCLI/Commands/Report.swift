import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "report", abstract: "Write an HTML report (works offline) of one or more indexes: metrics, charts, image sheets.",
            discussion: reflow("""
            Writes OUT/index.html and its pictures under OUT/img/ (SVG plots, PNG image sheets), \
            linked relatively: open OUT/index.html from disk. For each index: summary, cluster \
            metrics per space with the per-class silhouette chart, contact sheets (nearest and \
            farthest neighbours) of seeded sample queries, and embedding-vs-pixel sheets when the \
            index has both. With several indexes, a comparison table comes first. The report is \
            built beside OUT and renamed into place: an existing report at OUT is replaced, any \
            other non-empty folder is refused. With --split S, cluster metrics, precision@10 and the \
            prototype evaluations are computed on split S's rows only (as metrics/versus/evaluate \
            --split); projections, image sheets and the quality section keep every row. Run it once \
            per split for a report per split.
            """))

        @Argument(help: "Index directories.") var indexes: [String]
        @Option(help: "Report directory to write.") var out: String
        @Option(help: "Space of the contact sheets and the only space measured (default: all spaces; sheets in embedding if present).") var space: String?
        @Option(parsing: .unconditional, help: "Sample queries per index.") var queries = 4
        @Option(parsing: .unconditional, help: "Seed of the sample queries (and of --sample).") var seed: UInt64 = 0
        @Option(name: .shortAndLong, parsing: .unconditional, help: "Neighbours per sheet row.") var k = 8
        @Option(parsing: .unconditional, help: "Estimate silhouettes from this many seeded rows (default: exact).") var sample: Int?
        @Option(help: "Folder to look for the images in first (catalog paths are relative to it).") var images: String?
        @OptionGroup var lockOptions: LockOptions
        @Option(parsing: .unconditional, help: "Cosine at or above which two images are near-duplicates in the quality section.") var duplicateThreshold = 0.98
        @Flag(help: "Leave out the data-quality section (duplicates, leakage, likely mislabels).") var noQuality = false
        @Option(help: "Compute cluster metrics, precision@k and the prototype evaluations on this split's rows only (train, val, test, …: the catalog's split); not recorded in metrics.json.") var split: String?

        func validate() throws {
            guard !indexes.isEmpty else { throw ValidationError("give at least one index directory") }
            guard (0...64).contains(queries) else { throw ValidationError("--queries must be between 0 and 64") }
            guard (1...32).contains(k) else { throw ValidationError("-k must be between 1 and 32") }
            if let sample, sample < 2 { throw ValidationError("--sample must be at least 2 (leave it out for the exact silhouette)") }
            guard duplicateThreshold > -1 && duplicateThreshold <= 1 else { throw ValidationError("--duplicate-threshold is a cosine in (−1, 1]") }
        }

        func run() throws {
            lockOptions.apply()
            try runCommand {
                let progress = TerminalProgress()
                var sections: [IndexReport] = []
                let urls = indexes.map(resolveURL)
                for u in urls { try Index.open(u).refuseOutputInside(resolveURL(out), what: "--out") }
                // Names: the folder name, made unique with its parent when two share it.
                let names = urls.map { u -> String in
                    urls.filter { $0.lastPathComponent == u.lastPathComponent }.count > 1
                        ? u.deletingLastPathComponent().lastPathComponent + "/" + u.lastPathComponent : u.lastPathComponent
                }
                for (i, u) in urls.enumerated() {
                    if progress.isEnabled { note("report: \(names[i]) (\(i + 1)/\(urls.count))") }
                    let idx = try Index.open(u)
                    var o = ReportOptions()
                    o.space = space; o.queries = queries; o.seed = seed; o.neighbours = k; o.sample = sample
                    o.imageRoot = images.map(resolveURL)
                    o.quality = !noQuality; o.duplicateThreshold = duplicateThreshold
                    o.split = split
                    sections.append(try idx.reportSection(name: names[i], options: o, progress: progress))
                }
                let written = try ReportWriter.write(ReportDocument(indexes: sections), to: resolveURL(out), progress: progress)
                print("wrote \(written.directory.appendingPathComponent("index.html").path) (\(written.files.count - 1) pictures)")
            }
        }
    }
}
