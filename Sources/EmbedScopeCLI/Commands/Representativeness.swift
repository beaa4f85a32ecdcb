import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Representativeness: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "representativeness", abstract: "Representativeness of every image (FiftyOne Brain's cluster-center method): 1 at its k-means cluster's centre.",
            discussion: reflow("""
            k-means (--clusters, default 20, seeded greedy k-means++ as scikit-learn's KMeans) on the unit rows; each image scores \
            1 − d/max d, d its Euclidean distance to its cluster's centre and max d the largest in that \
            cluster. Prints the most and least representative; --json gives every image, most first.
            """))

        @Argument(help: "Index directory.") var index: String
        @Option(help: "Space (default: embedding if the index has it, else its first space).") var space: String?
        @Option(parsing: .unconditional, help: "Number of k-means clusters.") var clusters = EmbedScope.Representativeness.defaultClusters
        @Option(parsing: .unconditional, help: "Seed of the k-means++ start.") var seed: UInt64 = 0
        @Option(parsing: .unconditional, help: "Print this many most and least representative images.") var show = 10
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard show >= 0 else { throw ValidationError("--show must be 0 or more") }
            guard clusters >= 1 else { throw ValidationError("--clusters must be at least 1") }
        }

        func run() throws {
            try runCommand {
                let r = try Index.open(resolveURL(index)).representativeness(space: space, clusters: clusters, seed: seed)
                if r.clusters < clusters { note("note: \(r.clusters) of the \(clusters) clusters asked hold images (\(r.rows) rows\(r.rows > r.clusters ? ", fewer distinct points" : ""))") }
                if output.json { try printJSON(r); return }
                print("space \(r.space), \(r.rows) images, \(r.clusters) clusters (\(r.iterations) iterations\(r.converged ? "" : ", not converged")): \(r.definition)")
                func line(_ e: RepresentativenessReport.Entry) -> String { String(format: "  %6d  %.4f  cluster %3d  ", e.row, e.score, e.cluster) + e.path + " [\(e.class)]" }
                print("most representative:"); r.results.prefix(show).forEach { print(line($0)) }
                print("least representative:"); r.results.suffix(show).reversed().forEach { print(line($0)) }
            }
        }
    }
}
