import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeAnalysis

/// metrics.json version 2 (docs/json.md, "changes from version 1"): a file written by version 1
/// (per-class maps keyed by class name, `classes`, a probe's `split`) is still read, in the
/// version-2 shape with class ids from the catalog, and the next write stores version 2.
final class MetricsVersion1Tests: XCTestCase {
    static let version1 = """
    {
      "classes" : 3, "index" : "idx", "model" : null, "samples" : 30, "updatedAt" : "2026-11-30T10:00:00Z", "version" : 1, "weights" : null,
      "spaces" : {
        "embedding" : {
          "dim" : 6,
          "cluster" : { "calinskiHarabasz" : 1.5, "computedAt" : "2026-11-30T10:00:00Z", "daviesBouldin" : 2.5, "exact" : true,
                        "perClass" : { "c" : 0.3, "a" : 0.1, "b" : null }, "sample" : null, "silhouette" : 0.2, "standardError" : null },
          "neighbours" : { "computedAt" : "2026-11-30T10:00:00Z", "k" : 5, "knnAccuracy" : 0.7, "precisionAtK" : 0.6,
                           "perClass" : { "b" : 0.5, "a" : 0.75, "c" : 0.55 } },
          "probe" : { "c" : 1, "computedAt" : "2026-11-30T10:00:00Z", "seed" : 7, "trainRows" : 24, "validationRows" : 6, "validationAccuracy" : 0.5,
                      "split" : { "source" : "stratified", "seed" : 7, "validationFraction" : 0.2, "validationSplit" : null, "trainRows" : 24, "validationRows" : 6 } }
        },
        "pixel" : { "dim" : 6, "neighbours" : { "computedAt" : "2026-11-30T10:00:00Z", "k" : 5, "knnAccuracy" : 0.7, "precisionAtK" : 0.6 } }
      }
    }
    """

    func index(_ dir: URL) throws -> Index {
        let n = 30, d = 6
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 3), rows: n, dim: d,
                                        classes: (0..<n).map { ["a", "b", "c"][$0 % 3] })
        return try Index.open(url)
    }

    func testVersion1FileIsReadInTheVersion2Shape() throws {
        let idx = try index(try temporaryDirectory(self))
        try Data(Self.version1.utf8).write(to: idx.metricsURL)
        let r = try XCTUnwrap(try idx.readMetrics())
        XCTAssertEqual(r.version, 2)
        XCTAssertEqual(r.classCount, 3)
        let names = try idx.classNames()
        let e = try XCTUnwrap(r.spaces["embedding"])
        let sil = try XCTUnwrap(e.cluster?.perClass)
        XCTAssertEqual(sil.map(\.name), ["a", "b", "c"], "class order")
        XCTAssertEqual(sil.map(\.id), ["a", "b", "c"].map { n in names.first { $0.value == n }?.key })
        XCTAssertEqual(sil.map(\.silhouette), [0.1, nil, 0.3])
        XCTAssertEqual(e.neighbours?.perClass?.map(\.name), ["a", "b", "c"])
        XCTAssertEqual(e.neighbours?.perClass?.map(\.precisionAtK), [0.75, 0.5, 0.55])
        XCTAssertEqual(e.neighbours?.perClass?.allSatisfy { $0.id != nil }, true)
        XCTAssertNil(r.spaces["pixel"]?.neighbours?.perClass, "no per-class figures in a file that had none")
        XCTAssertEqual(e.probe?.splitPlan, ProbeSplitRecord(source: "stratified", seed: 7, validationFraction: 0.2, validationSplit: nil,
                                                             trainRows: 24, validationRows: 6))
        // compare reads it: the count as classCount, the per-class deltas from the lists.
        let rows = Comparison.rows(r, path: idx.url.path)
        XCTAssertEqual(rows.map(\.classCount), [3, 3])
        let p = try Comparison.perClass([r, r], names: ["x", "y"], baseline: 0, space: "embedding")
        XCTAssertEqual(p.classes.map(\.name), ["a", "b", "c"])
        XCTAssertEqual(p.classes[0].values[1].silhouette, 0.1)
        XCTAssertEqual(p.classes[0].values[1].deltaSilhouette, 0)
        XCTAssertEqual(p.classes[1].values[1].precisionAtK, 0.5)
    }

    func testNextWriteStoresVersion2MatchingTheSchema() throws {
        let idx = try index(try temporaryDirectory(self))
        try Data(Self.version1.utf8).write(to: idx.metricsURL)
        XCTAssertFalse(try idx.recordCluster(try idx.clusterScores(space: "embedding"), space: "embedding"), "a version-1 file is not damaged")
        let text = try String(contentsOf: idx.metricsURL, encoding: .utf8)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        XCTAssertEqual(object["version"] as? Int, 2)
        XCTAssertNil(object["classes"])
        XCTAssertEqual(object["classCount"] as? Int, 3)
        let v = try JSONSchemaTests.loadSchema()
        var errors: [String] = []
        v.validate(object, try XCTUnwrap(v.defs["metricsFile"] as? [String: Any]), at: "metricsFile", into: &errors)
        XCTAssertEqual(errors, [])
        // The version-1 sections survive the rewrite, in the new shape.
        let r = try XCTUnwrap(try idx.readMetrics())
        XCTAssertEqual(r.spaces["embedding"]?.cluster?.perClass.map(\.name), ["a", "b", "c"])
        XCTAssertEqual(r.spaces["embedding"]?.cluster?.perClass.allSatisfy { $0.id != nil && $0.silhouette?.isFinite == true }, true)
        XCTAssertEqual(r.spaces["embedding"]?.neighbours?.perClass?.map(\.precisionAtK), [0.75, 0.5, 0.55])
        XCTAssertEqual(r.spaces["embedding"]?.probe?.splitPlan?.seed, 7)
        XCTAssertEqual(r.spaces["pixel"]?.neighbours?.k, 5)
    }

    func testUnknownVersionIsRefused() throws {
        let idx = try index(try temporaryDirectory(self))
        try Data(Self.version1.replacingOccurrences(of: "\"version\" : 1", with: "\"version\" : 3").utf8).write(to: idx.metricsURL)
        XCTAssertThrowsKind(.unsupportedVersion, try idx.readMetrics())
    }
}
