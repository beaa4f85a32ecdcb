import EmbedScope
import Foundation
import XCTest

/// A fresh temporary directory, removed when the test ends.
func serverTemporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("embedscope-server-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// Seeded SplitMix64 with a Box–Muller normal, so every run builds the same index.
struct TestRNG {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func gaussian() -> Double {
        let u1 = max(uniform(), 1e-300), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}

/// A small index like the ones `embedscope import` makes: `perClass` PNG images per class
/// (circles, squares, stripes) under `<dir>/images/`, 8-dimensional embeddings that separate the
/// classes, a pixel space, and a head named like the classes (set "head").
struct ServerFixture {
    var root: URL          // folder of indexes
    var index: URL         // root/<name>
    var images: URL        // the data-set root's images folder
    var classes: [String]
    var rows: Int

    static let classes = ["circle", "square", "stripes"]

    static func make(in dir: URL, name: String = "tiny", perClass: Int = 8, seed: UInt64 = 11,
                     storage: HalfStorage? = nil) throws -> ServerFixture {
        let data = dir.appendingPathComponent("data-\(name)")
        let images = data.appendingPathComponent("images")
        var g = TestRNG(state: seed)
        var rows: [(path: String, cls: Int)] = []
        for (c, cname) in classes.enumerated() {
            try FileManager.default.createDirectory(at: images.appendingPathComponent(cname), withIntermediateDirectories: true)
            for i in 0..<perClass {
                let rel = "images/\(cname)/\(i).png"
                try PNGWriter.write(width: 40, height: 30, channels: 3, pixels: picture(c, i), to: data.appendingPathComponent(rel))
                rows.append((rel, c))
            }
        }
        let d = 8
        var x: [Float] = []
        for r in rows { for j in 0..<d { x.append((j == r.cls * 2 ? 3 : 0) + Float(g.gaussian()) * 0.6) } }
        let xURL = data.appendingPathComponent("X.npy")
        try NPYArray.write(shape: [rows.count, d], values: x, to: xURL)
        var manifest = "path,class\n"
        for r in rows { manifest += "\(r.path),\(classes[r.cls])\n" }
        let m = data.appendingPathComponent("rows.csv")
        try manifest.write(to: m, atomically: true, encoding: .utf8)
        // A head whose rows point at each class's direction.
        var w = [Float](repeating: 0, count: classes.count * d)
        for c in classes.indices { w[c * d + c * 2] = 1; w[c * d + (c * 2 + 1) % d] = 0.1 * Float(c) }
        let wURL = data.appendingPathComponent("W.npy"), bURL = data.appendingPathComponent("b.npy"), nURL = data.appendingPathComponent("names.txt")
        try NPYArray.write(shape: [classes.count, d], values: w, to: wURL)
        try NPYArray.write(shape: [classes.count], values: [0.1, -0.2, 0.05], to: bURL)
        try classes.joined(separator: "\n").write(to: nURL, atomically: true, encoding: .utf8)
        let root = dir.appendingPathComponent("Indexes")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        var req = ImportRequest(vectors: xURL, manifest: m, out: root.appendingPathComponent(name))
        req.head = wURL; req.bias = bURL; req.headClasses = nURL; req.pixelSize = 8
        req.storage = storage
        _ = try Importer.run(req)
        return ServerFixture(root: root, index: req.out, images: images, classes: classes, rows: rows.count)
    }

    /// Class c's picture i: a red circle, a blue square or green stripes on a light background.
    static func picture(_ c: Int, _ i: Int) -> [UInt8] {
        let w = 40, h = 30
        var px = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            for x in 0..<w {
                let k = (y * w + x) * 3
                let inside = c == 0 ? (x - 20) * (x - 20) + (y - 15) * (y - 15) < (6 + i) * (6 + i)
                    : c == 1 ? abs(x - 20) < 5 + i && abs(y - 15) < 5 + i : (x + y + i) % 8 < 4
                let base: [UInt8] = [[220, 60, 40], [40, 120, 220], [60, 170, 80]][c]
                for ch in 0..<3 { px[k + ch] = inside ? base[ch] : UInt8(235 - 4 * i) }
            }
        }
        return px
    }
}
