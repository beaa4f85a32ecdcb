import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeModels
@testable import EmbedScopeImages

/// `add` on an index built with its own preprocessing (`build --resize/--crop/--mean/--std`):
/// the recipe is reloaded from the catalog's meta, and the new rows equal a full rebuild.
extension GrowthTests {
    func testAddWithRecordedPreprocessingEqualsARebuild() throws {
        let dir = try temporaryDirectory(self)
        let photos = try PhotoFolder(in: dir)
        let root = photos.root, weights = photos.weights, copy = photos.copy
        func build(_ out: URL) throws {
            var r = BuildRequest(dataset: root, out: out)
            r.pixelSize = 8; r.model = "resnet18"; r.weights = weights; r.batchSize = 2
            r.modelOptions = ModelOptions(resize: 64, crop: 64, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
            _ = try FolderBuilder.run(r)
        }
        let idx = dir.appendingPathComponent("idx"), full = dir.appendingPathComponent("full")
        try build(idx)
        let recorded = try XCTUnwrap(Index.open(idx).spaces.first { $0.name == "embedding" }?.preprocessing)
        XCTAssertTrue(recorded.contains("64"), recorded)
        try copy("other", "coffee"); try copy("cat", "astronaut")
        let s = try IndexGrowth.addImages(AddImagesRequest(index: idx, images: [root]))
        XCTAssertEqual(s.paths.sorted(), ["cat/astronaut.png", "other/coffee.png"])
        try build(full)
        XCTAssertEqual(try Index.open(idx).spaces, try Index.open(full).spaces, "same recorded recipe")
        // Batches differ (add embeds the new images on their own): equal to float rounding.
        try assertSameIndex(idx, full, tolerance: 1e-5)
        // The default 224 recipe would give other vectors: the preprocessing is what made them equal.
        let added = try Index.open(idx)
        let row = try XCTUnwrap(added.catalog.allImages().first { $0.path == "other/coffee.png" }?.row)
        let model = try ModelRegistry.load("resnet18", weights: weights)
        let img = try ImageDecoder.decode(data: Data(contentsOf: root.appendingPathComponent("other/coffee.png")), path: "coffee")
        var v = try model.extractor.forward(model.preprocessing.apply(img), count: 1).features
        _ = try Normalize.toUnit(&v, what: "default recipe")
        let stored = Array(try added.vectors(space: "embedding").row(row))
        XCTAssertEqual(v.count, stored.count)
        XCTAssertGreaterThan(maxAbsDifference(v, stored), 1e-3)
    }
}
