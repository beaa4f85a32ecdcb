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
        static let configuration = CommandConfiguration(
            abstract: "Check everything: file checksums, the catalog (SQLite integrity, foreign keys, content checksum), the catalog against the vector files, finite values.",
            discussion: "Reads every byte. Exit status 0 only when every check passed; --json lists every check.")
        @Argument(help: "Index directory.") var index: String
        @OptionGroup var output: OutputOptions

        func run() throws {
            try EmbedScopeCLI.run {
                let report = Index.verifyReport(resolveURL(index))
                if output.json { try printJSON(report) } else if report.ok { print(report.text) } else { note(report.text) }
                if !report.ok { throw ExitCode(1) }
            }
        }
    }
}
