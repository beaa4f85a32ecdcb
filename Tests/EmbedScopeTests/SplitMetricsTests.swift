import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeAnalysis

/// Metrics per split (issue 12 item 2): `metrics --split val` equals the metrics of an index that
/// holds only the val rows.
final class SplitMetricsTests: XCTestCase {
    func importIndex(_ dir: URL, name: String, x: [Float], d: Int, rows: [(path: String, cls: String, split: String)]) throws -> URL {
        let xURL = dir.appendingPathComponent("\(name).npy")
        try NPYArray.write(shape: [rows.count, d], values: x, to: xURL)
        let m = dir.appendingPathComponent("\(name).csv")
        try ("path,class,split\n" + rows.map { "\($0.path),\($0.cls),\($0.split)\n" }.joined()).write(to: m, atomically: true, encoding: .utf8)
        var r = ImportRequest(vectors: xURL, manifest: m, out: dir.appendingPathComponent(name))
        r.pixels = false
        _ = try Importer.run(r)
        return r.out
    }

    func testSplitMetricsEqualAnIndexOfThatSplitAlone() throws {
        let dir = try temporaryDirectory(self)
        let n = 90, d = 10
        let x = randomMatrix(rows: n, dim: d, seed: 31)
        let rows = (0..<n).map { i in (path: "img/\(i).png", cls: ["a", "b", "c"][i % 3], split: i % 5 < 3 ? "train" : "val") }
        let all = try importIndex(dir, name: "all", x: x, d: d, rows: rows)
        let valRows = rows.indices.filter { rows[$0].split == "val" }
        let valOnly = try importIndex(dir, name: "val", x: valRows.flatMap { Array(x[$0 * d ..< ($0 + 1) * d]) }, d: d, rows: valRows.map { rows[$0] })

        let a = try Index.open(all), v = try Index.open(valOnly)
        XCTAssertEqual(try a.rows(inSplit: "val"), valRows)
        let split = try a.clusterScores(space: "embedding", split: "val")
        let alone = try v.clusterScores(space: "embedding")
        XCTAssertEqual(split.rows, valRows.count)
        XCTAssertEqual(split.silhouette.mean, alone.silhouette.mean, accuracy: 1e-6)
        XCTAssertEqual(split.daviesBouldin, alone.daviesBouldin, accuracy: 1e-6)
        XCTAssertEqual(split.calinskiHarabasz, alone.calinskiHarabasz, accuracy: 1e-6 * max(1, abs(alone.calinskiHarabasz)))
        XCTAssertFalse(split.silhouette.mean.isNaN)
        XCTAssertThrowsKind(.notFound, try a.clusterScores(space: "embedding", split: "test"))

        // Neighbour quality of the split alone: the same figures as the val-only index, the worst
        // disagreements named by the full index's rows.
        var o = VersusOptions(); o.k = 4; o.worst = 5
        let vs = try a.versus(options: { var p = o; p.split = "val"; return p }())
        let va = try v.versus(options: o)
        XCTAssertEqual(vs.split, "val")
        XCTAssertEqual(vs.rows, valRows.count)
        XCTAssertEqual(vs.spaces.map(\.precisionAtK), va.spaces.map(\.precisionAtK))
        XCTAssertEqual(vs.spaces.map(\.knnAccuracy), va.spaces.map(\.knnAccuracy))
        XCTAssertFalse(vs.spaces.contains { $0.precisionAtK.isNaN })

        // The CLI prints the split's figures and does not record them over the whole index's.
        let r = try CLI.run(["metrics", all.path, "--split", "val", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = try JSONDecoder().decode(ClusterMetricsReport.self, from: Data(r.stdout.utf8))
        XCTAssertEqual(report.split, "val")
        XCTAssertEqual(report.rows, valRows.count)
        XCTAssertNil(try a.readMetrics()?.spaces["embedding"]?.cluster, "a split's metrics are not recorded as the index's")
    }
}
