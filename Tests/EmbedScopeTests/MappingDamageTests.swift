import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
#if canImport(Glibc)
import Glibc
#endif

/// Index files cut short by another program while they are mapped (`ReadOnlyMapping`,
/// `MappingDamage`, CKernels/mapguard.c). Before: a read past the file's new end raised SIGBUS
/// and ended the process (`serve` included), and a cut inside the last page read zeros silently.
final class MappingDamageTests: XCTestCase {
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// A file of `pages` pages of the byte 0xAB.
    func file(_ dir: URL, pages: Int, name: String = "f.vec") throws -> URL {
        let url = dir.appendingPathComponent(name)
        try Data(repeating: 0xAB, count: pages * page).write(to: url)
        return url
    }

    func testAReadPastANewEndFindsZerosAndTheMappingSaysSo() throws {
        let dir = try temporaryDirectory(self)
        let url = try file(dir, pages: 6)
        let mark = MappingDamage.mark()
        do {
            let m = try ReadOnlyMapping(path: url.path, minimumSize: 64, header: "header")
            XCTAssertNil(m.damage())
            XCTAssertNoThrow(try m.requireIntact())
            XCTAssertEqual(m.base.load(fromByteOffset: 5 * page, as: UInt8.self), 0xAB)
            XCTAssertEqual(truncate(url.path, off_t(2 * page)), 0)
            // Page 1 is still the file's; pages 2… are past its end: SIGBUS, handled (zeros).
            XCTAssertEqual(m.base.load(fromByteOffset: page + 7, as: UInt8.self), 0xAB)
            XCTAssertEqual(m.base.load(fromByteOffset: 3 * page + 5, as: UInt8.self), 0)
            XCTAssertEqual(m.base.load(fromByteOffset: 6 * page - 1, as: UInt8.self), 0, "the rest of the mapping reads zeros")
            XCTAssertNotNil(m.damage())
            XCTAssertThrowsKind(.truncated, try m.requireIntact())
            do {
                try m.requireIntact()
            } catch let e as EmbedScopeError {
                XCTAssertEqual(e.path, url.path)
                XCTAssertTrue(e.message.contains("changed while it was being read") && e.message.contains("discarded"), e.message)
                XCTAssertTrue(e.hint?.contains("rebuild") ?? false)
            }
            XCTAssertThrowsKind(.truncated, try MappingDamage.requireNone(since: mark), "a live damaged mapping")
        }
        // Gone, it is remembered for whoever checks from before it went.
        XCTAssertThrowsKind(.truncated, try MappingDamage.requireNone(since: mark), "a closed damaged mapping")
        XCTAssertNoThrow(try MappingDamage.requireNone(since: MappingDamage.mark()))
    }

    /// A cut inside the last page raises no signal (the page's tail reads zeros): the file's size says it.
    func testACutInsideTheLastPageIsFoundWithoutASignal() throws {
        let dir = try temporaryDirectory(self)
        let url = try file(dir, pages: 3)
        let m = try ReadOnlyMapping(path: url.path, minimumSize: 64, header: "header")
        XCTAssertEqual(truncate(url.path, off_t(3 * page - 4)), 0)
        XCTAssertEqual(m.base.load(fromByteOffset: 3 * page - 1, as: UInt8.self), 0)
        let reason = try XCTUnwrap(m.damage())
        XCTAssertTrue(reason.contains("\(3 * page - 4) bytes") && reason.contains("\(3 * page)"), reason)
        XCTAssertThrowsKind(.truncated, try m.requireIntact())
    }

    /// A new file renamed over the name, or the name removed, leaves the mapped file whole: no damage.
    func testAFileReplacedOrRemovedIsNotDamage() throws {
        let dir = try temporaryDirectory(self)
        let url = try file(dir, pages: 3)
        let m = try ReadOnlyMapping(path: url.path, minimumSize: 64, header: "header")
        let other = try file(dir, pages: 1, name: "g.vec")
        XCTAssertEqual(rename(other.path, url.path), 0)
        XCTAssertNil(m.damage(), "a smaller file renamed over it")
        XCTAssertEqual(m.base.load(fromByteOffset: 3 * page - 1, as: UInt8.self), 0xAB)
        XCTAssertEqual(unlink(url.path), 0)
        XCTAssertNil(m.damage(), "removed")
        XCTAssertNoThrow(try m.requireIntact())
    }

