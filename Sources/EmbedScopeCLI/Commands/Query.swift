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
        @Option(help: "Query by a new image file (or every image in a folder), embedded with the index's model.") var image: String?
        @Option(help: "Weights for --image (default: those the index was built with).") var weights: String?
        @Option(name: .shortAndLong, help: "Number of results (all rows if larger than the index).") var k = 10
        @Flag(help: "Lowest cosine first instead of highest.") var farthest = false
        @Option(help: "Space to search (default: embedding if the index has it, else its first space).") var space: String?
        @Option(name: .customLong("class"), help: "Only return images of this class.") var className: String?
        @Flag(help: "Keep the query image in its own result list.") var includeSelf = false
        @Option(help: "Scoring kernel: simd (ours) or blas (OpenBLAS sgemv, the reference).") var kernel: String = "simd"
        @OptionGroup var output: OutputOptions

        func validate() throws {
            let given = [row != nil, path != nil, vector != nil, image != nil].filter { $0 }.count
            guard given == 1 else { throw ValidationError("give exactly one of --row, --path, --vector, --image") }
            guard k >= 1 else { throw ValidationError("-k must be at least 1") }
            guard ScoreKernel(rawValue: kernel) != nil else { throw ValidationError("--kernel must be simd or blas") }
        }

        func run() throws {
            try EmbedScopeCLI.run {
                let idx = try Index.open(resolveURL(index))
                var o = SearchOptions()
                o.space = space; o.k = k; o.farthest = farthest; o.includeSelf = includeSelf
                o.className = className; o.kernel = ScoreKernel(rawValue: kernel)!
                if let image {
                    try runImages(idx, image: resolveURL(image), options: o)
                    return
                }
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

        /// --image FILE|DIR: embed each image with the index's model (or as pixels), then search.
        func runImages(_ idx: Index, image: URL, options: SearchOptions) throws {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: image.path, isDirectory: &isDir) else {
                throw EmbedScopeError(.notFound, "no such image or folder", path: image.path)
            }
            var files = [image]
            if isDir.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: image.path)) ?? []
                files = names.filter { DatasetFolder.extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
                    .map { image.appendingPathComponent($0) }
                guard !files.isEmpty else { throw EmbedScopeError(.dataset, "no .jpg/.jpeg/.png files in this folder", path: image.path) }
            }
            // Only the pixel space and the spaces the index's own model made can embed a new image.
            let (space, vectors) = try idx.imageQueryVectors(images: files, space: options.space, weights: weights.map(resolveURL))
            var o = options
            o.space = space
            struct One: Encodable { var image: String; var results: [ResultRow] }
            var all: [One] = []
            for (f, v) in zip(files, vectors) {
                let r = try idx.search(.vector(v), options: o)
                all.append(One(image: f.path, results: r))
            }
            if output.json {
                if all.count == 1 { try printJSON(ResultsJSON(results: all[0].results)) } else {
                    struct Many: Encodable { var queries: [One] }
                    try printJSON(Many(queries: all))
                }
            } else {
                for (i, q) in all.enumerated() {
                    if all.count > 1 { print((i > 0 ? "\n" : "") + "query \(q.image):") }
                    print(formatTable(q.results))
                }
            }
        }
    }
}
