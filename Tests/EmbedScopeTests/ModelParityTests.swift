import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport

/// Our native forward pass against PyTorch (float64) on four photos, with the weights read by
/// our own checkpoint reader: the ImageNet EfficientNet-Lite0 .pth that Scripts/setup.sh
/// installs, and the committed pooled-weight ResNet checkpoints (ResNet-18 in the legacy
/// format and as a Lightning .ckpt, ResNet-34 and ResNet-50 in the zip format). Expected outputs are
/// committed (Fixtures/models, Scripts/make_model_fixtures.py).
///
/// Tolerances: PyTorch float32 itself is ~5e-6 (max abs, features and logits) from float64 on
/// EfficientNet-Lite0; every real bug seen was ≥ 0.27 off. We require cosine ≥ 0.99999,
/// max |Δ| ≤ 1e-4 on features and on logits, and the same top-5 classes in the same order.
/// ResNets (pooled seeded weights, deeper sums: float32 PyTorch is 5e-5 off on ResNet-50's
/// features of magnitude 6): the same bounds scaled by max(1, largest |expected value|).
final class ModelParityTests: XCTestCase {
    static let minCosine = 0.99999
    static let maxFeatureDiff = 1e-4
    static let maxLogitDiff = 1e-4

    func testEfficientNetLite0MatchesPyTorch() throws {
        let model = try EfficientNetLite0(stateDict: ModelFixtures.efficientNetLite0())
        XCTAssertEqual(model.classCount, 1000)
        try checkParity(model, features: "effnet_features.npy", logits: "effnet_logits.npy",
                        top5: try ModelFixtures.expected().effnet.top5, relative: false)
    }

    /// Fashion-MNIST as the demo sees it: 28×28 grayscale PNGs through EmbedScope's own
    /// preprocessing (gray → RGB, resize to 256, crop 224, (x − 127)/128), so this pins the
    /// preprocessing as well as the network against PyTorch on the same steps in float64.
    func testEfficientNetLite0OnFashionMNISTThroughOurPreprocessing() throws {
        let model = try EfficientNetLite0(stateDict: ModelFixtures.efficientNetLite0())
        let expected = try ModelFixtures.expected()
        var x: [Float] = []
        for i in expected.fmnist {
            let image = try ImageDecoder.decode(contentsOf: ModelFixtures.url("fmnist-\(i).png"))
            XCTAssertEqual([image.width, image.height], [28, 28])
            x += Preprocessing.efficientNetLite.apply(image)
        }
        let n = expected.fmnist.count
        let (f, l) = try model.forward(x, count: n)
        let ef = try ModelFixtures.npy("effnet_fmnist_features.npy"), el = try ModelFixtures.npy("effnet_fmnist_logits.npy")
        let fa = RowAgreement(f, ef.values, rows: n, dim: 1280), la = RowAgreement(l, el.values, rows: n, dim: 1000)
        for r in 0..<n {
            let ours = top(5, l[(r * 1000)..<((r + 1) * 1000)])
            print("efficientnet-lite0 fmnist-\(expected.fmnist[r]): features cosine \(fa.cosine[r]), max |Δ| \(fa.maxAbs[r]); logits max |Δ| \(la.maxAbs[r]); top-5 \(ours)")
            XCTAssertGreaterThanOrEqual(fa.cosine[r], Self.minCosine)
            XCTAssertLessThanOrEqual(fa.maxAbs[r], Self.maxFeatureDiff)
            XCTAssertLessThanOrEqual(la.maxAbs[r], Self.maxLogitDiff)
            XCTAssertEqual(ours, expected.effnet_fmnist.top5[r])
        }
    }

    func testResNet18MatchesPyTorchFromBothFormats() throws {
        let legacy = try ModelFixtures.checkpoint("resnet18_legacy.pth")
        let lightning = try ModelFixtures.checkpoint("resnet18_lightning.ckpt")
        XCTAssertEqual(Set(legacy.keys), Set(lightning.keys), "the Lightning 'model.' prefix is stripped")
        for (format, sd) in [("legacy", legacy), ("lightning", lightning)] {
            let model = try ResNet(depth: .r18, stateDict: sd)
            XCTAssertEqual(model.featureDim, 512, format)
            try checkParity(model, features: "resnet18_features.npy", logits: "resnet18_logits.npy",
                            top5: try ModelFixtures.expected().resnet18.top5)
        }
    }

    func testResNet34MatchesPyTorch() throws {
        let model = try ResNet(depth: .r34, stateDict: ModelFixtures.checkpoint("resnet34_zip.pt"))
        XCTAssertEqual(model.featureDim, 512)
        try checkParity(model, features: "resnet34_features.npy", logits: "resnet34_logits.npy",
                        top5: try ModelFixtures.expected().resnet34.top5)
    }

