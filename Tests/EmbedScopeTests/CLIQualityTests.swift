import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport

extension CLITests {
    /// evaluate --split, duplicates and mislabels through the binary, on the planted fixture.
    func testQualityCommands() throws {
        let dir = try temporaryDirectory(self)
        let data = try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/quality/dups")
        let idx = dir.appendingPathComponent("idx")
        let b = try run(["build", data.path, "--out", idx.path, "--pixel-size", "16", "--json"])
        XCTAssertEqual(b.status, 0, b.stderr)

        let p = try run(["probe", idx.path, "--json"])
        XCTAssertEqual(p.status, 0, p.stderr)
        let probe = try JSONDecoder().decode(ProbeReport.self, from: Data(p.stdout.utf8))
        XCTAssertEqual(probe.splitPlan.source, "catalog")
        let e = try run(["evaluate", idx.path, "--set", "probe", "--split", "val", "--json"])
        XCTAssertEqual(e.status, 0, e.stderr)
        let ev = try JSONDecoder().decode(PrototypeEvaluation.self, from: Data(e.stdout.utf8))
        XCTAssertEqual(ev.split, "val")
        XCTAssertEqual(ev.classification.accuracy, probe.validation.accuracy, accuracy: 1e-12)
        let et = try run(["evaluate", idx.path, "--set", "probe"])
        XCTAssertTrue(et.stdout.contains("rows (--split heldout): held out"), et.stdout)
        let bad = try run(["evaluate", idx.path, "--set", "probe", "--split", "nope"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--split"), bad.stderr)

        let d = try run(["duplicates", idx.path, "--json"])
        XCTAssertEqual(d.status, 0, d.stderr)
        let dup = try JSONDecoder().decode(DuplicateReport.self, from: Data(d.stdout.utf8))
        XCTAssertEqual(dup.pairCount, 6)
        XCTAssertTrue(dup.pairs[0].leakage)
        // JSON names as elsewhere (row, path, class, score), null for a missing split.
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(d.stdout.utf8)) as? [String: Any])
        let first = try XCTUnwrap((obj["pairs"] as? [[String: Any]])?.first)
        XCTAssertNotNil(first["score"])
        XCTAssertEqual(Set((first["a"] as? [String: Any])?.keys.map { $0 } ?? []), ["row", "path", "class", "split"])
        let dt = try run(["duplicates", idx.path])
        XCTAssertTrue(dt.stdout.contains("LEAKAGE"), dt.stdout)

        let m = try run(["mislabels", idx.path, "--folds", "3", "-k", "3", "--json"])
        XCTAssertEqual(m.status, 0, m.stderr)
        let mis = try JSONDecoder().decode(MislabelReport.self, from: Data(m.stdout.utf8))
        XCTAssertEqual(mis.folds, 3)
        // The picture saved under the wrong class is caught.
        XCTAssertTrue(mis.candidates.contains { $0.path == "train/stripes/ring-3-as-stripes.png" && $0.suggested == "ring" },
                      mis.candidates.map { "\($0.path) → \($0.suggested)" }.joined(separator: "; "))
        let mt = try run(["mislabels", idx.path, "--folds", "1"])
        XCTAssertNotEqual(mt.status, 0)
    }
}
