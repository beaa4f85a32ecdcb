import Foundation
import GRDB
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport
#if canImport(Glibc)
import Glibc
#endif

/// One generation at a time (docs/index-format.md, "Generations"), the writer lock, and what
/// a writer may replace.
final class IndexGenerationTests: XCTestCase {
    private func classes(_ n: Int) -> [String] { (0..<n).map { ["ant", "bee", "cat"][$0 % 3] } }

    private func writeImport(_ dir: URL, tag: String, rows n: Int, dim d: Int, seed: UInt64) throws -> (x: URL, m: URL) {
        let x = dir.appendingPathComponent("X-\(tag).npy")
        try NPYArray.write(shape: [n, d], values: randomMatrix(rows: n, dim: d, seed: seed), to: x)
        let m = dir.appendingPathComponent("rows-\(tag).csv")
        let names = classes(n)
        try ("path,class\n" + (0..<n).map { "\(tag)/\(names[$0])/\($0).png,\(names[$0])\n" }.joined()).write(to: m, atomically: true, encoding: .utf8)
        return (x, m)
    }

    /// Fails on main: there was no `current` link, no marker, and an old reader's files were removed.
    func testLayoutAndReadersKeepTheirGeneration() throws {
        let dir = try temporaryDirectory(self)
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 30, dim: 6, seed: 1), rows: 30, dim: 6, classes: classes(30))
        let fm = FileManager.default
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: url.appendingPathComponent("current").path), "gen-1")
        XCTAssertTrue(fm.fileExists(atPath: url.appendingPathComponent(".embedscope-index").path))
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: url.path).sorted(), [".embedscope-index", "current", "gen-1"])

        var o = SearchOptions(); o.k = 5
        var old: Index? = try Index.open(url)
        let before = try old!.search(.row(3), options: o)
        XCTAssertEqual(old!.directory.lastPathComponent, "gen-1")
        // A writer adds a prototype set: a new generation; the open reader keeps answering from its own.
        try Index.writePrototypeSet(at: url, name: "p", space: "embedding", source: "test", names: ["a", "b"],
                                    weights: randomMatrix(rows: 2, dim: 6, seed: 2), bias: [0, 1])
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: url.appendingPathComponent("current").path), "gen-2")
        XCTAssertTrue(fm.fileExists(atPath: url.appendingPathComponent("gen-1/catalog.sqlite").path), "held by a reader: kept")
        XCTAssertEqual(try old!.search(.row(3), options: o), before)
        XCTAssertEqual(old!.prototypeSets.map(\.name), [])
        let new = try Index.open(url)
        XCTAssertEqual(new.prototypeSets.map(\.name), ["p"])
        XCTAssertEqual(try new.search(.row(3), options: o), before)
        // The vector files are shared (hard links), not copied.
        var a = stat(), b = stat()
        XCTAssertEqual(stat(url.appendingPathComponent("gen-1/embedding.vec").path, &a), 0)
        XCTAssertEqual(stat(url.appendingPathComponent("gen-2/embedding.vec").path, &b), 0)
        XCTAssertEqual(a.st_ino, b.st_ino)
        // Once the reader is gone, the next writer removes the old generation.
        old = nil
        try Index.writePrototypeSet(at: url, name: "q", space: "embedding", source: "test", names: ["a"],
                                    weights: randomMatrix(rows: 1, dim: 6, seed: 3), bias: [0])
        let names = try fm.contentsOfDirectory(atPath: url.path).sorted()
        XCTAssertEqual(names, [".embedscope-index", "current", "gen-2", "gen-3"], "gen-2 is still held by `new`")
        XCTAssertEqual(try Index.open(url).prototypeSets.map(\.name), ["p", "q"])
        XCTAssertNoThrow(try Index.open(url).verify())
        // A generation named directly reads that generation (symlinks resolved once), and is never written.
        let viaLink = try Index.open(url.appendingPathComponent("current"))
        XCTAssertEqual(viaLink.directory.lastPathComponent, "gen-3")
        XCTAssertEqual(viaLink.prototypeSets.map(\.name), ["p", "q"])
        for g in ["current", "gen-3"] {
            XCTAssertThrowsKind(.refused, try Index.writePrototypeSet(at: url.appendingPathComponent(g), name: "r", space: "embedding", source: "t",
                                                                      names: ["a"], weights: [1, 2, 3, 4, 5, 6], bias: [0]), g)
        }
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: url.appendingPathComponent("gen-3").path).filter { $0.hasPrefix(".") }, [])
    }

    /// A hostile or damaged `current` is refused, never followed out of the index folder.
    func testCurrentMustNameAGenerationInside() throws {
        let fm = FileManager.default
        let dir = try temporaryDirectory(self)
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 10, dim: 4, seed: 1), rows: 10, dim: 4, classes: classes(10))
        let current = url.appendingPathComponent("current").path
        for target in ["../index", "/etc", "gen-01", "gen-1/..", "x"] {
            XCTAssertEqual(unlink(current), 0)
            XCTAssertEqual(symlink(target, current), 0)
            XCTAssertThrowsKind(.catalog, try Index.open(url), target)
        }
        XCTAssertEqual(unlink(current), 0)
        XCTAssertEqual(symlink("gen-7", current), 0)
        XCTAssertThrowsKind(.catalog, try Index.open(url), "dangling")

        // `--force` replaces such an index as its error's hint says (it failed with the same
        // error), renaming over the link: the folder it pointed to outside is left as it was.
        let outside = dir.appendingPathComponent("outside")
        try fm.createDirectory(at: outside, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: outside.appendingPathComponent("precious.txt"))
        XCTAssertEqual(unlink(current), 0)
        XCTAssertEqual(symlink(outside.path, current), 0)
        let x = dir.appendingPathComponent("again.npy"), m = dir.appendingPathComponent("again.csv")
        try NPYArray.write(shape: [10, 4], values: randomMatrix(rows: 10, dim: 4, seed: 2), to: x)
        try ("path,class\n" + (0..<10).map { "img/\($0).png,\(classes(10)[$0])\n" }.joined()).write(to: m, atomically: true, encoding: .utf8)
        XCTAssertThrowsKind(.catalog, try Importer.run(ImportRequest(vectors: x, manifest: m, out: url)), "without --force")
        var forced = ImportRequest(vectors: x, manifest: m, out: url)
        forced.force = true
        _ = try Importer.run(forced)
        XCTAssertEqual(try Index.open(url).rowCount, 10)
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: outside.path), ["precious.txt"])
        XCTAssertTrue(Index.verifyReport(url).ok)
    }

    /// Fails on main: a query racing a rebuild at the same path mixed the catalog of one
    /// generation with the vectors of the other (or found no index at all for a moment).
    func testQueriesRacingRebuildsSeeOneGeneration() throws {
        let dir = try temporaryDirectory(self)
        let n = 120, d = 16
        let a = try writeImport(dir, tag: "a", rows: n, dim: d, seed: 21)
        let b = try writeImport(dir, tag: "b", rows: n, dim: d, seed: 22)
        var o = SearchOptions(); o.k = 4
        var reference: [String: [[ResultRow]]] = [:]
        for (tag, files) in [("a", a), ("b", b)] {
            let out = dir.appendingPathComponent("ref-\(tag)")
            _ = try Importer.run(ImportRequest(vectors: files.x, manifest: files.m, out: out))
            let idx = try Index.open(out)
            reference[tag] = try (0..<n).map { try idx.search(.row($0), options: o) }
        }
        let url = dir.appendingPathComponent("live")
        _ = try Importer.run(ImportRequest(vectors: a.x, manifest: a.m, out: url))

        let done = Atomic(false)
        let writer = Thread {
            for i in 0..<40 {
                let f = i % 2 == 0 ? b : a
                var r = ImportRequest(vectors: f.x, manifest: f.m, out: url)
                r.force = true
                do { _ = try Importer.run(r) } catch { XCTFail("writer: \(error)") }
            }
            done.set(true)
        }
        writer.start()
        var queries = 0, wrong: [String] = []
        var g = SeededGenerator(seed: 5)
        while !done.get() || queries < 50 {
            let row = Int(g.next() % UInt64(n))
            do {
                let idx = try Index.open(url)
                let got = try idx.search(.row(row), options: o)
                let tag = got.first?.path.hasPrefix("a/") == true ? "a" : "b"
                let want = reference[tag]![row]
                let same = got.count == want.count && zip(got, want).allSatisfy { $0.row == $1.row && $0.path == $1.path && abs($0.score - $1.score) <= 1e-5 }
                if !same { wrong.append("row \(row): \(got.map(\.row)) \(got.map(\.path)) vs \(want.map(\.row))") }
            } catch {
                wrong.append("row \(row): \(error)")
            }
            queries += 1
        }
        XCTAssertEqual(wrong, [], "\(wrong.count) of \(queries) queries wrong")
        XCTAssertGreaterThan(queries, 50)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: url.path).filter { $0.hasPrefix(".tmp") || $0.hasPrefix(".trash") }
        XCTAssertEqual(leftovers, [])
    }

    /// An index written before generations (flat folder) opens, and the next writer converts it.
    func testFlatIndexOpensAndIsConverted() throws {
        let dir = try temporaryDirectory(self)
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 20, dim: 5, seed: 4), rows: 20, dim: 5, classes: classes(20))
        let fm = FileManager.default
        // Lay it out as format 1.0 did: the files directly in the folder, no marker, no link.
        for name in try fm.contentsOfDirectory(atPath: url.appendingPathComponent("gen-1").path) {
            try fm.moveItem(at: url.appendingPathComponent("gen-1/\(name)"), to: url.appendingPathComponent(name))
        }
        try fm.removeItem(at: url.appendingPathComponent("gen-1"))
        try fm.removeItem(at: url.appendingPathComponent("current"))
        try fm.removeItem(at: url.appendingPathComponent(".embedscope-index"))
        try "user notes".write(to: url.appendingPathComponent("NOTES.txt"), atomically: true, encoding: .utf8)
        var o = SearchOptions(); o.k = 3
        var flat: Index! = try Index.open(url)
        XCTAssertEqual(flat.directory.path, url.standardizedFileURL.path)
        let before = try flat.search(.row(2), options: o)
        try Index.writePrototypeSet(at: url, name: "p", space: "embedding", source: "t", names: ["x"], weights: [1, 2, 3, 4, 5], bias: [0])
        // The flat reader still holds the folder: its files stay until a later writer.
        XCTAssertEqual(try flat.search(.row(2), options: o), before)
        XCTAssertTrue(fm.fileExists(atPath: url.appendingPathComponent("embedding.vec").path))
        let converted = try Index.open(url)
        XCTAssertEqual(converted.directory.lastPathComponent, "gen-1")
        XCTAssertEqual(converted.prototypeSets.map(\.name), ["p"])
        XCTAssertEqual(try converted.search(.row(2), options: o), before)
        flat = nil
        try Index.writePrototypeSet(at: url, name: "q", space: "embedding", source: "t", names: ["x"], weights: [5, 4, 3, 2, 1], bias: [0])
        let names = try fm.contentsOfDirectory(atPath: url.path).sorted()
        XCTAssertEqual(names, [".embedscope-index", "NOTES.txt", "current", "gen-1", "gen-2"], "flat files removed, the user's file kept")
    }

    /// The lock file names the last writer; between a new holder's flock and its writing its own
    /// line, a waiter read the previous, finished writer's PID and named it. A PID that no longer
    /// exists is "another process".
    func testWriterLockDoesNotNameAWriterThatHasExited() throws {
        let dir = try temporaryDirectory(self)
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 10, dim: 4, seed: 1), rows: 10, dim: 4, classes: classes(10))
        let exited = try exitedProcessID()
        let held = try IndexWriterLock.acquire(url, create: false)
        let marker = url.appendingPathComponent(IndexDirectory.markerName)
        try Data("pid \(exited) embedscope build\n".utf8).write(to: marker)
        XCTAssertThrowsError(try IndexWriterLock.acquire(url, create: false, policy: .init(timeout: 0) { _ in })) { error in
            XCTAssertEqual((error as? EmbedScopeError)?.kind, .locked)
            XCTAssertTrue("\(error)".contains("another process"), "\(error)")
            XCTAssertFalse("\(error)".contains("PID \(exited)"), "\(error)")
        }
        held.release()
    }

    /// A lock file that is a hard link to a file elsewhere is refused before it is written: the
    /// holder's line went into the other name's file (red team: `ln ~/user.txt IDX/.embedscope-index`).
    func testWriterLockRefusesAHardLinkedLockFile() throws {
        let dir = try temporaryDirectory(self)
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 10, dim: 4, seed: 1), rows: 10, dim: 4, classes: classes(10))
        let user = dir.appendingPathComponent("user.txt")
        try Data("mine\n".utf8).write(to: user)
        let marker = url.appendingPathComponent(IndexDirectory.markerName)
        try FileManager.default.removeItem(at: marker)
        XCTAssertEqual(link(user.path, marker.path), 0)
        XCTAssertThrowsError(try IndexWriterLock.acquire(url, create: false)) { error in
            XCTAssertEqual((error as? EmbedScopeError)?.kind, .refused, "\(error)")
            XCTAssertTrue("\(error)".contains("2 hard links"), "\(error)")
        }
        XCTAssertEqual(try String(contentsOf: user, encoding: .utf8), "mine\n")
        try FileManager.default.removeItem(at: marker)   // as the hint says: a new one is made
        XCTAssertNoThrow(try IndexWriterLock.acquire(url, create: false).release())
    }

    /// A writer killed by SIGKILL leaves its staging folder beside the destination
    /// (`.<name>.export-<pid>`, `.<name>.tmp-<pid>-…`); the next export or report removes those
    /// whose process no longer runs, and leaves a running one's and every other name alone.
    func testStagingFoldersOfKilledWritersAreRemovedByTheNextOne() throws {
        let dir = try temporaryDirectory(self)
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 10, dim: 4, seed: 1), rows: 10, dim: 4, classes: classes(10))
        let dead = try exitedProcessID(), live = getppid()
        let names = [".exp.export-\(dead)", ".exp.tmp-\(dead)-1234", ".exp.export-\(live)", ".exp.exportx-\(dead)", ".other.export-\(dead)", ".exp.export-\(dead)x"]
        for n in names {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent(n).appendingPathComponent("sub"), withIntermediateDirectories: true)
        }
        _ = try IndexExport.run(index: url, space: nil, out: dir.appendingPathComponent("exp"))
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: dir.path))
        XCTAssertFalse(left.contains(".exp.export-\(dead)"), "\(left)")
        for kept in [".exp.tmp-\(dead)-1234", ".exp.export-\(live)", ".exp.exportx-\(dead)", ".other.export-\(dead)", ".exp.export-\(dead)x"] {
            XCTAssertTrue(left.contains(kept), "\(kept) was removed: \(left)")
        }
        // The report's kind ("tmp") beside its folder.
        DirectorySwap.removeStale(beside: dir.appendingPathComponent("exp"), kinds: ["tmp"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent(".exp.tmp-\(dead)-1234").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(".exp.export-\(live)").path))
    }

    /// Fails on main (no lock): a second writer waits, says who it waits for, and gives up after its timeout.
    func testWriterLockWaitsAndTimesOut() throws {
        let dir = try temporaryDirectory(self)
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 10, dim: 4, seed: 1), rows: 10, dim: 4, classes: classes(10))
        let held = try IndexWriterLock.acquire(url, create: false)
        let notes = Atomic<[String]>([])
        let policy = IndexWriterLock.Policy(timeout: 0.3) { s in notes.update { $0.append(s) } }
        let t0 = Date()
        do {
            _ = try IndexWriterLock.acquire(url, create: false, policy: policy)
            XCTFail("acquired a held lock")
        } catch let e as EmbedScopeError {
            XCTAssertEqual(e.kind, .locked)
            XCTAssertTrue(e.description.contains("PID \(getpid())"), e.description)
        }
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(t0), 0.3)
        XCTAssertEqual(notes.get().count, 1)
        XCTAssertTrue(notes.get().first?.contains("waiting for the writer lock held by PID \(getpid())") == true, "\(notes.get())")
        // Released: the waiter gets it.
        let waited = DispatchSemaphore(value: 0)
        let waiter = Thread {
            do { _ = try IndexWriterLock.acquire(url, create: false, policy: .init(timeout: 30) { _ in }) } catch { XCTFail("\(error)") }
            waited.signal()
        }
        waiter.start()
        usleep(100_000)
        held.release()
        XCTAssertEqual(waited.wait(timeout: .now() + 60), .success, "the waiter got the lock once it was released")
        // A writer of the index waits for the lock as well (metrics here).
        let idx = try Index.open(url)
        let again = try IndexWriterLock.acquire(url, create: false, policy: .init(timeout: 10) { _ in })
        IndexWriterLock.policy.timeout = 0
        defer { IndexWriterLock.policy.timeout = nil }
        XCTAssertThrowsKind(.locked, try idx.updateMetrics(spaces: ["embedding"]) { _ in })
        again.release()
        XCTAssertNoThrow(try idx.updateMetrics(spaces: ["embedding"]) { _ in })
    }

    /// Fails on main: metrics measured on vectors that a rebuild replaced were recorded on the new index.
    func testMetricsOfReplacedVectorsAreNotRecorded() throws {
        let dir = try temporaryDirectory(self)
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 30, dim: 4, seed: 1), rows: 30, dim: 4, classes: classes(30))
        let old = try Index.open(url)
        _ = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 30, dim: 4, seed: 2), rows: 30, dim: 4, classes: classes(30), name: "index-b")
        var r = ImportRequest(vectors: dir.appendingPathComponent("X-index-b.npy"), manifest: dir.appendingPathComponent("rows-index.csv"), out: url)
        r.force = true
        _ = try Importer.run(r)
        XCTAssertThrowsKind(.refused, try old.updateMetrics(spaces: ["embedding"]) { _ in })
        XCTAssertNil(try Index.open(url).readMetrics())
        // Adding a prototype set keeps the vectors (hard links): a measurement still applies.
        let current = try Index.open(url)
        try Index.writePrototypeSet(at: url, name: "p", space: "embedding", source: "t", names: ["x"], weights: [1, 2, 3, 4], bias: [0])
        XCTAssertNoThrow(try current.updateMetrics(spaces: ["embedding"]) { $0.spaces["embedding"] = .init(dim: 4) })
        XCTAssertEqual(try Index.open(url).readMetrics()?.spaces["embedding"]?.dim, 4)
        // ... and is carried into the next generation.
        try Index.writePrototypeSet(at: url, name: "q", space: "embedding", source: "t", names: ["x"], weights: [1, 2, 3, 4], bias: [0])
        XCTAssertEqual(try Index.open(url).readMetrics()?.spaces["embedding"]?.dim, 4)
        // The header is the generation's, whatever the file said: a measure that waited out
        // `build --force --model …` recorded the old generation's model (none), and every update
        // after kept it (README walk-through). Written here as such a file would be, then healed.
        let latest = try Index.open(url)
        try latest.updateMetrics(spaces: []) { $0.model = "stale-model"; $0.weights = "stale.pth"; $0.samples = 1 }
        XCTAssertEqual(try Index.open(url).readMetrics()?.model, "stale-model")
        try latest.updateMetrics(spaces: ["embedding"]) { _ in }
        let healed = try XCTUnwrap(try Index.open(url).readMetrics())
        let meta = try latest.catalog.meta()
        XCTAssertEqual(healed.model, meta["model"])
        XCTAssertEqual(healed.weights, meta["weights"])
        XCTAssertEqual(healed.samples, 30)
    }

    /// Fails on main: `--force` replaced any folder, the data set and its parents included, and
    /// a read-only index folder.
    func testWritersReplaceOnlyAnIndex() throws {
        let dir = try temporaryDirectory(self)
        let fm = FileManager.default
        let (index, images, _) = try makeImageIndex(in: dir, perClass: 2)
        let foreign = dir.appendingPathComponent("photos")
        try fm.createDirectory(at: foreign, withIntermediateDirectories: true)
        try "keep".write(to: foreign.appendingPathComponent("a.txt"), atomically: true, encoding: .utf8)
        for out in [foreign, images, dir, images.appendingPathComponent("circle"), dir.appendingPathComponent("X.npy")] {
            var r = BuildRequest(dataset: images, out: out); r.force = true
            XCTAssertThrowsKind(.refused, try FolderBuilder.run(r), out.path)
        }
        XCTAssertTrue(fm.fileExists(atPath: foreign.appendingPathComponent("a.txt").path))
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: images.path).sorted(), ["a<b & \"c\"", "circle", "square"])
        var imp = ImportRequest(vectors: dir.appendingPathComponent("X.npy"), manifest: dir.appendingPathComponent("rows.csv"), out: dir)
        imp.force = true
        XCTAssertThrowsKind(.refused, try Importer.run(imp), "import into the manifest's folder")
        imp.out = foreign
        XCTAssertThrowsKind(.refused, try Importer.run(imp), "import into a foreign folder")
        XCTAssertTrue(fm.fileExists(atPath: foreign.appendingPathComponent("a.txt").path))
        // An empty folder is fine; an index is replaced with --force, refused without.
        let empty = dir.appendingPathComponent("empty")
        try fm.createDirectory(at: empty, withIntermediateDirectories: true)
        var ok = BuildRequest(dataset: images, out: empty)
        XCTAssertNoThrow(try FolderBuilder.run(ok))
        XCTAssertThrowsKind(.alreadyExists, try FolderBuilder.run(ok))
        ok.force = true
        XCTAssertNoThrow(try FolderBuilder.run(ok))
        // A read-only index folder is refused (even for root), and stays readable.
        XCTAssertEqual(chmod(index.path, 0o555), 0)
        defer { chmod(index.path, 0o755) }
        var ro = BuildRequest(dataset: images, out: index); ro.force = true
        XCTAssertThrowsKind(.refused, try FolderBuilder.run(ro))
        XCTAssertThrowsKind(.refused, try Index.writePrototypeSet(at: index, name: "p", space: "embedding", source: "t", names: ["x"],
                                                                  weights: [Float](repeating: 1, count: 8), bias: [0]))
        XCTAssertNoThrow(try Index.open(index).verify())
        XCTAssertEqual(try Index.open(index).prototypeSets.count, 0)
    }

    /// Folders EmbedScope did not write, whose names only look like an index's (found by a red-team
    /// pass, each exit 0 before): user folders `gen-1/`, `gen-2/` taken for leftovers and deleted;
    /// a `catalog.sqlite` of the user's own (and every `.vec`, `metrics.json`) deleted by `--force`;
    /// a regular file named `current` replaced by `--force`; a symlinked marker followed and its
    /// target truncated. Each is refused now, before anything is written into the folder.
    func testFoldersThatOnlyLookLikeAnIndexAreNotTouched() throws {
        let dir = try temporaryDirectory(self)
        let fm = FileManager.default
        let (x, m) = try writeImport(dir, tag: "t", rows: 12, dim: 4, seed: 3)
        func importing(_ out: URL, force: Bool) -> ImportRequest {
            var r = ImportRequest(vectors: x, manifest: m, out: out); r.force = force; return r
        }
        func contents(_ u: URL) throws -> [String] {
            (fm.enumerator(atPath: u.path)?.allObjects as? [String] ?? []).sorted()
        }

        let runs = dir.appendingPathComponent("runs")
        for g in ["gen-1", "gen-2", ".tmp-gen-notes"] {
            try fm.createDirectory(at: runs.appendingPathComponent(g), withIntermediateDirectories: true)
            try "weights".write(to: runs.appendingPathComponent(g).appendingPathComponent("model.pt"), atomically: true, encoding: .utf8)
        }
        let foreignCatalog = dir.appendingPathComponent("foreign")
        try fm.createDirectory(at: foreignCatalog, withIntermediateDirectories: true)
        var config = Configuration(); config.journalMode = .default
        try DatabaseQueue(path: foreignCatalog.appendingPathComponent("catalog.sqlite").path, configuration: config)
            .write { try $0.execute(sql: "CREATE TABLE photos(x)") }
        try "vec".write(to: foreignCatalog.appendingPathComponent("my.vec"), atomically: true, encoding: .utf8)
        let onlyCatalog = dir.appendingPathComponent("only-catalog")
        try fm.createDirectory(at: onlyCatalog, withIntermediateDirectories: true)
        try fm.copyItem(at: foreignCatalog.appendingPathComponent("catalog.sqlite"), to: onlyCatalog.appendingPathComponent("catalog.sqlite"))
        let cur = dir.appendingPathComponent("cur")
        try fm.createDirectory(at: cur, withIntermediateDirectories: true)
        try "my notes".write(to: cur.appendingPathComponent("current"), atomically: true, encoding: .utf8)

        for folder in [runs, foreignCatalog, onlyCatalog, cur] {
            let before = try contents(folder)
            for force in [false, true] {
                XCTAssertThrowsKind(.refused, try Importer.run(importing(folder, force: force)), "\(folder.lastPathComponent) force \(force)")
                var b = BuildRequest(dataset: dir, out: folder); b.force = force
                XCTAssertThrowsError(try FolderBuilder.run(b))
            }
            XCTAssertEqual(try contents(folder), before, "\(folder.lastPathComponent): nothing written, nothing removed")
        }
        XCTAssertEqual(try String(contentsOf: cur.appendingPathComponent("current"), encoding: .utf8), "my notes")

        // A marker that is a symlink is never followed: not into an index, not into a new folder.
        let victim = dir.appendingPathComponent("victim.txt")
        try "important".write(to: victim, atomically: true, encoding: .utf8)
        let idx = dir.appendingPathComponent("idx")
        _ = try Importer.run(importing(idx, force: false))
        let marker = idx.appendingPathComponent(IndexDirectory.markerName)
        try fm.removeItem(at: marker)
        try fm.createSymbolicLink(at: marker, withDestinationURL: victim)
        XCTAssertThrowsKind(.refused, try Importer.run(importing(idx, force: true)))
        XCTAssertThrowsKind(.refused, try Index.open(idx).updateMetrics(spaces: ["embedding"]) { _ in })
        let fresh = dir.appendingPathComponent("fresh")
        try fm.createDirectory(at: fresh, withIntermediateDirectories: true)
        try fm.createSymbolicLink(at: fresh.appendingPathComponent(IndexDirectory.markerName), withDestinationURL: victim)
        XCTAssertThrowsKind(.refused, try Importer.run(importing(fresh, force: false)))
        XCTAssertEqual(try String(contentsOf: victim, encoding: .utf8), "important")

        // What is EmbedScope's is still recognised: an index whose marker was removed, a damaged
        // `current` inside an index (with its marker), a folder holding only the marker.
        let noMarker = dir.appendingPathComponent("no-marker")
        _ = try Importer.run(importing(noMarker, force: false))
        try fm.removeItem(at: noMarker.appendingPathComponent(IndexDirectory.markerName))
        XCTAssertEqual(IndexDirectory.classify(noMarker), .index)
        XCTAssertNoThrow(try Importer.run(importing(noMarker, force: true)))
        let leftover = dir.appendingPathComponent("leftover")
        try fm.createDirectory(at: leftover.appendingPathComponent(".tmp-gen-1-x"), withIntermediateDirectories: true)
        fm.createFile(atPath: leftover.appendingPathComponent(IndexDirectory.markerName).path, contents: Data())
        XCTAssertEqual(IndexDirectory.classify(leftover), .reusable)
    }

    /// Fails on main (red-team, exit 0): a stray `gen-999999999999999999` (18 digits, a name readers
    /// accept) made the next writer commit `gen-1000000000000000000`, which readers refuse, switch
    /// `current` to it and remove the old generation: the index was unreadable. Now refused before
    /// anything is written, naming the folder.
    func testAGenerationNumberReadersRefuseIsNeverCommitted() throws {
        let dir = try temporaryDirectory(self)
        let fm = FileManager.default
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 10, dim: 4, seed: 1), rows: 10, dim: 4, classes: classes(10))
        let stray = "gen-999999999999999999"
        try fm.createDirectory(at: url.appendingPathComponent(stray), withIntermediateDirectories: false)
        let before = try fm.contentsOfDirectory(atPath: url.path).sorted()
        let (x, m) = try writeImport(dir, tag: "more", rows: 5, dim: 4, seed: 2)
        var force = ImportRequest(vectors: x, manifest: m, out: url); force.force = true
        let writers: [(String, () throws -> Void)] = [
            ("prototype set", { try Index.writePrototypeSet(at: url, name: "p", space: "embedding", source: "t", names: ["x"], weights: [1, 2, 3, 4], bias: [0]) }),
            ("add", { _ = try IndexGrowth.addVectors(AddVectorsRequest(index: url, vectors: x, manifest: m)) }),
            ("import --force", { _ = try Importer.run(force) }),
        ]
        for (what, write) in writers {
            XCTAssertThrowsError(try write(), what) { error in
                XCTAssertEqual((error as? EmbedScopeError)?.kind, .refused, "\(what): \(error)")
                XCTAssertTrue("\(error)".contains(stray), "\(what): \(error)")
            }
            XCTAssertEqual(try fm.contentsOfDirectory(atPath: url.path).sorted(), before, "\(what): nothing written")
            XCTAssertEqual(try Index.open(url).rowCount, 10, what)
        }
        // Moved out, writers work again.
        try fm.removeItem(at: url.appendingPathComponent(stray))
        XCTAssertNoThrow(try writers[1].1())
        XCTAssertEqual(try Index.open(url).rowCount, 15)
    }

    /// Fails on main (red-team): converting a format 1.0 flat index deleted every `*.vec` and
    /// `catalog.sqlite-*` in the folder, a user's `my-old-embeddings.vec` and
    /// `catalog.sqlite-backup-2024` included. Only the files its catalog names (and SQLite's own
    /// beside the catalog) are removed now.
    func testConvertingAFlatIndexRemovesOnlyItsOwnFiles() throws {
        let dir = try temporaryDirectory(self)
        let fm = FileManager.default
        let v1 = dir.appendingPathComponent("v1")
        try fm.copyItem(at: FormatCompatibilityTests.v1, to: v1)
        let user = ["my-old-embeddings.vec", "catalog.sqlite-backup-2024", "README.txt"]
        for name in user { try "mine".write(to: v1.appendingPathComponent(name), atomically: false, encoding: .utf8) }
        try Index.writePrototypeSet(at: v1, name: "p", space: "embedding", source: "t", names: ["x"], weights: [1, 2, 3, 4], bias: [0])
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: v1.path).sorted(), ([".embedscope-index", "current", "gen-1"] + user).sorted(),
                       "the flat index's own files removed, the user's kept")
        for name in user { XCTAssertEqual(try String(contentsOf: v1.appendingPathComponent(name), encoding: .utf8), "mine", name) }
        XCTAssertEqual(try Index.open(v1).rowCount, 6)
    }

    /// Fails on main (red-team): cleaning up an old generation deleted the whole folder —
    /// `INDEX/current/user.txt` went with the next `import --force`, a user's `gen-99/photo.jpg`
    /// with the next writer. Now only what EmbedScope writes in a generation is removed; a folder
    /// that still holds something else stays (said on stderr); a symlinked `gen-*` is unlinked,
    /// its target untouched.
    func testCleanUpRemovesOnlyWhatEmbedScopeWroteInAGeneration() throws {
        let dir = try temporaryDirectory(self)
        let fm = FileManager.default
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 10, dim: 4, seed: 1), rows: 10, dim: 4, classes: classes(10))
        try "x".write(to: url.appendingPathComponent("current/user.txt"), atomically: false, encoding: .utf8)
        try "mine".write(to: url.appendingPathComponent("current/my.vec"), atomically: false, encoding: .utf8)
        try fm.createDirectory(at: url.appendingPathComponent("gen-99/sub"), withIntermediateDirectories: true)
        try "jpeg".write(to: url.appendingPathComponent("gen-99/photo.jpg"), atomically: false, encoding: .utf8)
        try fm.createDirectory(at: url.appendingPathComponent("gen-5"), withIntermediateDirectories: false)  // empty: nothing to keep
        let outside = dir.appendingPathComponent("outside")
        try fm.createDirectory(at: outside, withIntermediateDirectories: false)
        try "keep".write(to: outside.appendingPathComponent("catalog.sqlite"), atomically: false, encoding: .utf8)
        XCTAssertEqual(symlink(outside.path, url.appendingPathComponent("gen-7").path), 0)

        let (x, m) = try writeImport(dir, tag: "again", rows: 10, dim: 4, seed: 2)
        var r = ImportRequest(vectors: x, manifest: m, out: url); r.force = true
        _ = try Importer.run(r)
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: url.path).sorted(), [".embedscope-index", "current", "gen-1", "gen-100", "gen-99"])
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: url.appendingPathComponent("gen-1").path).sorted(), ["my.vec", "user.txt"],
                       "EmbedScope's files of the old generation removed, the user's kept")
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: url.appendingPathComponent("gen-99").path).sorted(), ["photo.jpg", "sub"])
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: outside.path), ["catalog.sqlite"], "a symlinked gen-7: the link removed, never its target")
        // The next writer keeps them too; once the user's files are moved out, the folder goes.
        try Index.writePrototypeSet(at: url, name: "p", space: "embedding", source: "t", names: ["x"], weights: [1, 2, 3, 4], bias: [0])
        XCTAssertEqual(try String(contentsOf: url.appendingPathComponent("gen-1/user.txt"), encoding: .utf8), "x")
        XCTAssertTrue(fm.fileExists(atPath: url.appendingPathComponent("gen-99/photo.jpg").path))
        for name in ["user.txt", "my.vec"] { try fm.removeItem(at: url.appendingPathComponent("gen-1/\(name)")) }
        try Index.writePrototypeSet(at: url, name: "q", space: "embedding", source: "t", names: ["x"], weights: [1, 2, 3, 4], bias: [0])
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: url.path).sorted(), [".embedscope-index", "current", "gen-102", "gen-99"])
        XCTAssertNoThrow(try Index.open(url).verify())
    }

    /// Fails on main (red-team, exit 0): a regular file named `current` beside a marker was
    /// replaced by `--force`'s link; a folder named `current` made `--force` fail at the switch and
    /// leave a complete `gen-1/` behind. Both are refused before anything is written.
    func testACurrentThatIsNotALinkIsRefusedEvenWithForce() throws {
        let dir = try temporaryDirectory(self)
        let fm = FileManager.default
        let (x, m) = try writeImport(dir, tag: "t", rows: 6, dim: 4, seed: 3)
        for kind in ["file", "folder"] {
            let out = dir.appendingPathComponent("c-\(kind)")
            try fm.createDirectory(at: out, withIntermediateDirectories: false)
            fm.createFile(atPath: out.appendingPathComponent(IndexDirectory.markerName).path, contents: Data())
            let current = out.appendingPathComponent("current")
            if kind == "file" { try "my notes".write(to: current, atomically: false, encoding: .utf8) } else {
                try fm.createDirectory(at: current, withIntermediateDirectories: false)
                try "mine".write(to: current.appendingPathComponent("a.txt"), atomically: false, encoding: .utf8)
            }
            for force in [false, true] {
                var r = ImportRequest(vectors: x, manifest: m, out: out); r.force = force
                XCTAssertThrowsKind(.refused, try Importer.run(r), "\(kind) force \(force)")
                XCTAssertEqual(try fm.contentsOfDirectory(atPath: out.path).sorted(), [".embedscope-index", "current"], "\(kind): nothing written")
            }
            if kind == "file" { XCTAssertEqual(try String(contentsOf: current, encoding: .utf8), "my notes") }
        }
    }

    /// Fails on main: a writer that created `--out a/b/idx` and failed removed `idx` but left the
    /// parent folders it had created (`a/b`). Those that were there before stay.
    func testAFailedFirstWriterRemovesTheParentFoldersItCreated() throws {
        let dir = try temporaryDirectory(self)
        let fm = FileManager.default
        try fm.createDirectory(at: dir.appendingPathComponent("there"), withIntermediateDirectories: false)
        let lock = try IndexWriterLock.acquire(dir.appendingPathComponent("there/np/a/b/idx"), create: true)
        XCTAssertTrue(fm.fileExists(atPath: dir.appendingPathComponent("there/np/a/b/idx/.embedscope-index").path))
        lock.release()  // nothing committed
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: dir.appendingPathComponent("there").path), [])
    }

    /// A rebuild with the same vectors and other labels wrote an identical vector header: metrics and
    /// a probe's head computed on the old labels were recorded into it, exit 0.
    func testResultsFromTheOldLabelsAreNotRecordedAfterARelabel() throws {
        let dir = try temporaryDirectory(self)
        let n = 30, d = 4, x = randomMatrix(rows: n, dim: d, seed: 5)
        let url = try makeImportedIndex(in: dir, vectors: x, rows: n, dim: d, classes: classes(n))
        let old = try Index.open(url)
        _ = try makeImportedIndex(in: dir, vectors: x, rows: n, dim: d, classes: (0..<n).map { ["bee", "cat", "ant"][$0 % 3] }, name: "relabel")
        var r = ImportRequest(vectors: dir.appendingPathComponent("X-relabel.npy"), manifest: dir.appendingPathComponent("rows-relabel.csv"), out: url)
        r.force = true
        _ = try Importer.run(r)
        let now = try Index.open(url)
        XCTAssertEqual(try VectorFile(url: now.directory.appendingPathComponent("embedding.vec")).header,
                       try VectorFile(url: old.directory.appendingPathComponent("embedding.vec")).header, "the same vectors")
        XCTAssertFalse(try now.hasSameVectorsAndLabels(as: old, space: "embedding"))
        XCTAssertThrowsKind(.refused, try old.updateMetrics(spaces: ["embedding"]) { _ in })
        XCTAssertThrowsKind(.refused, try Index.writePrototypeSet(at: url, name: "probe", space: "embedding", source: "t", names: ["x"],
                                                                  weights: [1, 2, 3, 4], bias: [0], basis: old))
        XCTAssertTrue(try now.hasSameVectorsAndLabels(as: Index.open(url), space: "embedding"))
    }
}

/// A value shared between a test and its threads.
final class Atomic<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ v: T) { value = v }
    func get() -> T { lock.lock(); defer { lock.unlock() }; return value }
    func set(_ v: T) { lock.lock(); value = v; lock.unlock() }
    func update(_ f: (inout T) -> Void) { lock.lock(); f(&value); lock.unlock() }
}
