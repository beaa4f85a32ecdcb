import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Index an image folder (root/<class>/**/*.{jpg,jpeg,png}).",
            discussion: """
            Each image is decoded once. Spaces: `pixel` always; `embedding` from --model (its
            penultimate features), and the model's classifier head as a prototype set
            (`imagenet` for a 1000-class ImageNet head, else `head`).
            Models: efficientnet-lite0 (ImageNet weights installed by Scripts/setup.sh),
            resnet18/34/50 (--weights: a torchvision-style checkpoint, .pth/.pt/.ckpt, any head size).
            """)

        @Argument(help: "Image folder: one sub-folder per class.") var dataset: String
        @Option(help: "Index directory (default Indexes/<folder name>).") var out: String?
        @Option(help: "Model for the embedding space: efficientnet-lite0, resnet18, resnet34, resnet50, or none (pixels only).") var model = "none"
        @Option(help: "Weights file (.pth/.pt/.ckpt); default: the model's installed ImageNet weights.") var weights: String?
        @Option(help: "Images per forward pass.") var batch = 32
        @Option(help: "Side of the pixel-space images.") var pixelSize = PixelSpace.defaultSize
        @Option(help: "Index at most N images, spread over the classes in proportion to their sizes (seeded by --seed).") var limit: Int?
        @Option(help: "Seed of --limit's per-class choice.") var seed: UInt64 = 0
        @Option(help: "Index only shard i of n (1…n; an image's shard is CRC-32 of its relative path mod n, + 1); `embedscope merge` joins the shards.") var shard: String?
        @Flag(help: "Fail on the first image that cannot be decoded instead of skipping it.") var strict = false
        @Flag(help: "Replace an existing index.") var force = false
        @OptionGroup var output: OutputOptions
        @OptionGroup var lockOptions: LockOptions

        func validate() throws {
            guard model == "none" || ModelRegistry.names.contains(model) else {
                throw ValidationError("--model must be none or one of \(ModelRegistry.names.joined(separator: ", ")); for other models use Scripts/extract.py and `embedscope import`")
            }
            if weights != nil && model == "none" { throw ValidationError("--weights needs --model") }
            guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
            if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
            if let shard { do { _ = try Shard(parsing: shard) } catch { throw ValidationError("--shard must be i/n with 1 ≤ i ≤ n, e.g. 2/4") } }
        }

        func run() throws {
            lockOptions.apply()
            try runCommand {
                let root = resolveURL(dataset)
                let dest = out.map(resolveURL) ?? resolveURL("Indexes/\(root.lastPathComponent)")
                var r = BuildRequest(dataset: root, out: dest)
                r.pixelSize = pixelSize; r.strict = strict; r.force = force; r.limit = limit; r.limitSeed = seed
                r.shard = try shard.map { try Shard(parsing: $0) }
                r.model = model == "none" ? nil : model; r.weights = weights.map(resolveURL); r.batchSize = batch
                let s = try FolderBuilder.run(r, progress: TerminalProgress())
                for (p, why) in s.skipped.prefix(20) { note("skipped \(p): \(why)") }
                if s.skipped.count > 20 { note("… and \(s.skipped.count - 20) more skipped") }
                if output.json {
                    // `classes` as `info --json` lists them (id, name, count), read back from the new index.
                    struct Skipped: Encodable { var path: String; var reason: String }
                    struct J: Encodable { var index: String; var rows: Int; var classes: [IndexInfo.Class]; var skipped: [Skipped]; var seconds: Double }
                    try printJSON(J(index: dest.path, rows: s.rows, classes: IndexInfo.collect(Index.open(dest)).classes,
                                    skipped: s.skipped.map { Skipped(path: $0.path, reason: $0.reason) }, seconds: s.seconds))
                } else {
                    print(String(format: "indexed %d images in %d classes into %@ in %.1fs (%.0f images/s)", s.rows, s.classes.count, dest.path, s.seconds, Double(s.rows) / s.seconds))
                    print("spaces: " + s.spaces.map { "\($0.name) (dim \($0.dim))" }.joined(separator: ", ")
                          + (s.skipped.isEmpty ? "" : "; \(s.skipped.count) image(s) skipped"))
                    if s.forwardSeconds > 0 {
                        print(String(format: "model: %@, forward pass %.1fs (%.1f images/s)", model, s.forwardSeconds, Double(s.rows) / s.forwardSeconds))
                    }
                    if let p = s.prototypeSet { print("prototype set '\(p.name)': \(p.count) prototypes, names from \(p.namesFrom)") }
                }
            }
        }
    }
}
