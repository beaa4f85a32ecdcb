import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport

/// Data-set quality and honest evaluation: stratified --limit, splits (probe trains on train,
/// evaluate scores held-out rows), LDA on a singular scatter, sampled metrics kept apart,
/// duplicates against brute force, mislabel recall on planted swaps.
final class QualityTests: XCTestCase {
    static var fixtures: URL {
        get throws { try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/quality", isDirectory: true) }
    }

    // MARK: - Item 7: stratified --limit

    func testStratifiedLimitSpreadsOverClassesSeeded() throws {
        let labels = [Int](repeating: 2, count: 60) + [Int](repeating: 0, count: 30) + [Int](repeating: 1, count: 10)
        let a = StratifiedLimit.select(labels: labels, limit: 10, seed: 0)
        XCTAssertEqual(a, a.sorted())
        XCTAssertEqual(a.count, 10)
        XCTAssertEqual([0, 1, 2].map { c in a.filter { labels[$0] == c }.count }, [3, 1, 6])   // in proportion
        XCTAssertEqual(StratifiedLimit.select(labels: labels, limit: 10, seed: 0), a)          // seeded
        XCTAssertNotEqual(StratifiedLimit.select(labels: labels, limit: 10, seed: 1), a)
        XCTAssertEqual(StratifiedLimit.select(labels: labels, limit: 500, seed: 0), Array(0..<100))
        // Largest remainders: 7 of (5, 5, 5) → 3, 2, 2; never more than a class has.
        let even = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]
        XCTAssertEqual([0, 1, 2].map { c in StratifiedLimit.select(labels: even, limit: 7, seed: 3).filter { even[$0] == c }.count }, [3, 2, 2])
        let skewed = [0] + [Int](repeating: 1, count: 9)
        XCTAssertEqual(StratifiedLimit.select(labels: skewed, limit: 9, seed: 0).count, 9)

        // build --limit: both classes of the test folder, not the first N in sorted order.
        let dir = try temporaryDirectory(self)
        var req = BuildRequest(dataset: try makeFolder(dir), out: dir.appendingPathComponent("idx"))
        req.pixelSize = 8; req.limit = 2
        let s = try FolderBuilder.run(req)
        XCTAssertEqual(s.classCounts, [1, 1])
    }

    // MARK: - Item 2: splits and honest evaluation

    func testSplitLayoutProbeTrainsOnTrainAndEvaluateScoresWhereAsked() throws {
        let dir = try temporaryDirectory(self)
        var req = BuildRequest(dataset: try Self.fixtures.appendingPathComponent("dups"), out: dir.appendingPathComponent("idx"))
        req.pixelSize = 16
        let s = try FolderBuilder.run(req)
        XCTAssertEqual(s.classes, ["blobs", "ring", "stripes"])
        var idx = try Index.open(req.out)
        let splits = try idx.rowSplits()
        XCTAssertEqual(splits.filter { $0 == "train" }.count, 20)
        XCTAssertEqual(splits.filter { $0 == "val" }.count, 8)
        XCTAssertEqual(splits.filter { $0 == "test" }.count, 7)
        XCTAssertEqual(try idx.catalog.image(path: "val/blobs/blobs-2-crop.png")?.split, "val")

        var pr = ProbeRequest()
        pr.space = "pixel"
        let p = try idx.probe(pr)
        XCTAssertEqual(p.splitPlan.source, "catalog")
        XCTAssertEqual(p.splitPlan.validationSplit, "val")
        XCTAssertEqual(p.trainRows, 20)
        XCTAssertEqual(p.validationRows, 8)
        idx = try Index.open(req.out)
        XCTAssertEqual(try idx.recordedProbeSplit(set: "probe"), p.splitPlan)
        let val = try idx.evaluate(set: "probe", split: .val)
        XCTAssertEqual(val.evaluatedRows, p.validationRows)
        XCTAssertEqual(val.classification.accuracy, p.validation.accuracy, accuracy: 1e-12)
        XCTAssertEqual(val.classification.confusion, p.validation.confusion)
        let held = try idx.evaluate(set: "probe")
        XCTAssertEqual(held.split, "heldout")
        XCTAssertEqual(held.evaluatedRows, 35 - 20)
        XCTAssertEqual(try idx.evaluate(set: "probe", split: .test).evaluatedRows, 7)
        XCTAssertEqual(try idx.evaluate(set: "probe", split: .train).classification.accuracy, p.trainAccuracy, accuracy: 1e-12)
        XCTAssertEqual(try idx.evaluate(set: "probe", split: .all).evaluatedRows, 35)
    }