    /// A file the user gives (vectors, a checkpoint) cut short while it is read: an error that
    /// says so (it was SIGBUS with `Data(contentsOf:options: .alwaysMapped)`); whole, its bytes.
    func testAnInputFileCutShortWhileReadIsAnError() throws {
        let dir = try temporaryDirectory(self)
        let url = try file(dir, pages: 4, name: "X.npy")
        let mark = MappingDamage.mark()
        XCTAssertEqual(try MappedInput.read(url) { $0[3 * page + 1] }, 0xAB)
        XCTAssertThrowsKind(.truncated, try MappedInput.read(url) { data -> UInt8 in
            XCTAssertEqual(truncate(url.path, off_t(page)), 0)
            return data[3 * page + 1]
        })
        do {
            _ = try MappedInput.read(url) { _ in XCTAssertEqual(truncate(url.path, 10), 0) }
            XCTFail("a cut inside the last page is found too")
        } catch let e as EmbedScopeError {
            XCTAssertEqual(e.kind, .truncated)
            XCTAssertTrue(e.hint?.contains("run the command again") ?? false, e.description)
        }
        let empty = dir.appendingPathComponent("empty.npy")
        FileManager.default.createFile(atPath: empty.path, contents: Data())
        XCTAssertEqual(try MappedInput.read(empty) { $0.count }, 0)
        XCTAssertThrowsKind(.npy, try NPYArray.read(contentsOf: empty))
        // The reader reported it; a writer's commit later in the command is not refused for it.
        XCTAssertNoThrow(try MappingDamage.requireNone(since: mark), "inputs are not the index's files")
    }

    /// Search, batch search and rank never answer from a file cut short under them.
    func testSearchAndRankThrowInsteadOfAnsweringFromAFileCutShort() throws {
        let dir = try temporaryDirectory(self)
        let n = 3000
        let url = try makeIndexWithHead(in: dir, rows: n, dim: 16, seed: 9)
        let index = try Index.open(url)
        var o = SearchOptions()
        o.k = 5
        let before = try index.search(.row(7), options: o)
        XCTAssertEqual(before.count, 5)
        XCTAssertNoThrow(try index.requireIntact())
        let file = index.directory.appendingPathComponent("embedding.vec")
        XCTAssertEqual(truncate(file.path, off_t(page)), 0)
        XCTAssertThrowsKind(.truncated, try index.search(.row(7), options: o))
        // Every row shown: the zero rows past the cut are named as the cut, not as rows of length 0.
        var all = o
        all.k = n
        XCTAssertThrowsKind(.truncated, try index.search(.row(7), options: all))
        XCTAssertThrowsKind(.truncated, try index.searchBatch([.row(1), .row(2)], options: o))
        XCTAssertThrowsKind(.truncated, try index.rank(prototype: "a", set: nil, least: false, k: 3))
        XCTAssertThrowsKind(.truncated, try index.requireIntact())
    }

