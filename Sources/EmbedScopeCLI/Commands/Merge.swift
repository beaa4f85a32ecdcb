import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "merge", abstract: "Merge indexes of one data set (e.g. the shards of `build --shard i/n`) into one index.",
            discussion: reflow("""
            The inputs must have the same spaces (names, models, dimensions, preprocessing), model, \
            weights and prototype sets, and no path in common. Rows of built indexes are put in build's \
            order (class, then path), so the shards merge into exactly the unsharded build; imported \
            indexes are concatenated in the order given. Vectors are copied, never recomputed.
            """))

        @Argument(help: "Indexes to merge (at least two).") var indexes: [String]
        @Option(help: "Index directory to write.") var out: String
        @Flag(help: "Replace an existing index at --out.") var force = false
        @OptionGroup var output: OutputOptions
        @OptionGroup var lockOptions: LockOptions

        func validate() throws {
            guard indexes.count >= 2 else { throw ValidationError("give at least two indexes to merge") }
        }

        func run() throws {
            lockOptions.apply()
            try runCommand {
                let s = try IndexGrowth.merge(indexes.map(resolveURL), out: resolveURL(out), force: force, progress: TerminalProgress())
                for n in s.notes { note(n) }
                if output.json {
                    struct J: Encodable { var index: String; var inputs: [String]; var rows: Int; var classes: [IndexInfo.Class]; var spaces: [SpaceDimJSON]; var droppedPrototypeSets: [String]; var notes: [String]; var seconds: Double }
                    try printJSON(J(index: s.index.path, inputs: indexes, rows: s.rowsAfter, classes: IndexInfo.collect(Index.open(s.index)).classes,
                                    spaces: s.spaces.map { SpaceDimJSON(name: $0.name, dim: $0.dim) },
                                    droppedPrototypeSets: s.droppedPrototypeSets, notes: s.notes, seconds: s.seconds))
                } else {
                    print(String(format: "merged %d indexes into %@: %d rows in %d classes, %.1fs", indexes.count, s.index.path, s.rowsAfter, s.classes.count, s.seconds))
                    print("spaces: " + s.spaces.map { "\($0.name) (dim \($0.dim))" }.joined(separator: ", "))
                }
            }
        }
    }
}
