import ArgumentParser
import EmbedScope
import Foundation

extension Root {
    struct Query: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Nearest (or farthest) images to an image in the index or to a vector.",
            discussion: "Scores are cosine similarities of unit vectors. Farthest means lowest cosine.")

        @Argument(help: "Index directory.") var index: String
        @Option(help: "Query by a row of the index.") var row: Int?
        @Option(help: "Query by an image path as stored in the catalog.") var path: String?
        @Option(help: "Query by a vector: a .npy of shape [d] or [1, d].") var vector: String?
        @Option(name: .shortAndLong, help: "Number of results (all rows if larger than the index).") var k = 10
        @Flag(help: "Lowest cosine first instead of highest.") var farthest = false
        @Option(help: "Space to search (default: embedding if the index has it, else its first space).") var space: String?
        @Option(name: .customLong("class"), help: "Only return images of this class.") var className: String?
        @Flag(help: "Keep the query image in its own result list.") var includeSelf = false
        @Option(help: "Scoring kernel: simd (ours) or blas (OpenBLAS sgemv, the reference).") var kernel: String = "simd"
        @OptionGroup var output: OutputOptions

        func validate() throws {
            let given = [row != nil, path != nil, vector != nil].filter { $0 }.count
            guard given == 1 else { throw ValidationError("give exactly one of --row, --path, --vector") }
            guard k >= 1 else { throw ValidationError("-k must be at least 1") }
            guard ScoreKernel(rawValue: kernel) != nil else { throw ValidationError("--kernel must be simd or blas") }
        }

        func run() throws {
            try EmbedScopeCLI.run {
                let idx = try Index.open(resolveURL(index))
                var o = SearchOptions()
                o.space = space; o.k = k; o.farthest = farthest; o.includeSelf = includeSelf
                o.className = className; o.kernel = ScoreKernel(rawValue: kernel)!
                let source: QuerySource
                if let row { source = .row(row) } else if let path { source = .path(path) } else {
                    let a = try NPYArray.read(contentsOf: resolveURL(vector!))
                    guard a.shape.count == 1 || a.shape.first == 1 else {
                        throw EmbedScopeError(.shapeMismatch, "query vector file has shape \(a.shape); expected [d] or [1, d]", path: vector)
                    }
                    source = .vector(a.values)
                }
                let results = try idx.search(source, options: o)
                if output.json { try printJSON(ResultsJSON(results: results)) } else { print(formatTable(results)) }
            }
        }
    }
}