    func testStratifiedProbeSplitIsRecordedAndLeftOutByDefault() throws {
        let dir = try temporaryDirectory(self)
        let (n, d) = (240, 12)
        let (x, labels) = clusters(rows: n, dim: d, classes: 4, spread: 1.6, seed: 4)
        let url = try makeImportedIndex(in: dir, vectors: x, rows: n, dim: d, classes: labels.map { "c\($0)" })
        var req = ProbeRequest()
        req.seed = 7; req.validationFraction = 0.25
        let p = try Index.open(url).probe(req)
        XCTAssertEqual(p.splitPlan, ProbeSplitRecord(source: "stratified", seed: 7, validationFraction: 0.25, validationSplit: nil,
                                                 trainRows: p.trainRows, validationRows: p.validationRows))
        let idx = try Index.open(url)
        let val = try idx.evaluate(set: "probe", split: .val)
        XCTAssertEqual(val.classification.accuracy, p.validation.accuracy, accuracy: 1e-12, "evaluate --split val = the probe's own validation accuracy")
        XCTAssertEqual(val.classification.confusion, p.validation.confusion)
        // The default leaves the training rows out: here that is exactly the validation rows.
        let held = try idx.evaluate(set: "probe", lowest: 1000)
        XCTAssertEqual(held.evaluatedRows, p.validationRows)
        let train = Set(try LinearProbe.stratifiedSplit(labels: labels.map(Int32.init), validationFraction: 0.25, seed: 7).train)
        XCTAssertTrue(held.lowestMargins.allSatisfy { !train.contains($0.row) })
        XCTAssertGreaterThan(try idx.evaluate(set: "probe", split: .train).classification.accuracy, held.classification.accuracy - 1e-12)
        XCTAssertThrowsKind(.notFound, try idx.evaluate(set: "probe", split: .test), "no test split without catalog splits")
        // metrics.json records where the rows came from.
        XCTAssertTrue(try idx.recordProbe(p) == false)
        XCTAssertEqual(try idx.readMetrics()?.spaces["embedding"]?.probe?.splitPlan, p.splitPlan)
    }

    // MARK: - Item 3: LDA on a singular within-class scatter

