import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeAnalysis
@testable import EmbedScopeCore
@testable import EmbedScopeImages

/// Names as users' files give them (found by a red-team pass, each exit 0 before): two spellings
/// of one Unicode text, control characters in file names, wide characters in tables.
final class InputNamesTests: XCTestCase {
    let nfc = "caf\u{E9}", nfd = "cafe\u{301}"

    func writePNG(_ url: URL, shade: UInt8) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        var px = [UInt8](repeating: shade, count: 8 * 8 * 3)
        px[0] = 255 &- shade; px[5] = shade / 2
        try PNGWriter.write(width: 8, height: 8, channels: 3, pixels: px, to: url)
    }

    /// Swift compares strings by canonical equivalence: class folders "café" (NFC) and "café" (NFD)
    /// were one class of 6 rows; a manifest with both was one class; `add` put NFD rows into the
    /// index's NFC class. Each is refused, naming both spellings by their bytes.
    func testTwoSpellingsOfOneNameAreRefused() throws {
        XCTAssertEqual(nfc, nfd, "(Swift's string equality, the cause)")
        XCTAssertFalse(nfc.utf8.elementsEqual(nfd.utf8))
        let dir = try temporaryDirectory(self)
        let data = dir.appendingPathComponent("data")
        for (c, name) in [nfc, nfd, "x"].enumerated() {
            for j in 0..<2 { try writePNG(data.appendingPathComponent(name).appendingPathComponent("i\(j).png"), shade: UInt8(40 * c + 10 * j + 5)) }
        }
        let b = try CLI.run(["build", data.path, "--out", dir.appendingPathComponent("ix").path, "--model", "none"])
        XCTAssertEqual(b.status, 1, b.stdout)
        XCTAssertTrue(b.stderr.contains("63 61 66 c3 a9") && b.stderr.contains("63 61 66 65 cc 81") && b.stderr.contains("Unicode normalization"), b.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("ix").path))

        // Files in one folder, too.
        let files = dir.appendingPathComponent("files")
        try writePNG(files.appendingPathComponent("a").appendingPathComponent("\(nfc).png"), shade: 30)
        try writePNG(files.appendingPathComponent("a").appendingPathComponent("\(nfd).png"), shade: 90)
        try writePNG(files.appendingPathComponent("b").appendingPathComponent("z.png"), shade: 150)
        XCTAssertEqual(try CLI.run(["build", files.path, "--out", dir.appendingPathComponent("ix2").path, "--model", "none"]).status, 1)

        // A manifest: classes, and paths.
        let x = dir.appendingPathComponent("X.npy")
        try NPYArray.write(shape: [4, 3], values: randomMatrix(rows: 4, dim: 3, seed: 2), to: x)
        for (i, csv) in ["path,class\na.png,\(nfc)\nb.png,\(nfd)\nc.png,x\nd.png,x\n", "path,class\n\(nfc).png,a\n\(nfd).png,a\nc.png,x\nd.png,x\n"].enumerated() {
            let m = dir.appendingPathComponent("m\(i).csv")
            try csv.write(to: m, atomically: true, encoding: .utf8)
            let r = try CLI.run(["import", "--vectors", x.path, "--manifest", m.path, "--out", dir.appendingPathComponent("im\(i)").path])
            XCTAssertEqual(r.status, 1, r.stdout)
            XCTAssertTrue(r.stderr.contains("Unicode normalization"), r.stderr)
        }

        // add: the index has "café" in NFC; new rows spelled NFD.
        let idx = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 6, dim: 3, seed: 3), rows: 6, dim: 3,
                                        classes: [nfc, "x", nfc, "x", nfc, "x"], name: "grow")
        let x2 = dir.appendingPathComponent("X2.npy")
        try NPYArray.write(shape: [2, 3], values: randomMatrix(rows: 2, dim: 3, seed: 4), to: x2)
        let m2 = dir.appendingPathComponent("m2.csv")
        try "path,class\nnew1.png,\(nfd)\nnew2.png,x\n".write(to: m2, atomically: true, encoding: .utf8)
        let add = try CLI.run(["add", idx.path, "--vectors", x2.path, "--manifest", m2.path])
        XCTAssertEqual(add.status, 1, add.stdout)
        XCTAssertTrue(add.stderr.contains("Unicode normalization"), add.stderr)
        XCTAssertEqual(try Index.open(idx).rowCount, 6)

        // One spelling throughout is fine.
        let ok = dir.appendingPathComponent("ok.csv")
        try "path,class\na.png,\(nfd)\nb.png,\(nfd)\nc.png,x\nd.png,x\n".write(to: ok, atomically: true, encoding: .utf8)
        XCTAssertEqual(try CLI.run(["import", "--vectors", x.path, "--manifest", ok.path, "--out", dir.appendingPathComponent("fine").path]).status, 0)
        XCTAssertTrue(try Index.open(dir.appendingPathComponent("fine")).catalog.classes().contains { $0.name.utf8.elementsEqual(nfd.utf8) })
    }

    /// `build` indexes a file whose name holds a newline; `export` writes it quoted; `import` of that
    /// manifest refused it ("contains a control character"). The round trip now gives the same rows,
    /// and tables show such a name escaped on one line.
    func testAFileNameWithANewlineRoundTripsAndPrintsOnOneLine() throws {
        let dir = try temporaryDirectory(self)
        let data = dir.appendingPathComponent("data")
        try writePNG(data.appendingPathComponent("C").appendingPathComponent("new\nline.png"), shade: 9)
        try writePNG(data.appendingPathComponent("C").appendingPathComponent("tab\there.png"), shade: 200)
        try writePNG(data.appendingPathComponent("D").appendingPathComponent("a.png"), shade: 99)
        let ix = dir.appendingPathComponent("ix")
        XCTAssertEqual(try CLI.run(["build", data.path, "--out", ix.path, "--model", "none"]).status, 0)
        let ex = dir.appendingPathComponent("ex")
        XCTAssertEqual(try CLI.run(["export", ix.path, "--space", "pixel", "--out", ex.path]).status, 0)
        let back = dir.appendingPathComponent("back")
        let r = try CLI.run(["import", "--vectors", ex.appendingPathComponent("X.npy").path, "--norms", ex.appendingPathComponent("norms.npy").path,
                             "--manifest", ex.appendingPathComponent("rows.csv").path, "--out", back.path, "--space", "pixel", "--no-pixels"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try Index.open(back).catalog.allImages().map(\.path), try Index.open(ix).catalog.allImages().map(\.path))
        let q = try CLI.run(["query", ix.path, "--row", "2", "-k", "2"])
        XCTAssertEqual(q.status, 0, q.stderr)
        XCTAssertEqual(q.stdout.split(separator: "\n").count, 3, q.stdout)   // header + 2 rows
        XCTAssertTrue(q.stdout.contains("C/new\\u{A}line.png") && q.stdout.contains("C/tab\\u{9}here.png"), q.stdout)
        // NUL still refused (it ended the path in the catalog).
        let nul = dir.appendingPathComponent("nul.csv")
        try "path,class\n\"a\u{0}b.png\",x\nc.png,y\n".write(to: nul, atomically: true, encoding: .utf8)
        let x = dir.appendingPathComponent("X.npy")
        try NPYArray.write(shape: [2, 3], values: randomMatrix(rows: 2, dim: 3, seed: 2), to: x)
        XCTAssertEqual(try CLI.run(["import", "--vectors", x.path, "--manifest", nul.path, "--out", dir.appendingPathComponent("n").path]).status, 1)
    }

    /// "./a.png" and "a.png" (or "x//a.png" and "x/a.png") are one file: a manifest naming it both
    /// ways gave two rows of one image, exit 0; `add` took it again.
    func testOneFileSpelledTwoWaysIsOneImage() throws {
        let dir = try temporaryDirectory(self)
        let x = dir.appendingPathComponent("X.npy")
        try NPYArray.write(shape: [3, 3], values: randomMatrix(rows: 3, dim: 3, seed: 2), to: x)
        for csv in ["path,class\n./a.png,x\na.png,x\nb.png,y\n", "path,class\nimgs//a.png,x\nimgs/a.png,x\nb.png,y\n"] {
            let m = dir.appendingPathComponent("m.csv")
            try csv.write(to: m, atomically: true, encoding: .utf8)
            let r = try CLI.run(["import", "--vectors", x.path, "--manifest", m.path, "--out", dir.appendingPathComponent("ix").path])
            XCTAssertEqual(r.status, 1, r.stdout)
            XCTAssertTrue(r.stderr.contains("names the same file as line 2"), r.stderr)
        }
        let idx = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 4, dim: 3, seed: 3), rows: 4, dim: 3, classes: ["a", "b", "a", "b"], name: "grow")
        let x2 = dir.appendingPathComponent("X2.npy")
        try NPYArray.write(shape: [1, 3], values: randomMatrix(rows: 1, dim: 3, seed: 4), to: x2)
        let m2 = dir.appendingPathComponent("m2.csv")
        try "path,class\n./img/a/0.png,a\n".write(to: m2, atomically: true, encoding: .utf8)
        let add = try CLI.run(["add", idx.path, "--vectors", x2.path, "--manifest", m2.path])
        XCTAssertEqual(add.status, 1, add.stdout)
        XCTAssertTrue(add.stderr.contains("already in the index"), add.stderr)
    }

    /// Column widths were counted in characters and cells padded in UTF-16 units: "cat_😀😀😀.png"
    /// was shown as "cat_😀😀😀.".
    func testTablesShowWideNamesWhole() throws {
        XCTAssertEqual("cat_😀😀😀.png".padded(to: 14), "cat_😀😀😀.png" + "   ")
        XCTAssertEqual("\(nfd)/i2.png".padded(to: 11), "\(nfd)/i2.png")
        XCTAssertEqual("abcdef".padded(to: 3), "abc")
        XCTAssertEqual("a\u{202E}b\nc".displayEscaped, "a\\u{202E}b\\u{A}c")
        let dir = try temporaryDirectory(self)
        let x = dir.appendingPathComponent("X.npy")
        try NPYArray.write(shape: [3, 2], values: [1, 0, 1, 0.1, 0, 1], to: x)
        let m = dir.appendingPathComponent("m.csv")
        try "path,class\ncat_😀😀😀.png,a\nplain.png,a\nzzz.png,b\n".write(to: m, atomically: true, encoding: .utf8)
        XCTAssertEqual(try CLI.run(["import", "--vectors", x.path, "--manifest", m.path, "--out", dir.appendingPathComponent("ix").path]).status, 0)
        let q = try CLI.run(["query", dir.appendingPathComponent("ix").path, "--row", "1", "-k", "2"])
        XCTAssertTrue(q.stdout.contains("cat_😀😀😀.png  "), q.stdout)
    }

    /// A line feed in a class name (a quoted manifest field) split a text record in two:
    /// `uniqueness` printed "[f" and "nl]" on two lines, and so did the per-class tables. Every text
    /// output shows it as `\u{A}`, one record a line (JSON keeps the name exactly).
    func testALineFeedInAClassNameKeepsEachRecordOnOneLine() throws {
        let dir = try temporaryDirectory(self)
        let n = 40, d = 6
        let x = dir.appendingPathComponent("X.npy")
        try NPYArray.write(shape: [n, d], values: randomMatrix(rows: n, dim: d, seed: 8), to: x)
        let m = dir.appendingPathComponent("m.csv")
        try ("path,class\n" + (0..<n).map { "i\($0).png,\($0 % 2 == 0 ? "\"f\nnl\"" : "plain")" }.joined(separator: "\n") + "\n")
            .write(to: m, atomically: true, encoding: .utf8)
        let idx = dir.appendingPathComponent("ix")
        let imported = try CLI.run(["import", "--vectors", x.path, "--manifest", m.path, "--out", idx.path])
        XCTAssertEqual(imported.status, 0, imported.stderr)
        for args in [["uniqueness", idx.path], ["representativeness", idx.path], ["metrics", idx.path], ["versus", idx.path],
                     ["probe", idx.path, "--no-store"]] {
            let r = try CLI.run(args)
            XCTAssertEqual(r.status, 0, "\(args[0]): \(r.stderr)")
            XCTAssertTrue(r.stdout.contains("f\\u{A}nl"), "\(args[0]): \(r.stdout)")
            XCTAssertFalse(r.stdout.split(separator: "\n").contains { $0.hasPrefix("nl") }, "\(args[0]): \(r.stdout)")
        }
        let json = try CLI.run(["uniqueness", idx.path, "--json"])
        XCTAssertTrue(json.stdout.contains("f\\nnl"), json.stdout)   // JSON's own escape of the exact name
    }

    /// A vector the query refuses for its shape names the file it came from.
    func testAQueryVectorOfTheWrongDimensionNamesItsFile() throws {
        let dir = try temporaryDirectory(self)
        let idx = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 6, dim: 8, seed: 3), rows: 6, dim: 8, classes: ["a", "b", "a", "b", "a", "b"])
        let q = dir.appendingPathComponent("q7.npy")
        try NPYArray.write(shape: [7], values: randomMatrix(rows: 1, dim: 7, seed: 1), to: q)
        let r = try CLI.run(["query", idx.path, "--vector", q.path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("q7.npy") && r.stderr.contains("has 7 values"), r.stderr)
        let qs = dir.appendingPathComponent("qs.npy")
        try NPYArray.write(shape: [2, 7], values: randomMatrix(rows: 2, dim: 7, seed: 1), to: qs)
        let rs = try CLI.run(["query", idx.path, "--vectors", qs.path])
        XCTAssertEqual(rs.status, 1)
        XCTAssertTrue(rs.stderr.contains("qs.npy"), rs.stderr)
    }

    /// Exact ties are not mislabels: 20 identical vectors labelled a/b alternately flagged every b.
    func testTiedEvidenceFlagsNoImage() throws {
        let dir = try temporaryDirectory(self)
        let n = 20, d = 4
        let one: [Float] = [1, 2, 3, 4]
        var v: [Float] = []
        for _ in 0..<n { v += one }
        let labels: [String] = (0..<n).map { i -> String in i % 2 == 0 ? "a" : "b" }
        let idx = try makeImportedIndex(in: dir, vectors: v, rows: n, dim: d, classes: labels)
        let r = try Index.open(idx).mislabels(options: MislabelOptions())
        XCTAssertTrue(r.candidates.allSatisfy { $0.score > 1e-9 }, "\(r.candidates.prefix(3))")
        XCTAssertFalse(r.candidates.contains { $0.class == "b" && $0.suggested == "a" && $0.score < 1e-9 })
    }
}
