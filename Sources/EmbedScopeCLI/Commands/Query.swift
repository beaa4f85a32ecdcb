import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Query: ParsableCommand {
        /// Refusals of a query vector that come from its values: said of the file it was read from.
        static let vectorRefusals: [EmbedScopeError.Kind] = [.shapeMismatch, .zeroVector, .nonFinite]

        static let configuration = CommandConfiguration(
            commandName: "query", abstract: "Nearest (or farthest) images to an image in the index or to a vector.",
            discussion: "Scores are cosine similarities of unit vectors. Farthest means lowest cosine.")

        @Argument(help: "Index directory.") var index: String
        @Option(parsing: .unconditional, help: "Query by a row of the index.") var row: Int?
        @Option(help: "Query by an image path as stored in the catalog.") var path: String?
        @Option(help: "Query by a vector: a .npy of shape [d] or [1, d].") var vector: String?
        @Option(help: "Query by many vectors in one pass: a .npy of shape [n, d].") var vectors: String?
        @Option(help: "Query by many rows in one pass: a text file with one row number per line (# comments allowed), or a CSV with a `row` column (the page's Export CSV).") var rows: String?
        @Option(help: "Query by a new image file (or every image in a folder), embedded with the index's model.") var image: String?
        @Option(help: "Weights for --image (default: those the index was built with).") var weights: String?
        @Option(name: .shortAndLong, parsing: .unconditional, help: "Number of results (all rows if larger than the index).") var k = 10
        @Flag(help: "Lowest cosine first instead of highest.") var farthest = false
        @Option(help: "Space to search (default: embedding if the index has it, else its first space).") var space: String?
        @Option(name: .customLong("class"), help: "Only return images of this class.") var className: String?
        @Flag(help: "Keep the query image in its own result list.") var includeSelf = false
        @Option(help: "Scoring kernel: simd (ours) or blas (OpenBLAS sgemv, the reference). Many queries always run as GEMM passes.") var kernel: String = "simd"
        @OptionGroup var output: OutputOptions

        func validate() throws {
            let given = [row != nil, path != nil, vector != nil, vectors != nil, rows != nil, image != nil].filter { $0 }.count
            guard given == 1 else { throw ValidationError("give exactly one of --row, --path, --vector, --vectors, --rows, --image") }
            guard k >= 1 else { throw ValidationError("-k must be at least 1") }
            guard ScoreKernel(rawValue: kernel) != nil else { throw ValidationError("--kernel must be simd or blas") }
        }

        func run() throws {
            try runCommand {
                let idx = try Index.open(resolveURL(index))
                var o = SearchOptions()
                o.space = space; o.k = k; o.farthest = farthest; o.includeSelf = includeSelf
                o.className = className; o.kernel = ScoreKernel(rawValue: kernel)!
                if let image {
                    let answers = try idx.searchImages(at: resolveURL(image), options: o, weights: weights.map(resolveURL),
                                                       progress: TerminalProgress())
                    if answers.count == 1 && !isFolder(image) {
                        try printOne(answers[0].results)
                    } else {
                        try printMany(answers.map { (BatchQueryJSON.Query(image: $0.image), $0.results) })
                    }
                    return
                }
                if let vectors {
                    // float64 rows normalized in Double first (a vector at scale 1e-300 underflowed to zeros)
                    let a = try NPYArray.readRows(contentsOf: resolveURL(vectors)).array
                    // d ≥ 1 first: the rows of an [n, 0] file are not bounded by its size.
                    guard a.shape.count == 2, a.rows >= 1, a.cols >= 1 else {
                        throw EmbedScopeError(.shapeMismatch, "query vectors file has shape \(a.shape); expected [n, d] with n ≥ 1 and d ≥ 1", path: vectors)
                    }
                    let d = a.cols
                    let sources = (0..<a.rows).map { QuerySource.vector(Array(a.values[$0 * d ..< ($0 + 1) * d])) }
                    let answers = try EmbedScopeError.naming(vectors, kinds: Self.vectorRefusals) {
                        try idx.searchBatch(sources, options: o, progress: TerminalProgress())
                    }
                    try printMany(answers.indices.map { (BatchQueryJSON.Query(vector: $0), answers[$0]) })
                    return
                }
                if let rows {
                    let list = try RowSelection.readRowNumbers(from: resolveURL(rows))  // as `remove --rows` reads them
                    let answers = try idx.searchBatch(list.map { QuerySource.row($0) }, options: o, progress: TerminalProgress())
                    let recs = try idx.catalog.images(rows: list)
                    try printMany(list.indices.map { (BatchQueryJSON.Query(row: list[$0], path: recs[list[$0]]?.path), answers[$0]) })
                    return
                }
                let source: QuerySource
                if let row { source = .row(row) } else if let path { source = .path(path) } else {
                    let a = try NPYArray.readRows(contentsOf: resolveURL(vector!)).array
                    guard a.shape.count == 1 || a.shape.first == 1 else {
                        throw EmbedScopeError(.shapeMismatch, "query vector file has shape \(a.shape); expected [d] or [1, d] (use --vectors for many)", path: vector)
                    }
                    source = .vector(a.values)
                }
                let results = try vector.map { file in try EmbedScopeError.naming(file, kinds: Self.vectorRefusals) { try idx.search(source, options: o) } }
                    ?? idx.search(source, options: o)
                try printOne(results)
            }
        }

        func isFolder(_ p: String) -> Bool {
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: resolveURL(p).path, isDirectory: &isDir) && isDir.boolValue
        }

        func printOne(_ results: [ResultRow]) throws {
            if output.json { try printJSON(ResultsJSON(results: results)) } else { print(formatTable(results)) }
        }

        func printMany(_ answers: [(BatchQueryJSON.Query, [ResultRow])]) throws {
            if output.json {
                try printJSON(BatchQueryJSON(queries: answers.map { BatchQueryJSON.Answer(query: $0.0, results: $0.1) }))
                return
            }
            for (i, (q, results)) in answers.enumerated() {
                print((i > 0 ? "\n" : "") + "query \(q.label):")
                print(formatTable(results))
            }
        }
    }
}

/// `query --vectors/--rows/--image DIR --json`: one answer per query, in input order.
struct BatchQueryJSON: Encodable {
    struct Query: Encodable {
        /// Exactly one of these identifies the query; the others are null.
        var row: Int? = nil
        var path: String? = nil
        var vector: Int? = nil
        var image: String? = nil
        var label: String {
            if let row { return "row \(row)" + (path.map { " (\($0))" } ?? "") }
            if let vector { return "vector \(vector)" }
            return image ?? "?"
        }
        enum CodingKeys: String, CodingKey { case row, path, vector, image }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(row, forKey: .row); try c.encode(path, forKey: .path)
            try c.encode(vector, forKey: .vector); try c.encode(image, forKey: .image)
        }
    }
    struct Answer: Encodable { var query: Query; var results: [ResultRow] }
    var queries: [Answer]
}