    func testLDAOnSingularScatterRunsOnPCAAsScikitLearnPipeline() throws {
        struct Ref: Decodable {
            var rows: Int, dim: Int, labels: [Int32], x: [[Float]], components: Int, reducedTo: Int, varianceKept: Double
            var explained_variance_ratio: [Double], coordinates: [[Double]]
        }
        let ref = try JSONDecoder().decode(Ref.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("lda_reduced.json")))
        let flat = ref.x.flatMap { $0 }
        let (n, d, k) = (ref.rows, ref.dim, ref.components)
        let r = try flat.withUnsafeBufferPointer { b in
            try Projection.lda(RowMatrix(base: b.baseAddress!, rows: n, dim: d, stride: d), labels: ref.labels, components: k)
        }
        let red = try XCTUnwrap(r.reduction, "dim \(d) ≥ rows − classes must reduce")
        XCTAssertEqual(red.components, ref.reducedTo)
        XCTAssertEqual(red.varianceKept, ref.varianceKept, accuracy: 1e-9)
        XCTAssertTrue(red.reason.contains("\(ref.reducedTo) principal components"), red.reason)
        for c in 0..<k {
            XCTAssertEqual(r.explainedVarianceRatio[c], ref.explained_variance_ratio[c], accuracy: 1e-6, "ratio \(c)")
            let ours = (0..<n).map { r.coordinates[$0 * k + c] }, theirs = (0..<n).map { ref.coordinates[$0][c] }
            let scale = theirs.map(abs).max() ?? 1
            let sign: Double = zip(ours, theirs).map { $0 * $1 }.reduce(0, +) < 0 ? -1 : 1
            let err = zip(ours, theirs).map { abs(sign * $0 - $1) }.max() ?? .nan
            XCTAssertLessThanOrEqual(err, 1e-6 * scale, "LD\(c + 1): max error \(err), scale \(scale)")
        }
        // The composed axes live in the original space: (x − mean)·axes = the coordinates (up to the
        // float32 rounding of the principal-component coordinates LDA ran on).
        for i in [0, 17, n - 1] {
            for c in 0..<k {
                var v = 0.0
                for j in 0..<d { v += (Double(flat[i * d + j]) - r.mean[j]) * r.axes[c * d + j] }
                XCTAssertEqual(v, r.coordinates[i * k + c], accuracy: 1e-6 * max(1, abs(v)))
            }
        }
        // --no-reduce keeps the old behaviour (shrinkage), and says nothing about a reduction.
        let plain = try flat.withUnsafeBufferPointer { b in
            try Projection.lda(RowMatrix(base: b.baseAddress!, rows: n, dim: d, stride: d), labels: ref.labels, components: k, reduce: false)
        }
        XCTAssertNil(plain.reduction)
    }

    // MARK: - Item 4: sampled never shown as exact

    func testSampledClusterMetricsAreKeptApartAndMarked() throws {
        let dir = try temporaryDirectory(self)
        let (x, labels) = clusters(rows: 120, dim: 8, classes: 3, spread: 1.0, seed: 2)
        let url = try makeImportedIndex(in: dir, vectors: x, rows: 120, dim: 8, classes: labels.map { "c\($0)" })
        let idx = try Index.open(url)
        let sampled = try idx.clusterScores(space: "embedding", options: SilhouetteOptions(sample: 30, seed: 1))
        _ = try idx.recordCluster(sampled, space: "embedding")
        var m = try XCTUnwrap(idx.readMetrics()?.spaces["embedding"])
        XCTAssertNil(m.cluster)
        XCTAssertEqual(m.clusterSampled?.exact, false)
        var rows = Comparison.rows(try XCTUnwrap(idx.readMetrics()), path: url.path)
        XCTAssertEqual(rows[0].silhouetteSampled, true)
        XCTAssertNotNil(rows[0].silhouetteStandardError)
        XCTAssertTrue(Comparison.table(rows).contains("±"), Comparison.table(rows))
        // The CSV: the estimate, then its sample size and standard error in the last two columns.
        let sampledFields = Comparison.csv(rows).split(separator: "\n")[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(sampledFields.suffix(2).first, "30")
        XCTAssertEqual(Double(sampledFields.last ?? ""), rows[0].silhouetteStandardError)
        let exact = try idx.clusterScores(space: "embedding")
        _ = try idx.recordCluster(exact, space: "embedding")
        _ = try idx.recordCluster(sampled, space: "embedding")        // a later estimate does not replace the exact figure
        m = try XCTUnwrap(idx.readMetrics()?.spaces["embedding"])
        XCTAssertEqual(m.cluster?.exact, true)
        XCTAssertEqual(try XCTUnwrap(m.cluster?.silhouette), exact.silhouette.mean, accuracy: 1e-12)
        XCTAssertNotNil(m.clusterSampled)
        rows = Comparison.rows(try XCTUnwrap(idx.readMetrics()), path: url.path)
        XCTAssertEqual(rows[0].silhouetteSampled, false)
        XCTAssertFalse(Comparison.table(rows).contains("±"))
    }

    // MARK: - Item 5: duplicates and mislabels

    func testDuplicatesEqualBruteForceAndFindPlantedCopies() throws {
        struct Planted: Decodable { struct P: Decodable { var original: String; var copy: String; var kind: String }; var planted: [P] }
        let planted = try JSONDecoder().decode(Planted.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("dups.json"))).planted
        let dir = try temporaryDirectory(self)
        var req = BuildRequest(dataset: try Self.fixtures.appendingPathComponent("dups"), out: dir.appendingPathComponent("idx"))
        req.pixelSize = 16
        _ = try FolderBuilder.run(req)
        let idx = try Index.open(req.out)
        let v = try idx.vectors(space: "pixel")
        let x = RowMatrix(v)
        let n = x.rows
        var brute: [Double] = []                    // Double cosine of every pair (a < b)
        for a in 0..<n { for b in (a + 1)..<n {
            var s = 0.0, na = 0.0, nb = 0.0
            for t in 0..<x.dim { let p = Double(x.row(a)[t]), q = Double(x.row(b)[t]); s += p * q; na += p * p; nb += q * q }
            brute.append(min(1, s / (na.squareRoot() * nb.squareRoot())))
        } }
        func bruteList(_ t: Double) -> [String] {
            var out: [String] = [], i = 0
            for a in 0..<n { for b in (a + 1)..<n { if brute[i] >= t - Duplicates.doubleSlack { out.append("\(a)-\(b)") }; i += 1 } }
            return out
        }
        for t in [0.98, 0.9, 0.6, 0.3] {
            let ours = try Duplicates.pairs(x, threshold: t).map { "\($0.a)-\($0.b)" }
            XCTAssertEqual(ours, bruteList(t), "threshold \(t)")
            XCTAssertEqual(try Duplicates.pairs(x, threshold: t, threads: 2, blockRows: 4).map { "\($0.a)-\($0.b)" }, ours, "blockRows 4, threshold \(t)")
        }
        let r = try idx.duplicates(space: "pixel")
        let found = Set(r.pairs.map { [$0.a.path, $0.b.path].sorted() })
        for p in planted { XCTAssertTrue(found.contains([p.original, p.copy].sorted()), "planted \(p.kind) copy \(p.copy) not found") }
        XCTAssertEqual(r.pairCount, 6)                  // the planted pairs and the pair of the two stripes-1 copies
        XCTAssertEqual(r.leakagePairs, 4)
        XCTAssertEqual(r.differentClassPairs, 1)
        XCTAssertEqual(r.pairs.prefix(r.leakagePairs).map(\.leakage), [Bool](repeating: true, count: 4), "leakage first")
        XCTAssertTrue(r.pairs.allSatisfy { $0.leakage == ($0.a.split != $0.b.split) })
        XCTAssertTrue(r.pairs.allSatisfy { $0.differentClass == ($0.a.class != $0.b.class) })
        XCTAssertEqual(r.groups.map(\.images.count), [3, 2, 2, 2])
        XCTAssertEqual(Set(r.groups[0].images.compactMap(\.split)), ["train", "val", "test"])
        XCTAssertNoThrow(try JSONEncoder().encode(r))
        XCTAssertThrowsKind(.invalidArgument, try idx.duplicates(space: "pixel", threshold: 0.0, maxPairs: 10), "too many pairs")
        XCTAssertThrowsKind(.invalidArgument, try idx.duplicates(space: "pixel", threshold: 1.5))
        // Union–find groups: a chain is one group.
        XCTAssertEqual(Duplicates.groups([.init(a: 1, b: 5, score: 1), .init(a: 5, b: 9, score: 1), .init(a: 2, b: 3, score: 1)]), [[1, 5, 9], [2, 3]])
    }

    /// Fails on main: the pair cosine was the plain dot of the stored float32 unit rows (norms 1 ± 3e-8),
    /// so identical rows scored 0.99999996…1.00000004, `--threshold 1` found about half of them,
    /// and scores above 1 were printed.
    func testIdenticalRowsAreCosineOneAtThresholdOne() throws {
        var g = SplitMix64(seed: 4)
        let n = 20, d = 32
        var rows: [Float] = []
        for _ in 0..<n {
            var v = (0..<d).map { _ in Float(g.gaussian()) }
            _ = try Normalize.toUnit(&v, what: "row")
            rows += v
        }
        let x2 = rows + rows  // row i and row i + n are the same
        let pairs = try x2.withUnsafeBufferPointer { try Duplicates.pairs(RowMatrix(base: $0.baseAddress!, rows: 2 * n, dim: d, stride: d), threshold: 1) }
        XCTAssertEqual(pairs.map { "\($0.a)-\($0.b)" }, (0..<n).map { "\($0)-\($0 + n)" })
        XCTAssertTrue(pairs.allSatisfy { $0.score <= 1 && $0.score >= 1 - 1e-12 }, "\(pairs.map(\.score))")
    }

    /// The only image of its class has no held-out evidence for its label (no fold trains on the
    /// class): it was always flagged (score ~0.77). It is not judged, and the evidence says so.
    func testMislabelsDoNotJudgeTheOnlyImageOfAClass() throws {
        let dir = try temporaryDirectory(self)
        var g = SplitMix64(seed: 3)
        let d = 8, n = 21
        var x: [Float] = [], classes: [String] = []
        for i in 0..<n {
            let c = i == n - 1 ? 2 : i % 2
            classes.append(["a", "b", "z"][c])
            x += (0..<d).map { j in Float(j == c ? 3 : 0) + Float(g.gaussian()) * 0.3 }
        }
        let url = try makeImportedIndex(in: dir, vectors: x, rows: n, dim: d, classes: classes, name: "alone")
        let r = try Index.open(url).mislabels(options: { var o = MislabelOptions(); o.k = 3; o.folds = 3; return o }())
        XCTAssertFalse(r.candidates.contains { $0.row == n - 1 }, "\(r.candidates.map(\.row))")
        XCTAssertTrue(r.evidence.contains("1 image that is the only one of its class is not judged"), r.evidence)
    }

    /// The threshold is "at or above", up to the cosine's own rounding (a few ulps), not 1e-12
    /// below it: pairs at exactly 0.5 were listed at threshold 0.5 + 1e-12, and an orthogonal pair
    /// at threshold 1e-12.
    func testDuplicatesThresholdHasOnlyTheRoundingsSlack() throws {
        let h = Float(0.5)
        let x: [Float] = [1, 0, 0, 0,  h, h, h, h,  0, 1, 0, 0]
        func pairs(_ t: Double) throws -> [String] {
            try x.withUnsafeBufferPointer { try Duplicates.pairs(RowMatrix(base: $0.baseAddress!, rows: 3, dim: 4, stride: 4), threshold: t) }
                .map { "\($0.a)-\($0.b)" }
        }
        XCTAssertEqual(try pairs(0.5), ["0-1", "1-2"])
        XCTAssertEqual(try pairs(0.500000000001), [])
        XCTAssertEqual(try pairs(0.5.nextUp), ["0-1", "1-2"])      // within the rounding: in
        XCTAssertEqual(try pairs(0), ["0-1", "0-2", "1-2"])
        XCTAssertEqual(try pairs(1e-12), ["0-1", "1-2"])
    }

    /// dim = rows − classes leaves the within-class scatter full rank (rank ≤ rows − classes = dim):
    /// plain LDA, as scikit-learn's; only dim > rows − classes is singular and reduced.
    func testLDAReducesOnlyWhenTheScatterMustBeSingular() throws {
        var g = SplitMix64(seed: 11)
        let n = 10, d = 8
        let labels: [Int32] = (0..<n).map { Int32($0 % 2) }
        let x: [Float] = (0..<n * d).map { i in Float(g.gaussian()) + (labels[i / d] == 0 ? 0.5 : -0.5) * Float(i % d == 0 ? 1 : 0) }
        let exact = try x.withUnsafeBufferPointer { try Projection.lda(RowMatrix(base: $0.baseAddress!, rows: n, dim: d, stride: d), labels: labels, components: 1) }
        XCTAssertNil(exact.reduction, "dim \(d) = rows − classes")
        XCTAssertEqual(exact.shrinkage ?? 0, 0)
        let nine = try x.withUnsafeBufferPointer { try Projection.lda(RowMatrix(base: $0.baseAddress!, rows: n - 1, dim: d, stride: d), labels: Array(labels.prefix(n - 1)), components: 1) }
        XCTAssertNotNil(nine.reduction, "dim \(d) > rows − classes = 7")
        // dim = rows − classes, but row 2 repeats row 0 of its class: the class's centred rows span
        // one dimension less, and the scatter is singular (in all but rounding, Cholesky can pass
        // it: LD1 was that rounding, 100 %). Reduced, saying why.
        var dependent = x
        for j in 0..<d { dependent[2 * d + j] = x[j] }
        let dep = try dependent.withUnsafeBufferPointer { try Projection.lda(RowMatrix(base: $0.baseAddress!, rows: n, dim: d, stride: d), labels: labels, components: 1) }
        XCTAssertTrue(dep.reduction?.reason.contains("linearly dependent") ?? false, "\(String(describing: dep.reduction))")
        XCTAssertTrue(dep.explainedVarianceRatio.allSatisfy(\.isFinite))
    }

    /// Fails on main: distances from 2 − 2·dot of float32 unit rows, and neighbours chosen by
    /// float32 cosines, made the uniqueness of a tight class rounding noise (off by up to 1.0).
    func testUniquenessOfTightClassesIsExact() throws {
        var g = SplitMix64(seed: 3)
        let n = 60, d = 16
        let centres = (0..<3).map { _ in (0..<d).map { _ in g.gaussian() } }
        var rows: [Float] = []
        for i in 0..<n {
            var v = centres[i % 3].map { Float($0 + 1e-4 * g.gaussian()) }
            _ = try Normalize.toUnit(&v, what: "row")
            rows += v
        }
        let ours = try rows.withUnsafeBufferPointer { try Uniqueness.scores(RowMatrix(base: $0.baseAddress!, rows: n, dim: d, stride: d)) }
        // Reference: every pair's Euclidean distance in Double, the 3 nearest other rows.
        var raw = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var dist: [Double] = []
            for j in 0..<n where j != i {
                var s = 0.0
                for t in 0..<d { let e = Double(rows[i * d + t]) - Double(rows[j * d + t]); s += e * e }
                dist.append(s.squareRoot())
            }
            dist.sort()
            raw[i] = (0.6 * dist[0] + 0.3 * dist[1] + 0.1 * dist[2]) / 3
        }
        let top = raw.max()!
        let err = zip(ours, raw).map { abs($0 - $1 / top) }.max() ?? .nan
        XCTAssertLessThanOrEqual(err, 1e-6)
        XCTAssertEqual(ours.firstIndex(of: ours.max()!), raw.firstIndex(of: top))
        // Exact copies only (every row has 3 copies): every score 0.
        let first: [Float] = Array(rows[0..<d]), second: [Float] = Array(rows[d..<(2 * d)])
        let copies: [Float] = Array([[Float]](repeating: first, count: 4).joined()) + Array([[Float]](repeating: second, count: 4).joined())
        XCTAssertEqual(try copies.withUnsafeBufferPointer { try Uniqueness.scores(RowMatrix(base: $0.baseAddress!, rows: 8, dim: d, stride: d)) },
                       [Double](repeating: 0, count: 8))
    }

    /// Fails on main: a tie between two prototypes went to the lower class id, not to the lower
    /// prototype index the documentation (and `predictionRule`) promises.
    func testEvaluateTiesGoToTheLowerPrototypeIndex() throws {
        let dir = try temporaryDirectory(self)
        let x: [Float] = [1, 0, 0, 1, 1, 1, 1, -1]
        let url = try makeImportedIndex(in: dir, vectors: x, rows: 4, dim: 2, classes: ["a", "a", "b", "b"],
                                        head: ([1, 2, 1, 2], [0.5, 0.5], ["b", "a"]))  // two identical prototypes, b first
        let e = try Index.open(url).evaluate(set: "head", split: .all)
        XCTAssertEqual(e.classification.confusion, [[0, 2], [0, 2]], "every row predicted 'b' (prototype 0)")
    }

    /// One prototype named like a class is a classifier of one class: it gave accuracy 1 and every
    /// margin 0 (red team: head [a, zzz] on classes a, b). Refused, saying why.
    func testEvaluateNeedsTwoMatchedPrototypes() throws {
        let dir = try temporaryDirectory(self)
        let x: [Float] = [1, 0, 0, 1, 1, 1, 1, -1]
        let url = try makeImportedIndex(in: dir, vectors: x, rows: 4, dim: 2, classes: ["a", "a", "b", "b"],
                                        head: ([1, 0, 0, 1], [0, 0], ["a", "zzz"]))
        XCTAssertThrowsError(try Index.open(url).evaluate(set: "head", split: .all)) { error in
            XCTAssertEqual((error as? EmbedScopeError)?.kind, .undefined, "\(error)")
            XCTAssertTrue("\(error)".contains("only one prototype"), "\(error)")
        }
    }

    /// The near-duplicate list checks its room before it grows: past the machine's memory (or an
    /// address-space limit) a clear error, not "failed to allocate" and a signal.
    func testDuplicatePairsBeyondMemoryAreAClearError() {
        XCTAssertThrowsKind(.outOfMemory, try Duplicates.requireRoom(pairs: Int.max / 4, threads: 2))
        XCTAssertNoThrow(try Duplicates.requireRoom(pairs: 1024, threads: 2))
    }

    func testMislabelsFindPlantedLabelSwaps() throws {
        let dir = try temporaryDirectory(self)
        let (n, d, classes) = (600, 24, 6)
        var (x, labels) = clusters(rows: n, dim: d, classes: classes, spread: 1.3, seed: 11)
        let truth = labels
        var g = SplitMix64(seed: 99)
        var swapped: Set<Int> = []
        while swapped.count < 30 { swapped.insert(Int(g.below(UInt64(n)))) }
        for r in swapped { labels[r] = (labels[r] + 1 + Int(g.below(UInt64(classes - 1)))) % classes }
        _ = x
        let url = try makeImportedIndex(in: dir, vectors: x, rows: n, dim: d, classes: labels.map { "c\($0)" })
        var o = MislabelOptions()
        o.limit = nil
        let r = try Index.open(url).mislabels(options: o)
        let top = r.candidates.prefix(swapped.count)
        let hits = top.filter { swapped.contains($0.row) }
        let recall = Double(hits.count) / Double(swapped.count)
        print("mislabels: recall in the top \(swapped.count) = \(recall) (\(hits.count)/\(swapped.count)); flagged \(r.flagged)")
        XCTAssertGreaterThanOrEqual(recall, 0.8, "recall of planted swaps in the top \(swapped.count)")
        let rightSuggestion = hits.filter { $0.suggested == "c\(truth[$0.row])" }.count
        XCTAssertGreaterThanOrEqual(Double(rightSuggestion), 0.9 * Double(hits.count), "suggested label = the original one")
        XCTAssertEqual(r.candidates.map(\.score), r.candidates.map(\.score).sorted(by: >))
        XCTAssertTrue(r.candidates.allSatisfy { $0.score > 0 && $0.class != $0.suggested })
        XCTAssertNoThrow(try JSONEncoder().encode(r))
        // Folds are stratified and seeded.
        let folds = Mislabels.stratifiedFolds(labels: labels.map(Int32.init), folds: 5, seed: 0)
        XCTAssertEqual(folds, Mislabels.stratifiedFolds(labels: labels.map(Int32.init), folds: 5, seed: 0))
        for c in 0..<classes {
            let counts = (0..<5).map { f in (0..<n).filter { labels[$0] == c && folds[$0] == f }.count }
            XCTAssertLessThanOrEqual((counts.max() ?? 0) - (counts.min() ?? 0), 1)
        }
    }

    func testUniquenessIsFiftyOnesDefinition() throws {
        struct X: Decodable { var rows: Int; var dim: Int; var x: [[Float]] }
        struct U: Decodable { var uniqueness: [Double] }
        let ref = try JSONDecoder().decode(X.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("lda_reduced.json")))
        let expected = try JSONDecoder().decode(U.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("uniqueness.json"))).uniqueness
        let flat = ref.x.flatMap { $0 }
        let ours = try flat.withUnsafeBufferPointer { b in
            try Uniqueness.scores(RowMatrix(base: b.baseAddress!, rows: ref.rows, dim: ref.dim, stride: ref.dim))
        }
        XCTAssertEqual(ours.count, expected.count)
        let err = zip(ours, expected).map { abs($0 - $1) }.max() ?? .nan
        XCTAssertLessThanOrEqual(err, 1e-6, "max |Δ| against sklearn NearestNeighbors + FiftyOne's formula")
        XCTAssertEqual(ours.max() ?? 0, 1, accuracy: 1e-12)
        XCTAssertEqual(try flat.withUnsafeBufferPointer { b in try Uniqueness.scores(RowMatrix(base: b.baseAddress!, rows: 3, dim: ref.dim, stride: ref.dim)) }, [1, 1, 1])
        // The index command: every row, most unique first; the planted copies (d1 ≈ 0) are the least unique.
        let dir = try temporaryDirectory(self)
        var req = BuildRequest(dataset: try Self.fixtures.appendingPathComponent("dups"), out: dir.appendingPathComponent("idx"))
        req.pixelSize = 16
        _ = try FolderBuilder.run(req)
        let r = try Index.open(req.out).uniqueness(space: "pixel")
        XCTAssertEqual(r.results.count, 35)
        XCTAssertEqual(r.results.map(\.score), r.results.map(\.score).sorted(by: >))
        XCTAssertTrue(r.results.suffix(10).contains { $0.path == "train/stripes/ring-3-as-stripes.png" },
                      r.results.map { "\($0.path) \($0.score)" }.joined(separator: "; "))
    }

    // MARK: - Item 6: the report's quality section

    func testReportHasAQualitySectionWithLeakageFirst() throws {
        let dir = try temporaryDirectory(self)
        var req = BuildRequest(dataset: try Self.fixtures.appendingPathComponent("dups"), out: dir.appendingPathComponent("idx"))
        req.pixelSize = 16
        _ = try FolderBuilder.run(req)
        var o = ReportOptions()
        o.queries = 1; o.analyses = false; o.thumb = 32
        let section = try Index.open(req.out).reportSection(name: "dups", options: o)
        let q = try XCTUnwrap(section.quality, section.qualityNote ?? "no quality section")
        XCTAssertEqual(q.pairCount, 6)
        XCTAssertEqual(q.leakagePairs, 4)
        XCTAssertEqual(q.duplicateSheets.count, 4)
        XCTAssertTrue(q.groups[0].leakage)
        XCTAssertNotNil(q.mislabels)
        let out = dir.appendingPathComponent("report")
        _ = try ReportWriter.write(ReportDocument(indexes: [section]), to: out)
        let html = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("Data quality: duplicates, leakage, likely mislabels"))
        XCTAssertTrue(html.contains("<b>4</b> cross a split"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("img/1-duplicates-1.png").path))
        o.quality = false
        XCTAssertNil(try Index.open(req.out).reportSection(name: "dups", options: o).quality)
    }

    /// Seeded Gaussian classes: centres N(0, 1), points centre + spread · N(0, 1).
    func clusters(rows n: Int, dim d: Int, classes: Int, spread: Double, seed: UInt64) -> ([Float], [Int]) {
        var g = SeededGenerator(seed: seed)
        let centres = (0..<(classes * d)).map { _ in g.gaussian() }
        var x = [Float](repeating: 0, count: n * d), labels = [Int](repeating: 0, count: n)
        for i in 0..<n {
            let c = i % classes
            labels[i] = c
            for j in 0..<d { x[i * d + j] = Float(centres[c * d + j] + spread * g.gaussian()) }
        }
        return (x, labels)
    }
}
