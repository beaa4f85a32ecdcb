import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport

/// PCA and LDA against scikit-learn (Fixtures/projection, Scripts/make_projection_fixtures.py).
///
/// Tolerances: explained-variance ratios to 1e-4 absolute (observed ~1e-12: both sides solve the
/// same Double eigenproblem); PCA axes and coordinates, whose signs follow the same rule on both
/// sides, to 1e-6 absolute; LDA coordinates up to the sign of each axis, to 1e-6 relative to the
/// axis's largest |coordinate|.
final class ProjectionTests: XCTestCase {
    struct Fixture: Decodable {
        struct PCA: Decodable {
            let components: Int
            let explained_variance: [Double]
            let explained_variance_ratio: [Double]
            let axes: [[Double]]
            let coordinates: [[Double]]
        }
        struct LDA: Decodable {
            let components: Int
            let shrinkage: Double?
            let explained_variance_ratio: [Double]
            let coordinates: [[Double]]
        }
        let labels: [Int]
        let pca: PCA
        let lda: LDA
    }

    func load(_ name: String) throws -> (rows: [Float], n: Int, d: Int, fixture: Fixture) {
        let root = try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/projection")
        let x = try NPYArray.read(contentsOf: root.appendingPathComponent(name + ".npy"))
        let f = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: root.appendingPathComponent(name + ".json")))
        return (x.values, x.shape[0], x.shape[1], f)
    }

    func testPCAMatchesScikitLearn() throws {
        for name in ["blobs", "fmnist"] {
            let (rows, n, d, f) = try load(name)
            let r = try rows.withUnsafeBufferPointer { b in
                try Projection.pca(RowMatrix(base: b.baseAddress!, rows: n, dim: d, stride: d), components: f.pca.components)
            }
            let k = f.pca.components
            for c in 0..<k {
                XCTAssertEqual(r.explainedVarianceRatio[c], f.pca.explained_variance_ratio[c], accuracy: 1e-4, "\(name) ratio \(c)")
                XCTAssertEqual(r.explainedVariance[c], f.pca.explained_variance[c], accuracy: 1e-6 * f.pca.explained_variance[0], "\(name) variance \(c)")
                let axisDiff = (0..<d).map { abs(r.axes[c * d + $0] - f.pca.axes[c][$0]) }.max() ?? 0
                XCTAssertLessThan(axisDiff, 1e-6, "\(name) axis \(c) (same sign rule as svd_flip)")
            }
            var worst = 0.0
            for i in 0..<n { for c in 0..<k { worst = maxKeepingNaN(worst, abs(r.coordinates[i * k + c] - f.pca.coordinates[i][c])) } }
            XCTAssertLessThan(worst, 1e-6, "\(name) coordinates")
        }
    }

    /// The scatter cut by output rows (each block's product in slices of the upper triangle,
    /// claimed by the workers) equals a direct Double sum, on 1, 2, 3 and 5 workers and a row
    /// count that leaves the last block short — and is the same bits on every worker count (split
    /// by worker, its last digits moved with the count).
    func testScatterOverWorkersMatchesADirectSum() {
        let n = 2 * Projection.blockRows + 37, d = 70
        var rng = SplitMix64(seed: 31)
        let rows = (0..<(n * d)).map { _ in Float(rng.gaussian()) }
        let centres = (0..<(2 * d)).map { Double($0) * 0.01 }
        let which = { (i: Int) in i % 2 }
        var direct = [Double](repeating: 0, count: d * d)
        for i in 0..<n {
            let c = which(i) * d
            for a in 0..<d {
                for b in 0..<d { direct[a * d + b] += (Double(rows[i * d + a]) - centres[c + a]) * (Double(rows[i * d + b]) - centres[c + b]) }
            }
        }
        rows.withUnsafeBufferPointer { buf in
            let x = RowMatrix(base: buf.baseAddress!, rows: n, dim: d, stride: d)
            var first: [Double]? = nil
            for threads in [1, 2, 3, 5] {
                var s = [Double](repeating: 0, count: d * d)
                Projection.scatter(x, into: &s, centres: centres, which: which, progress: SilentProgress(), offset: 0, threads: threads)
                let worst = zip(s, direct).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .nan
                XCTAssertLessThanOrEqual(worst, 1e-12, "\(threads) workers")
                XCTAssertEqual(s[1 * d + 4], s[4 * d + 1], "mirrored")
                if let first { XCTAssertEqual(s.map(\.bitPattern), first.map(\.bitPattern), "\(threads) workers: not the same bits as 1") }
                else { first = s }
            }
            XCTAssertEqual(Projection.scatterSlices(d).count, 2, "two slices: the claimed path is exercised")
        }
    }

    /// The output slices cover every row once, in order, with about equal shares of the upper
    /// triangle; and a wider scatter (several slices, several blocks) is the same bits on 1–5 workers.
    func testScatterSlicesCoverTheTriangleEvenly() {
        for d in [1, 2, 31, 32, 63, 64, 65, 200, 512, 1280, 2048] {
            let slices = Projection.scatterSlices(d)
            XCTAssertEqual(slices.first?.lowerBound, 0, "d \(d)")
            XCTAssertEqual(slices.last?.upperBound, d, "d \(d)")
            XCTAssertTrue(zip(slices, slices.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound && !$0.isEmpty }, "d \(d)")
            XCTAssertLessThanOrEqual(slices.count, 4)
            let work = slices.map { r in r.reduce(0) { $0 + (d - $1) } }
            if slices.count > 1 {
                XCTAssertLessThan(Double(work.max()!), 1.25 * Double(d * (d + 1) / 2) / Double(slices.count), "d \(d): \(work)")
            }
        }
        XCTAssertTrue(Projection.scatterSlices(0).isEmpty)
        let n = 3 * Projection.blockRows + 5, d = 200
        var rng = SplitMix64(seed: 32)
        let rows = (0..<(n * d)).map { _ in Float(rng.gaussian()) }
        let centres = (0..<d).map { Double($0) * 0.001 }
        rows.withUnsafeBufferPointer { buf in
            let x = RowMatrix(base: buf.baseAddress!, rows: n, dim: d, stride: d)
            var first: [UInt64]? = nil
            for threads in [1, 2, 3, 5] {
                var s = [Double](repeating: 0, count: d * d)
                Projection.scatter(x, into: &s, centres: centres, which: { _ in 0 }, progress: SilentProgress(), offset: 0, threads: threads)
                XCTAssertFalse(s.contains { !$0.isFinite })
                XCTAssertEqual(s[3 * d + 150], s[150 * d + 3], "mirrored")
                if let first { XCTAssertEqual(s.map(\.bitPattern), first, "\(threads) workers") } else { first = s.map(\.bitPattern) }
            }
        }
    }

    func testLDAMatchesScikitLearnUpToSign() throws {
        for name in ["blobs", "fmnist"] {
            let (rows, n, d, f) = try load(name)
            let r = try rows.withUnsafeBufferPointer { b in
                try Projection.lda(RowMatrix(base: b.baseAddress!, rows: n, dim: d, stride: d), labels: f.labels.map(Int32.init),
                                   components: f.lda.components, shrinkage: f.lda.shrinkage ?? 0)
            }
            let k = f.lda.components
            for c in 0..<k {
                XCTAssertEqual(r.explainedVarianceRatio[c], f.lda.explained_variance_ratio[c], accuracy: 1e-4, "\(name) ratio \(c)")
                let ours = (0..<n).map { r.coordinates[$0 * k + c] }, theirs = (0..<n).map { f.lda.coordinates[$0][c] }
                let dot = zip(ours, theirs).reduce(0) { $0 + $1.0 * $1.1 }
                let sign: Double = dot < 0 ? -1 : 1
                let scale = theirs.map(abs).max() ?? 1
                let diff = maxAbsDifference(ours.map { sign * $0 }, theirs)
                XCTAssertLessThan(diff / scale, 1e-6, "\(name) LD\(c + 1) (up to sign)")
            }
        }
    }

    func testSingularWithinClassCovarianceIsShrunkOnlyAsMuchAsNeeded() throws {
        // 3 classes in 8 dimensions but only 6 rows: Sw has rank ≤ 3.
        let n = 6, d = 8
        let rows = (0..<(n * d)).map { Float(sin(Double($0) * 0.7) + 1.5) }
        let labels: [Int32] = [0, 0, 1, 1, 2, 2]
        let r = try rows.withUnsafeBufferPointer { b in
            try Projection.lda(RowMatrix(base: b.baseAddress!, rows: n, dim: d, stride: d), labels: labels, components: 2, reduce: false)
        }
        XCTAssertGreaterThan(r.shrinkage ?? 0, 0)
        XCTAssertNil(r.reduction)
        XCTAssertTrue(r.coordinates.allSatisfy(\.isFinite))
        XCTAssertThrowsKind(.undefined, try rows.withUnsafeBufferPointer { b in
            try Projection.lda(RowMatrix(base: b.baseAddress!, rows: n, dim: d, stride: d), labels: labels, components: 2, shrinkage: 0)
        }, "explicitly no shrinkage on a singular Sw")
        // Without `reduce: false` the singular scatter sends LDA to a PCA-reduced space instead.
        let reduced = try rows.withUnsafeBufferPointer { b in
            try Projection.lda(RowMatrix(base: b.baseAddress!, rows: n, dim: d, stride: d), labels: labels, components: 2)
        }
        XCTAssertEqual(reduced.reduction?.components, 2)
        XCTAssertTrue(reduced.coordinates.allSatisfy(\.isFinite))
    }

    func testBadRequestsAreClearErrors() throws {
        let rows = [Float](repeating: 0.5, count: 4 * 3)
        try rows.withUnsafeBufferPointer { b in
            let x = RowMatrix(base: b.baseAddress!, rows: 4, dim: 3, stride: 3)
            XCTAssertThrowsKind(.invalidArgument, try Projection.pca(x, components: 4), "more components than dims")
            XCTAssertThrowsKind(.invalidArgument, try Projection.pca(x, components: 0))
            XCTAssertThrowsKind(.undefined, try Projection.lda(x, labels: [1, 1, 1, 1], components: 1), "one class")
            XCTAssertThrowsKind(.invalidArgument, try Projection.lda(x, labels: [0, 0, 1, 1], components: 2), "classes - 1 = 1")
            XCTAssertThrowsKind(.shapeMismatch, try Projection.lda(x, labels: [0, 1], components: 1))
            XCTAssertThrowsKind(.invalidArgument, try Projection.lda(x, labels: [0, 0, 1, 1], components: 1, shrinkage: 2))
        }
    }

    /// Fails on main: `project --csv` replaced whatever was at the path with a regular file, the
    /// index's own catalog included (exit 0, then `verify` failed), and a FIFO or a symlink.
    func testCSVGoesWhereItIsSentAndNeverIntoAnIndex() throws {
        let dir = try temporaryDirectory(self)
        let n = 20, d = 5
        let idx = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 8), rows: n, dim: d,
                                        classes: (0..<n).map { $0 % 2 == 0 ? "a" : "b" })
        let fm = FileManager.default
        // The default of 6 components on a space of 5 dimensions: 5 (it failed: "choose between 1 and 5").
        let defaulted = try CLI.run(["project", idx.path])
        XCTAssertEqual(defaulted.status, 0, defaulted.stderr)
        XCTAssertTrue(defaulted.stdout.contains("20 rows × 5, 5 components"), defaulted.stdout)
        let catalog = idx.appendingPathComponent("current/catalog.sqlite")
        let before = try Data(contentsOf: catalog)
        for target in [catalog, idx.appendingPathComponent("pca.csv"), idx] {
            let r = try CLI.run(["project", idx.path, "--components", "2", "--csv", target.path])
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("the index folder"), r.stderr)
        }
        XCTAssertEqual(try Data(contentsOf: catalog), before)
        XCTAssertFalse(fm.fileExists(atPath: idx.appendingPathComponent("pca.csv").path))
        XCTAssertNoThrow(try Index.open(idx).verify())
        // Through a symlink: the target is written, the link stays a link.
        let real = dir.appendingPathComponent("real.csv"), link = dir.appendingPathComponent("link.csv")
        try Data("old".utf8).write(to: real)
        try fm.createSymbolicLink(at: link, withDestinationURL: real)
        XCTAssertEqual(try CLI.run(["project", idx.path, "--components", "2", "--csv", link.path]).status, 0)
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: link.path), real.path)
        XCTAssertTrue(try String(contentsOf: real, encoding: .utf8).hasPrefix("row,path,class,"))
        // Into a FIFO: written through to its reader, still a FIFO.
        let fifo = dir.appendingPathComponent("pipe.csv")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        let got = Atomic<String>("")
        let reader = Thread {
            let fd = open(fifo.path, O_RDONLY) // blocks until the writer opens it
            var bytes: [UInt8] = [], buf = [UInt8](repeating: 0, count: 4096)
            while fd >= 0 {
                let k = read(fd, &buf, buf.count)
                if k <= 0 { break }
                bytes += buf[0..<k]
            }
            if fd >= 0 { close(fd) }
            got.set(String(decoding: bytes, as: UTF8.self))
        }
        reader.start()
        XCTAssertEqual(try CLI.run(["project", idx.path, "--components", "2", "--csv", fifo.path]).status, 0)
        while !reader.isFinished { usleep(1_000) }
        XCTAssertEqual(got.get().split(separator: "\n").count, n + 1)
        var st = stat()
        XCTAssertEqual(lstat(fifo.path, &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFIFO)
        // `--csv -`: the CSV on stdout, nothing else there, no file named "-" (one was written).
        let piped = try CLI.run(["project", idx.path, "--components", "2", "--csv", "-"], cwd: dir)
        XCTAssertEqual(piped.status, 0, piped.stderr)
        let lines = piped.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.first, "row,path,class,pc1,pc2")
        XCTAssertEqual(lines.count, n + 2, "a header, \(n) rows, the final newline")
        XCTAssertFalse(fm.fileExists(atPath: dir.appendingPathComponent("-").path))
        let both = try CLI.run(["project", idx.path, "--csv", "-", "--json"], cwd: dir)
        XCTAssertNotEqual(both.status, 0)
        XCTAssertTrue(both.stderr.contains("choose one"), both.stderr)
        XCTAssertEqual(both.stdout, "")
        // A shrinkage the user chose is not explained as needed ("it is singular without").
        let chosen = try CLI.run(["project", idx.path, "--method", "lda", "--shrinkage", "0.5"])
        XCTAssertEqual(chosen.status, 0, chosen.stderr)
        XCTAssertTrue(chosen.stdout.contains("shrunk by 0.5 (--shrinkage)"), chosen.stdout)
        XCTAssertFalse(chosen.stdout.contains("singular"), chosen.stdout)
    }
}

