import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis

/// Issue 9, item 7: models are what they say, and `query --image` searches only spaces it can
/// compute for a new image.
final class TrustModelTests: XCTestCase {
    /// ResNet-34 weights given as resnet18 used to load (18 layers' worth) and ignore 96 keys.
    func testCheckpointOfAnotherArchitectureIsRefusedListingUnexpectedKeys() throws {
        let r34 = SyntheticWeights.resnet(.r34, classes: 3, random: false)
        do {
            _ = try ResNet(depth: .r18, stateDict: r34)
            XCTFail("ResNet-34 weights loaded as a resnet18")
        } catch let e as EmbedScopeError {
            XCTAssertEqual(e.kind, .checkpoint, e.description)
            XCTAssertTrue(e.message.contains("unexpected keys") && e.message.contains("layer1.2."), e.message)
        }
        // BatchNorm's step counters are buffers, not weights: not unexpected.
        var r18 = SyntheticWeights.resnet(.r18, classes: 3, random: false)
        r18["bn1.num_batches_tracked"] = Tensor(shape: [], data: [0])
        XCTAssertNoThrow(try ResNet(depth: .r18, stateDict: r18))
        var extra = r18
        extra["projector.weight"] = Tensor(shape: [2, 2], data: [0, 0, 0, 0])
        XCTAssertThrowsKind(.checkpoint, try ResNet(depth: .r18, stateDict: extra))
        var effnet = SyntheticWeights.efficientNetLite0(classes: 5)
        effnet["_extra.weight"] = Tensor(shape: [1], data: [0])
        XCTAssertThrowsKind(.checkpoint, try EfficientNetLite0(stateDict: effnet))
    }

    /// A backbone saved without its classifier embeds; it just has no prototypes.
    func testHeadlessBackboneEmbeds() throws {
        var sd = SyntheticWeights.resnet(.r18, classes: 3)
        sd["fc.weight"] = nil
        sd["fc.bias"] = nil
        let m = try ResNet(depth: .r18, stateDict: sd, threads: 1)
        XCTAssertEqual(m.classCount, 0)
        let out = try m.forward([Float](repeating: 0.1, count: 3 * 224 * 224), count: 1)
        XCTAssertEqual(out.features.count, 512)
        XCTAssertTrue(out.logits.isEmpty)
        XCTAssertTrue(out.features.allSatisfy(\.isFinite))
        // Only one of weight / bias is a damaged head, not a headless model.
        sd["fc.bias"] = Tensor(shape: [3], data: [0, 0, 0])
        XCTAssertThrowsKind(.notFound, try ResNet(depth: .r18, stateDict: sd))
    }

    /// A pixels-only index (no model) answers `query --image` in its pixel space (was refused);
    /// an imported space is not searched with vectors of another model.
    func testQueryImageUsesPixelSpaceAndRefusesImportedSpaces() throws {
        let dir = try temporaryDirectory(self)
        let root = dir.appendingPathComponent("photos")
        for (c, name) in [("cat", "chelsea"), ("other", "coffee"), ("other", "rocket")] {
            let to = root.appendingPathComponent(c).appendingPathComponent(name + ".png")
            try FileManager.default.createDirectory(at: to.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: try ModelFixtures.url(name + ".png"), to: to)
        }
        let out = dir.appendingPathComponent("idx")
        _ = try FolderBuilder.run(BuildRequest(dataset: root, out: out))
        let q = try CLI.run(["query", out.path, "--image", root.appendingPathComponent("other/rocket.png").path, "-k", "1", "--json"])
        XCTAssertEqual(q.status, 0, q.stderr)
        XCTAssertTrue(q.stdout.contains("other/rocket.png"), q.stdout)
        // An all-black image (a pixel vector of zeros) is named by its file, alone or in a folder.
        let blacks = dir.appendingPathComponent("blacks")
        try FileManager.default.createDirectory(at: blacks, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: root.appendingPathComponent("other/rocket.png"), to: blacks.appendingPathComponent("a.png"))
        let black = blacks.appendingPathComponent("b.png")
        try PNGWriter.write(width: 20, height: 20, channels: 3, pixels: [UInt8](repeating: 0, count: 20 * 20 * 3), to: black)
        for target in [black, blacks] {
            let r = try CLI.run(["query", out.path, "--image", target.path, "-k", "1"])
            XCTAssertEqual(r.status, 1, r.stdout)
            XCTAssertTrue(r.stderr.contains(black.path) && r.stderr.contains("all zeros"), r.stderr)
        }

        // Add an imported space: searchable by --vector, not by --image.
        let x = dir.appendingPathComponent("X.npy"), m = dir.appendingPathComponent("rows.csv")
        try NPYArray.write(shape: [3, 4], values: randomMatrix(rows: 3, dim: 4, seed: 1), to: x)
        try "path,class\ncat/chelsea.png,cat\nother/coffee.png,other\nother/rocket.png,other\n".write(to: m, atomically: true, encoding: .utf8)
        var r = ImportRequest(vectors: x, manifest: m, out: out)
        r.space = "clip"
        _ = try Importer.run(r)
        let i = try Index.open(out)
        XCTAssertThrowsKind(.invalidArgument, try i.imageQueryVectors(images: [root.appendingPathComponent("cat/chelsea.png")], space: "clip"))
        // The space a search of it defaults to is now 'clip' (its first by name): not computable,
        // so --image needs --space pixel said (see below).
        XCTAssertEqual(try i.defaultSpace(), "clip")
        XCTAssertThrowsKind(.invalidArgument, try i.imageQueryVectors(images: [root.appendingPathComponent("cat/chelsea.png")], space: nil))
        XCTAssertEqual(try i.imageQueryVectors(images: [root.appendingPathComponent("cat/chelsea.png")], space: "pixel").space, "pixel")
        let refused = try CLI.run(["query", out.path, "--image", root.appendingPathComponent("cat/chelsea.png").path, "--space", "clip"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("clip") && refused.stderr.contains("--space pixel"), refused.stderr)

        // Fails on main: once the space a search defaults to (`embedding`) holds imported vectors,
        // `query --image` without --space answered from the pixel space, unasked and unsaid.
        r.space = "embedding"
        _ = try Importer.run(r)
        let j = try Index.open(out)
        XCTAssertEqual(try j.defaultSpace(), "embedding")
        XCTAssertThrowsKind(.invalidArgument, try j.imageQueryVectors(images: [root.appendingPathComponent("cat/chelsea.png")], space: nil))
        XCTAssertEqual(try j.imageQueryVectors(images: [root.appendingPathComponent("cat/chelsea.png")], space: "pixel").space, "pixel")
        let unasked = try CLI.run(["query", out.path, "--image", root.appendingPathComponent("cat/chelsea.png").path])
        XCTAssertEqual(unasked.status, 1, unasked.stdout)
        XCTAssertTrue(unasked.stderr.contains("'embedding' space") && unasked.stderr.contains("--space pixel"), unasked.stderr)
        XCTAssertEqual(unasked.stdout, "")
    }
}
