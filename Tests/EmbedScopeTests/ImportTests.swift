import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport

final class ImportTests: XCTestCase {
    let classes = ["bag", "coat", "shirt"]

    func classList(_ n: Int) -> [String] { (0..<n).map { classes[$0 % 3] } }

    func testRoundTripKeepsUnitRowsNormsAndCatalog() throws {
        let dir = try temporaryDirectory(self)
        let (n, d) = (50, 20)
        let x = randomMatrix(rows: n, dim: d, seed: 11).map { $0 * 3 }
        let url = try makeImportedIndex(in: dir, vectors: x, rows: n, dim: d, classes: classList(n))
        let idx = try Index.open(url)
        XCTAssertEqual(idx.rowCount, n)
        XCTAssertEqual(try idx.catalog.classes().map(\.name), classes)
        let v = try idx.vectors(space: "embedding"), norms = try idx.norms(space: "embedding")
        XCTAssertEqual(v.header.flags, [.unitRows, .rowChecks])
        for i in 0..<n {
            var s = 0.0
            for j in 0..<d { s += Double(x[i * d + j]) * Double(x[i * d + j]) }
            XCTAssertEqual(Double(norms.row(0)[i]), s.squareRoot(), accuracy: 1e-5 * s.squareRoot())
            for j in 0..<d {
                // unit row × norm reproduces the original to float precision
                XCTAssertEqual(Double(v.row(i)[j]) * Double(norms.row(0)[i]), Double(x[i * d + j]), accuracy: 1e-5 * s.squareRoot())
            }
        }
        XCTAssertNoThrow(try idx.verify())
        XCTAssertEqual(try idx.catalog.image(path: "img/coat/1.png")?.row, 1)
        // No temporary directories left behind.
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: dir.path).contains { $0.hasPrefix(".") })
    }

    func testQueryByRowExcludesSelfUnlessAsked() throws {
        let dir = try temporaryDirectory(self)
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 40, dim: 8, seed: 3), rows: 40, dim: 8, classes: classList(40))
        let idx = try Index.open(url)
        var o = SearchOptions(); o.k = 5
        XCTAssertFalse(try idx.search(.row(7), options: o).contains { $0.row == 7 })
        o.includeSelf = true
        let r = try idx.search(.row(7), options: o)
        XCTAssertEqual(r.first?.row, 7)
        XCTAssertEqual(r.first?.score ?? 0, 1, accuracy: 1e-6)
        XCTAssertEqual(r.first?.path, "img/coat/7.png")
        XCTAssertEqual(r.map(\.rank), [1, 2, 3, 4, 5])
        o.className = "bag"
        XCTAssertTrue(try idx.search(.path("img/coat/7.png"), options: o).allSatisfy { $0.class == "bag" })
        o.k = 1000
        XCTAssertEqual(try idx.search(.row(0), options: o).count, 14) // bags: rows 0,3,…,39; self included
        XCTAssertThrowsKind(.notFound, try idx.search(.row(40), options: o))
        XCTAssertThrowsKind(.notFound, try idx.search(.path("nope.png"), options: o))
        XCTAssertThrowsKind(.shapeMismatch, try idx.search(.vector([1, 2, 3]), options: o))
        XCTAssertThrowsKind(.nonFinite, try idx.search(.vector([Float](repeating: .nan, count: 8)), options: o))
        XCTAssertThrowsKind(.zeroVector, try idx.search(.vector([Float](repeating: 0, count: 8)), options: o))
        o.space = "pixel"
        XCTAssertThrowsKind(.notFound, try idx.search(.row(0), options: o))
    }

    /// Prototype scores are the classifier's logits: x · w + b for the original (unnormalized) x.
    func testPrototypeRankingReproducesLogits() throws {
        let dir = try temporaryDirectory(self)
        let (n, d, c) = (300, 16, 3)
        let x = randomMatrix(rows: n, dim: d, seed: 41).enumerated().map { Float(1 + $0.offset % 7) * $0.element }
        let w = randomMatrix(rows: c, dim: d, seed: 42).map { $0 * 0.7 }
        let b: [Float] = [0.25, -1.5, 3]
        let url = try makeImportedIndex(in: dir, vectors: x, rows: n, dim: d, classes: classList(n), head: (w, b, ["bag", "coat", "shirt"]))
        let idx = try Index.open(url)
        for p in 0..<c {
            let logits = try idx.logits(set: "head", prototype: p)
            var ref = [Double](repeating: 0, count: n)
            for i in 0..<n {
                var s = Double(b[p])
                for j in 0..<d { s += Double(x[i * d + j]) * Double(w[p * d + j]) }
                ref[i] = s
                // tolerance: float32 relative error on the sum of |terms|
                var mag = abs(Double(b[p]))
                for j in 0..<d { mag += abs(Double(x[i * d + j]) * Double(w[p * d + j])) }
                XCTAssertEqual(Double(logits[i]), s, accuracy: 1e-5 * mag, "row \(i) prototype \(p)")
            }
            let top = try idx.rank(prototype: ["bag", "coat", "shirt"][p], set: nil, least: false, k: 5)
            let order = ref.indices.sorted { ref[$0] > ref[$1] }
            XCTAssertEqual(top.map(\.row), Array(order.prefix(5)))
            let least = try idx.rank(prototype: ["bag", "coat", "shirt"][p], set: "head", least: true, k: 5)
            XCTAssertEqual(least.map(\.row), Array(order.suffix(5).reversed()))
        }
        XCTAssertThrowsKind(.notFound, try idx.rank(prototype: "dog", set: nil, least: false, k: 3))
        XCTAssertThrowsKind(.notFound, try idx.rank(prototype: "bag", set: "probe", least: false, k: 3))
    }

    // MARK: import errors

    func writeNPY(_ dir: URL, _ name: String, header: String, payload: [UInt8]) throws -> URL {
        var h = header
        let total = 10 + h.utf8.count + 1
        h += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(h.utf8.count), 0])
        data.append(contentsOf: Array(h.utf8)); data.append(contentsOf: payload)
        let url = dir.appendingPathComponent(name)
        try data.write(to: url)
        return url
    }

    func request(_ dir: URL, vectors: URL, rows: Int = 4) throws -> ImportRequest {
        let m = dir.appendingPathComponent("rows.csv")
        try ("path,class\n" + (0..<rows).map { "a/\($0).png,c\($0 % 2)\n" }.joined()).write(to: m, atomically: true, encoding: .utf8)
        return ImportRequest(vectors: vectors, manifest: m, out: dir.appendingPathComponent("idx"))
    }

    func testMalformedNPYIsRefusedAndNothingIsWritten() throws {
        let dir = try temporaryDirectory(self)
        let floats4x2 = [Float](repeating: 1, count: 8).withUnsafeBytes { Array($0) }
        let cases: [(String, URL, EmbedScopeError.Kind)] = [
            ("bad magic", try { let u = dir.appendingPathComponent("m.npy"); try Data("hello world, not numpy".utf8).write(to: u); return u }(), .npy),
            ("fortran", try writeNPY(dir, "f.npy", header: "{'descr': '<f4', 'fortran_order': True, 'shape': (4, 2), }", payload: floats4x2), .npy),
            ("int dtype", try writeNPY(dir, "i.npy", header: "{'descr': '<i4', 'fortran_order': False, 'shape': (4, 2), }", payload: floats4x2), .npy),
            ("3-D", try writeNPY(dir, "t.npy", header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 2), }", payload: floats4x2), .npy),
            ("truncated", try writeNPY(dir, "s.npy", header: "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2), }", payload: Array(floats4x2.prefix(20))), .npy),
            ("rows ≠ manifest", try writeNPY(dir, "r.npy", header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }", payload: floats4x2), .shapeMismatch),
            ("zero rows", try writeNPY(dir, "z.npy", header: "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", payload: []), .npy),
            // As strict as numpy's header check (these were read: the first 'shape' won, numpy keeps the last).
            ("repeated key", try writeNPY(dir, "k.npy", header: "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2), 'shape': (8,), }", payload: floats4x2), .npy),
            ("extra key", try writeNPY(dir, "x.npy", header: "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2), 'note': 'hi', }", payload: floats4x2), .npy),
            ("quoted bool", try writeNPY(dir, "q.npy", header: "{'descr': '<f4', 'fortran_order': 'False', 'shape': (4, 2), }", payload: floats4x2), .npy),
            ("no brace", try writeNPY(dir, "b.npy", header: "'descr': '<f4', 'fortran_order': False, 'shape': (4, 2)", payload: floats4x2), .npy),
        ]
        for (what, url, kind) in cases {
            XCTAssertThrowsKind(kind, try Importer.run(try request(dir, vectors: url)), "\(what)")
        }
        var withNaN = [Float](repeating: 1, count: 8); withNaN[5] = .nan
        try NPYArray.write(shape: [4, 2], values: withNaN, to: dir.appendingPathComponent("nan.npy"))
        XCTAssertThrowsKind(.nonFinite, try Importer.run(try request(dir, vectors: dir.appendingPathComponent("nan.npy"))))
        var withInf = [Float](repeating: 1, count: 8); withInf[0] = .infinity
        try NPYArray.write(shape: [4, 2], values: withInf, to: dir.appendingPathComponent("inf.npy"))
        XCTAssertThrowsKind(.nonFinite, try Importer.run(try request(dir, vectors: dir.appendingPathComponent("inf.npy"))))
        var zero = [Float](repeating: 1, count: 8); zero[2] = 0; zero[3] = 0
        try NPYArray.write(shape: [4, 2], values: zero, to: dir.appendingPathComponent("zero.npy"))
        XCTAssertThrowsKind(.zeroVector, try Importer.run(try request(dir, vectors: dir.appendingPathComponent("zero.npy"))))
        // Nothing was written: no index, no temporary directory.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0 == "idx" || $0.hasPrefix(".") }, [])
    }

    func testFloat64IsAcceptedAndHeadShapeChecked() throws {
        let dir = try temporaryDirectory(self)
        let doubles: [Double] = (0..<8).map { Double($0 + 1) }
        let url = try writeNPY(dir, "d.npy", header: "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 2), }", payload: doubles.withUnsafeBytes { Array($0) })
        var r = try request(dir, vectors: url)
        r.pixels = false
        try NPYArray.write(shape: [2, 3], values: [Float](repeating: 1, count: 6), to: dir.appendingPathComponent("W.npy"))
        r.head = dir.appendingPathComponent("W.npy")
        XCTAssertThrowsKind(.shapeMismatch, try Importer.run(r))
        r.head = nil
        let s = try Importer.run(r)
        XCTAssertEqual(s.rows, 4); XCTAssertEqual(s.dim, 2)
        let v = try Index.open(r.out).vectors(space: "embedding")
        XCTAssertEqual(Double(v.row(1)[0]), 3 / (9.0 + 16).squareRoot(), accuracy: 1e-7)
    }

    /// Fails on main: float64 vectors were rounded to float32 and normalized after, two roundings
    /// (up to 1.2 ulp from the true unit row). Now each row is normalized in Double and rounded
    /// once — what numpy's `(x / norm(x)).astype(float32)` gives — with its Double norm; `add
    /// --vectors` stores the same rows and norms as `import`; norms past float32 are refused.
    func testFloat64RowsAreNormalizedBeforeRoundingOnce() throws {
        let dir = try temporaryDirectory(self)
        let n = 40, d = 33
        var rng = SplitMix64(seed: 64)
        var x = (0..<(n * d)).map { _ in rng.gaussian() * 3 + 0.1 }
        // Rows far from 1 in norm, still within float32's range once normalized.
        for j in 0..<d { x[5 * d + j] = x[7 * d + j] * 1e-30; x[6 * d + j] = x[8 * d + j] * 1e30 }
        func npy(_ name: String, _ rows: Range<Int>) throws -> URL {
            try writeNPY(dir, name, header: "{'descr': '<f8', 'fortran_order': False, 'shape': (\(rows.count), \(d)), }",
                         payload: Array(x[(rows.lowerBound * d)..<(rows.upperBound * d)]).withUnsafeBytes { Array($0) })
        }
        var r = try request(dir, vectors: try npy("x.npy", 0..<n), rows: n)
        r.pixels = false
        _ = try Importer.run(r)
        let idx = try Index.open(r.out)
        let v = try idx.vectors(space: "embedding"), nv = try idx.norms(space: "embedding")
        var twice = 0
        try withExtendedLifetime((v, nv)) {
            for i in 0..<n {
                let row = Array(x[(i * d)..<((i + 1) * d)])
                let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
                let stored = v.row(i)
                // Rounded to float32 first, then normalized (as before): not always the same value.
                let f32 = row.map { Float($0) }
                let n32 = f32.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                // The true quotient within half an ulp of float32 (plus Double's own rounding).
                for j in 0..<d {
                    let q = row[j] / norm, f = stored[j]
                    XCTAssertLessThanOrEqual(abs(Double(f) - q), 0.5 * Double(f.ulp) * (1 + 1e-9), "row \(i) col \(j)")
                    if Float(Double(f32[j]) / n32) != f { twice += 1 }
                }
                let storedNorm = nv.row(0)[i]
                XCTAssertEqual(Double(storedNorm), norm, accuracy: Double(storedNorm.ulp), "norm \(i)")
            }
            XCTAssertEqual(Double(nv.row(0)[5]) / (1e-30 * Double(nv.row(0)[7])), 1, accuracy: 2e-7)
        }
        XCTAssertGreaterThan(twice, 0, "the data should show the double rounding this avoids")

        // add --vectors: the same rows and norms as the import of them all.
        let part = dir.appendingPathComponent("part")
        var rp = try request(dir, vectors: try npy("head.npy", 0..<30), rows: 30)
        rp.pixels = false
        rp.out = part
        _ = try Importer.run(rp)
        let csv = "path,class\n" + (30..<n).map { "img/\($0).png,c\($0 % 2)\n" }.joined()
        try csv.write(to: dir.appendingPathComponent("tail.csv"), atomically: true, encoding: .utf8)
        _ = try IndexGrowth.addVectors(AddVectorsRequest(index: part, vectors: try npy("tail.npy", 30..<n), manifest: dir.appendingPathComponent("tail.csv")))
        let grown = try Index.open(part)
        let gv = try grown.vectors(space: "embedding"), gn = try grown.norms(space: "embedding")
        try withExtendedLifetime((v, nv, gv, gn)) {
            for i in 30..<n {
                XCTAssertEqual(gv.row(i).map(\.bitPattern), v.row(i).map(\.bitPattern), "row \(i)")
                XCTAssertEqual(gn.row(0)[i].bitPattern, nv.row(0)[i].bitPattern, "norm \(i)")
            }
        }

        // A float64 row whose norm float32 cannot hold: refused, by row, nothing written.
        for (scale, why) in [(1e-60, "below float32's smallest value"), (1e60, "beyond float32's range")] {
            var y = x
            for j in 0..<d { y[3 * d + j] *= scale }
            let url = try writeNPY(dir, "y.npy", header: "{'descr': '<f8', 'fortran_order': False, 'shape': (\(n), \(d)), }",
                                   payload: y.withUnsafeBytes { Array($0) })
            var ry = try request(dir, vectors: url, rows: n)
            ry.pixels = false
            ry.out = dir.appendingPathComponent("y")
            XCTAssertThrowsError(try Importer.run(ry)) { error in
                XCTAssertEqual((error as? EmbedScopeError)?.kind, .nonFinite)
                XCTAssertTrue("\(error)".contains("row 3") && "\(error)".contains(why), "\(error)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: ry.out.path))
        }
    }

    /// Fails on main: `import --space pixel` with the manifest's images present computed the
    /// pixel space over the imported vectors (exit 0, the vectors gone, the summary's dim wrong),
    /// or with a head failed on SQLite's foreign key; importing over a space that has prototype
    /// sets failed the same way. Now the vectors are the space 'pixel', and importing over a space
    /// with prototype sets is refused by name.
    func testImportedVectorsNamedPixelAreKept() throws {
        let dir = try temporaryDirectory(self)
        let n = 8, d = 16
        for i in 0..<n {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("a"), withIntermediateDirectories: true)
            let px = (0..<(12 * 12 * 3)).map { UInt8(truncatingIfNeeded: $0 * (i + 3)) }
            try PNGWriter.write(width: 12, height: 12, channels: 3, pixels: px, to: dir.appendingPathComponent("a/\(i).png"))
        }
        let x = randomMatrix(rows: n, dim: d, seed: 12)
        try NPYArray.write(shape: [n, d], values: x, to: dir.appendingPathComponent("x.npy"))
        try NPYArray.write(shape: [2, d], values: randomMatrix(rows: 2, dim: d, seed: 13), to: dir.appendingPathComponent("W.npy"))
        try NPYArray.write(shape: [2], values: [0.5, -0.5], to: dir.appendingPathComponent("b.npy"))
        var r = try request(dir, vectors: dir.appendingPathComponent("x.npy"), rows: n)
        r.space = "pixel"
        r.head = dir.appendingPathComponent("W.npy"); r.bias = dir.appendingPathComponent("b.npy")
        let s = try Importer.run(r)
        XCTAssertEqual(s.dim, d)
        XCTAssertNil(s.pixelSpace, "no pixel space computed over the imported one")
        let idx = try Index.open(r.out)
        XCTAssertEqual(idx.spaces.map(\.name), ["pixel"])
        XCTAssertEqual(try idx.space("pixel").dim, d)
        XCTAssertEqual(idx.prototypeSets.map(\.space), ["pixel"])
        let v = try idx.vectors(space: "pixel")
        withExtendedLifetime(v) {
            let row = Array(x[0..<d]), norm = row.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            for j in 0..<d { XCTAssertEqual(Double(v.row(0)[j]), Double(row[j]) / norm, accuracy: 1e-6) }
        }
        // Importing over 'pixel' again (same rows): its prototype set would be left stale.
        r.head = nil; r.bias = nil
        XCTAssertThrowsError(try Importer.run(r)) { error in
            XCTAssertEqual((error as? EmbedScopeError)?.kind, .refused)
            XCTAssertTrue("\(error)".contains("prototype set 'head'") && !"\(error)".contains("SQLite"), "\(error)")
        }
        // Another space name beside it is fine.
        r.space = "other"
        XCTAssertEqual(try Importer.run(r).addedToExisting, true)
        XCTAssertEqual(Set(try Index.open(r.out).spaces.map(\.name)), ["pixel", "other"])
    }

    /// Fails on main: values whose norm is beyond float32 were imported (exit 0) and the new index
    /// failed `verify` (an infinite stored norm); two head rows with one name were accepted and
    /// `rank --prototype` then refused the name; a logit beyond float32 was reported as damaged
    /// stored vectors.
    func testMagnitudesBeyondFloat32AndRepeatedHeadNames() throws {
        let dir = try temporaryDirectory(self)
        var big = [Float](repeating: 0.5, count: 4 * 4)
        for j in 4..<8 { big[j] = 3e38 }
        try NPYArray.write(shape: [4, 4], values: big, to: dir.appendingPathComponent("big.npy"))
        var r = try request(dir, vectors: dir.appendingPathComponent("big.npy"))
        r.pixels = false
        XCTAssertThrowsError(try Importer.run(r)) { error in
            XCTAssertEqual((error as? EmbedScopeError)?.kind, .nonFinite)
            XCTAssertTrue("\(error)".contains("beyond float32's range"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: r.out.appendingPathComponent("current").path))

        try NPYArray.write(shape: [4, 4], values: randomMatrix(rows: 4, dim: 4, seed: 2).map { (abs($0) + 1) * 1e19 }, to: dir.appendingPathComponent("x.npy"))
        r = try request(dir, vectors: dir.appendingPathComponent("x.npy"))
        r.pixels = false
        try NPYArray.write(shape: [2, 4], values: [1e19, 1e19, 1e19, 1e19, 1, 0, 0, 0], to: dir.appendingPathComponent("W.npy"))
        r.head = dir.appendingPathComponent("W.npy")
        try "c0\nc0\n".write(to: dir.appendingPathComponent("names.txt"), atomically: true, encoding: .utf8)
        r.headClasses = dir.appendingPathComponent("names.txt")
        XCTAssertThrowsError(try Importer.run(r)) { error in
            XCTAssertTrue("\(error)".contains("rows 0 and 1 are both named 'c0'"), "\(error)")
        }
        r.headClasses = nil
        _ = try Importer.run(r)
        let idx = try Index.open(r.out)
        XCTAssertNoThrow(try idx.verify())
        XCTAssertThrowsError(try idx.rank(prototype: "c0", set: nil, least: false, k: 3)) { error in
            XCTAssertEqual((error as? EmbedScopeError)?.kind, .nonFinite)
            XCTAssertTrue("\(error)".contains("beyond float32's range") && !"\(error)".contains("damaged"), "\(error)")
        }
        XCTAssertEqual(try idx.rank(prototype: "c1", set: nil, least: false, k: 3).count, 3)
    }

    func testManifestErrors() throws {
        let base = URL(fileURLWithPath: "/tmp")
        XCTAssertThrowsKind(.manifest, try Manifest.parse("file,label\na,b\n", path: "m.csv", baseDirectory: base))
        XCTAssertThrowsKind(.manifest, try Manifest.parse("path,class\n", path: "m.csv", baseDirectory: base))
        XCTAssertThrowsKind(.manifest, try Manifest.parse("path,class\na,b,c\n", path: "m.csv", baseDirectory: base))
        XCTAssertThrowsKind(.manifest, try Manifest.parse("path,class\n\"a,b\n", path: "m.csv", baseDirectory: base))
        // A column named twice (the first silently won).
        XCTAssertThrowsKind(.manifest, try Manifest.parse("path,class,path\na,b,c\n", path: "m.csv", baseDirectory: base))
        XCTAssertThrowsKind(.manifest, try Manifest.parse("path,class,Class\na,b,c\n", path: "m.csv", baseDirectory: base))
        XCTAssertThrowsKind(.manifest, try Manifest.parse("split,path,class,split\ntrain,a,b,val\n", path: "m.csv", baseDirectory: base))
        // A path twice (import wrote both rows; `query --path` then found one of them).
        XCTAssertThrowsError(try Manifest.parse("path,class\na.png,x\nb.png,y\na.png,y\n", path: "m.csv", baseDirectory: base)) { error in
            XCTAssertEqual((error as? EmbedScopeError)?.kind, .manifest)
            XCTAssertTrue("\(error)".contains("line 4 repeats the path 'a.png' of line 2"), "\(error)")
        }
        // NUL in a path: SQLite cut "a\0x.png" and "a\0y.png" to one "a". (Other control characters
        // are names a file may have, which `build` indexes and `export` writes: kept.)
        XCTAssertThrowsError(try Manifest.parse("path,class\na\u{0}x.png,k\na\u{0}y.png,k\n", path: "m.csv", baseDirectory: base)) { error in
            XCTAssertTrue("\(error)".contains("line 2: the path contains a NUL character"), "\(error)")
        }
        XCTAssertEqual(try Manifest.parse("path,class\n\"a\nb.png\",k\nc\u{7}.png,k\n", path: "m.csv", baseDirectory: base).entries.map(\.path), ["a\nb.png", "c\u{7}.png"])
        let m = try Manifest.parse("class,path,split\r\n\"T-shirt, top\",\"x/\"\"q\"\".png\",train\r\ncoat,y.png,\r\n", path: "m.csv", baseDirectory: base)
        XCTAssertEqual(m.entries, [.init(path: "x/\"q\".png", className: "T-shirt, top", split: "train"), .init(path: "y.png", className: "coat", split: nil)])
        // A split is a name: "a, train" is train (" train" counted as another split, and as leakage).
        let spaced = try Manifest.parse("path,class,split\na.png,x, train\nb.png,x,train \nc.png,x,  \n", path: "m.csv", baseDirectory: base)
        XCTAssertEqual(spaced.entries.map(\.split), ["train", "train", nil])
    }

    func testAddingASpaceToAnExistingIndex() throws {
        let dir = try temporaryDirectory(self)
        let (n, d) = (30, 6)
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 1), rows: n, dim: d, classes: classList(n))
        var r = ImportRequest(vectors: dir.appendingPathComponent("X2.npy"), manifest: dir.appendingPathComponent("rows-index.csv"), out: url)
        try NPYArray.write(shape: [n, 10], values: randomMatrix(rows: n, dim: 10, seed: 2), to: r.vectors)
        r.space = "resnet"
        let s = try Importer.run(r)
        XCTAssertTrue(s.addedToExisting)
        let idx = try Index.open(url)
        XCTAssertEqual(idx.spaces.map(\.name), ["embedding", "resnet"])
        XCTAssertEqual(try idx.vectors(space: "resnet").dim, 10)
        XCTAssertNoThrow(try idx.verify())
        // A different manifest is refused without --force.
        let other = dir.appendingPathComponent("other.csv")
        try ("path,class\n" + (0..<n).map { "z/\($0).png,a\n" }.joined()).write(to: other, atomically: true, encoding: .utf8)
        r.manifest = other
        XCTAssertThrowsKind(.alreadyExists, try Importer.run(r))
    }

    func testDamagedIndexGivesTypedErrors() throws {
        let dir = try temporaryDirectory(self)
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 20, dim: 4, seed: 7), rows: 20, dim: 4, classes: classList(20))
        let gen = try Index.open(url).directory // the current generation's folder holds the files
        let vec = gen.appendingPathComponent("embedding.vec")
        var b = [UInt8](try Data(contentsOf: vec))
        b.removeLast(64)
        try Data(b).write(to: vec)
        // Open reads every vector file's header (O(1)), so a cut-short file is refused there.
        XCTAssertThrowsKind(.truncated, try Index.open(url))
        try FileManager.default.removeItem(at: gen.appendingPathComponent("catalog.sqlite"))
        XCTAssertThrowsKind(.notFound, try Index.open(url))
        try Data("garbage".utf8).write(to: gen.appendingPathComponent("catalog.sqlite"))
        XCTAssertThrowsKind(.catalog, try Index.open(url))
        XCTAssertThrowsKind(.notFound, try Index.open(dir.appendingPathComponent("nowhere")))
    }
}
