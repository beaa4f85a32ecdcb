import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "build", abstract: "Index an image folder (root/<class>/**/*.{jpg,jpeg,png}).",
            discussion: reflow("""
            Each image is decoded once. Spaces: `pixel` always; `embedding` from --model (its
            penultimate features), and the model's classifier head as a prototype set
            (`imagenet` for a 1000-class ImageNet head, else `head`).
            Models: efficientnet-lite0 (ImageNet weights installed by Scripts/setup.sh),
            resnet18/34/50 (--weights: a torchvision-style checkpoint, .pth/.pt/.ckpt, any head size;
            key prefixes such as model. / model.backbone. / module. are found, or give --strip-prefix).
            Checkpoint sweep: several --weights, or --weights-dir DIR (its *.pth/*.pt/*.ckpt and
            version_*/checkpoints/*.ckpt): every image is decoded once and run through each
            checkpoint; one index per checkpoint is written under --out (OUT/<checkpoint name>),
            with the checkpoint's epoch / step / version in its catalog. Compare them with
            `embedscope compare OUT/*`.
            """))

        @Argument(help: "Image folder: one sub-folder per class.") var dataset: String
        @Option(help: "Index directory (default Indexes/<folder name>; with several checkpoints, the folder of their indexes, default Indexes/<folder name>-sweep).") var out: String?
        @Option(help: "Model for the embedding space: efficientnet-lite0, resnet18, resnet34, resnet50, or none (pixels only).") var model = "none"
        @Option(parsing: .upToNextOption, help: "Weights file (.pth/.pt/.ckpt); default: the installed ImageNet weights (efficientnet-lite0 only; the ResNets need this). Several files: a checkpoint sweep.")
        var weights: [String] = []
        @Option(help: "A checkpoint sweep over every *.pth/*.pt/*.ckpt in this folder and its version_*/checkpoints/*.ckpt (Lightning).") var weightsDir: String?
        @Option(help: "Key prefix to strip from the checkpoint's keys (default: found from the model's own keys, e.g. 'model.', 'model.backbone.'; '' keeps keys).")
        var stripPrefix: String?
        @Option(parsing: .unconditional, help: "Resize the short side to N before the crop (default 256).") var resize: Int?
        @Option(parsing: .unconditional, help: "Center crop N×N = the network's input (default 224; ResNets take any N ≥ 32).") var crop: Int?
        // (.unconditional: "--mean -0.5,0,0" is a value, not an unknown option "-0.5,0,0".)
        @Option(parsing: .unconditional, help: "Per-channel mean R,G,B on [0,1] inputs, as torchvision's Normalize (default: the model's).") var mean: String?
        @Option(parsing: .unconditional, help: "Per-channel std R,G,B on [0,1] inputs, as torchvision's Normalize (default: the model's).") var std: String?
        @Option(parsing: .unconditional, help: "Images per forward pass.") var batch = 32
        @Option(parsing: .unconditional, help: "Side of the pixel-space images.") var pixelSize = PixelSpace.defaultSize
        @Option(parsing: .unconditional, help: "Index at most N images, spread over the classes in proportion to their sizes (seeded by --seed).") var limit: Int?
        @Option(parsing: .unconditional, help: "Seed of --limit's per-class choice.") var seed: UInt64 = 0
        @Option(help: "Index only shard i of n (1…n; an image's shard is CRC-32 of its relative path mod n, + 1); `embedscope merge` joins the shards.") var shard: String?
        @Flag(help: "Fail on the first image that cannot be decoded instead of skipping it.") var strict = false
        @Flag(help: "Replace an existing index.") var force = false
        @Option(help: "Vector storage: f32 (default), or f16 / bf16 to add a half-precision copy of every space that queries scan (answers stay exactly float32's).") var storage = "f32"
        @OptionGroup var output: OutputOptions
        @OptionGroup var lockOptions: LockOptions

        func validate() throws {
            guard model == "none" || ModelRegistry.names.contains(model) else {
                throw ValidationError("--model must be none or one of \(ModelRegistry.names.joined(separator: ", ")); for other models use Scripts/extract.py and `embedscope import`")
            }
            if (!weights.isEmpty || weightsDir != nil) && model == "none" { throw ValidationError("--weights and --weights-dir need --model") }
            if !weights.isEmpty && weightsDir != nil { throw ValidationError("give --weights or --weights-dir, not both") }
            if model == "none" && (stripPrefix != nil || resize != nil || crop != nil || mean != nil || std != nil) {
                throw ValidationError("--strip-prefix, --resize, --crop, --mean and --std need --model")
            }
            for (name, v) in [("--mean", mean), ("--std", std)] {
                if let v, Self.triple(v) == nil { throw ValidationError("\(name) needs three numbers R,G,B, e.g. \(name) 0.485,0.456,0.406") }
            }
            guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
            if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
            guard storage == "f32" || HalfStorage(rawValue: storage) != nil else { throw ValidationError("--storage must be f32, f16 or bf16") }
            // Option values checked here are usage errors (exit 64) like the rest, before any work;
            // the library checks them again (the one rule each: `Shard`, `PixelSpace`, `ModelOptions`).
            do {
                if let shard { _ = try Shard(parsing: shard) }
                try PixelSpace.checkSize(pixelSize)
                try ModelOptions(resize: resize, crop: crop, mean: mean.flatMap(Self.triple), std: std.flatMap(Self.triple)).checkValues()
            } catch let e as EmbedScopeError {
                throw ValidationError(e.message + (e.hint.map { " (\($0))" } ?? ""))
            }
        }

        func run() throws {
            lockOptions.apply()
            try runCommand {
                let root = resolveURL(dataset)
                let dest = out.map(resolveURL) ?? resolveURL("Indexes/\(root.lastPathComponent)")
                var r = BuildRequest(dataset: root, out: dest)
                r.pixelSize = pixelSize; r.strict = strict; r.force = force; r.limit = limit; r.limitSeed = seed
                r.shard = try shard.map { try Shard(parsing: $0) }
                r.storage = HalfStorage(rawValue: storage)
                r.model = model == "none" ? nil : model; r.weights = weights.first.map(resolveURL); r.batchSize = batch
                r.modelOptions = ModelOptions(stripPrefix: stripPrefix, resize: resize, crop: crop, mean: mean.flatMap(Self.triple), std: std.flatMap(Self.triple))
                if weights.count > 1 || weightsDir != nil {
                    r.out = out.map(resolveURL) ?? resolveURL("Indexes/\(root.lastPathComponent)-sweep")
                    let files = try weightsDir.map { try CheckpointSweep.discover(resolveURL($0)) } ?? weights.map(resolveURL)
                    try sweep(SweepRequest(build: r, checkpoints: files))
                    return
                }
                let s = try FolderBuilder.run(r, progress: TerminalProgress())
                if let k = s.keyPrefix, !k.ignoredKeys.isEmpty { note("left out \(counted(k.ignoredKeys.count, "tensor")) outside '\(k.prefix)': \(k.ignoredKeys.prefix(5).map(\.escapedForDisplay).joined(separator: ", "))\(k.ignoredKeys.count > 5 ? ", …" : "")") }
                for (p, why) in s.skipped.prefix(20) { note("skipped \(p.displayEscaped): \(why)") }
                if s.skipped.count > 20 { note("… and \(s.skipped.count - 20) more skipped") }
                if !s.unreadImages.isEmpty { note(Self.unreadNote(s.unreadImages)) }
                if output.json {
                    // `classes` as `info --json` lists them (id, name, count), read back from the new index.
                    struct Skipped: Encodable { var path: String; var reason: String }
                    struct J: Encodable { var index: String; var rows: Int; var classes: [IndexInfo.Class]; var skipped: [Skipped]; var seconds: Double }
                    try printJSON(J(index: dest.path, rows: s.rows, classes: IndexInfo.collect(Index.open(dest)).classes,
                                    skipped: s.skipped.map { Skipped(path: $0.path, reason: $0.reason) }, seconds: s.seconds))
                } else {
                    print(String(format: "indexed %d image%@ in %d class%@ into %@ in %.1fs (%.0f images/s)", s.rows, s.rows == 1 ? "" : "s",
                                 s.classes.count, s.classes.count == 1 ? "" : "es", dest.path, s.seconds, Double(s.rows) / s.seconds))
                    print("spaces: " + s.spaces.map { "\($0.name) (dim \($0.dim))" }.joined(separator: ", ")
                          + (s.skipped.isEmpty ? "" : "; \(counted(s.skipped.count, "image")) skipped"))
                    if s.forwardSeconds > 0 {
                        print(String(format: "model: %@, forward pass %.1fs (%.1f images/s)", model, s.forwardSeconds, Double(s.rows) / s.forwardSeconds))
                    }
                    if let p = s.prototypeSet { print("prototype set '\(p.name)': \(p.count) prototypes, names from \(p.namesFrom)") }
                    if let c = s.checkpoint?.summary { print("checkpoint: \(c)" + (s.keyPrefix.map { $0.prefix.isEmpty ? "" : "; keys under '\($0.prefix)'" } ?? "")) }
                }
            }
        }

        /// Images in formats not read here, left out: said, with what to do.
        static func unreadNote(_ counts: [String: Int]) -> String {
            "left out \(DatasetFolder.describeUnread(counts)): EmbedScope reads JPEG and PNG only; convert them to index them"
        }

        /// "0.485,0.456,0.406" → three Floats.
        static func triple(_ s: String) -> [Float]? {
            let v = s.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard v.count == 3, v.allSatisfy({ $0 != nil }) else { return nil }
            return v.compactMap { $0 }
        }

        func sweep(_ req: SweepRequest) throws {
            let s = try CheckpointSweep.run(req, progress: TerminalProgress())
            for (p, why) in s.skipped.prefix(20) { note("skipped \(p.displayEscaped): \(why)") }
            if s.skipped.count > 20 { note("… and \(s.skipped.count - 20) more skipped") }
            if !s.unreadImages.isEmpty { note(Self.unreadNote(s.unreadImages)) }
            for e in s.indexes where !e.keyPrefix.ignoredKeys.isEmpty {
                note("\(e.name): left out \(counted(e.keyPrefix.ignoredKeys.count, "tensor")) outside '\(e.keyPrefix.prefix)': \(e.keyPrefix.ignoredKeys.prefix(5).map(\.escapedForDisplay).joined(separator: ", "))")
            }
            if output.json {
                struct Entry: Encodable {
                    var name: String; var index: String; var weights: String; var epoch: Int?; var globalStep: Int?; var version: Int?
                    var keyPrefix: String; var ignoredKeys: [String]; var forwardSeconds: Double; var prototypeSet: String?; var prototypes: Int?
                }
                struct Skipped: Encodable { var path: String; var reason: String }
                struct J: Encodable {
                    var out: String; var rows: Int; var classes: [IndexInfo.Class]; var skipped: [Skipped]; var decodes: Int
                    var decodeSeconds: Double; var seconds: Double; var indexes: [Entry]
                }
                // `classes` as `build --json` and `info --json` list them, read back from the first index.
                let classes = try s.indexes.first.map { try IndexInfo.collect(Index.open($0.index)).classes } ?? []
                try printJSON(J(out: req.build.out.path, rows: s.rows, classes: classes, skipped: s.skipped.map { Skipped(path: $0.path, reason: $0.reason) },
                                decodes: s.decodes, decodeSeconds: s.decodeSeconds, seconds: s.seconds,
                                indexes: s.indexes.map { e in
                                    Entry(name: e.name, index: e.index.path, weights: e.weights.path, epoch: e.checkpoint.epoch, globalStep: e.checkpoint.globalStep,
                                          version: e.checkpoint.version, keyPrefix: e.keyPrefix.prefix, ignoredKeys: e.keyPrefix.ignoredKeys,
                                          forwardSeconds: e.forwardSeconds, prototypeSet: e.prototypeSet?.name, prototypes: e.prototypeSet?.count)
                                }))
            } else {
                print(String(format: "indexed %d images in %d classes with %d checkpoints into %@ in %.1fs (each image decoded once: %d decodes, %.1fs)",
                             s.rows, s.classes.count, s.indexes.count, req.build.out.path, s.seconds, s.decodes, s.decodeSeconds))
                for e in s.indexes {
                    print(String(format: "  %@  %@  forward %.1fs%@", e.name, e.checkpoint.summary ?? "no epoch/step recorded", e.forwardSeconds,
                                 e.prototypeSet.map { "  prototype set '\($0.name)' (\($0.count))" } ?? "  no head (embeddings only)"))
                }
                print("compare them: embedscope compare \(s.indexes.map { $0.index.path }.joined(separator: " "))")
            }
        }
    }
}
