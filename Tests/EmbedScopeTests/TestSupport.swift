import Foundation
import XCTest
@testable import EmbedScope

/// SeededGenerator: a seeded generator, so every test's data is the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Standard normal (Box–Muller).
    mutating func gaussian() -> Double {
        let u1 = max(Double.random(in: 0..<1, using: &self), 1e-300), u2 = Double.random(in: 0..<1, using: &self)
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}

/// A fresh temporary directory, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("embedscope-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// Random Gaussian matrix [n, d] (row-major), optionally with repeated rows to create ties.
func randomMatrix(rows n: Int, dim d: Int, seed: UInt64) -> [Float] {
    var g = SeededGenerator(seed: seed)
    return (0..<(n * d)).map { _ in Float(g.gaussian()) }
}

/// Writes vectors + manifest (+ head) and imports them; returns the index URL.
@discardableResult
func makeImportedIndex(in dir: URL, vectors: [Float], rows n: Int, dim d: Int, classes: [String],
                       head: (w: [Float], b: [Float], names: [String])? = nil, name: String = "index") throws -> URL {
    let x = dir.appendingPathComponent("X-\(name).npy")
    try NPYArray.write(shape: [n, d], values: vectors, to: x)
    let m = dir.appendingPathComponent("rows-\(name).csv")
    var csv = "path,class\n"
    for i in 0..<n { csv += "img/\(classes[i])/\(i).png,\(classes[i])\n" }
    try csv.write(to: m, atomically: true, encoding: .utf8)
    var r = ImportRequest(vectors: x, manifest: m, out: dir.appendingPathComponent(name))
    if let head {
        let w = dir.appendingPathComponent("W-\(name).npy"), b = dir.appendingPathComponent("b-\(name).npy")
        try NPYArray.write(shape: [head.names.count, d], values: head.w, to: w)
        try NPYArray.write(shape: [head.names.count], values: head.b, to: b)
        let names = dir.appendingPathComponent("names-\(name).txt")
        try head.names.joined(separator: "\n").write(to: names, atomically: true, encoding: .utf8)
        r.head = w; r.bias = b; r.headClasses = names
    }
    _ = try Importer.run(r)
    return r.out
}

func XCTAssertThrowsKind(_ kind: EmbedScopeError.Kind, _ expression: @autoclosure () throws -> Any, _ context: String = "", file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try expression()
        XCTFail("\(context): expected an error of kind \(kind), got success", file: file, line: line)
    } catch let e as EmbedScopeError {
        XCTAssertEqual(e.kind, kind, "\(context) message: \(e.description)", file: file, line: line)
    } catch {
        XCTFail("expected EmbedScopeError.\(kind), got \(error)", file: file, line: line)
    }
}
