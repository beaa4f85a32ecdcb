import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport

/// The tests draw from the library's own generator (SplitMix64), so test data and library
/// sampling share one documented stream.
typealias SeededGenerator = SplitMix64

/// `max` that keeps NaN: Swift's `max(m, .nan)` returns `m`, which lets a NaN pass a tolerance
/// check. Once either side is NaN the result stays NaN, and `XCTAssertLessThanOrEqual(x, tol)` fails.
func maxKeepingNaN<T: FloatingPoint>(_ a: T, _ b: T) -> T {
    (a.isNaN || b.isNaN) ? .nan : Swift.max(a, b)
}

/// Largest |a − b| of two equally long sequences: NaN if either holds a NaN, +∞ if the counts
/// differ (never a silently shortened `zip`).
func maxAbsDifference<A: Collection, B: Collection>(_ a: A, _ b: B) -> Double
where A.Element: BinaryFloatingPoint, B.Element: BinaryFloatingPoint {
    guard a.count == b.count else { return .infinity }
    var m = 0.0
    for (x, y) in zip(a, b) { m = maxKeepingNaN(m, abs(Double(x) - Double(y))) }
    return m
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
                       head: (w: [Float], b: [Float], names: [String])? = nil, name: String = "index",
                       storage: HalfStorage? = nil, folder: String = "img") throws -> URL {
    let x = dir.appendingPathComponent("X-\(name).npy")
    try NPYArray.write(shape: [n, d], values: vectors, to: x)
    let m = dir.appendingPathComponent("rows-\(name).csv")
    var csv = "path,class\n"
    for i in 0..<n { csv += "\(folder)/\(classes[i])/\(i).png,\(classes[i])\n" }
    try csv.write(to: m, atomically: true, encoding: .utf8)
    var r = ImportRequest(vectors: x, manifest: m, out: dir.appendingPathComponent(name))
    r.storage = storage
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

/// An imported index of `n` random rows in classes a, b, c (row i in class i mod 3) with a random
/// head `head` of one prototype per class (bias 0); vectors from `seed`, the head from `seed + 1`.
func makeIndexWithHead(in dir: URL, rows n: Int, dim d: Int, seed: UInt64, name: String = "index", folder: String = "img") throws -> URL {
    let classes = ["a", "b", "c"]
    return try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: seed), rows: n, dim: d,
                                 classes: (0..<n).map { classes[$0 % 3] },
                                 head: (randomMatrix(rows: 3, dim: d, seed: seed + 1), [0, 0, 0], classes), name: name, folder: folder)
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

/// The id of a process that has exited (`/bin/true`, run and waited for).
func exitedProcessID() throws -> Int32 {
    let finished = Process()
    finished.executableURL = URL(fileURLWithPath: "/bin/true")
    try finished.run()
    finished.waitUntilExit()
    return finished.processIdentifier
}
