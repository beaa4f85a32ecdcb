import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport

/// `add`, `remove`, `merge`, `export` and `build --shard` through the binary: JSON on stdout,
/// refusals on stderr with a non-zero status.
final class CLIGrowthTests: XCTestCase {
    /// Messages count in words: "1 row", "2 classes", "3 indexes", never "row(s)".
    func testCountedNouns() {
        XCTAssertEqual(counted(1, "row"), "1 row")
        XCTAssertEqual(counted(0, "row"), "0 rows")
        XCTAssertEqual(counted(2, "class"), "2 classes")
        XCTAssertEqual(counted(1, "class"), "1 class")
        XCTAssertEqual(counted(3, "index", plural: "indexes"), "3 indexes")
        XCTAssertEqual(counted(5, "patch"), "5 patches")
    }

    func testGrowShrinkMergeAndExportFromTheCommandLine() throws {
        let dir = try temporaryDirectory(self)
        let root = try makeFolder(dir)
        let idx = dir.appendingPathComponent("idx").path
        // Shards, merged: the unsharded build.
        for i in 1...2 {
            let b = try CLI.run(["build", root.path, "--out", dir.appendingPathComponent("part\(i)").path, "--pixel-size", "8", "--shard", "\(i)/2"])
            XCTAssertEqual(b.status, 0, b.stderr)
        }
        let m = try CLI.run(["merge", dir.appendingPathComponent("part1").path, dir.appendingPathComponent("part2").path, "--out", idx, "--json"])
        XCTAssertEqual(m.status, 0, m.stderr)
        struct ClassJ: Decodable { var id: Int; var name: String; var count: Int }
        struct MergeJ: Decodable { var rows: Int; var classes: [ClassJ] }
        let mj = try JSONDecoder().decode(MergeJ.self, from: Data(m.stdout.utf8))
        XCTAssertEqual(mj.rows, 5)
        XCTAssertEqual(mj.classes.map(\.name), ["blue", "red"])
        XCTAssertEqual(mj.classes.reduce(0) { $0 + $1.count }, mj.rows)
        XCTAssertEqual(try CLI.run(["build", root.path, "--out", idx, "--shard", "3/2"]).status == 0, false)

        // Remove a class, add it back: the same rows as the build.
        let r = try CLI.run(["remove", idx, "--class", "blue", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        struct GrowJ: Decodable { var rowsBefore: Int; var rowsAfter: Int; var added: [String]; var removed: [String]; var metricsJSON: String }
        let rj = try JSONDecoder().decode(GrowJ.self, from: Data(r.stdout.utf8))
        XCTAssertEqual(rj.rowsBefore, 5); XCTAssertEqual(rj.rowsAfter, 3)
        XCTAssertEqual(rj.removed, ["blue/a.png", "blue/b.png"])
        let a = try CLI.run(["add", idx, root.path, "--json"])
        XCTAssertEqual(a.status, 0, a.stderr)
        let aj = try JSONDecoder().decode(GrowJ.self, from: Data(a.stdout.utf8))
        XCTAssertEqual(aj.added, ["blue/a.png", "blue/b.png"])
        XCTAssertEqual(try Index.open(URL(fileURLWithPath: idx)).catalog.allImages().map(\.path),
                       ["blue/a.png", "blue/b.png", "red/a.png", "red/c.PNG", "red/deep/b.png"])

        // Refusals: nothing new to add, another pixel size, export over a foreign folder.
        let again = try CLI.run(["add", idx, root.path])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.stderr.contains("already in the index"), again.stderr)
        let px = try CLI.run(["add", idx, "--pixel-size", "16"])
        XCTAssertNotEqual(px.status, 0)
        XCTAssertTrue(px.stderr.contains("pixel"), px.stderr)
        let e = try CLI.run(["export", idx, "--space", "pixel", "--out", dir.appendingPathComponent("exp").path, "--json"])
        XCTAssertEqual(e.status, 0, e.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("exp/X.npy").path))
        XCTAssertTrue(e.stdout.contains("\"prototypeSet\" : null"), e.stdout)
        let foreign = try CLI.run(["export", idx, "--out", root.path])
        XCTAssertNotEqual(foreign.status, 0)
        XCTAssertTrue(foreign.stderr.contains("did not write"), foreign.stderr)
        // --out inside the index (its live generation) is refused at once: it waited forever on the
        // reader's lock this process held on that folder.
        for inside in ["current", "current/sub"] {
            let own = try CLI.run(["export", idx, "--out", URL(fileURLWithPath: idx).appendingPathComponent(inside).path, "--lock-timeout", "30"])
            XCTAssertNotEqual(own.status, 0, inside)
            XCTAssertTrue(own.stderr.contains("inside the index folder"), own.stderr)
        }
        let both = try CLI.run(["remove", idx, "--class", "red", "--path", "blue/a.png"])
        XCTAssertNotEqual(both.status, 0)
        let one = try CLI.run(["remove", idx, "--path", "blue/a.png"])
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertTrue(one.stdout.hasPrefix("removed 1 row: "), one.stdout)
        XCTAssertTrue(one.stdout.contains("now has 4 rows (was 5) in 2 classes"), one.stdout)
    }
}
