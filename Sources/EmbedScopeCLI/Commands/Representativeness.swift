import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Representativeness: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "representativeness", abstract: "Representativeness of every image (FiftyOne Brain's cluster-center methods): 1 at its k-means cluster's centre.",
            discussion: reflow("""
            k-means (--clusters, default 20, seeded greedy k-means++ as scikit-learn's KMeans) on the unit rows; each image scores
            1 − d/max d, d its Euclidean distance to its cluster's centre and max d the largest in that
            cluster (--method cluster-center, the default). --method cluster-center-downweight then
            multiplies by 0.7 the score of every image that has a more representative image within
            Euclidean distance 0.5 (cosine 0.875), and divides every score by the largest: near-copies
            of a representative image stop crowding the top (an all-pairs pass, as `duplicates`).
            Prints the most and least representative; --json gives every image, most first.
            """))

        @Argument(help: "Index directory.") var index: String
        @Option(help: "Space (default: embedding if the index has it, else its first space).") var space: String?
        @Option(parsing: .unconditional, help: "Number of k-means clusters.") var clusters = EmbedScope.Representativeness.defaultClusters
        @Option(parsing: .unconditional, help: "Seed of the k-means++ start.") var seed: UInt64 = 0
        @Option(help: "cluster-center or cluster-center-downweight (FiftyOne Brain's names).") var method = "cluster-center"
        @Option(parsing: .unconditional, help: "Print this many most and least representative images.") var show = 10
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard show >= 0 else { throw ValidationError("--show must be 0 or more") }
            guard clusters >= 1 else { throw ValidationError("--clusters must be at least 1") }
            guard EmbedScope.Representativeness.Method(rawValue: method) != nil else {
                throw ValidationError("--method must be cluster-center or cluster-center-downweight")
            }
        }

        func run() throws {
            try runCommand {
                let m = EmbedScope.Representativeness.Method(rawValue: method) ?? .clusterCenter
                let r = try Index.open(resolveURL(index)).representativeness(space: space, clusters: clusters, seed: seed, method: m,
                                                                             progress: TerminalProgress())
                if r.clusters < clusters { note("note: \(r.clusters) of the \(clusters) clusters asked hold images (\(r.rows) rows\(r.rows > r.clusters ? ", fewer distinct points" : ""))") }
                if output.json { try printJSON(r); return }
                print("space \(r.space), \(r.rows) images, \(r.clusters) clusters (\(r.iterations) iterations\(r.converged ? "" : ", not converged")): \(r.definition)")
                if m == .clusterCenterDownweight {
                    print("\(r.results.filter(\.downweighted).count) of \(r.rows) images downweighted (↓: a more representative image within distance \(EmbedScope.Representativeness.downweightRadius))")
                }
                func line(_ e: RepresentativenessReport.Entry) -> String {
                    String(format: "  %6d  %.4f  cluster %3d  ", e.row, e.score, e.cluster) + (m == .clusterCenterDownweight ? (e.downweighted ? "↓ " : "  ") : "")
                        + e.path.displayEscaped + " [\(e.class.displayEscaped)]"
                }
                print("most representative:"); r.results.prefix(show).forEach { print(line($0)) }
                print("least representative:"); r.results.suffix(show).reversed().forEach { print(line($0)) }
            }
        }
    }
}
