import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport

/// The report per split (issue 12 item 2): `report --split val` shows the cluster metrics,
/// precision@10 and the prototype evaluation of the val rows, the figures `metrics --split`,
/// `versus --split` and `evaluate --split` give, and records none of them in metrics.json.
extension SplitMetricsTests {
    func testReportSplitSectionsEqualTheSplitCommands() throws {
        let dir = try temporaryDirectory(self)
        let n = 120, d = 10
        // Class means apart, so the probe and neighbours have something to find.
        var x = randomMatrix(rows: n, dim: d, seed: 41)
        for i in 0..<n { x[i * d + i % 3] += 2.5 }
        func split(_ i: Int) -> String { i % 5 < 3 ? "train" : (i % 5 == 3 ? "val" : "test") }
        let classes = ["a", "b", "c"]
        let rows: [(path: String, cls: String, split: String)] = (0..<n).map { i in (path: "img/\(i).png", cls: classes[i % 3], split: split(i)) }
        let url = try importIndex(dir, name: "all", x: x, d: d, rows: rows)
        _ = try Index.open(url).probe(ProbeRequest())
        let idx = try Index.open(url)
        let valRows = rows.indices.filter { rows[$0].split == "val" }

        // The whole-index report first (every row; the probe's held-out rows = val + test)
        var all = ReportOptions(); all.queries = 0; all.quality = false
        let whole = try idx.reportSection(name: "all", options: all)
        XCTAssertNil(whole.split)
        XCTAssertEqual(whole.metrics.first?.rows, n)
        XCTAssertEqual(whole.classifications.first?.counts.joined().reduce(0, +), rows.filter { $0.split != "train" }.count)
        var o = ReportOptions()
        o.queries = 0; o.quality = false; o.split = "val"
        let section = try idx.reportSection(name: "all", options: o)
        XCTAssertEqual(section.split?.name, "val")
        XCTAssertEqual(section.split?.rows, valRows.count)

        let m = try XCTUnwrap(section.metrics.first)
        let expected = try idx.clusterScores(space: "embedding", split: "val")
        XCTAssertEqual(m.split, "val")
        XCTAssertEqual(m.rows, valRows.count)
        XCTAssertEqual(m.silhouette.mean, expected.silhouette.mean)
        XCTAssertEqual(m.daviesBouldin, expected.daviesBouldin)
        XCTAssertFalse(m.silhouette.mean.isNaN)

        var vo = VersusOptions(); vo.k = 10; vo.spaces = ["embedding"]; vo.split = "val"
        let v = try idx.versus(options: vo)
        let shown = try XCTUnwrap(section.versus)
        XCTAssertEqual(shown.overall, v.spaces.map(\.precisionAtK))
        XCTAssertEqual(shown.perClass.map(\.precision), v.spaces[0].perClass.map { [$0.precisionAtK] })

        let e = try idx.evaluate(set: "probe", lowest: 12, split: .val)
        let c = try XCTUnwrap(section.classifications.first)
        XCTAssertEqual(c.counts, e.classification.confusion)
        XCTAssertEqual(c.counts.joined().reduce(0, +), valRows.count)
        XCTAssertTrue(c.title.contains("\(valRows.count) val rows"), c.title)

        XCTAssertNotNil(try idx.readMetrics()?.spaces["embedding"]?.cluster, "the whole-index report records its metrics")
        XCTAssertEqual(try idx.readMetrics()?.spaces["embedding"]?.cluster?.silhouette, whole.metrics.first?.silhouette.mean,
                       "the split report did not overwrite them")

        // A split the index does not have is an error naming the ones it has.
        o.split = "holdout"
        XCTAssertThrowsKind(.notFound, try idx.reportSection(name: "all", options: o))

        // The CLI: --split, and the page says which rows.
        let out = dir.appendingPathComponent("report-val")
        let r = try CLI.run(["report", url.path, "--out", out.path, "--split", "val", "--queries", "0", "--no-quality"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let html = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("Split <b>val</b>: cluster metrics, precision@k and the prototype evaluations use its \(valRows.count) of \(n) rows only"))
    }
}
