import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Rank: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rank", abstract: "Images ordered by a classifier head's logit for one class (its prototype).",
            discussion: "score = the classifier's logit = embedding · w + b, computed as ‖x‖·‖w‖·(x̂·ŵ) + b from the index.")

        @Argument(help: "Index directory.") var index: String
        @Option(help: "Prototype (class) name.") var prototype: String
        @Option(help: "Prototype set (needed only when the name is in several).") var set: String?
        @Flag(help: "Lowest logits first.") var least = false
        @Option(name: .shortAndLong, parsing: .unconditional, help: "Number of results.") var k = 10
        @Option(name: .customLong("class"), help: "Only rank images of this class.") var className: String?
        @OptionGroup var output: OutputOptions

        func validate() throws { guard k >= 1 else { throw ValidationError("-k must be at least 1") } }

        func run() throws {
            try runCommand {
                let idx = try Index.open(resolveURL(index))
                let results = try idx.rank(prototype: prototype, set: set, least: least, k: k, className: className)
                if output.json { try printJSON(ResultsJSON(results: results)) } else { print(formatTable(results)) }
            }
        }
    }
}
