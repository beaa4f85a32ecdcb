import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport

extension CLITests {
    /// versus, probe, evaluate and rank --set probe through the binary.
    func testVersusProbeEvaluateCommands() throws {
        let dir = try temporaryDirectory(self)
        let n = 90, d = 8
        let names = (0..<n).map { ["ant", "bee", "cat"][$0 % 3] }
        // Three separated clusters plus noise.
        var x = randomMatrix(rows: n, dim: d, seed: 11).map { $0 * 0.3 }
        for i in 0..<n { x[i * d + i % 3] += 2 }
        let idx = try makeImportedIndex(in: dir, vectors: x, rows: n, dim: d, classes: names)

        let v = try run(["versus", idx.path, "-k", "5", "--json"])
        XCTAssertEqual(v.status, 0, v.stderr)
        let report = try JSONDecoder().decode(VersusReport.self, from: Data(v.stdout.utf8))
        XCTAssertEqual(report.spaces.map(\.space), ["embedding"])
        XCTAssertNil(report.agreement)
        XCTAssertGreaterThan(report.spaces[0].precisionAtK, 0.9)
        let vt = try run(["versus", idx.path, "-k", "5"])
        XCTAssertEqual(vt.status, 0, vt.stderr)
        XCTAssertTrue(vt.stdout.contains("precision@5") && vt.stdout.contains("skipped"), vt.stdout)
        let tooMany = try run(["versus", idx.path, "-k", "\(n)"])
        XCTAssertEqual(tooMany.status, 1)
        XCTAssertTrue(tooMany.stderr.contains("needs more rows than k") && tooMany.stderr.contains("use -k \(n - 1) or less"), tooMany.stderr)
        // The largest k: an error, not an overflow trap (SIGILL) while writing the message.
        for cmd in ["versus", "mislabels"] {
            let huge = try run([cmd, idx.path, "-k", "\(Int.max)"])
            XCTAssertEqual(huge.status, 1, "\(cmd): \(huge.stderr)")
            XCTAssertTrue(huge.stderr.contains("needs more rows than k"), huge.stderr)
        }

        let twice = try run(["versus", idx.path, "--spaces", "embedding,embedding"])
        XCTAssertEqual(twice.status, 1); XCTAssertTrue(twice.stderr.contains("named twice"), twice.stderr)
        let tinyC = try run(["probe", idx.path, "--C", "1e-310"]) // 1/C is infinite: refused, not "diverged"
        XCTAssertNotEqual(tinyC.status, 0); XCTAssertTrue(tinyC.stderr.contains("1e-308"), tinyC.stderr)
        let p = try run(["probe", idx.path, "--C", "1", "--json"])
        XCTAssertEqual(p.status, 0, p.stderr)
        XCTAssertTrue(p.stderr.isEmpty, "progress goes to a terminal only: \(p.stderr)")
        let probe = try JSONDecoder().decode(ProbeReport.self, from: Data(p.stdout.utf8))
        XCTAssertEqual(probe.storedAs, "probe")
        XCTAssertEqual(probe.validationRows, 18)
        XCTAssertGreaterThan(probe.validation.accuracy, 0.9)

        let e = try run(["evaluate", idx.path, "--set", "probe", "--lowest", "3", "--json"])
        XCTAssertEqual(e.status, 0, e.stderr)
        let ev = try JSONDecoder().decode(PrototypeEvaluation.self, from: Data(e.stdout.utf8))
        XCTAssertEqual(ev.classification.labels, ["ant", "bee", "cat"])
        XCTAssertEqual(ev.lowestMargins.count, 3)
        let et = try run(["evaluate", idx.path, "--set", "probe"])
        XCTAssertTrue(et.stdout.contains("confusion matrix"), et.stdout)

        let r = try run(["rank", idx.path, "--set", "probe", "--prototype", "cat", "-k", "5", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        struct R: Decodable { var results: [ResultRow] }
        XCTAssertTrue(try JSONDecoder().decode(R.self, from: Data(r.stdout.utf8)).results.allSatisfy { $0.class == "cat" })

        let missing = try run(["evaluate", idx.path, "--set", "nope"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("no prototype set 'nope'"), missing.stderr)
        let badVal = try run(["probe", idx.path, "--val", "1"])
        XCTAssertNotEqual(badVal.status, 0)
        XCTAssertTrue(badVal.stderr.contains("--val"), badVal.stderr)
    }
}
