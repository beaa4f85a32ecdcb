import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport

/// `add`, `remove`, `merge`, `export` and `build --shard`: every edited index must equal the
/// index a build (or import) of the same images writes from scratch — the same rows in the same
/// order, the same vectors, the same answers.
final class GrowthTests: XCTestCase {
    /// A small split-layout data set of seeded noise pictures (distinct pixel vectors).
    static let files: [(split: String, cls: String, name: String)] = [
        ("train", "cat", "a.png"), ("train", "cat", "c.png"), ("train", "cat", "sub/e.png"), ("val", "cat", "b.png"),
        ("train", "dog", "a.png"), ("train", "dog", "d.png"), ("test", "dog", "x.png"), ("val", "dog", "m.png"),
        ("train", "eel", "q.png"), ("test", "eel", "r.png"), ("val", "bat", "z.png"), ("train", "bat", "y.png"),
    ]

    func write(_ f: (split: String, cls: String, name: String), into root: URL) throws {
        let url = root.appendingPathComponent(f.split).appendingPathComponent(f.cls).appendingPathComponent(f.name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        var g = SplitMix64(seed: UInt64(Checksum.crc32(Array("\(f.split)/\(f.cls)/\(f.name)".utf8))))
        let px = (0..<(7 * 6 * 3)).map { _ in UInt8(truncatingIfNeeded: g.next() >> 56) }
        try PNGWriter.write(width: 7, height: 6, channels: 3, pixels: px, to: url)
    }

    func folder(_ dir: URL, _ name: String, files: [(split: String, cls: String, name: String)]) throws -> URL {
        let root = dir.appendingPathComponent(name)
        for f in files { try write(f, into: root) }
        return root
    }

    func build(_ root: URL, _ out: URL, shard: Shard? = nil, model: String? = nil, weights: URL? = nil) throws {
        var r = BuildRequest(dataset: root, out: out)
        r.pixelSize = 8; r.shard = shard; r.model = model; r.weights = weights; r.batchSize = 2
        _ = try FolderBuilder.run(r)
    }

    /// Same catalog rows, classes, spaces, prototype sets, vectors (within `tolerance`, exact by
    /// default) and the same answers to queries and ranks.
    /// `sameProvenance: false` leaves out the texts naming the source files (an import of
    /// another .npy names it in `preprocessing` and the head's `source`).
    func assertSameIndex(_ a: URL, _ b: URL, tolerance: Double = 0, sameProvenance: Bool = true, file: StaticString = #filePath, line: UInt = #line) throws {
        let x = try Index.open(a), y = try Index.open(b)
        XCTAssertEqual(try x.catalog.allImages(), try y.catalog.allImages(), "rows", file: file, line: line)
        XCTAssertEqual(try x.catalog.classes(), try y.catalog.classes(), "classes", file: file, line: line)
        if sameProvenance {
            XCTAssertEqual(x.spaces, y.spaces, "spaces", file: file, line: line)
            XCTAssertEqual(x.prototypeSets, y.prototypeSets, "prototype sets", file: file, line: line)
        } else {
            XCTAssertEqual(x.spaces.map { [$0.name, $0.model, "\($0.dim)", "\($0.rows)"] }, y.spaces.map { [$0.name, $0.model, "\($0.dim)", "\($0.rows)"] }, file: file, line: line)
            XCTAssertEqual(x.prototypeSets.map { [$0.name, $0.space, "\($0.count)"] }, y.prototypeSets.map { [$0.name, $0.space, "\($0.count)"] }, file: file, line: line)
        }
        XCTAssertNoThrow(try x.verify(), file: file, line: line)
        for s in x.spaces {
            let vx = try x.vectors(space: s.name), vy = try y.vectors(space: s.name)
            XCTAssertEqual(vx.rows, vy.rows, file: file, line: line)
            guard vx.rows == vy.rows else { continue }
            var worst = 0.0
            for i in 0..<vx.rows { worst = maxKeepingNaN(worst, maxAbsDifference(vx.row(i), vy.row(i))) }
            XCTAssertLessThanOrEqual(worst, tolerance, "space \(s.name): vectors", file: file, line: line)
            let nx = try x.norms(space: s.name).row(0), ny = try y.norms(space: s.name).row(0)
            XCTAssertLessThanOrEqual(maxAbsDifference(nx, ny) / Double(nx.max() ?? 1), max(tolerance, 1e-7) * 10, "space \(s.name): norms", file: file, line: line)
            for row in Set([0, vx.rows / 2, vx.rows - 1]) {
                for far in [false, true] {
                    var o = SearchOptions(); o.space = s.name; o.k = 5; o.farthest = far
                    let rx = try x.search(.row(row), options: o), ry = try y.search(.row(row), options: o)
                    XCTAssertEqual(rx.map(\.path), ry.map(\.path), "space \(s.name), row \(row), farthest \(far)", file: file, line: line)
                    XCTAssertEqual(rx.map(\.row), ry.map(\.row), file: file, line: line)
                    XCTAssertLessThanOrEqual(maxAbsDifference(rx.map(\.score), ry.map(\.score)), max(tolerance, 1e-6), file: file, line: line)
                }
            }
        }
        for set in x.prototypeSets {
            let px = try x.prototypes(set: set.name), py = try y.prototypes(set: set.name)
            XCTAssertEqual(px.records.map(\.name), py.records.map(\.name), file: file, line: line)
            XCTAssertLessThanOrEqual(maxAbsDifference(px.records.map(\.bias), py.records.map(\.bias)), tolerance, file: file, line: line)
            XCTAssertLessThanOrEqual(maxAbsDifference(px.records.map(\.norm), py.records.map(\.norm)), tolerance * 10, file: file, line: line)
            let name = px.records[0].name
            let rx = try x.rank(prototype: name, set: set.name, least: false, k: 5), ry = try y.rank(prototype: name, set: set.name, least: false, k: 5)
            XCTAssertEqual(rx.map(\.path), ry.map(\.path), "rank \(set.name)/\(name)", file: file, line: line)
            XCTAssertLessThanOrEqual(maxAbsDifference(rx.map(\.score), ry.map(\.score)), max(tolerance, 1e-5), file: file, line: line)
        }
    }

    func currentGeneration(_ index: URL) throws -> URL {
        index.appendingPathComponent(try FileManager.default.destinationOfSymbolicLink(atPath: index.appendingPathComponent("current").path))
    }

    // MARK: add

    func testAddImagesEqualsARebuildOnTheSameImages() throws {
        let dir = try temporaryDirectory(self)
        // A: the first 7 images; B adds images to existing classes (sorting between old ones) and two new classes.
        let root = try folder(dir, "data", files: Array(Self.files.prefix(7)))
        let idx = dir.appendingPathComponent("idx")
        try build(root, idx)
        // A measurement of the old rows must not survive the add.
        try Data("{}".utf8).write(to: try currentGeneration(idx).appendingPathComponent("metrics.json"))
        for f in Self.files.dropFirst(7) { try write(f, into: root) }
        // A reader that opened the index before keeps answering from its generation.
        let s: GrowthSummary
        do {
            let reader = try Index.open(idx)
            var o = SearchOptions(); o.space = "pixel"; o.k = 3
            let answer = try reader.search(.row(0), options: o)
            s = try IndexGrowth.addImages(AddImagesRequest(index: idx, images: [root]))
            XCTAssertEqual(reader.rowCount, 7)
            XCTAssertEqual(try reader.search(.row(0), options: o), answer)
        }
        XCTAssertEqual(s.rowsBefore, 7)
        XCTAssertEqual(s.rowsAfter, 12)
        XCTAssertEqual(s.alreadyIndexed, 7)
        XCTAssertEqual(Set(s.paths), Set(Self.files.dropFirst(7).map { "\($0.split)/\($0.cls)/\($0.name)" }))
        XCTAssertFalse(FileManager.default.fileExists(atPath: try currentGeneration(idx).appendingPathComponent("metrics.json").path),
                       "metrics.json of the old rows is dropped")
        let full = dir.appendingPathComponent("full")
        try build(root, full)
        try assertSameIndex(idx, full)

        // Nothing new: an error, nothing written.
        XCTAssertThrowsKind(.alreadyExists, try IndexGrowth.addImages(AddImagesRequest(index: idx, images: [root])))
        // A folder inside the root adds only what is below it.
        try write(("train", "cat", "f.png"), into: root)
        try write(("train", "dog", "g.png"), into: root)
        let t = try IndexGrowth.addImages(AddImagesRequest(index: idx, images: [root.appendingPathComponent("train/dog")]))
        XCTAssertEqual(t.paths, ["train/dog/g.png"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: idx.path).filter { $0.hasPrefix("gen-") }.count, 1)
        // Outside the data set: refused.
        let other = try folder(dir, "other", files: [("train", "cat", "o.png")])
        XCTAssertThrowsKind(.refused, try IndexGrowth.addImages(AddImagesRequest(index: idx, images: [other])))
    }

    func testAddRefusesAnotherRecipe() throws {
        let dir = try temporaryDirectory(self)
        let root = try folder(dir, "data", files: Array(Self.files.prefix(5)))
        let idx = dir.appendingPathComponent("idx")
        try build(root, idx)
        try write(Self.files[6], into: root)
        let before = try currentGeneration(idx)
        var r = AddImagesRequest(index: idx, images: [root])
        r.pixelSize = 16
        XCTAssertThrowsKind(.refused, try IndexGrowth.addImages(r), "another pixel size")
        r.pixelSize = nil; r.model = "resnet18"
        XCTAssertThrowsKind(.refused, try IndexGrowth.addImages(r), "a model the index was not built with")
        XCTAssertEqual(try currentGeneration(idx), before, "a refusal writes nothing")
        // An imported space cannot be computed for new images.
        let imported = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 4, dim: 3, seed: 1), rows: 4, dim: 3, classes: ["a", "a", "b", "b"])
        XCTAssertThrowsKind(.refused, try IndexGrowth.addImages(AddImagesRequest(index: imported, images: [])))
    }

    /// The native `add` tests' data: a folder `photos/<class>/<name>.png` of the model fixtures'
    /// photos (cat/chelsea and other/rocket to start with) and a copy of the ResNet-18 weights.
    struct PhotoFolder {
        let root: URL
        let weights: URL

        init(in dir: URL) throws {
            root = dir.appendingPathComponent("photos")
            weights = dir.appendingPathComponent("weights.pth")
            try FileManager.default.copyItem(at: try ModelFixtures.url("resnet18_legacy.pth"), to: weights)
            try copy("cat", "chelsea"); try copy("other", "rocket")
        }

        /// Adds the fixture photo `name` to class folder `c`.
        func copy(_ c: String, _ name: String) throws {
            let to = root.appendingPathComponent(c).appendingPathComponent(name + ".png")
            try FileManager.default.createDirectory(at: to.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: try ModelFixtures.url(name + ".png"), to: to)
        }
    }

    func testAddWithTheNativeModelEqualsARebuild() throws {
        let dir = try temporaryDirectory(self)
        let photos = try PhotoFolder(in: dir)
        let root = photos.root, weights = photos.weights, copy = photos.copy
        let idx = dir.appendingPathComponent("idx"), full = dir.appendingPathComponent("full")
        try build(root, idx, model: "resnet18", weights: weights)
        try copy("other", "coffee")
        var r = AddImagesRequest(index: idx, images: [root])
        r.model = "resnet18"
        let s = try IndexGrowth.addImages(r)
        XCTAssertEqual(s.paths, ["other/coffee.png"])
        try build(root, full, model: "resnet18", weights: weights)
        // Batches differ (the forward pass of one image vs. a batch of two): equal to float rounding.
        try assertSameIndex(idx, full, tolerance: 1e-5)
        // Other weights than the index's are refused.
        try copy("cat", "astronaut")
        r.weights = try ModelFixtures.url("resnet50_zip.pt")
        XCTAssertThrowsKind(.refused, try IndexGrowth.addImages(r))
        // The recorded weights file moved: refused without --weights; changed in place: refused (checksum).
        r.weights = nil
        let moved = dir.appendingPathComponent("moved.pth")
        try FileManager.default.moveItem(at: weights, to: moved)
        XCTAssertThrowsKind(.refused, try IndexGrowth.addImages(r))
        var bytes = try Data(contentsOf: moved)
        bytes.append(0)
        try bytes.write(to: weights)
        XCTAssertThrowsKind(.refused, try IndexGrowth.addImages(r))
        XCTAssertEqual(try Index.open(idx).rowCount, 3, "refusals write nothing")
    }

    // MARK: add --vectors

    func manifest(_ dir: URL, _ name: String, paths: [String], classes: [String]) throws -> URL {
        let url = dir.appendingPathComponent(name)
        try ("path,class\n" + zip(paths, classes).map { "\($0),\($1)\n" }.joined()).write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func testAddVectorsEqualsAnImportOfAllRows() throws {
        let dir = try temporaryDirectory(self)
        let n = 30, d = 6, k = 20
        let x = randomMatrix(rows: n, dim: d, seed: 7)
        let labels = (0..<n).map { ["b", "a", "c"][$0 % 3] }
        let head = (w: randomMatrix(rows: 3, dim: d, seed: 8), b: [Float](arrayLiteral: 0.5, -1, 0.25), names: ["a", "b", "c"])
        let all = try makeImportedIndex(in: dir, vectors: x, rows: n, dim: d, classes: labels, head: head, name: "all")
        let part = try makeImportedIndex(in: dir, vectors: Array(x.prefix(k * d)), rows: k, dim: d, classes: Array(labels.prefix(k)), head: head, name: "part")
        let xb = dir.appendingPathComponent("B.npy")
        try NPYArray.write(shape: [n - k, d], values: Array(x[(k * d)...]), to: xb)
        let paths = (k..<n).map { "img/\(labels[$0])/\($0).png" }
        let m = try manifest(dir, "B.csv", paths: paths, classes: Array(labels[k...]))
        let s = try IndexGrowth.addVectors(AddVectorsRequest(index: part, vectors: xb, manifest: m))
        XCTAssertEqual(s.rowsAfter, n)
        XCTAssertEqual(s.notes, [], "same classes: nothing to say")
        try assertSameIndex(part, all, sameProvenance: false)

        // A new class under a head named after the classes: the names are kept, and said so (a
        // build from scratch could not match 3 head rows to 4 classes).
        let grown = try makeImportedIndex(in: dir, vectors: Array(x.prefix(k * d)), rows: k, dim: d, classes: Array(labels.prefix(k)), head: head, name: "grown")
        let xd = dir.appendingPathComponent("D.npy")
        try NPYArray.write(shape: [1, d], values: Array(x.prefix(d)), to: xd)
        let md = try manifest(dir, "D.csv", paths: ["img/d/new.png"], classes: ["d"])
        let sd = try IndexGrowth.addVectors(AddVectorsRequest(index: grown, vectors: xd, manifest: md))
        XCTAssertEqual(sd.notes.count, 1)
        XCTAssertTrue(sd.notes.first?.contains("prototype set 'head' keeps its 3 rows named after the 3 classes") == true, "\(sd.notes)")
        XCTAssertEqual(try Index.open(grown).prototypes(set: "head").records.map(\.name), ["a", "b", "c"])

        // Refusals: a path already there, another dimension, a space the index does not have.
        XCTAssertThrowsKind(.alreadyExists, try IndexGrowth.addVectors(AddVectorsRequest(index: part, vectors: xb, manifest: m)))
        let wrong = dir.appendingPathComponent("W3.npy")
        try NPYArray.write(shape: [n - k, 3], values: [Float](repeating: 1, count: (n - k) * 3), to: wrong)
        let m2 = try manifest(dir, "C.csv", paths: (0..<(n - k)).map { "new/\($0).png" }, classes: Array(labels[k...]))
        XCTAssertThrowsKind(.shapeMismatch, try IndexGrowth.addVectors(AddVectorsRequest(index: part, vectors: wrong, manifest: m2)))
        var r = AddVectorsRequest(index: part, vectors: xb, manifest: m2)
        r.space = "resnet50"
        XCTAssertThrowsKind(.notFound, try IndexGrowth.addVectors(r))
        try assertSameIndex(part, all, sameProvenance: false)
    }

    // MARK: remove

    func testRemoveEqualsARebuildWithoutThoseRows() throws {
        let dir = try temporaryDirectory(self)
        let root = try folder(dir, "data", files: Self.files)
        let idx = dir.appendingPathComponent("idx")
        try build(root, idx)
        // By path, then a whole class, then row numbers from a file.
        _ = try IndexGrowth.remove(index: idx, .paths(["train/cat/c.png", "val/dog/m.png"]))
        _ = try IndexGrowth.remove(index: idx, .classes(["bat"]))
        let rowsFile = dir.appendingPathComponent("rows.txt")
        let eel = try Index.open(idx).catalog.allImages().filter { $0.path == "test/eel/r.png" }.map(\.row)
        XCTAssertEqual(eel.count, 1)
        try "# rows to drop\n\(eel[0])\n".write(to: rowsFile, atomically: true, encoding: .utf8)
        let s = try IndexGrowth.remove(index: idx, try RowSelection.readRows(from: rowsFile))
        XCTAssertEqual(s.paths, ["test/eel/r.png"])
        let gone: Set<String> = ["train/cat/c.png", "val/dog/m.png", "val/bat/z.png", "train/bat/y.png", "test/eel/r.png"]
        let rest = try folder(dir, "rest", files: Self.files.filter { !gone.contains("\($0.split)/\($0.cls)/\($0.name)") })
        let fresh = dir.appendingPathComponent("fresh")
        try build(rest, fresh)
        try assertSameIndex(idx, fresh)
        XCTAssertEqual(try Index.open(idx).catalog.classes().map(\.name), ["cat", "dog", "eel"])

        // Unknown path / class / row, or every row: errors, nothing written.
        let before = try currentGeneration(idx)
        XCTAssertThrowsKind(.notFound, try IndexGrowth.remove(index: idx, .paths(["nope.png"])))
        XCTAssertThrowsKind(.notFound, try IndexGrowth.remove(index: idx, .classes(["bat"])))
        XCTAssertThrowsKind(.notFound, try IndexGrowth.remove(index: idx, .rows([99])))
        XCTAssertThrowsKind(.refused, try IndexGrowth.remove(index: idx, .classes(["cat", "dog", "eel"])))
        XCTAssertEqual(try currentGeneration(idx), before)
    }

    /// Rows files: plain numbers (comments, CRLF, a BOM) or a CSV with one `row` column read as
    /// RFC 4180 — a quoted path before it may hold commas and a line break (it was split on
    /// every comma and line). A header naming `row` twice is refused (the first one won).
    func testRowsFilesPlainAndCSV() throws {
        let dir = try temporaryDirectory(self)
        func rows(_ text: String) throws -> [Int] {
            let f = dir.appendingPathComponent("rows-\(UUID().uuidString).txt")
            try Data(text.utf8).write(to: f)
            return try RowSelection.readRowNumbers(from: f)
        }
        XCTAssertEqual(try rows("# drop these\r\n3\r\n\r\n 7 # the dog\r\n0\n"), [3, 7, 0])
        XCTAssertEqual(try rows("\u{FEFF}5\n6\n"), [5, 6])
        XCTAssertEqual(try rows("path,row,class\n\"a,b\nc.png\",4,cat\n\"x\"\"y.png\",2,\"dog, big\"\n\n"), [4, 2])
        XCTAssertEqual(try rows("\u{FEFF}# from the page\nrow,path\n1,p.png\n"), [1])
        XCTAssertThrowsKind(.invalidArgument, try rows("row,row\n1,2\n"))
        XCTAssertThrowsKind(.invalidArgument, try rows("path,row\n\"a,1\",x\n"))
        XCTAssertThrowsKind(.invalidArgument, try rows("path,row\na.png,-1\n"))
        XCTAssertThrowsKind(.invalidArgument, try rows("row,path\n"))
        XCTAssertThrowsKind(.invalidArgument, try rows("3\nfour\n"))
        XCTAssertThrowsKind(.invalidArgument, try rows("# nothing\n\n"))
    }

    func testRemoveDropsProbeSetsAndKeepsOtherPrototypeSets() throws {
        let dir = try temporaryDirectory(self)
        let n = 24, d = 5
        let labels = (0..<n).map { ["a", "b"][$0 % 2] }
        let head = (w: randomMatrix(rows: 2, dim: d, seed: 3), b: [Float](arrayLiteral: 0, 1), names: ["a", "b"])
        let idx = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 2), rows: n, dim: d, classes: labels, head: head)
        var p = ProbeRequest(); p.space = "embedding"
        _ = try Index.open(idx).probe(p)
        XCTAssertEqual(Set(try Index.open(idx).prototypeSets.map(\.name)), ["head", "probe"])
        let s = try IndexGrowth.remove(index: idx, .rows([0, 5]))
        XCTAssertEqual(s.droppedPrototypeSets, ["probe"])
        let after = try Index.open(idx)
        XCTAssertEqual(after.prototypeSets.map(\.name), ["head"])
        XCTAssertNil(try after.catalog.meta()["probeSplit.probe"])
        XCTAssertEqual(after.rowCount, n - 2)
        XCTAssertNoThrow(try after.verify())
    }

    // MARK: shards and merge

    func testShardsMergeIntoTheUnshardedBuild() throws {
        let dir = try temporaryDirectory(self)
        let root = try folder(dir, "data", files: Self.files)
        let full = dir.appendingPathComponent("full")
        try build(root, full)
        var parts: [URL] = []
        var seen = 0
        for i in 1...3 {
            let out = dir.appendingPathComponent("part\(i)")
            try build(root, out, shard: try Shard(index: i, count: 3))
            let rows = try Index.open(out).catalog.allImages()
            XCTAssertTrue(rows.allSatisfy { Shard.of(path: $0.path, count: 3) == i })
            XCTAssertEqual(try Index.open(out).catalog.meta()["shard"], "\(i)/3")
            seen += rows.count
            parts.append(out)
        }
        XCTAssertEqual(seen, Self.files.count, "every image in exactly one shard")
        let merged = dir.appendingPathComponent("merged")
        let s = try IndexGrowth.merge(parts.reversed(), out: merged)
        XCTAssertTrue(s.notes.isEmpty, "\(s.notes)")
        try assertSameIndex(merged, full)
        XCTAssertNil(try Index.open(merged).catalog.meta()["shard"])

        // Two of three shards: merged, with a note.
        let some = try IndexGrowth.merge(Array(parts.prefix(2)), out: dir.appendingPathComponent("some"))
        XCTAssertEqual(some.notes.count, 1)

        // Refusals: overlapping paths, other spaces, OUT an input, OUT a foreign folder or an index without --force.
        XCTAssertThrowsKind(.refused, try IndexGrowth.merge([parts[0], full], out: dir.appendingPathComponent("x1")))
        let px16 = dir.appendingPathComponent("px16")
        var r = BuildRequest(dataset: root, out: px16); r.pixelSize = 16; r.shard = try Shard(index: 2, count: 3)
        _ = try FolderBuilder.run(r)
        XCTAssertThrowsKind(.refused, try IndexGrowth.merge([parts[0], px16], out: dir.appendingPathComponent("x2")))
        XCTAssertThrowsKind(.refused, try IndexGrowth.merge([parts[0], parts[1]], out: parts[0]))
        let foreign = dir.appendingPathComponent("foreign")
        try FileManager.default.createDirectory(at: foreign, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: foreign.appendingPathComponent("notes.txt"))
        XCTAssertThrowsKind(.refused, try IndexGrowth.merge(parts, out: foreign))
        XCTAssertThrowsKind(.alreadyExists, try IndexGrowth.merge(parts, out: merged))
        XCTAssertNoThrow(try IndexGrowth.merge(parts, out: merged, force: true))
        // Another dimension (imported indexes): refused.
        let a = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 4, dim: 3, seed: 1), rows: 4, dim: 3, classes: ["a", "a", "b", "b"], name: "a")
        let b = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 4, dim: 4, seed: 1), rows: 4, dim: 4, classes: ["a", "a", "b", "b"], name: "b")
        XCTAssertThrowsKind(.refused, try IndexGrowth.merge([a, b], out: dir.appendingPathComponent("x3")))
        // Parts imported from differently named files by one model merge (the .npy's name was
        // compared as if it were the recipe).
        var imported: [URL] = []
        for (i, rows) in [5, 3].enumerated() {
            let x = dir.appendingPathComponent("part-\(i + 1).npy"), m = dir.appendingPathComponent("part-\(i + 1).csv")
            try NPYArray.write(shape: [rows, 4], values: randomMatrix(rows: rows, dim: 4, seed: UInt64(10 + i)), to: x)
            try ("path,class\n" + (0..<rows).map { "p\(i)/\($0).png,\(["a", "b"][$0 % 2])\n" }.joined()).write(to: m, atomically: true, encoding: .utf8)
            var r = ImportRequest(vectors: x, manifest: m, out: dir.appendingPathComponent("imported-\(i + 1)"))
            r.model = "clip"
            _ = try Importer.run(r)
            imported.append(r.out)
        }
        let joined = dir.appendingPathComponent("imported-merged")
        _ = try IndexGrowth.merge(imported, out: joined)
        XCTAssertEqual(try Index.open(joined).rowCount, 8)
        XCTAssertEqual(try Index.open(joined).catalog.allImages().map(\.path).prefix(6), ["p0/0.png", "p0/1.png", "p0/2.png", "p0/3.png", "p0/4.png", "p1/0.png"])
    }

    func testShardAssignmentIsAStableHashOfThePath() throws {
        // Pinned: CRC-32("train/cat/a.png") decides, whatever else the data set holds.
        let crc = Checksum.crc32(Array("train/cat/a.png".utf8))
        XCTAssertEqual(Shard.of(path: "train/cat/a.png", count: 4), Int(crc % 4) + 1)
        XCTAssertEqual(try Shard(parsing: "2/4"), try Shard(index: 2, count: 4))
        XCTAssertThrowsKind(.invalidArgument, try Shard(parsing: "0/4"))
        XCTAssertThrowsKind(.invalidArgument, try Shard(parsing: "5/4"))
        XCTAssertThrowsKind(.invalidArgument, try Shard(parsing: "x"))
    }

    // MARK: export

    /// Two exports into one existing folder at once: one after the other (a flock on the folder),
    /// so the folder ends holding one export whole. Before, both wrote the one staging folder and
    /// the result could be one's X.npy beside the other's rows.csv, both reporting success.
    func testConcurrentExportsIntoOneFolderNeverMix() throws {
        let dir = try temporaryDirectory(self)
        let d = 8
        // Different row counts, so a mix shows in the shapes.
        let a = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 300, dim: d, seed: 1), rows: 300, dim: d,
                                      classes: (0..<300).map { ["a", "b"][$0 % 2] }, name: "a")
        let b = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 700, dim: d, seed: 2), rows: 700, dim: d,
                                      classes: (0..<700).map { ["c", "d", "e"][$0 % 3] }, name: "b")
        let out = dir.appendingPathComponent("out")
        _ = try IndexExport.run(index: a, space: nil, out: out)
        for round in 0..<12 {
            let errors = Locked<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 2) { i in
                do { _ = try IndexExport.run(index: i == 0 ? a : b, space: nil, out: out) } catch {
                    errors.withLock { $0.append("\(error)") }
                }
            }
            XCTAssertEqual(errors.withLock { $0 }, [], "round \(round)")
            let x = try NPYArray.read(contentsOf: out.appendingPathComponent("X.npy"))
            let norms = try NPYArray.read(contentsOf: out.appendingPathComponent("norms.npy"))
            let lines = try String(contentsOf: out.appendingPathComponent("rows.csv"), encoding: .utf8).split(separator: "\n").count - 1
            XCTAssertTrue([300, 700].contains(x.rows), "round \(round)")
            XCTAssertEqual(norms.shape, [x.rows], "round \(round): norms.npy from the same export as X.npy")
            XCTAssertEqual(lines, x.rows, "round \(round): rows.csv from the same export as X.npy")
            let names = try FileManager.default.contentsOfDirectory(atPath: out.path).sorted()
            XCTAssertEqual(names, [".embedscope-export", "X.npy", "norms.npy", "rows.csv"], "round \(round): no staging left")
        }
        // Held by another export: waited for, or `.locked` at once with a zero timeout.
        let held = try IndexExport.lockFolder(out)
        let before = IndexWriterLock.policy
        defer { IndexWriterLock.policy = before }
        IndexWriterLock.policy = IndexWriterLock.Policy(timeout: 0, notice: { _ in })
        XCTAssertThrowsKind(.locked, try IndexExport.run(index: b, space: nil, out: out))
        close(held)
        XCTAssertNoThrow(try IndexExport.run(index: b, space: nil, out: out))
    }

    func testExportThenImportGivesTheSameAnswers() throws {
        let dir = try temporaryDirectory(self)
        let n = 40, d = 8
        let labels = (0..<n).map { ["a", "b", "c", "d"][$0 % 4] }
        let head = (w: randomMatrix(rows: 4, dim: d, seed: 5), b: [Float](arrayLiteral: 0.1, -0.2, 0.3, 0), names: ["a", "b", "c", "d"])
        let idx = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 4), rows: n, dim: d, classes: labels, head: head)
        let out = dir.appendingPathComponent("export")
        let s = try IndexExport.run(index: idx, space: "embedding", out: out)
        XCTAssertEqual(s.prototypeSet, "head")
        let x = try NPYArray.read(contentsOf: out.appendingPathComponent("X.npy"))
        XCTAssertEqual(x.shape, [n, d])
        let stored = try Index.open(idx).vectors(space: "embedding")
        XCTAssertEqual(maxAbsDifference(x.values, (0..<n).flatMap { Array(stored.row($0)) }), 0, "X.npy holds the stored unit rows")
        let csv = try String(contentsOf: out.appendingPathComponent("rows.csv"), encoding: .utf8)
        XCTAssertTrue(csv.hasPrefix("row,path,class,split\n0,img/a/0.png,a,\n"), csv)

        var r = ImportRequest(vectors: out.appendingPathComponent("X.npy"), manifest: out.appendingPathComponent("rows.csv"), out: dir.appendingPathComponent("back"))
        r.norms = out.appendingPathComponent("norms.npy")
        r.head = out.appendingPathComponent("W.npy"); r.bias = out.appendingPathComponent("b.npy"); r.headClasses = out.appendingPathComponent("head-classes.txt")
        _ = try Importer.run(r)
        try assertSameIndex(idx, r.out, tolerance: 1e-6, sameProvenance: false)
        // Bit for bit: the unit rows and the norms (scaling a unit row by its norm and normalizing
        // again moved ~10 % of the values by one ulp).
        let again = dir.appendingPathComponent("export-again")
        _ = try IndexExport.run(index: r.out, space: "embedding", out: again)
        for file in ["X.npy", "norms.npy"] {
            XCTAssertEqual(try Data(contentsOf: again.appendingPathComponent(file)), try Data(contentsOf: out.appendingPathComponent(file)),
                           "\(file): export → import --norms → export")
        }
        // Without --norms too (norms then 1): the same unit rows.
        var r3 = ImportRequest(vectors: out.appendingPathComponent("X.npy"), manifest: out.appendingPathComponent("rows.csv"),
                               out: dir.appendingPathComponent("back3"))
        r3.space = "embedding"
        _ = try Importer.run(r3)
        let again3 = dir.appendingPathComponent("export-again3")
        _ = try IndexExport.run(index: r3.out, space: "embedding", out: again3)
        XCTAssertEqual(try Data(contentsOf: again3.appendingPathComponent("X.npy")), try Data(contentsOf: out.appendingPathComponent("X.npy")))
        // A row that is not unit is still scaled: its norm is its norm in X times the given one.
        let scaled = dir.appendingPathComponent("scaled")
        try FileManager.default.createDirectory(at: scaled, withIntermediateDirectories: true)
        try NPYArray.write(shape: [n, d], values: x.values.map { $0 * 2 }, to: scaled.appendingPathComponent("X.npy"))
        var r2 = ImportRequest(vectors: scaled.appendingPathComponent("X.npy"), manifest: out.appendingPathComponent("rows.csv"),
                               out: dir.appendingPathComponent("back2"))
        r2.norms = out.appendingPathComponent("norms.npy")
        _ = try Importer.run(r2)
        let i1 = try Index.open(idx), i2 = try Index.open(r2.out)
        let f1 = try i1.norms(space: "embedding"), f2 = try i2.norms(space: "embedding")
        let n1 = Array(f1.row(0)), n2 = Array(f2.row(0))
        withExtendedLifetime((i1, i2, f1, f2)) {}
        for i in 0..<n { XCTAssertEqual(Double(n2[i]), 2 * Double(n1[i]), accuracy: 1e-6 * Double(n1[i]), "row \(i)") }

        // Exporting again into an export folder replaces it; a foreign folder is refused.
        XCTAssertNoThrow(try IndexExport.run(index: idx, space: "embedding", out: out))
        let foreign = dir.appendingPathComponent("foreign")
        try FileManager.default.createDirectory(at: foreign, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: foreign.appendingPathComponent("notes.txt"))
        XCTAssertThrowsKind(.refused, try IndexExport.run(index: idx, space: "embedding", out: foreign))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: foreign.path), ["notes.txt"])
        XCTAssertThrowsKind(.notFound, try IndexExport.run(index: idx, space: "pixel", out: dir.appendingPathComponent("e2")))
    }
}
