import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import", abstract: "Import embeddings made by any model (.npy) with a manifest (path,class) into an index.",
            discussion: reflow("""
            X.npy: float32 or float64, C order, shape [N, d]; row i is the image on data line i of rows.csv.
            rows.csv: a header naming `path` and `class` (optional `split`), then N rows.
            --head W.npy [C, d] and --bias b.npy [C] become the prototype set `head` (names from
            --head-classes, one per line, or the manifest's classes sorted when C matches).
            Importing into an index with the same rows adds the space (e.g. --space resnet50).
            """))

        @Option(help: "Vectors, .npy [N, d].") var vectors: String
        @Option(help: "Manifest CSV with header path,class[,split]: one line per row of the vectors, each path once.") var manifest: String
        @Option(help: "Folder the manifest's relative paths start from (default: the manifest's folder).") var root: String?
        @Option(help: "Index directory to write (or add a space to).") var out: String
        @Option(help: "Space name.") var space = "embedding"
        @Option(help: "Model name recorded in the catalog.") var model = "imported"
        @Option(help: "Classifier head weights, .npy [C, d].") var head: String?
        @Option(help: "Classifier head bias, .npy [C].") var bias: String?
        @Option(help: "Class names of the head rows, one per line.") var headClasses: String?
        @Option(help: "Row norms, .npy [N] (export's norms.npy): X's unit rows are stored as they are, with these norms (an export comes back bit for bit); other rows' norms are scaled by them.") var norms: String?
        @Option(help: "Name of the prototype set made from the head.") var prototypeSet = "head"
        @Option(parsing: .unconditional, help: "Side of the pixel-space images.") var pixelSize = PixelSpace.defaultSize
        @Flag(help: "Do not compute the pixel space even when the images exist.") var noPixels = false
        @Flag(help: "Replace an existing index with different rows.") var force = false
        @Option(help: "Vector storage: f32 (default), or f16 / bf16 to add a half-precision copy of the space that queries scan (answers stay exactly float32's).") var storage = "f32"
        @OptionGroup var lockOptions: LockOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            if bias != nil && head == nil { throw ValidationError("--bias needs --head") }
            if headClasses != nil && head == nil { throw ValidationError("--head-classes needs --head") }
            guard storage == "f32" || HalfStorage(rawValue: storage) != nil else { throw ValidationError("--storage must be f32, f16 or bf16") }
        }

        func run() throws {
            lockOptions.apply()
            try runCommand {
                var r = ImportRequest(vectors: resolveURL(vectors), manifest: resolveURL(manifest), out: resolveURL(out))
                r.space = space; r.model = model; r.force = force; r.root = root.map(resolveURL)
                r.head = head.map(resolveURL); r.bias = bias.map(resolveURL); r.headClasses = headClasses.map(resolveURL)
                r.norms = norms.map(resolveURL)
                r.prototypeSet = prototypeSet; r.pixels = !noPixels; r.pixelSize = pixelSize
                r.storage = HalfStorage(rawValue: storage)
                let s = try Importer.run(r, progress: TerminalProgress())
                if output.json {
                    // `classes` as `info --json` lists them, read back from the index just written.
                    struct PixelSpaceJSON: Encodable { var written: Bool; var size: Int; var failures: Int }
                    struct J: Encodable {
                        var index: String; var rows: Int; var dim: Int; var space: String; var addedToExisting: Bool
                        var classes: [IndexInfo.Class]; var prototypeSet: String?; var prototypeCount: Int?
                        var prototypeNamesFrom: String?; var pixelSpace: PixelSpaceJSON?
                    }
                    try printJSON(J(index: r.out.path, rows: s.rows, dim: s.dim, space: s.space, addedToExisting: s.addedToExisting,
                                    classes: IndexInfo.collect(Index.open(r.out)).classes,
                                    prototypeSet: s.prototypeCount == nil ? nil : prototypeSet, prototypeCount: s.prototypeCount,
                                    prototypeNamesFrom: s.prototypeNamesFrom,
                                    pixelSpace: s.pixelSpace.map { PixelSpaceJSON(written: $0.written, size: $0.size, failures: $0.failures.count) }))
                    return
                }
                print("imported \(s.rows) × \(s.dim) as space '\(s.space)' \(s.addedToExisting ? "into the existing" : "in a new") index \(out) (\(counted(s.classes.count, "class")))")
                if let c = s.prototypeCount { print("prototype set '\(prototypeSet)': \(c) prototypes, names from \(s.prototypeNamesFrom ?? "?")") }
                if let p = s.pixelSpace {
                    if p.written { print("pixel space: \(p.size)×\(p.size) RGB from the manifest's images") } else {
                        note("warning: pixel space not written: \(counted(p.failures.count, "image")) could not be used, e.g. \(p.failures.first.map { "\($0.0): \($0.1)" } ?? "")")
                    }
                } else if s.space == "pixel" && !s.addedToExisting && !noPixels {
                    note("note: no pixel space computed from the images: the imported vectors are the space 'pixel'")
                } else if !noPixels && !s.addedToExisting {
                    note("note: no pixel space (the manifest's image paths do not all exist)")
                }
            }
        }
    }
}
