import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport

/// `build --model` and `query --image` end to end, with the committed pooled-weight ResNet-18
/// checkpoint (Fixtures/models/resnet18_legacy.pth, a full ResNet-18 with a 1000-class head).
final class ModelBuildTests: XCTestCase {
    func weights() throws -> URL { try ModelFixtures.url("resnet18_legacy.pth") }

    /// Photos as a two-class folder: cat/chelsea.png, other/{coffee,rocket}.png.
    func photoFolder(_ dir: URL) throws -> URL {
        let root = dir.appendingPathComponent("photos")
        for (c, name) in [("cat", "chelsea"), ("other", "coffee"), ("other", "rocket")] {
            let to = root.appendingPathComponent(c).appendingPathComponent(name + ".png")
            try FileManager.default.createDirectory(at: to.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: try ModelFixtures.url(name + ".png"), to: to)
        }
        return root
    }

    func testBuildWithModelWritesEmbeddingPixelAndPrototypeSpacesInOnePass() throws {
        let dir = try temporaryDirectory(self)
        let root = try photoFolder(dir)
        var req = BuildRequest(dataset: root, out: dir.appendingPathComponent("idx"))
        req.model = "resnet18"
        req.weights = try weights()
        req.batchSize = 2  // 3 images: one full batch and a partial one
        let s = try FolderBuilder.run(req)
        XCTAssertEqual(s.rows, 3)
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: s.spaces.map { ($0.name, $0.dim) }), ["embedding": 512, "pixel": 3 * 32 * 32])
        XCTAssertEqual(s.prototypeSet?.name, "imagenet")
        XCTAssertEqual(s.prototypeSet?.count, 1000)

        let idx = try Index.open(req.out)
        XCTAssertNoThrow(try idx.verify())
        let paths = try idx.catalog.allImages().map(\.path)
        XCTAssertEqual(paths, ["cat/chelsea.png", "other/coffee.png", "other/rocket.png"])

        // Each stored row is the model's feature vector for that file, unit-normalized, with
        // its norm kept; the prototypes reproduce the model's logits (norm × unit·w + b).
        let model = try ModelRegistry.load("resnet18", weights: try weights())
        let files = paths.map { root.appendingPathComponent($0) }
        let raw = try Index.embed(images: files, with: model)
        let emb = try idx.vectors(space: "embedding"), norms = try idx.norms(space: "embedding")
        let input = try files.flatMap { model.preprocessing.apply(try ImageDecoder.decode(contentsOf: $0)) }
        let logits = try model.extractor.forward(input, count: 3).logits
        for r in 0..<3 {
            let n = raw[r].reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
            XCTAssertEqual(Double(norms.row(0)[r]), n, accuracy: 1e-4 * n, "row \(r) norm")  // norms: one row of N
            for j in 0..<512 { XCTAssertEqual(Double(emb.row(r)[j]), Double(raw[r][j]) / n, accuracy: 1e-6) }
        }
        for c in [0, 214, 999] {
            let l = try idx.logits(set: "imagenet", prototype: c)
            for r in 0..<3 {
                XCTAssertEqual(l[r], logits[r * 1000 + c], accuracy: 1e-4 * max(1, abs(logits[r * 1000 + c])), "row \(r) class \(c)")
            }
        }
        // The prototypes are named, so rank works by class name.
        XCTAssertEqual(try idx.findPrototype("tiger cat", set: nil).index, 282)
    }

    /// A fine-tuned head whose row count matches the data set's classes becomes the prototype
    /// set `head`, named by the classes in sorted (ImageFolder) order.
    func testFineTunedHeadBecomesThePrototypeSetOfTheDatasetClasses() throws {
        let dir = try temporaryDirectory(self)
        let root = dir.appendingPathComponent("ten")
        let classes = (0..<10).map { "class-\($0)" }
        for (i, c) in classes.enumerated() {
            let url = root.appendingPathComponent(c).appendingPathComponent("x.png")
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            var px: [UInt8] = []
            for p in 0..<(12 * 12) {
                let g: Int = (p * 7 + i * 31) % 256
                px += [UInt8(25 * i), UInt8(g), UInt8(255 - 20 * i)]
            }
            try PNGWriter.write(width: 12, height: 12, channels: 3, pixels: px, to: url)
        }
        var req = BuildRequest(dataset: root, out: dir.appendingPathComponent("idx"))
        req.model = "resnet50"
        req.weights = try ModelFixtures.url("resnet50_zip.pt")  // 10-class fc
        let s = try FolderBuilder.run(req)
        XCTAssertEqual(s.prototypeSet?.name, "head")
        XCTAssertEqual(s.prototypeSet?.count, 10)
        let idx = try Index.open(req.out)
        XCTAssertEqual(try idx.findPrototype("class-7", set: "head").index, 7)
        XCTAssertEqual(try idx.vectors(space: "embedding").dim, 2048)

        let model = try ModelRegistry.load("resnet50", weights: req.weights, datasetClasses: classes)
        let files = try idx.catalog.allImages().map { root.appendingPathComponent($0.path) }
        let input = try files.flatMap { model.preprocessing.apply(try ImageDecoder.decode(contentsOf: $0)) }
        let logits = try model.extractor.forward(input, count: files.count).logits
        for c in [0, 7] {
            let l = try idx.logits(set: "head", prototype: c)
            for r in 0..<files.count {
                XCTAssertEqual(l[r], logits[r * 10 + c], accuracy: 1e-4 * max(1, abs(logits[r * 10 + c])))
            }
        }
    }

    func testBuildWithMissingOrBrokenWeightsFailsBeforeWritingAnything() throws {
        let dir = try temporaryDirectory(self)
        let root = try photoFolder(dir)
        var req = BuildRequest(dataset: root, out: dir.appendingPathComponent("idx"))
        req.model = "resnet18"
        XCTAssertThrowsKind(.invalidArgument, try FolderBuilder.run(req), "resnet18 has no default weights")
        req.weights = dir.appendingPathComponent("nope.pth")
        XCTAssertThrowsKind(.notFound, try FolderBuilder.run(req))
        req.weights = try ModelFixtures.url("resnet50_zip.pt")
        XCTAssertThrowsKind(.shapeMismatch, try FolderBuilder.run(req), "a ResNet-50 checkpoint is not a ResNet-18")
        req.model = "alexnet"
        XCTAssertThrowsKind(.invalidArgument, try FolderBuilder.run(req))
        XCTAssertFalse(FileManager.default.fileExists(atPath: req.out.path))
    }

    /// `query --image` embeds with the weights recorded at build time, checked against their
    /// recorded checksum: the file overwritten (a later checkpoint at the same path) or gone was
    /// loaded as it was now — or, gone, as the model's default weights — and answered, exit 0.
    func testQueryByNewImageRefusesWeightsOtherThanTheIndexs() throws {
        let dir = try temporaryDirectory(self)
        let root = try photoFolder(dir)
        let w = dir.appendingPathComponent("w.pth")
        try FileManager.default.copyItem(at: try weights(), to: w)
        var req = BuildRequest(dataset: root, out: dir.appendingPathComponent("idx"))
        req.model = "resnet18"
        req.weights = w
        _ = try FolderBuilder.run(req)
        let image = root.appendingPathComponent("other/rocket.png").path
        XCTAssertEqual(try CLI.run(["query", req.out.path, "--image", image, "-k", "1"]).status, 0)

        let h = try FileHandle(forWritingTo: w)
        try h.seekToEnd(); try h.write(contentsOf: Data([0])); try h.close()
        let changed = try CLI.run(["query", req.out.path, "--image", image, "-k", "1"])
        XCTAssertEqual(changed.status, 1, changed.stdout)
        XCTAssertTrue(changed.stderr.contains("changed since the index was built"), changed.stderr)
        XCTAssertTrue(changed.stdout.isEmpty)

        try FileManager.default.removeItem(at: w)
        let gone = try CLI.run(["query", req.out.path, "--image", image, "-k", "1"])
        XCTAssertEqual(gone.status, 1, gone.stdout)
        XCTAssertTrue(gone.stderr.contains("the weights this index was built with are gone"), gone.stderr)
        // The same bytes elsewhere, given: answered; other bytes given: refused.
        let moved = dir.appendingPathComponent("moved.pth")
        try FileManager.default.copyItem(at: try weights(), to: moved)
        let ok = try CLI.run(["query", req.out.path, "--image", image, "-k", "1", "--weights", moved.path])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.contains("other/rocket.png"), ok.stdout)
        let other = try CLI.run(["query", req.out.path, "--image", image, "-k", "1", "--weights", try ModelFixtures.url("resnet50_zip.pt").path])
        XCTAssertEqual(other.status, 1, other.stdout)
        XCTAssertTrue(other.stderr.contains("are not the weights this index was built with"), other.stderr)
    }

    func testQueryByNewImageFindsTheSamePhotoFirst() throws {
        let dir = try temporaryDirectory(self)
        let root = try photoFolder(dir)
        var req = BuildRequest(dataset: root, out: dir.appendingPathComponent("idx"))
        req.model = "resnet18"
        req.weights = try weights()
        _ = try FolderBuilder.run(req)

        // A copy outside the index, re-encoded: the same pixels, a different file.
        let image = try ImageDecoder.decode(contentsOf: root.appendingPathComponent("other/rocket.png"))
        let outside = dir.appendingPathComponent("new.png")
        try PNGWriter.write(width: image.width, height: image.height, channels: 3, pixels: image.pixels, to: outside)

        let q = try CLI.run(["query", req.out.path, "--image", outside.path, "-k", "3", "--json"])
        XCTAssertEqual(q.status, 0, q.stderr)
        struct R: Decodable { var results: [ResultRow] }
        let parsed = try JSONDecoder().decode(R.self, from: Data(q.stdout.utf8))
        XCTAssertEqual(parsed.results.count, 3)
        XCTAssertEqual(parsed.results.first?.path, "other/rocket.png")
        XCTAssertEqual(parsed.results.first?.score ?? 0, 1, accuracy: 1e-5)

        // A folder of images: one result list per file. A corrupt file is a clear error.
        let folder = dir.appendingPathComponent("queries")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: outside, to: folder.appendingPathComponent("a.png"))
        try FileManager.default.copyItem(at: root.appendingPathComponent("cat/chelsea.png"), to: folder.appendingPathComponent("b.png"))
        let many = try CLI.run(["query", req.out.path, "--image", folder.path, "-k", "1"])
        XCTAssertEqual(many.status, 0, many.stderr)
        XCTAssertTrue(many.stdout.contains("other/rocket.png") && many.stdout.contains("cat/chelsea.png"), many.stdout)

        try Data("\u{89}PNG\r\n\u{1a}\n garbage".utf8).write(to: dir.appendingPathComponent("bad.png"))
        let bad = try CLI.run(["query", req.out.path, "--image", dir.appendingPathComponent("bad.png").path])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("bad.png"), bad.stderr)
        XCTAssertTrue(bad.stdout.isEmpty)
    }
}
