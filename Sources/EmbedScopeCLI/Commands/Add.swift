import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add", abstract: "Add new images (or imported vectors) to an index without recomputing its rows.",
            discussion: reflow("""
            embedscope add INDEX [DATASET_OR_IMAGES…]: the images of the index's data set (its root, or \
            folders / files inside it; default the whole root) whose paths are not in the index yet, \
            embedded with the index's own pixel size, model, weights and preprocessing (refused when \
            they cannot be reproduced or differ from --model / --weights / --pixel-size). Rows end up \
            in build's order, so queries equal a rebuild on the same images.
            embedscope add INDEX --vectors X.npy --manifest rows.csv [--space S]: rows for an imported \
            space (import's formats; same dimension; paths must be new), appended in manifest order; a \
            pixel space is computed from the images.
            One new generation, switched atomically; metrics.json is dropped, probe sets too.
            """))

        @Argument(help: "Index directory.") var index: String
        @Argument(help: "The index's data-set root, or folders / image files inside it.") var images: [String] = []
        @Option(help: "Vectors of the new rows, .npy [N, d] (with --manifest).") var vectors: String?
        @Option(help: "Manifest of the new rows: CSV with header path,class[,split].") var manifest: String?
        @Option(help: "Space the --vectors belong to.") var space = "embedding"
        @Option(help: "Folder the manifest's relative paths start from (default: the index's data-set root).") var root: String?
        @Option(help: "Must be the index's model (checked).") var model: String?
        @Option(help: "The index's weights file, when it has moved (checked against the recorded checksum).") var weights: String?
        @Option(parsing: .unconditional, help: "Must be the index's pixel size (checked).") var pixelSize: Int?
        @Option(parsing: .unconditional, help: "Images per forward pass.") var batch = 32
        @Flag(help: "Fail on the first image that cannot be decoded instead of skipping it.") var strict = false
        @OptionGroup var output: OutputOptions
        @OptionGroup var lockOptions: LockOptions

        func validate() throws {
            if (vectors == nil) != (manifest == nil) { throw ValidationError("--vectors and --manifest go together") }
            if vectors != nil && !images.isEmpty { throw ValidationError("give either images (a data-set folder) or --vectors with --manifest, not both") }
            if vectors != nil && (model != nil || weights != nil || pixelSize != nil) {
                throw ValidationError("--model, --weights and --pixel-size apply to images, not to --vectors")
            }
            guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        }

        func run() throws {
            lockOptions.apply()
            try runCommand {
                let url = resolveURL(index)
                let s: GrowthSummary
                if let vectors, let manifest {
                    var r = AddVectorsRequest(index: url, vectors: resolveURL(vectors), manifest: resolveURL(manifest))
                    r.space = space; r.root = root.map(resolveURL)
                    s = try IndexGrowth.addVectors(r, progress: TerminalProgress())
                } else {
                    var r = AddImagesRequest(index: url, images: images.map(resolveURL))
                    r.model = model; r.weights = weights.map(resolveURL); r.pixelSize = pixelSize; r.batchSize = batch; r.strict = strict
                    s = try IndexGrowth.addImages(r, progress: TerminalProgress())
                }
                try printGrowth(s, verb: "added", json: output.json)
            }
        }
    }
}