/// metrics.json and the comparison table.
final class MetricsRecordTests: XCTestCase {
    func index(_ dir: URL, name: String = "idx") throws -> Index {
        let n = 30, d = 6
        let sub = dir.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        let url = try makeImportedIndex(in: sub, vectors: randomMatrix(rows: n, dim: d, seed: 3), rows: n, dim: d,
                                        classes: (0..<n).map { ["a", "b", "c"][$0 % 3] })
        return try Index.open(url)
    }

    func testSectionsMergeAndSurviveRoundTrip() throws {
        let dir = try temporaryDirectory(self)
        let idx = try index(dir)
        XCTAssertNil(try idx.readMetrics())
        let scores = try idx.clusterScores(space: "embedding")
        XCTAssertFalse(try idx.recordCluster(scores, space: "embedding"))
        let p = try idx.projection(method: .pca, components: 2)
        XCTAssertNil(try idx.readMetrics()?.spaces["embedding"]?.pca, "projection() itself writes nothing")
        XCTAssertFalse(try idx.recordProjection(p))
        let record = try XCTUnwrap(idx.readMetrics())
        let e = try XCTUnwrap(record.spaces["embedding"])
        XCTAssertEqual(e.cluster?.silhouette, scores.silhouette.mean, "cluster kept when the PCA section was added")
        XCTAssertEqual(e.pca?.explainedVarianceRatio, p.explainedVarianceRatio)
        XCTAssertEqual(e.dim, 6)
        XCTAssertEqual(record.samples, 30)
        XCTAssertEqual(record.classCount, 3)
        XCTAssertEqual(Set(e.cluster?.perClass.map(\.name) ?? []), ["a", "b", "c"])
        XCTAssertNotNil(ISO8601DateFormatter().date(from: e.cluster?.computedAt ?? ""))
    }

