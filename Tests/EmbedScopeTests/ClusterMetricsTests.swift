import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport

/// Cluster metrics against scikit-learn 1.9 (Fixtures/metrics, made by
/// Scripts/make_metrics_fixtures.py): silhouette per sample and mean, Davies–Bouldin,
/// Calinski–Harabasz, to a relative 1e-5.
final class ClusterMetricsTests: XCTestCase {
    struct Reference: Decodable {
        let rows: Int
        let dim: Int
        let labels: [Int32]
        let silhouette_samples: [Double]
        let silhouette_samples_direct: [Double]
        let silhouette_score: Double
        let davies_bouldin_score: Double
        let calinski_harabasz_score: Double
    }

    struct Fixture {
        let name: String
        let x: [Float]
        let ref: Reference
    }

    static let names = ["blobs", "tight", "tiny"]
    static let tolerance = 1e-5

    func fixture(_ name: String) throws -> Fixture {
        let root = try XCTUnwrap(Bundle.module.resourceURL, "test bundle has no resources")
            .appendingPathComponent("Fixtures/metrics", isDirectory: true)
        let ref = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: root.appendingPathComponent("\(name).json")))
        let x = try NPYArray.read(contentsOf: root.appendingPathComponent("\(name).npy"))
        XCTAssertEqual(x.shape, [ref.rows, ref.dim])
        return Fixture(name: name, x: x.values, ref: ref)
    }

    func withMatrix<R>(_ x: [Float], rows: Int, dim: Int, _ body: (RowMatrix) throws -> R) rethrows -> R {
        try x.withUnsafeBufferPointer { try body(RowMatrix(base: $0.baseAddress!, rows: rows, dim: dim, stride: dim)) }
    }

    /// |observed − expected| ≤ tolerance · |expected|; prints all three on failure.
    /// Direct reference, all in Double from the stored floats: a = mean distance to the rest of
    /// the own class, b = the smallest mean distance to another class, s = (b − a) / max(a, b);
    /// 0 for a row alone in its class.
    func directSilhouette(_ x: [Float], rows n: Int, dim d: Int, labels: [Int32], classes k: Int) -> [Double] {
        var expected = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var sums = [Double](repeating: 0, count: k), counts = [Int](repeating: 0, count: k)
            for j in 0..<n where j != i {
                var s = 0.0
                for t in 0..<d { let e = Double(x[i * d + t]) - Double(x[j * d + t]); s += e * e }
                sums[Int(labels[j])] += s.squareRoot(); counts[Int(labels[j])] += 1
            }
            let own = Int(labels[i])
            guard counts[own] > 0 else { continue }
            let a = sums[own] / Double(counts[own])
            let b = (0..<k).filter { $0 != own && counts[$0] > 0 }.map { sums[$0] / Double(counts[$0]) }.min()!
            expected[i] = (b - a) / max(a, b)
        }
        return expected
    }

    func assertRelative(_ observed: Double, _ expected: Double, _ tolerance: Double, _ what: String,
                        file: StaticString = #filePath, line: UInt = #line) {
        let error = abs(observed - expected)
        XCTAssertTrue(error <= tolerance * abs(expected),
                      "\(what): expected \(expected), observed \(observed), relative error \(error / abs(expected)), tolerance \(tolerance)",
                      file: file, line: line)
    }

    /// Silhouettes live in [−1, 1] and are computed as 1 − a/b: their error is absolute, so
    /// per-sample values are compared with tolerance · max(|expected|, 0.01) (relative for
    /// |s| ≥ 0.01; at most 1e-7 absolute below). A class of one row must give exactly 0.
    func assertSamples(_ observed: [Double], _ expected: [Double], _ what: String,
                       file: StaticString = #filePath, line: UInt = #line) -> Double {
        XCTAssertEqual(observed.count, expected.count, file: file, line: line)
        var worst = 0.0
        for (i, (o, e)) in zip(observed, expected).enumerated() {
            let scale = max(abs(e), 0.01)
            worst = maxKeepingNaN(worst, abs(o - e) / scale)
            if abs(o - e) > Self.tolerance * scale || (e == 0 && o != 0) {
                XCTFail("\(what) row \(i): expected \(e), observed \(o), tolerance \(Self.tolerance * scale)", file: file, line: line)
                return worst
            }
        }
        return worst
    }

    func testMatchesScikitLearn() throws {
        for name in Self.names {
            let f = try fixture(name)
            try withMatrix(f.x, rows: f.ref.rows, dim: f.ref.dim) { m in
                for kernel in SilhouetteKernel.allCases {
                    for (block, threads) in [(512, 2), (64, 2), (7, 3), (100, 1)] {
                        let what = "\(name) \(kernel) block \(block) threads \(threads)"
                        let o = SilhouetteOptions(kernel: kernel, blockRows: block, threads: threads)
                        let s = try ClusterMetrics.all(m, labels: f.ref.labels, options: o)
                        assertRelative(s.silhouette.mean, f.ref.silhouette_score, Self.tolerance, "\(what) mean silhouette")
                        XCTAssertEqual(s.silhouette.rows, Array(0..<f.ref.rows))
                        _ = assertSamples(s.silhouette.values, f.ref.silhouette_samples, "\(what) silhouette")
                        assertRelative(s.daviesBouldin, f.ref.davies_bouldin_score, Self.tolerance, "\(what) Davies-Bouldin")
                        assertRelative(s.calinskiHarabasz, f.ref.calinski_harabasz_score, Self.tolerance, "\(what) Calinski-Harabasz")
                        XCTAssertTrue(s.silhouette.isExact)
                        XCTAssertNil(s.silhouette.standardError)
                        // Per-class means are the means of the per-sample values.
                        for c in s.silhouette.perClass {
                            let own = zip(f.ref.labels, f.ref.silhouette_samples).filter { Int($0.0) == c.classId }.map(\.1)
                            XCTAssertEqual(c.rows, own.count)
                            XCTAssertEqual(c.evaluated, own.count)
                            let expected = own.reduce(0, +) / Double(own.count)
                            XCTAssertEqual(try XCTUnwrap(c.mean), expected, accuracy: Self.tolerance * max(abs(expected), 0.01),
                                           "\(what) class \(c.classId)")
                        }
                    }
                }
            }
        }
    }

    /// Column blocks packed once up front and packed per tile run the same kernel on the same
    /// packed values: the silhouettes are bit for bit equal (and both match scikit-learn above).
    func testPrepackedBlocksEqualPerTilePacking() throws {
        for name in Self.names {
            let f = try fixture(name)
            try withMatrix(f.x, rows: f.ref.rows, dim: f.ref.dim) { m in
                for (block, threads) in [(64, 2), (7, 3)] {
                    var perTile = SilhouetteOptions(blockRows: block, threads: threads)
                    perTile.prepackLimitBytes = 0
                    let prepacked = SilhouetteOptions(blockRows: block, threads: threads)
                    let a = try ClusterMetrics.silhouette(m, labels: f.ref.labels, options: prepacked)
                    let b = try ClusterMetrics.silhouette(m, labels: f.ref.labels, options: perTile)
                    XCTAssertEqual(a.values.count, f.ref.rows)
                    XCTAssertEqual(a.values.map(\.bitPattern), b.values.map(\.bitPattern), "\(name) block \(block)")
                    XCTAssertFalse(a.mean.isNaN)
                }
            }
        }
    }

    /// Workers claim tiles as they go, so which worker computes which tile changes from run to
    /// run; the silhouette's per-class sums are fixed point, and the centroid pass (class means,
    /// deviations) sums fixed parts of the rows in a fixed order — so the silhouettes, Davies–Bouldin
    /// and Calinski–Harabasz are the same bits on 1, 2, 3 and 5 workers and from one run to the next
    /// (DB and CH moved in their last digits with the thread count when each thread summed its own
    /// share of the rows).
    func testEveryScoreIsTheSameOnAnyThreadCountAndRun() throws {
        let n = 5_000, d = 37
        let x = randomMatrix(rows: n, dim: d, seed: 78)
        let labels = (0..<n).map { Int32(($0 * 13) % 7) }
        try withMatrix(x, rows: n, dim: d) { m in
            let one = try ClusterMetrics.all(m, labels: labels, options: SilhouetteOptions(blockRows: 64, threads: 1))
            XCTAssertFalse(one.silhouette.values.contains { !$0.isFinite })
            XCTAssertTrue(one.daviesBouldin.isFinite && one.calinskiHarabasz.isFinite && one.silhouette.mean.isFinite)
            for threads in [2, 3, 5, 2, 3] {
                let r = try ClusterMetrics.all(m, labels: labels, options: SilhouetteOptions(blockRows: 64, threads: threads))
                XCTAssertEqual(r.calinskiHarabasz.bitPattern, one.calinskiHarabasz.bitPattern, "\(threads) threads: \(r.calinskiHarabasz) vs \(one.calinskiHarabasz)")
                XCTAssertEqual(r.daviesBouldin.bitPattern, one.daviesBouldin.bitPattern, "\(threads) threads: \(r.daviesBouldin) vs \(one.daviesBouldin)")
                XCTAssertEqual(r.silhouette.values.map(\.bitPattern), one.silhouette.values.map(\.bitPattern), "\(threads) threads")
                XCTAssertEqual(r.silhouette.mean.bitPattern, one.silhouette.mean.bitPattern)
                XCTAssertEqual(try ClusterMetrics.calinskiHarabasz(m, labels: labels, threads: threads).bitPattern, one.calinskiHarabasz.bitPattern)
                XCTAssertEqual(try ClusterMetrics.daviesBouldin(m, labels: labels, threads: threads).bitPattern, one.daviesBouldin.bitPattern)
            }
        }
    }

    /// Many classes (70: the class centroids' products are computed 32 classes at a time) and
    /// singleton classes, on both kernels, against a direct Double silhouette written here.
    func testManyClassesMatchADirectDoubleReference() throws {
        let n = 300, d = 24, k = 70
        var rng = SplitMix64(seed: 4242)
        var labels = (0..<n).map { Int32($0 % (k - 3)) }   // classes 0…66, 4–5 rows each
        labels[7] = 67; labels[100] = 68; labels[299] = 69    // three classes of one row
        let x = (0..<(n * d)).map { i in Float(Double(rng.next() % 20_000) / 10_000 - 1) + Float(labels[i / d] % 5) * 0.3 }
        let expected = directSilhouette(x, rows: n, dim: d, labels: labels, classes: k)
        for kernel in [SilhouetteKernel.float32, .float64] {
            var o = SilhouetteOptions(blockRows: 64, threads: 2)
            o.kernel = kernel
            let r = try withMatrix(x, rows: n, dim: d) { try ClusterMetrics.silhouette($0, labels: labels, options: o) }
            XCTAssertEqual(r.values.count, n)
            XCTAssertEqual(r.values[7], 0, "\(kernel): a class of one row")
            _ = assertSamples(r.values, expected, "\(kernel), 70 classes")
            assertRelative(r.mean, expected.reduce(0, +) / Double(n), 1e-6, "\(kernel) mean")
        }
    }

    /// The float32 path against a direct-difference Double reference (sharper than
    /// scikit-learn's own float64 shortcut on the near-duplicate case): the agreement we claim.
    func testFloat32PathIsAccurateOnNearDuplicates() throws {
        for name in Self.names {
            let f = try fixture(name)
            let s = try withMatrix(f.x, rows: f.ref.rows, dim: f.ref.dim) { try ClusterMetrics.silhouette($0, labels: f.ref.labels) }
            let direct = f.ref.silhouette_samples_direct
            let mean = direct.reduce(0, +) / Double(direct.count)
            assertRelative(s.mean, mean, 1e-6, "\(name) mean vs direct")
            let worst = maxAbsDifference(s.values, direct)
            XCTAssertLessThan(worst, 1e-6, "\(name): largest per-sample error vs direct \(worst), tolerance 1e-6")
            // Only the near-duplicate case needs the exact Double path (its duplicated rows).
            if name == "tight" { XCTAssertGreaterThan(s.refinedPairs, 0) } else { XCTAssertEqual(s.refinedPairs, 0, name) }
        }
    }

    /// One level of Strassen–Winograd on the full off-diagonal tiles (forced on these small
    /// fixtures; automatic only from blocks of 128 rows and 128 dimensions): scikit-learn's
    /// values, the direct Double values (the near-duplicate case included), and the plain
    /// product's values.
    func testStrassenTilesMatchScikitLearnAndThePlainProduct() throws {
        for name in ["blobs", "tight"] {
            let f = try fixture(name)
            try withMatrix(f.x, rows: f.ref.rows, dim: f.ref.dim) { m in
                for (block, threads) in [(64, 2), (100, 1), (50, 3)] {
                    let what = "\(name) block \(block) threads \(threads)"
                    var o = SilhouetteOptions(blockRows: block, threads: threads)
                    o.strassen = .always
                    let s = try ClusterMetrics.silhouette(m, labels: f.ref.labels, options: o)
                    let full = f.ref.rows / block
                    XCTAssertEqual(s.strassenTiles, full * (full - 1) / 2, what)
                    assertRelative(s.mean, f.ref.silhouette_score, Self.tolerance, "\(what) mean")
                    _ = assertSamples(s.values, f.ref.silhouette_samples, "\(what) silhouette")
                    let worst = maxAbsDifference(s.values, f.ref.silhouette_samples_direct)
                    XCTAssertLessThan(worst, 1e-6, "\(what): largest per-sample error vs direct")
                    if name == "tight" { XCTAssertGreaterThan(s.refinedPairs, 0, what) }
                    o.strassen = .never
                    let plain = try ClusterMetrics.silhouette(m, labels: f.ref.labels, options: o)
                    XCTAssertEqual(plain.strassenTiles, 0, what)
                    XCTAssertLessThan(maxAbsDifference(s.values, plain.values), 1e-7, what)
                }
                // Every own kernel path (the packed operands are per path).
                for path in GEMMPath.allCases where path != .openblas && path.isSupported {
                    var o = SilhouetteOptions(blockRows: 64, threads: 2)
                    o.strassen = .always
                    let s = try SGEMM.withPath(path) { try ClusterMetrics.silhouette(m, labels: f.ref.labels, options: o) }
                    let full = f.ref.rows / 64
                    XCTAssertEqual(s.strassenTiles, full * (full - 1) / 2, "\(name) \(path)")
                    XCTAssertLessThan(maxAbsDifference(s.values, f.ref.silhouette_samples_direct), 1e-6, "\(name) \(path)")
                }
                // Automatic: not on 32 or 64 dimensions.
                var o = SilhouetteOptions(blockRows: 128, threads: 2)
                o.strassen = .automatic
                XCTAssertEqual(try ClusterMetrics.silhouette(m, labels: f.ref.labels, options: o).strassenTiles, 0, name)
            }
        }
        // Automatic from 128-row blocks and 128 dimensions, on even blocks only, from the CPU's
        // minimum row count (here set: 0, then the rows, then one more).
        let n = 600, d = 128
        let x = randomMatrix(rows: n, dim: d, seed: 5)
        let labels = (0..<n).map { Int32($0 % 3) }
        func options(_ blockRows: Int, minimumRows: Int? = 0) -> SilhouetteOptions {
            var o = SilhouetteOptions(blockRows: blockRows, threads: 2)
            o.strassenMinimumRows = minimumRows
            return o
        }
        try withMatrix(x, rows: n, dim: d) { m in
            XCTAssertEqual(try ClusterMetrics.silhouette(m, labels: labels, options: options(128)).strassenTiles, 6)
            XCTAssertEqual(try ClusterMetrics.silhouette(m, labels: labels, options: options(129)).strassenTiles, 0)
            XCTAssertEqual(try ClusterMetrics.silhouette(m, labels: labels, options: options(128, minimumRows: n)).strassenTiles, 6)
            XCTAssertEqual(try ClusterMetrics.silhouette(m, labels: labels, options: options(128, minimumRows: n + 1)).strassenTiles, 0)
            // The CPU's default: Strassen tiles exactly when 600 rows reach it.
            let byDefault = try ClusterMetrics.silhouette(m, labels: labels, options: options(128, minimumRows: nil)).strassenTiles
            XCTAssertEqual(byDefault, n >= SGEMM.strassenMinimumRows(path: SGEMM.path) ? 6 : 0)
        }
    }

    /// Near-duplicates whose Strassen partners (rows i ± h of their block) are far larger: a
    /// tile entry then carries the rounding of the large rows, and the exactness test has to
    /// use their norms — with the duplicates' own, their tiny distances would come out wrong by
    /// orders of magnitude. Against a direct Double silhouette written here, with and without
    /// Strassen.
    func testStrassenKeepsNearDuplicatesBesideLargePartnersExact() throws {
        let d = 40, group = 32, groups = 8, n = group * groups
        var rng = SplitMix64(seed: 606)
        let point = (0..<d).map { _ in rng.gaussian() }
        // Rows in class order; with blocks of 64 (h = 32) positions 0–31 of each block are rows
        // of norm ~600 (classes 0, 2, 4, 6), 32–63 near-duplicates of one point (classes 1, 3, 5,
        // 7, each shifted by 1e-3): the duplicate pairs land in the tiles' C22 quarters, which
        // every product feeds (C11 = M1 + M2 would involve the two rows alone).
        var x = [Float](repeating: 0, count: n * d)
        let labels = (0..<n).map { Int32($0 / group) }
        for r in 0..<n {
            let c = r / group
            for t in 0..<d {
                x[r * d + t] = c % 2 == 1 ? Float(point[t] + (t == c ? 1e-3 : 0) + 1e-5 * rng.gaussian()) : Float(100 * rng.gaussian())
            }
        }
        let expected = directSilhouette(x, rows: n, dim: d, labels: labels, classes: groups)
        for use in [SilhouetteOptions.StrassenUse.always, .never] {
            var o = SilhouetteOptions(blockRows: 2 * group, threads: 2)
            o.strassen = use
            let r = try withMatrix(x, rows: n, dim: d) { try ClusterMetrics.silhouette($0, labels: labels, options: o) }
            XCTAssertEqual(r.strassenTiles, use == .always ? 6 : 0)
            let worst = maxAbsDifference(r.values, expected)
            XCTAssertLessThan(worst, 1e-6, "\(use): largest per-sample error vs direct")
            // The plain product needs no refinement here (centering leaves the duplicates tiny);
            // Strassen tiles must refine the duplicate pairs.
            if use == .always { XCTAssertGreaterThan(r.refinedPairs, 1000) } else { XCTAssertEqual(r.refinedPairs, 0) }
        }
    }

    func testSamplingIsSeededAndUnbiasedPerRow() throws {
        let f = try fixture("blobs")
        try withMatrix(f.x, rows: f.ref.rows, dim: f.ref.dim) { m in
            let a = try ClusterMetrics.silhouette(m, labels: f.ref.labels, options: SilhouetteOptions(sample: 150, seed: 7))
            let b = try ClusterMetrics.silhouette(m, labels: f.ref.labels, options: SilhouetteOptions(sample: 150, seed: 7))
            let c = try ClusterMetrics.silhouette(m, labels: f.ref.labels, options: SilhouetteOptions(sample: 150, seed: 8))
            XCTAssertEqual(a.rows, b.rows)
            XCTAssertEqual(a.values, b.values)
            XCTAssertEqual(a.mean, b.mean)
            XCTAssertEqual(a.standardError, b.standardError)
            XCTAssertNotEqual(a.rows, c.rows)
            XCTAssertEqual(a.rows.count, 150)
            XCTAssertEqual(Set(a.rows).count, 150)
            XCTAssertEqual(a.rows, a.rows.sorted())
            XCTAssertEqual(a.sample, 150)
            XCTAssertEqual(a.seed, 7)
            XCTAssertFalse(a.isExact)
            // Each sampled row is measured against all rows: its value is the exact one.
            XCTAssertEqual(a.rows.count, a.values.count)
            for (r, v) in zip(a.rows, a.values) {
                let e = f.ref.silhouette_samples[r]
                XCTAssertEqual(v, e, accuracy: Self.tolerance * max(abs(e), 0.01), "row \(r)")
            }
            let se = try XCTUnwrap(a.standardError)
            XCTAssertTrue(se > 0 && se < 0.05, "standard error \(se)")
            // Seeded, so not flaky: the estimate is within 4 standard errors of the exact mean.
            XCTAssertLessThan(abs(a.mean - f.ref.silhouette_score), 4 * se)
            XCTAssertEqual(a.perClass.map(\.evaluated).reduce(0, +), 150)
            XCTAssertEqual(a.perClass.map(\.rows).reduce(0, +), f.ref.rows)
            // A sample as large as the data is the exact computation.
            let all = try ClusterMetrics.silhouette(m, labels: f.ref.labels, options: SilhouetteOptions(sample: 10_000, seed: 7))
            XCTAssertTrue(all.isExact)
            XCTAssertNil(all.standardError)
            assertRelative(all.mean, f.ref.silhouette_score, Self.tolerance, "sample ≥ rows")
        }
    }

    func testUndefinedCasesThrow() throws {
        let x = randomMatrix(rows: 6, dim: 4, seed: 3)
        try withMatrix(x, rows: 6, dim: 4) { m in
            for labels: [Int32] in [[1, 1, 1, 1, 1, 1], [0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0]] {
                XCTAssertThrowsKind(.undefined, try ClusterMetrics.silhouette(m, labels: labels), "silhouette \(labels)")
                XCTAssertThrowsKind(.undefined, try ClusterMetrics.daviesBouldin(m, labels: labels), "DB \(labels)")
                XCTAssertThrowsKind(.undefined, try ClusterMetrics.calinskiHarabasz(m, labels: labels), "CH \(labels)")
                XCTAssertThrowsKind(.undefined, try ClusterMetrics.all(m, labels: labels), "all \(labels)")
            }
            XCTAssertThrowsKind(.shapeMismatch, try ClusterMetrics.silhouette(m, labels: [0, 1, 0]))
            XCTAssertThrowsKind(.invalidArgument, try ClusterMetrics.silhouette(m, labels: [0, 1, 0, 1, 0, 1], options: SilhouetteOptions(sample: 1)))
            // Two classes of five rows and one of one is defined (6 rows, 2 classes: fine).
            XCTAssertNoThrow(try ClusterMetrics.all(m, labels: [0, 0, 0, 0, 0, 1]))
        }
        let empty: [Float] = [0]
        try withMatrix(empty, rows: 0, dim: 1) { m in
            XCTAssertThrowsKind(.undefined, try ClusterMetrics.silhouette(m, labels: []))
        }
        var bad = randomMatrix(rows: 6, dim: 4, seed: 4)
        bad[5] = .nan
        try withMatrix(bad, rows: 6, dim: 4) { m in
            XCTAssertThrowsKind(.nonFinite, try ClusterMetrics.silhouette(m, labels: [0, 0, 0, 1, 1, 1]))
            XCTAssertThrowsKind(.nonFinite, try ClusterMetrics.calinskiHarabasz(m, labels: [0, 0, 0, 1, 1, 1]))
        }
    }

    /// Identical rows across classes make a = b = 0: silhouette 0 (scikit-learn's nan_to_num),
    /// DB 0 and CH 1 by its conventions.
    func testDegenerateConventions() throws {
        let x = [Float](repeating: 0.5, count: 4 * 4)
        try withMatrix(x, rows: 4, dim: 4) { m in
            let s = try ClusterMetrics.all(m, labels: [0, 0, 1, 1])
            XCTAssertEqual(s.silhouette.values, [0, 0, 0, 0])
            XCTAssertEqual(s.silhouette.mean, 0)
            XCTAssertEqual(s.daviesBouldin, 0)
            XCTAssertEqual(s.calinskiHarabasz, 1)
        }
        // Fails on main: classes that are each one point (identical rows, distinct points) had a
        // within-class dispersion of rounding noise (the means were sums times 1/count), and
        // Calinski–Harabasz came out ~1e30 instead of scikit-learn's convention, 1.
        var rng = SplitMix64(seed: 3)
        let sizes = [3, 7, 11, 49], d = 64
        var rows: [Float] = [], labels: [Int32] = []
        for (c, size) in sizes.enumerated() {
            let point = (0..<d).map { _ in Float(rng.gaussian()) }
            for _ in 0..<size { rows += point; labels.append(Int32(c)) }
        }
        try withMatrix(rows, rows: labels.count, dim: d) { m in
            let s = try ClusterMetrics.all(m, labels: labels)
            XCTAssertEqual(s.calinskiHarabasz, 1)
            XCTAssertEqual(s.daviesBouldin, 0)
            XCTAssertTrue(s.silhouette.values.allSatisfy { $0 == 1 }, "\(s.silhouette.values)")
        }
    }

    func testProgressCountsEveryTile() throws {
        final class Recorder: ProgressSink, @unchecked Sendable {
            let lock = NSLock()
            var total: Int?
            var last = 0
            var ended = false
            func begin(_ label: String, total: Int?) { lock.lock(); self.total = total; lock.unlock() }
            func update(_ done: Int) { lock.lock(); last = max(last, done); lock.unlock() }
            func end() { lock.lock(); ended = true; lock.unlock() }
        }
        let f = try fixture("blobs")
        let r = Recorder()
        _ = try withMatrix(f.x, rows: f.ref.rows, dim: f.ref.dim) {
            try ClusterMetrics.silhouette($0, labels: f.ref.labels, options: SilhouetteOptions(blockRows: 100), progress: r)
        }
        XCTAssertEqual(r.total, 21) // 6 blocks: 6·7/2 tiles
        XCTAssertEqual(r.last, 21)
        XCTAssertTrue(r.ended)
    }

    /// Through an imported index: the catalog's class ids as labels, class names in the report.
    func testIndexReport() throws {
        let f = try fixture("blobs")
        let dir = try temporaryDirectory(self)
        let names = f.ref.labels.map { "class\($0)" } // sorts like the label values (all one digit)
        let url = try makeImportedIndex(in: dir, vectors: f.x, rows: f.ref.rows, dim: f.ref.dim, classes: names)
        let idx = try Index.open(url)
        let scores = try idx.clusterScores(space: "embedding")
        // Import re-normalizes the (already unit) rows: agreement to float32 rounding.
        assertRelative(scores.silhouette.mean, f.ref.silhouette_score, Self.tolerance, "index mean silhouette")
        _ = assertSamples(scores.silhouette.values, f.ref.silhouette_samples, "index silhouette")
        assertRelative(scores.daviesBouldin, f.ref.davies_bouldin_score, Self.tolerance, "index Davies-Bouldin")
        assertRelative(scores.calinskiHarabasz, f.ref.calinski_harabasz_score, Self.tolerance, "index Calinski-Harabasz")
        let report = ClusterMetricsReport(scores, space: "embedding", classNames: try idx.classNames())
        XCTAssertEqual(report.perClass.map(\.name), ["class0", "class1", "class2", "class4", "class7", "class9"])
        XCTAssertEqual(report.perClass.map(\.rows), [230, 150, 100, 70, 49, 1])
        XCTAssertEqual(report.perClass.last?.silhouette, 0)
        XCTAssertTrue(report.silhouette.exact)
        XCTAssertThrowsKind(.notFound, try idx.clusterScores(space: "pixel"))
    }
}