    func testResNet50MatchesPyTorch() throws {
        let sd = try ModelFixtures.checkpoint("resnet50_zip.pt")
        let model = try ResNet(depth: .r50, stateDict: sd)
        XCTAssertEqual(model.featureDim, 2048)
        XCTAssertEqual(model.classCount, 10)
        try checkParity(model, features: "resnet50_features.npy", logits: "resnet50_logits.npy",
                        top5: try ModelFixtures.expected().resnet50.top5)
    }

    /// The batch is split across workers and grouped; one image at a time, or one thread, must
    /// give the same numbers.
    func testEfficientNetLite0BatchAndThreadInvariance() throws {
        let sd = try ModelFixtures.efficientNetLite0()
        let x = try ModelFixtures.inputs()
        let two = try EfficientNetLite0(stateDict: sd, threads: 2)
        let one = try EfficientNetLite0(stateDict: sd, threads: 1)
        let batch = try two.forward(x, count: 4)
        let single = try one.forward(x, count: 4)
        let per = 3 * 224 * 224
        for i in 0..<4 {
            let alone = try two.forward(Array(x[(i * per)..<((i + 1) * per)]), count: 1)
            let d = RowAgreement(alone.features, Array(batch.features[(i * 1280)..<((i + 1) * 1280)]), rows: 1, dim: 1280)
            XCTAssertLessThanOrEqual(d.maxAbs[0], 1e-5, "image \(i) alone vs in a batch of 4")
            // One image's classifier runs the dot kernel, a batch's the packed GEMM.
            let c = two.classCount
            let l = RowAgreement(alone.logits, Array(batch.logits[(i * c)..<((i + 1) * c)]), rows: 1, dim: c)
            XCTAssertLessThanOrEqual(l.maxAbs[0], 1e-4, "image \(i) logits alone vs in a batch of 4")
        }
        let d = RowAgreement(single.features, batch.features, rows: 4, dim: 1280)
        XCTAssertLessThanOrEqual(d.maxAbs.max() ?? 0, 1e-5, "1 thread vs 2")
    }

    private func checkParity(_ model: FeatureExtractor, features fName: String, logits lName: String, top5: [[Int]],
                             relative: Bool = true, file: StaticString = #filePath, line: UInt = #line) throws {
        let n = ModelFixtures.photos.count
        let x = try ModelFixtures.inputs()
        let (f, l) = try model.forward(x, count: n)
        let ef = try ModelFixtures.npy(fName), el = try ModelFixtures.npy(lName)
        XCTAssertEqual(ef.shape, [n, model.featureDim])
        XCTAssertEqual(el.shape, [n, model.classCount])
        let fa = RowAgreement(f, ef.values, rows: n, dim: model.featureDim)
        let la = RowAgreement(l, el.values, rows: n, dim: model.classCount)
        let featureTol = Self.maxFeatureDiff * (relative ? max(1, Double(ef.values.map { abs($0) }.max() ?? 0)) : 1)
        let logitTol = Self.maxLogitDiff * (relative ? max(1, Double(el.values.map { abs($0) }.max() ?? 0)) : 1)
        for i in 0..<n {
            let name = ModelFixtures.photos[i]
            let c = model.classCount
            let ours = top(min(5, c), l[(i * c)..<((i + 1) * c)])
            print("\(model.name) \(name): features cosine \(fa.cosine[i]) (≥ \(Self.minCosine)), max |Δ| \(fa.maxAbs[i]) (≤ \(featureTol)); "
                  + "logits max |Δ| \(la.maxAbs[i]) (≤ \(logitTol)); top-5 \(ours) (PyTorch \(top5[i]))")
            XCTAssertGreaterThanOrEqual(fa.cosine[i], Self.minCosine,
                                        "\(name): feature cosine: expected ≥ \(Self.minCosine), observed \(fa.cosine[i])", file: file, line: line)
            XCTAssertLessThanOrEqual(fa.maxAbs[i], featureTol,
                                     "\(name): feature max |Δ|: expected ≤ \(featureTol), observed \(fa.maxAbs[i])", file: file, line: line)
            XCTAssertLessThanOrEqual(la.maxAbs[i], logitTol,
                                     "\(name): logit max |Δ|: expected ≤ \(logitTol), observed \(la.maxAbs[i])", file: file, line: line)
            XCTAssertEqual(ours, top5[i], "\(name): top-5 classes: expected \(top5[i]), observed \(ours)", file: file, line: line)
        }
    }
}
