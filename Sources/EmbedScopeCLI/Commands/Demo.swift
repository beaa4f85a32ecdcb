import ArgumentParser
import EmbedScope
import Foundation

extension Root {
    struct Demo: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The main job on the embedded default: Fashion-MNIST → PNG folder → index → queries.",
            discussion: "Uses the Debian package dataset-fashion-mnist (installed by Scripts/setup.sh); nothing is downloaded.")

        @Option(help: "Images from the Fashion-MNIST test split to use (all 10,000 by default).") var limit = 10000
        @Option(help: "Where the image folder and the index are written.") var workdir = "Indexes"
        @Option(help: "Row of the sample query.") var row = 0

        func validate() throws {
            guard (10...10000).contains(limit) else { throw ValidationError("--limit must be between 10 and 10000") }
        }

        func run() throws {
            try EmbedScopeCLI.run {
                let dir = resolveURL(workdir)
                let folder = dir.appendingPathComponent("fashion-mnist-test-\(limit)")
                let indexURL = dir.appendingPathComponent("fashion-mnist")
                func clock() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

                print("EmbedScope demo — Fashion-MNIST (Debian package dataset-fashion-mnist)\n")
                var t = clock()
                let ex = try FashionMNIST.export(split: .test, limit: limit, to: folder, force: true, progress: TerminalProgress())
                print(String(format: "1. wrote %d test images as 28×28 grayscale PNGs, one folder per class: %@  (%.2fs)", ex.written, folder.path, clock() - t))
                print("   " + zip(FashionMNIST.classNames, ex.perClass).map { "\($0) \($1)" }.joined(separator: ", "))

                t = clock()
                var req = BuildRequest(dataset: folder, out: indexURL)
                req.force = true
                let b = try FolderBuilder.run(req, progress: TerminalProgress())
                print(String(format: "\n2. indexed %d images into %@  (%.2fs, %.0f images/s; each PNG decoded with libpng)", b.rows, indexURL.path, b.seconds, Double(b.rows) / b.seconds))
                let idx = try Index.open(indexURL)
                let info = try IndexInfo.collect(idx)
                for s in info.spaces { print("   space \(s.name): \(s.rows) × \(s.dim), \(ByteCount.format(s.bytes)) — \(s.preprocessing)") }

                let q = try idx.catalog.images(rows: [row])[row]
                let names = try idx.classNames()
                print("\n3. query: row \(row), \(q?.path ?? "?") (class \(q.flatMap { names[$0.classId] } ?? "?")), space pixel")
                var o = SearchOptions()
                o.space = "pixel"; o.k = 5
                t = clock()
                let near = try idx.search(.row(row), options: o)
                let tNear = clock() - t
                o.farthest = true
                let far = try idx.search(.row(row), options: o)
                print(String(format: "   nearest 5 (highest cosine), %.2f ms:", tNear * 1000))
                print(formatTable(near).split(separator: "\n").map { "   " + $0 }.joined(separator: "\n"))
                print("   farthest 5 (lowest cosine):")
                print(formatTable(far).split(separator: "\n").map { "   " + $0 }.joined(separator: "\n"))

                // A quick read of the pixel space: how often is the nearest neighbour of the same class?
                t = clock()
                let v = try idx.vectors(space: "pixel")
                let ids = try idx.catalog.classIds()
                var same = 0
                let n = v.rows
                let all = Array(UnsafeBufferPointer(start: v.base, count: n * v.stride))
                let hits = Scorer.searchBatch(RowMatrix(v), queries: stripPadding(all, rows: n, dim: v.dim, stride: v.stride), count: n, k: 2)
                for i in 0..<n {
                    let nn = hits[i].first(where: { $0.row != i })?.row ?? i
                    if ids[nn] == ids[i] { same += 1 }
                }
                print(String(format: "\n4. leave-one-out 1-NN in the pixel space: %.1f%% of images have a nearest neighbour of their own class (%d queries in %.2fs, batched sgemm)",
                             100 * Double(same) / Double(n), n, clock() - t))
                t = clock()
                let reportURL = dir.appendingPathComponent("fashion-mnist-report")
                let section = try idx.reportSection(name: "fashion-mnist", options: ReportOptions(), progress: TerminalProgress())
                _ = try ReportWriter.write(ReportDocument(title: "EmbedScope demo — Fashion-MNIST", indexes: [section]), to: reportURL, progress: TerminalProgress())
                print(String(format: "\n5. wrote the report (cluster metrics, per-class silhouette chart, contact sheets) in %.2fs; open it from disk:\n   %@",
                             clock() - t, reportURL.appendingPathComponent("index.html").path))
                print("\nnext: embedscope info \(indexURL.path) · embedscope query \(indexURL.path) --space pixel --row 42 --json")
            }
        }
    }
}

func stripPadding(_ a: [Float], rows: Int, dim: Int, stride: Int) -> [Float] {
    if dim == stride { return a }
    var out = [Float](); out.reserveCapacity(rows * dim)
    for i in 0..<rows { out += a[(i * stride)..<(i * stride + dim)] }
    return out
}
