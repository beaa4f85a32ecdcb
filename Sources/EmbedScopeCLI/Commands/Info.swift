import ArgumentParser
import EmbedScope
import Foundation

extension Root {
    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "What an index holds: spaces, classes, prototype sets, files.")

        @Argument(help: "Index directory.") var index: String
        @OptionGroup var output: OutputOptions

        func run() throws {
            try EmbedScopeCLI.run {
                let report = try IndexInfo.collect(Index.open(resolveURL(index)))
                if output.json { try printJSON(report) } else { print(report.text) }
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check every file's checksum and the catalog's agreement with the vector files.")
        @Argument(help: "Index directory.") var index: String

        func run() throws {
            try EmbedScopeCLI.run {
                let idx = try Index.open(resolveURL(index))
                try idx.verify()
                print("ok: \(idx.rowCount) rows, \(idx.spaces.count) spaces, \(idx.prototypeSets.count) prototype sets, checksums match")
            }
        }
    }
}
