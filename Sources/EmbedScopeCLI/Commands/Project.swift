import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Project: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "project", abstract: "PCA or LDA of a space: explained variance per component, coordinates (CSV/JSON), prototypes as directions.",
            discussion: reflow("""
            PCA is scikit-learn's PCA (covariance eigen-decomposition, n − 1 denominator, each axis's \
            largest entry positive). LDA is scikit-learn's LinearDiscriminantAnalysis(solver='eigen'): \
            at most classes − 1 components, coordinates x·V (uncentred), signs arbitrary. When the \
            within-class scatter is singular (dim > rows − classes), LDA would collapse each class to a \
            point; it runs instead on the top r principal components (the fewest keeping 95% of the \
            variance, at most (rows − classes)/2) and says so. With --no-reduce (or --shrinkage) it runs \
            on the space itself, shrinking a singular within-class covariance toward a multiple of the \
            identity by the smallest amount that works (--shrinkage sets it).
            """))

        @Argument(help: "Index directory.") var index: String
        @Option(help: "pca or lda.") var method: String = "pca"
        @Option(parsing: .unconditional, help: "Components to keep (default: 6, or fewer if the space has fewer rows or dimensions; LDA: at most classes − 1).") var components: Int?
        @Option(help: "Space (default: embedding if the index has it, else its first space).") var space: String?
        @Option(parsing: .unconditional, help: "LDA only: shrinkage in [0, 1] of the within-class covariance.") var shrinkage: Double?
        @Flag(help: "LDA only: never reduce by PCA first, even when the within-class scatter is singular.") var noReduce = false
        @Option(help: "Write row,path,class,<axis>1..N to this CSV file (`-`: to stdout, instead of the summary).") var csv: String?
        @OptionGroup var output: OutputOptions
        @OptionGroup var lockOptions: LockOptions

        func validate() throws {
            guard Projection.Method(rawValue: method) != nil else { throw ValidationError("--method must be pca or lda") }
            if let components, components < 1 { throw ValidationError("--components must be at least 1") }
            if shrinkage != nil && method != "lda" { throw ValidationError("--shrinkage applies to --method lda only") }
            if let shrinkage, !(0...1).contains(shrinkage) { throw ValidationError("--shrinkage must be in [0, 1], not \(shrinkage)") }
            if noReduce && method != "lda" { throw ValidationError("--no-reduce applies to --method lda only") }
            if csv == "-" && output.json { throw ValidationError("--csv - and --json both write to stdout: choose one") }
        }

        /// `--csv -`: the CSV goes to stdout (a file named "-" is never written).
        var csvToStdout: Bool { csv == "-" }

        func run() throws {
            lockOptions.apply()
            try runCommand {
                let idx = try Index.open(resolveURL(index))
                if let csv, !csvToStdout { try idx.refuseOutputInside(resolveURL(csv), what: "--csv") }
                let m = Projection.Method(rawValue: method) ?? .pca
                let k = try components ?? idx.defaultComponents(method: m, space: space)
                let r = try idx.projection(space: space, method: m, components: k, shrinkage: shrinkage, reduce: !noReduce, progress: TerminalProgress())
                try recordMetrics { try idx.recordProjection(r) }
                if csvToStdout {
                    try printBytes(try r.csvBytes())  // exact names (formula guard aside), as the file gets
                    return
                }
                if let csv {
                    try r.writeCSV(to: resolveURL(csv))
                    CommittedChanges.record("\(resolveURL(csv).path) holds the coordinates")   // said if the summary cannot be printed
                }
                if output.json { try printJSON(r) } else { print(Self.text(r, csv: csv, shrinkageGiven: shrinkage != nil)) }
            }
        }

        /// `shrinkageGiven`: `--shrinkage` chose it (else it was the least that made Sw invertible).
        static func text(_ r: ProjectionReport, csv: String?, shrinkageGiven: Bool = false) -> String {
            var lines = ["\(r.method.rawValue.uppercased()) of space \(r.space): \(r.rows) rows × \(r.dim), \(counted(r.components, "component"))"]
            if let red = r.reducedBy { lines.append(red.reason) }
            if let s = r.shrinkage, s > 0 {
                lines.append(String(format: shrinkageGiven ? "within-class covariance shrunk by %g (--shrinkage)"
                                                           : "within-class covariance shrunk by %g (it is singular without)", s))
            }
            var cumulative = 0.0
            lines.append(r.method == .pca ? "component   variance   ratio   cumulative" : "component  eigenvalue   ratio   cumulative")
            for c in 0..<r.components {
                cumulative += r.explainedVarianceRatio[c]
                lines.append(String(format: "%@%-9d %10.5g  %6.2f%%  %8.2f%%", r.method == .pca ? "PC" : "LD", c + 1,
                                    r.explainedVariance[c], 100 * r.explainedVarianceRatio[c], 100 * cumulative))
            }
            if !r.prototypes.isEmpty {
                let sets = Dictionary(grouping: r.prototypes, by: \.set).map { "\($0.key) (\($0.value.count))" }.sorted()
                lines.append("prototype directions: " + sets.joined(separator: ", ") + " — in --json")
            }
            lines.append(csv.map { "coordinates: \($0)" } ?? "coordinates: --csv FILE or --json")
            return lines.joined(separator: "\n")
        }
    }
}
