import ArgumentParser
import EmbedScope
import Foundation

extension Root {
    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Index an image folder (root/<class>/**/*.{jpg,jpeg,png}).",
            discussion: "Writes the pixel space now; model embeddings (--model) come with native extraction.")

        @Argument(help: "Image folder: one sub-folder per class.") var dataset: String
        @Option(help: "Index directory (default Indexes/<folder name>).") var out: String?
        @Option(help: "Model for the embedding space: none (pixels only).") var model = "none"
        @Option(help: "Side of the pixel-space images.") var pixelSize = PixelSpace.defaultSize
        @Option(help: "Index only the first N images (in sorted order).") var limit: Int?
        @Flag(help: "Fail on the first image that cannot be decoded instead of skipping it.") var strict = false
        @Flag(help: "Replace an existing index.") var force = false
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard model == "none" else {
                throw ValidationError("--model \(model) is not available yet: this build indexes pixels only (--model none); import embeddings from any model with `embedscope import`")
            }
            if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        }

        func run() throws {
            try EmbedScopeCLI.run {
                let root = resolveURL(dataset)
                let dest = out.map(resolveURL) ?? resolveURL("Indexes/\(root.lastPathComponent)")
                var r = BuildRequest(dataset: root, out: dest)
                r.pixelSize = pixelSize; r.strict = strict; r.force = force; r.limit = limit
                let s = try FolderBuilder.run(r, progress: TerminalProgress())
                for (p, why) in s.skipped.prefix(20) { note("skipped \(p): \(why)") }
                if s.skipped.count > 20 { note("… and \(s.skipped.count - 20) more skipped") }
                if output.json {
                    struct J: Encodable { var index: String; var rows: Int; var classes: [String: Int]; var skipped: [[String]]; var seconds: Double }
                    try printJSON(J(index: dest.path, rows: s.rows, classes: Dictionary(uniqueKeysWithValues: zip(s.classes, s.classCounts)),
                                    skipped: s.skipped.map { [$0.path, $0.reason] }, seconds: s.seconds))
                } else {
                    print(String(format: "indexed %d images in %d classes into %@ in %.1fs (%.0f images/s)", s.rows, s.classes.count, dest.path, s.seconds, Double(s.rows) / s.seconds))
                    print("spaces: " + s.spaces.map { "\($0.name) (dim \($0.dim))" }.joined(separator: ", ")
                          + (s.skipped.isEmpty ? "" : "; \(s.skipped.count) image(s) skipped"))
                }
            }
        }
    }
}
