import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport

/// Fixtures/models, written by Scripts/make_model_fixtures.py: four preprocessed photos (PNG),
/// PyTorch's features and logits for them, small pooled-weight ResNet-18/34/50 checkpoints in
/// the legacy, Lightning (zip) and zip formats, and expected.json.
enum ModelFixtures {
    static let photos = ["chelsea", "coffee", "rocket", "astronaut"]

    static func url(_ name: String) throws -> URL {
        let root = try XCTUnwrap(Bundle.module.resourceURL, "test bundle has no resources")
        return root.appendingPathComponent("Fixtures/models", isDirectory: true).appendingPathComponent(name)
    }

    /// The photos as network input: CHW planar, (x − 127) / 128 — exact in Float.
    static func inputs() throws -> [Float] {
        var out: [Float] = []
        for name in photos {
            let image = try ImageDecoder.decode(contentsOf: url(name + ".png"))
            XCTAssertEqual(image.width, 224)
            XCTAssertEqual(image.height, 224)
            let n = image.width * image.height
            var planar = [Float](repeating: 0, count: 3 * n)
            for p in 0..<n {
                for c in 0..<3 { planar[c * n + p] = (Float(image.pixels[p * 3 + c]) - 127) / 128 }
            }
            out += planar
        }
        return out
    }

    static func npy(_ name: String) throws -> NPYArray {
        try NPYArray.read(contentsOf: url(name))
    }

    struct Expected: Decodable {
        struct Model: Decodable { let top5: [[Int]] }
        let photos: [String]
        let fmnist: [Int]
        let effnet: Model
        let effnet_fmnist: Model
        let resnet18: Model
        let resnet34: Model
        let resnet50: Model
    }

    static func expected() throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: url("expected.json")))
    }

    /// The ImageNet EfficientNet-Lite0 weights Scripts/setup.sh installs (Scripts/test.sh runs it).
    static func efficientNetLite0() throws -> StateDict {
        let url: URL
        do {
            url = try ModelWeights.locate(model: "efficientnet-lite0", override: nil)
        } catch {
            XCTFail("\(error) — Scripts/test.sh runs Scripts/setup.sh, which installs them")
            throw error
        }
        return try TorchCheckpoint.load(contentsOf: url)
    }

    /// A pooled-weight ResNet checkpoint from Fixtures/models (see Scripts/make_model_fixtures.py).
    static func checkpoint(_ name: String) throws -> StateDict {
        try TorchCheckpoint.load(contentsOf: url(name))
    }
}

/// Agreement of two row-major [rows × dim] matrices, row by row.
struct RowAgreement {
    var cosine: [Double] = []
    var maxAbs: [Double] = []

    init(_ observed: [Float], _ expected: [Float], rows: Int, dim: Int) {
        for r in 0..<rows {
            var dot = 0.0, na = 0.0, nb = 0.0, m = 0.0
            for j in 0..<dim {
                let a = Double(observed[r * dim + j]), b = Double(expected[r * dim + j])
                dot += a * b; na += a * a; nb += b * b
                m = maxKeepingNaN(m, abs(a - b))
            }
            cosine.append(dot / (na.squareRoot() * nb.squareRoot()))
            maxAbs.append(m)
        }
    }
}

func top(_ k: Int, _ row: ArraySlice<Float>) -> [Int] {
    let base = row.startIndex
    return row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(k).map { $0 - base }
}

/// Test-only deterministic values.
func seededFloats(_ n: Int, seed: UInt64, scale: Float = 1, offset: Float = 0) -> [Float] {
    var g = SeededGenerator(seed: seed)
    return (0..<n).map { _ in Float(g.gaussian()) * scale + offset }
}
