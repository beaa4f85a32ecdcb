import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove", abstract: "Remove rows from an index (by path, class or row numbers).",
            discussion: reflow("""
            The remaining rows keep their order and are renumbered 0…n−1 in every space, norms file and \
            the catalog; a class left without rows is dropped. One new generation, switched atomically; \
            metrics.json is dropped, probe sets too. A path, class or row that is not in the index is an error.
            """))

        @Argument(help: "Index directory.") var index: String
        @Option(name: .customLong("path"), help: "Remove the row with this path (repeatable).") var paths: [String] = []
        @Option(name: .customLong("class"), help: "Remove every row of this class (repeatable).") var classes: [String] = []
        @Option(help: "File of row numbers: one per line, or a CSV with a `row` column.") var rows: String?
        @OptionGroup var output: OutputOptions
        @OptionGroup var lockOptions: LockOptions

        func validate() throws {
            let given = [!paths.isEmpty, !classes.isEmpty, rows != nil].filter { $0 }.count
            guard given == 1 else { throw ValidationError("give exactly one of --path, --class or --rows") }
        }

        func run() throws {
            lockOptions.apply()
            try runCommand {
                let selection: RowSelection
                if let rows { selection = try RowSelection.readRows(from: resolveURL(rows)) }
                else if !paths.isEmpty { selection = .paths(paths) }
                else { selection = .classes(classes) }
                let s = try IndexGrowth.remove(index: resolveURL(index), selection, progress: TerminalProgress())
                try printGrowth(s, verb: "removed", json: output.json)
            }
        }
    }
}