    /// Nor is a file computed from it written: metrics.json, a CSV (`OutputFile`).
    func testNoFigureReadFromADamagedFileIsWritten() throws {
        let dir = try temporaryDirectory(self)
        let n = 300, d = 8
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 6), rows: n, dim: d,
                                        classes: (0..<n).map { ["a", "b", "c"][$0 % 3] })
        let index = try Index.open(url)
        let csv = dir.appendingPathComponent("out.csv")
        try OutputFile.write(Data("x\n".utf8), to: csv, what: "the CSV file")
        try index.updateMetrics(spaces: ["embedding"]) { _ in }
        let metrics = try Data(contentsOf: index.metricsURL)
        let file = index.directory.appendingPathComponent("embedding.vec")
        _ = try index.vectors(space: "embedding")
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int)
        XCTAssertEqual(truncate(file.path, off_t(size - 64)), 0)
        XCTAssertThrowsKind(.truncated, try OutputFile.write(Data("y\n".utf8), to: csv, what: "the CSV file"))
        XCTAssertEqual(try String(contentsOf: csv, encoding: .utf8), "x\n", "the earlier CSV is kept")
        // (Refused on opening the latest generation, whose header now announces more than the file holds, or by the live check.)
        XCTAssertThrowsKind(.truncated, try index.updateMetrics(spaces: ["embedding"]) { $0.updatedAt = "changed" })
        XCTAssertEqual(try Data(contentsOf: index.metricsURL), metrics, "metrics.json is not rewritten")
    }

    /// A new generation written while a mapped index file of the process was cut short is not
    /// committed (its rows may be copies of the zeros read past the file's new end).
    func testNoGenerationIsCommittedWhileAMappedFileIsDamaged() throws {
        let dir = try temporaryDirectory(self)
        let n = 200, d = 8
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 4), rows: n, dim: d,
                                        classes: (0..<n).map { ["a", "b"][$0 % 2] }, name: "source")
        let index = try Index.open(url)
        _ = try index.vectors(space: "embedding")
        let file = index.directory.appendingPathComponent("embedding.vec")
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int)
        XCTAssertEqual(truncate(file.path, off_t(size - 4)), 0)
        XCTAssertThrowsKind(.truncated, try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 5), rows: n, dim: d,
                                                              classes: (0..<n).map { ["a", "b"][$0 % 2] }, name: "copy"))
        XCTAssertThrowsKind(.notFound, try Index.open(dir.appendingPathComponent("copy")), "nothing committed")
        withExtendedLifetime(index) {}
    }
}

/// The same through the binary: a file cut short while a command reads it is a clear error and
/// exit status 1, never a signal, never an answer computed from the zeros.
final class CLIMappingDamageTests: XCTestCase {
    /// Starts `args`, waits until the process has `file` mapped, cuts it to `size(old)` bytes,
    /// and returns how the process ended.
    func cutWhileRunning(_ args: [String], file: URL, size: (Int) -> Int) throws -> (reason: Process.TerminationReason, status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = CLI.binary
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        let old = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int)
        try p.run()
        let maps = "/proc/\(p.processIdentifier)/maps"
        let deadline = Date().addingTimeInterval(60)
        var cut = false
        while p.isRunning && Date() < deadline {
            if let m = try? String(contentsOfFile: maps, encoding: .utf8), m.contains(file.lastPathComponent) {
                XCTAssertEqual(truncate(file.path, off_t(size(old))), 0)
                cut = true
                break
            }
            usleep(500)
        }
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertTrue(cut, "the file was mapped while the command ran")
        return (p.terminationReason, p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func testAnIndexFileCutShortMidCommandIsAClearError() throws {
        let dir = try temporaryDirectory(self)
        // ~1 s of `duplicates` (all pairs) on the release binary: the cut lands mid-scan.
        let n = 40_000, d = 96
        var x = randomMatrix(rows: n, dim: d, seed: 12)
        for j in 0..<d { x[5 * d + j] = x[9 * d + j] }  // one exact duplicate pair
        let classes = (0..<n).map { ["a", "b", "c"][$0 % 3] }
        for (cut, size, json) in [("past a page", { (old: Int) in old / 2 / 4096 * 4096 }, true),
                                  ("inside the last page", { (old: Int) in old - 4 }, false)] {
            let idx = try makeImportedIndex(in: dir, vectors: x, rows: n, dim: d, classes: classes, name: "i-\(cut.count)")
            let args = ["duplicates", idx.path] + (json ? ["--json"] : [])
            let reference = try CLI.run(args)
            XCTAssertEqual(reference.status, 0, reference.stderr)
            let file = idx.appendingPathComponent("current/embedding.vec").resolvingSymlinksInPath()
            let r = try cutWhileRunning(args, file: file, size: size)
            XCTAssertEqual(r.reason, .exit, "\(cut): ended by signal \(r.status): \(r.stderr.suffix(800))")
            if r.status == 0 {
                // Only if every read and the last check came before the cut: then the answer is the whole file's.
                XCTAssertEqual(r.stdout, reference.stdout, cut)
            } else {
                XCTAssertEqual(r.status, 1, "\(cut): \(r.stderr)")
                XCTAssertTrue(r.stderr.contains("changed while it was being read") && r.stderr.contains("embedding.vec"), "\(cut): \(r.stderr)")
                // No JSON; and the table, printed before the last check, is dropped from the pipe's buffer.
                XCTAssertEqual(r.stdout, "", "\(cut): nothing printed from the damaged file")
            }
        }
    }
}
