import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore

/// Indexes written by earlier builds keep opening. `Fixtures/index-v1` was written by the build
/// before catalog migration v2 (it still has the unused `metrics` table): 6 rows × 4 dims,
/// classes a/b, a 2-row head `head` (Tests/EmbedScopeTests/Fixtures/index-v1, made with
/// `embedscope import` from a seeded 6 × 4 matrix, see FormatCompatibilityTests.expected*).
final class FormatCompatibilityTests: XCTestCase {
    static var v1: URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("index-v1")
    }

    /// Answers recorded from the v1 build: `query --row 0 -k 3` and `rank --prototype a -k 2`.
    static let expectedNeighbours = [4, 1, 2]
    static let expectedNeighbourScores = [-0.1062, -0.1233, -0.2886]
    static let expectedRank = [3, 4]
    static let expectedLogits = [2.6358, 1.1900]

    func testVersion1CatalogOpensAndAnswersAsBefore() throws {
        let idx = try Index.open(Self.v1)
        XCTAssertEqual(idx.rowCount, 6)
        XCTAssertEqual(idx.spaces.map(\.name), ["embedding"])
        XCTAssertNoThrow(try idx.verify())
        var o = SearchOptions(); o.k = 3
        let near = try idx.search(.row(0), options: o)
        XCTAssertEqual(near.map(\.row), Self.expectedNeighbours)
        for (r, e) in zip(near, Self.expectedNeighbourScores) { XCTAssertEqual(r.score, e, accuracy: 6e-5, "row \(r.row)") }
        let ranked = try idx.rank(prototype: "a", set: nil, least: false, k: 2)
        XCTAssertEqual(ranked.map(\.row), Self.expectedRank)
        XCTAssertEqual(ranked.count, Self.expectedLogits.count)
        for (r, e) in zip(ranked, Self.expectedLogits) { XCTAssertEqual(r.score, e, accuracy: 6e-5, "row \(r.row)") }
    }

    func testNewCatalogsAreVersion3() throws {
        let dir = try temporaryDirectory(self)
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 4, dim: 3, seed: 1), rows: 4, dim: 3, classes: ["x", "y", "x", "y"])
        let idx = try Index.open(url)
        XCTAssertEqual(try idx.catalog.appliedMigrations(), ["v1", "v2", "v3"])
        XCTAssertEqual(try Index.open(Self.v1).catalog.appliedMigrations(), ["v1"])
    }
}
