import Foundation
import XCTest
@testable import EmbedScope

/// Fixtures/models, written by Scripts/make_model_fixtures.py: four preprocessed photos (PNG),
/// PyTorch's features and logits for them, and expected.json.
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
        let effnet: Model
        let resnet18: Model
        let resnet50: Model
    }

    static func expected() throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: url("expected.json")))
    }

    /// Weights exported by Scripts/export_state_dict.py, from the directory in `variable`;
    /// skips the test (visibly) when it is not set.
    static func stateDict(_ variable: String, what: String) throws -> StateDict {
        guard let dir = ProcessInfo.processInfo.environment[variable], !dir.isEmpty else {
            throw XCTSkip("\(variable) is not set: skipping the \(what) parity test. Run `python Scripts/make_model_fixtures.py --weights-dir /tmp/embedscope-weights` and set \(variable)=/tmp/embedscope-weights/<model>.")
        }
        return try StateDict.loadNPYDirectory(URL(fileURLWithPath: dir, isDirectory: true))
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
                m = max(m, abs(a - b))
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
