import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels

/// EfficientNet-Lite0 at input sides other than 224 (`build --model efficientnet-lite0 --crop N`):
/// the network is convolutional with a global average pool, its geometry is computed from the
/// side at load time. Reference: PyTorch float64 on the central 192×192 of the four photos
/// (Scripts/make_effnet_crop_fixture.py); the 224 results are pinned by ModelParityTests.
final class EfficientNetCropTests: XCTestCase {
    /// The central `side`×`side` of the 224×224 planar inputs.
    func centre(_ x: [Float], images: Int, side: Int) -> [Float] {
        let o = (224 - side) / 2, n = 224 * 224
        var out: [Float] = []
        out.reserveCapacity(images * 3 * side * side)
        for i in 0..<images {
            for c in 0..<3 {
                for y in o..<(o + side) {
                    let base = i * 3 * n + c * n + y * 224
                    out += x[(base + o)..<(base + o + side)]
                }
            }
        }
        return out
    }

    func testCrop192MatchesPyTorch() throws {
        let sd = try ModelFixtures.efficientNetLite0()
        let model = try EfficientNetLite0(stateDict: sd, threads: 2, inputSize: 192)
        let n = ModelFixtures.photos.count
        let x = centre(try ModelFixtures.inputs(), images: n, side: 192)
        XCTAssertEqual(x.count, n * 3 * 192 * 192)
        let (f, _) = try model.forward(x, count: n)
        let e = try ModelFixtures.npy("effnet_crop192_features.npy")
        XCTAssertEqual(e.shape, [n, 1280])
        let a = RowAgreement(f, e.values, rows: n, dim: 1280)
        for r in 0..<n {
            print("efficientnet-lite0 at 192, \(ModelFixtures.photos[r]): cosine \(a.cosine[r]), max |Δ| \(a.maxAbs[r])")
            XCTAssertGreaterThanOrEqual(a.cosine[r], ModelParityTests.minCosine)
            XCTAssertLessThanOrEqual(a.maxAbs[r], ModelParityTests.maxFeatureDiff)
        }
        // One image alone (layers split across the threads) equals the batch (one image per worker).
        let per = 3 * 192 * 192
        let alone = try model.forward(Array(x[per..<(2 * per)]), count: 1)
        let d = RowAgreement(alone.features, Array(f[1280..<2560]), rows: 1, dim: 1280)
        XCTAssertLessThanOrEqual(d.maxAbs[0], 1e-5)
    }

    /// The smallest side (every block runs on groups of images, none per image) and an odd one
    /// (asymmetric TF padding everywhere) run and give finite features that normalise.
    func testSmallAndOddSidesRun() throws {
        let sd = try ModelFixtures.efficientNetLite0()
        for side in [32, 97] {
            let model = try EfficientNetLite0(stateDict: sd, threads: 2, inputSize: side)
            XCTAssertEqual(model.inputSize, side)
            let n = 3
            let x = seededFloats(n * 3 * side * side, seed: UInt64(side), scale: 2, offset: -1)
            let (f, l) = try model.forward(x, count: n)
            XCTAssertEqual(f.count, n * 1280)
            XCTAssertEqual(l.count, n * 1000)
            XCTAssertTrue(f.allSatisfy(\.isFinite), "side \(side)")
            for r in 0..<n {
                var v = Array(f[(r * 1280)..<((r + 1) * 1280)])
                XCTAssertNoThrow(try Normalize.toUnit(&v, what: "side \(side) row \(r)"))
                let norm = v.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
                XCTAssertEqual(norm, 1, accuracy: 1e-5)
            }
        }
        XCTAssertThrowsKind(.invalidArgument, try EfficientNetLite0(stateDict: sd, inputSize: 31))
    }

    /// Through the registry: `--crop 192` loads the network at 192 with the recipe recorded.
    func testRegistryLoadsTheCropGiven() throws {
        var o = ModelOptions(crop: 192)
        o.resize = 220
        let m = try ModelRegistry.load("efficientnet-lite0", weights: nil, options: o)
        XCTAssertEqual(m.extractor.inputSize, 192)
        XCTAssertEqual(m.preprocessing.crop, 192)
        XCTAssertEqual(m.preprocessing.resizeShort, 220)
        let image = try ImageDecoder.decode(contentsOf: ModelFixtures.url("chelsea.png"))
        let x = m.preprocessing.apply(image)
        XCTAssertEqual(x.count, 3 * 192 * 192)
        let (f, _) = try m.extractor.forward(x, count: 1)
        XCTAssertTrue(f.allSatisfy(\.isFinite))
    }
}
