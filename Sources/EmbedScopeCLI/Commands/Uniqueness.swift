import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Uniqueness: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "uniqueness", abstract: "Uniqueness of every image (FiftyOne Brain's definition): far from its 3 nearest neighbours = 1.",
            discussion: reflow("""
            (0.6·d1 + 0.3·d2 + 0.1·d3)/3 over the Euclidean distances of the unit rows to the 3 nearest \
            other images, divided by the largest value in the index. Prints the most and least unique; \
            --json gives every image, most unique first.
            """))

        @Argument(help: "Index directory.") var index: String
        @Option(help: "Space (default: embedding if the index has it, else its first space).") var space: String?
        @Option(parsing: .unconditional, help: "Print this many most and least unique images.") var show = 10
        @OptionGroup var output: OutputOptions

        func validate() throws { guard show >= 0 else { throw ValidationError("--show must be 0 or more") } }

        func run() throws {
            try runCommand {
                let r = try Index.open(resolveURL(index)).uniqueness(space: space, progress: TerminalProgress())
                if output.json { try printJSON(r); return }
                print("space \(r.space), \(r.rows) images: \(r.definition)")
                func line(_ e: UniquenessReport.Entry) -> String { String(format: "  %6d  %.4f  ", e.row, e.score) + e.path.displayEscaped + " [\(e.class.displayEscaped)]" }
                print("most unique:"); r.results.prefix(show).forEach { print(line($0)) }
                print("least unique:"); r.results.suffix(show).reversed().forEach { print(line($0)) }
            }
        }
    }
}
