import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Dataset: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dataset", abstract: "Write a packaged data set as an image folder.",
            subcommands: [FashionMNISTCommand.self])

        struct FashionMNISTCommand: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "fashion-mnist",
                abstract: "Fashion-MNIST (Debian package dataset-fashion-mnist) as OUT/<class>/<split>-NNNNN.png.")

            @Option(help: "Folder to write.") var out: String
            @Option(help: "train (60,000) or test (10,000).") var split: String = "test"
            @Option(parsing: .unconditional, help: "Write N images, spread over the classes in proportion to their sizes (seeded by --seed).") var limit: Int?
            @Option(parsing: .unconditional, help: "Seed of --limit's per-class choice.") var seed: UInt64 = 0
            @Option(help: "Folder holding the IDX .gz files.") var source = FashionMNIST.defaultDirectory.path
            @Flag(help: "Replace OUT if it exists.") var force = false

            func validate() throws {
                guard FashionMNIST.Split(rawValue: split) != nil else { throw ValidationError("--split must be train or test") }
                if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
            }

            func run() throws {
                try runCommand {
                    let s = try FashionMNIST.export(split: FashionMNIST.Split(rawValue: split)!, limit: limit, seed: seed, to: resolveURL(out),
                                                    source: resolveURL(source), force: force, progress: TerminalProgress())
                    print("wrote \(s.written) PNG images in \(FashionMNIST.classNames.count) class folders to \(out)")
                }
            }
        }
    }
}