    func testDamagedFileIsAnErrorToReadersAndReplacedByWriters() throws {
        let dir = try temporaryDirectory(self)
        let idx = try index(dir)
        try Data("{ not json".utf8).write(to: idx.metricsURL)
        XCTAssertThrowsKind(.catalog, try idx.readMetrics())
        let scores = try idx.clusterScores(space: "embedding")
        XCTAssertTrue(try idx.recordCluster(scores, space: "embedding"), "reports that it replaced a damaged file")
        XCTAssertNotNil(try idx.readMetrics()?.spaces["embedding"]?.cluster)
        XCTAssertFalse(FileManager.default.fileExists(atPath: idx.url.appendingPathComponent(".metrics.json.\(getpid()).tmp").path))
    }

    func testComparisonSortsEachMetricTheRightWayAndFormats() throws {
        func row(_ name: String, s: Double?, db: Double?) -> ComparisonRow {
            ComparisonRow(index: name, path: "/x/" + name, space: "embedding", model: "m", weights: nil, samples: 10, classCount: 2, dim: 4,
                          silhouette: s, daviesBouldin: db, calinskiHarabasz: nil, precisionAtK: nil, k: nil, knnAccuracy: nil, probeAccuracy: nil)
        }
        let rows = [row("a", s: 0.1, db: 2.0), row("b", s: 0.3, db: 3.0), row("c", s: nil, db: 1.0)]
        XCTAssertEqual(Comparison.sorted(rows, by: .silhouette).map(\.index), ["b", "a", "c"], "higher first, missing last")
        XCTAssertEqual(Comparison.sorted(rows, by: .db).map(\.index), ["c", "a", "b"], "Davies-Bouldin: lower first")
        XCTAssertEqual(Comparison.sorted(rows, by: .name).map(\.index), ["a", "b", "c"])
        let one = [row("a,b", s: 0.25, db: nil)]
        XCTAssertEqual(Comparison.csv(one), """
            index,space,model,weights,epoch,step,samples,classes,dim,silhouette,davies_bouldin,calinski_harabasz,precision_at_k,k,knn_accuracy,probe_accuracy,silhouette_sample,silhouette_standard_error
            "a,b",embedding,m,,,,10,2,4,0.25,,,,,,,,

            """)
        // The CSV keeps the values (the table rounds them).
        var precise = row("p", s: 0.123456789012345, db: 1.1802512248452837)
        precise.calinskiHarabasz = 1.1802512248452837
        let fields = Comparison.csv([precise]).split(separator: "\n")[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(Double(fields[9]), 0.123456789012345); XCTAssertEqual(Double(fields[10]), 1.1802512248452837)
        XCTAssertEqual(Double(fields[11]), 1.1802512248452837)
        XCTAssertEqual(Comparison.markdown(one).split(separator: "\n").last, "| a,b | embedding | m | — | — | — | 10 | 2 | 4 | 0.2500 | — | — | — | — | — | — |")
    }

    func testCSVFieldsReadBackThroughTheManifestParser() throws {
        let nasty = ["plain", "a,b", "say \"hi\"", "two\nlines", "cr\rhere", ""]
        XCTAssertEqual(CSV.field("plain"), "plain")
        XCTAssertEqual(CSV.field("a,b"), "\"a,b\"")
        let text = nasty.map(CSV.field).joined(separator: ",") + "\n"
        XCTAssertEqual(try CSV.parse(text, path: "t").first?.fields, nasty)
    }

    func testTextFieldsThatASpreadsheetWouldRunAsFormulasAreWrittenAsText() throws {
        XCTAssertEqual(CSV.textField("=HYPERLINK(\"http://x\",\"y\")"), "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"")
        for s in ["+1+2", "-cmd", "@SUM(A1)", "\tx", "\rx", "-", "-inf", "+nan"] {
            XCTAssertEqual(try CSV.parse(CSV.textField(s) + "\n", path: "t").first?.fields, ["'" + s], s)
        }
        // Numbers and ordinary text are left as they are.
        for s in ["-0.25", "+3", "1e-5", "cat", "a-b", ""] { XCTAssertEqual(CSV.textField(s), s) }
    }

    func testCompareCommandComputesMissingMetricsAndPrintsJSON() throws {
        let dir = try temporaryDirectory(self)
        let a = try index(dir, name: "a"), b = try index(dir, name: "b")
        let r = try CLI.run(["compare", a.url.path, b.url.path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        struct Out: Decodable { var entries: [ComparisonRow] }
        let out = try JSONDecoder().decode(Out.self, from: Data(r.stdout.utf8))
        XCTAssertEqual(out.entries.count, 2)
        XCTAssertTrue(out.entries.allSatisfy { $0.silhouette != nil })
        // An imported space shows the model its catalog names (`import --model`, default
        // "imported"), as `info` does; it showed none (red team).
        XCTAssertEqual(out.entries.map(\.model), ["imported", "imported"])
        // Measured (the silhouettes above), and quietly: "computing …" lines are for a terminal.
        XCTAssertFalse(r.stderr.contains("computing cluster metrics"), r.stderr)
        // precision@k measured at different k in the one column: said, not silently compared.
        XCTAssertEqual(try CLI.run(["versus", a.url.path, "-k", "3"]).status, 0)
        XCTAssertEqual(try CLI.run(["versus", b.url.path, "-k", "5"]).status, 0)
        let mixedK = try CLI.run(["compare", a.url.path, b.url.path, "--no-deltas"])
        XCTAssertEqual(mixedK.status, 0, mixedK.stderr)
        XCTAssertTrue(mixedK.stderr.contains("precision@k was measured at different k (3, 5)"), mixedK.stderr)
        XCTAssertEqual(try CLI.run(["versus", b.url.path, "-k", "3"]).status, 0)
        let sameK = try CLI.run(["compare", a.url.path, b.url.path, "--no-deltas"])
        XCTAssertFalse(sameK.stderr.contains("different k"), sameK.stderr)
        let none = try CLI.run(["compare", dir.appendingPathComponent("c-missing").path])
        XCTAssertEqual(none.status, 1)
        try FileManager.default.removeItem(at: a.metricsURL)
        let strict = try CLI.run(["compare", a.url.path, "--no-compute"])
        XCTAssertEqual(strict.status, 1)
        XCTAssertTrue(strict.stderr.contains("embedscope metrics"), strict.stderr)

        // An index whose metrics are undefined (one class) is a row of dashes with a note, not the
        // end of the comparison (it exited 1 for every index).
        let one = try makeImportedIndex(in: dir, vectors: (0..<24).map { Float(($0 * 7) % 5) + 0.5 }, rows: 6, dim: 4,
                                        classes: Array(repeating: "only", count: 6), name: "one")
        let mixed = try CLI.run(["compare", one.path, b.url.path, "--json"])
        XCTAssertEqual(mixed.status, 0, mixed.stderr)
        let rows = try JSONDecoder().decode(Out.self, from: Data(mixed.stdout.utf8)).entries
        XCTAssertEqual(rows.count, 2)
        XCTAssertNil(rows.first { $0.index == "one" }?.silhouette)
        XCTAssertNotNil(rows.first { $0.path == b.url.path }?.silhouette)
        XCTAssertTrue(mixed.stderr.contains("one/embedding") && mixed.stderr.contains("shown as —"), mixed.stderr)
    }
}
