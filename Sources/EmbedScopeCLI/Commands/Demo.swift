import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Demo: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "demo", abstract: "The main job on the embedded default: Fashion-MNIST → PNG folder → index → queries.",
            discussion: "Uses the Debian package dataset-fashion-mnist (installed by Scripts/setup.sh); nothing is downloaded.")

        @Option(parsing: .unconditional, help: "Images from the Fashion-MNIST test split to use (20–10,000: at least two of each class, which cluster metrics need).") var limit = 2000
        @Option(help: "Native model for the embedding space (efficientnet-lite0, resnet18/34/50 with --weights), or none for pixels only.")
        var model = "efficientnet-lite0"
        @Option(help: "Weights for --model (default: the EfficientNet-Lite0 ImageNet weights Scripts/setup.sh installs).") var weights: String?
        @Option(help: "Where the image folder and the index are written.") var workdir = "Indexes"
        @Option(parsing: .unconditional, help: "Row of the sample query.") var row = 0
        @Option(help: "ImageNet class whose prototype ranks the images (with an ImageNet head).") var prototype = "running shoe"

        func validate() throws {
            // 10 would be one image a class: the silhouette is undefined there and the demo failed at step 5.
            guard (20...10000).contains(limit) else { throw ValidationError("--limit must be between 20 and 10000 (two images of each of the 10 classes at least)") }
            // Checked before anything is written (the index has --limit rows).
            guard (0..<limit).contains(row) else { throw ValidationError("--row must be a row of the demo's index: 0…\(limit - 1) (--limit \(limit))") }
            guard model == "none" || ModelRegistry.names.contains(model) else {
                throw ValidationError("--model must be none or one of \(ModelRegistry.names.joined(separator: ", "))")
            }
        }

        func run() throws {
            try runCommand {
                let dir = resolveURL(workdir)
                let folder = dir.appendingPathComponent("fashion-mnist-test-\(limit)")
                let indexURL = dir.appendingPathComponent("fashion-mnist")
                func clock() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
                func indent(_ s: String) -> String { s.split(separator: "\n").map { "   " + $0 }.joined(separator: "\n") }

                print("EmbedScope demo — Fashion-MNIST (Debian package dataset-fashion-mnist)\n")
                var t = clock()
                let ex = try FashionMNIST.export(split: .test, limit: limit, to: folder, force: true, progress: TerminalProgress())
                print(String(format: "1. wrote %d test images as 28×28 grayscale PNGs, one folder per class: %@  (%.2fs)", ex.written, folder.path, clock() - t))
                print("   " + zip(FashionMNIST.classNames, ex.perClass).map { "\($0) \($1)" }.joined(separator: ", "))

                var req = BuildRequest(dataset: folder, out: indexURL)
                req.force = true
                if model != "none" {
                    req.model = model
                    req.weights = weights.map(resolveURL)
                }
                let b = try FolderBuilder.run(req, progress: TerminalProgress())
                print(String(format: "\n2. indexed %d images into %@  (%.2fs, %.0f images/s; each PNG decoded once with libpng)",
                             b.rows, indexURL.path, b.seconds, Double(b.rows) / b.seconds))
                if b.forwardSeconds > 0 {
                    print(String(format: "   %@ forward pass (native): %.1fs, %.0f images/s at 224×224 on %d threads",
                                 model, b.forwardSeconds, Double(b.rows) / b.forwardSeconds, CPUBudget.threads))
                    print("   machine: \(SystemInfo.collect().summary) (embedscope info --system)")
                }
                let idx = try Index.open(indexURL)
                let info = try IndexInfo.collect(idx)
                for s in info.spaces { print("   space \(s.name): \(s.rows) × \(s.dim), \(ByteCount.format(s.bytes)) — \(s.preprocessing)") }
                if let p = b.prototypeSet { print("   prototype set '\(p.name)': \(p.count) classifier rows, names from \(p.namesFrom)") }
                let spaces = info.spaces.map(\.name).sorted { $0 == "embedding" || $1 != "embedding" && $0 < $1 }

                let q = try idx.catalog.images(rows: [row])[row]
                let names = try idx.classNames()
                print("\n3. query: row \(row), \(q?.path ?? "?") (class \(q.flatMap { names[$0.classId] } ?? "?"))")
                for space in spaces {
                    var o = SearchOptions()
                    o.space = space; o.k = 5
                    t = clock()
                    let near = try idx.search(.row(row), options: o)
                    let tNear = clock() - t
                    o.farthest = true
                    let far = try idx.search(.row(row), options: o)
                    print(String(format: "   %@ space — nearest 5 (highest cosine), %.2f ms:", space, tNear * 1000))
                    print(indent(formatTable(near)))
                    print("   \(space) space — farthest 5 (lowest cosine):")
                    print(indent(formatTable(far)))
                }

                if let set = b.prototypeSet, set.name == "imagenet" {
                    let top = try idx.rank(prototype: prototype, set: "imagenet", least: false, k: 5)
                    let classes = try idx.rank(prototype: prototype, set: "imagenet", least: false, k: 100)
                    let counts = Dictionary(grouping: classes, by: \.class).mapValues(\.count).sorted { $0.value > $1.value }
                    print("\n4. prototype: the images the ImageNet head scores highest for '\(prototype)' (score = logit):")
                    print(indent(formatTable(top)))
                    print("   classes of its top 100: " + counts.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
                }

                // Leave-one-out 1-NN agreement (precision@1 of `versus`) and cluster quality, per space.
                print("\n5. how well each space separates the classes:")
                t = clock()
                var vo = VersusOptions()
                vo.k = 1
                vo.spaces = spaces
                let nn = try idx.versus(options: vo)
                let tKNN = clock() - t
                for s in nn.spaces {
                    t = clock()
                    let c = try idx.clusterScores(space: s.space)
                    print(String(format: "   %-9@ 1-NN same class %.1f%% · silhouette %.4f, Davies-Bouldin %.3f, Calinski-Harabasz %.1f (exact, %.2fs)",
                                 s.space, 100 * s.precisionAtK, c.silhouette.mean, c.daviesBouldin, c.calinskiHarabasz, clock() - t))
                }
                print(String(format: "   (leave-one-out 1-NN over all %d images in every space: %.2fs, blocked sgemm on both cores)", nn.rows, tKNN))

                if spaces.contains("embedding") {
                    t = clock()
                    var req = ProbeRequest()
                    req.space = "embedding"
                    let p = try idx.probe(req)
                    try recordMetrics { try idx.recordProbe(p) }
                    print(String(format: "\n6. linear probe on the embedding (multinomial logistic regression, L2, C=1, native L-BFGS on BLAS): validation accuracy %.1f%% (%d train / %d validation images, %.2fs); stored as prototype set 'probe'",
                                 100 * p.validation.accuracy, p.trainRows, p.validationRows, clock() - t))
                }

                t = clock()
                let reportURL = dir.appendingPathComponent("fashion-mnist-report")
                let section = try Index.open(indexURL).reportSection(name: "fashion-mnist", options: ReportOptions(), progress: TerminalProgress())
                _ = try ReportWriter.write(ReportDocument(title: "EmbedScope demo — Fashion-MNIST", indexes: [section]), to: reportURL, progress: TerminalProgress())
                print(String(format: "\n7. wrote the report (PCA/LDA plots, cluster metrics, neighbour quality, confusion matrices, contact sheets) in %.2fs; open it from disk:\n   %@",
                             clock() - t, reportURL.appendingPathComponent("index.html").path))
                if let q = section.quality {
                    print("   data quality (\(q.space)): \(q.pairCount) near-duplicate pairs at cosine ≥ \(q.threshold) (\(q.leakagePairs) across splits), "
                          + "\(q.mislabels?.flagged ?? 0) images whose label disagrees with held-out evidence (embedscope duplicates / mislabels)")
                }
                print("\nnext: embedscope info \(indexURL.path) · embedscope query \(indexURL.path) --row \(min(42, limit - 1)) --json · embedscope compare \(indexURL.path)")
            }
        }
    }
}
