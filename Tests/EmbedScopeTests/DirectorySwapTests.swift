import Foundation
import XCTest
@testable import EmbedScopeCore
#if canImport(Glibc)
import Glibc
#endif

/// `DirectorySwap.install` (a new index generation, a report folder): the new directory replaces
/// the old in one step. Before, the old one was renamed aside and the new one renamed in: a
/// reader could find no directory in between, and two installs racing (two `report --out` into
/// one folder) could leave the loser's `.<name>.old-<UUID>` beside it.
final class DirectorySwapTests: XCTestCase {
    /// A complete directory beside `destination` holding `files` files that all say `tag`.
    func prepare(_ destination: URL, tag: String, files: Int = 4) throws -> URL {
        let t = DirectorySwap.temporary(beside: destination)
        try FileManager.default.createDirectory(at: t, withIntermediateDirectories: false)
        for i in 0..<files { try Data(tag.utf8).write(to: t.appendingPathComponent("f\(i)")) }
        return t
    }

    /// The tag of the directory at `destination` if it is whole (every file present and the same), else nil.
    func wholeTag(_ destination: URL, files: Int = 4) -> String? {
        let tags = (0..<files).map { try? String(contentsOf: destination.appendingPathComponent("f\($0)"), encoding: .utf8) }
        guard let first = tags.first ?? nil, tags.allSatisfy({ $0 == first }) else { return nil }
        return first
    }

    func testConcurrentInstallsLeaveOneWholeDirectoryAndNothingBesideIt() throws {
        let dir = try temporaryDirectory(self)
        let destination = dir.appendingPathComponent("report")
        try DirectorySwap.install(try prepare(destination, tag: "first"), at: destination)
        XCTAssertEqual(wholeTag(destination), "first")
        let stop = Locked(false), missing = Locked(0), looks = Locked(0)
        let reader = Thread {
            while !stop.withLock({ $0 }) {
                var st = stat()
                if lstat(destination.path, &st) != 0 { missing.withLock { $0 += 1 } }
                looks.withLock { $0 += 1 }
            }
        }
        reader.start()
        for round in 0..<150 {
            let a = try prepare(destination, tag: "a\(round)"), b = try prepare(destination, tag: "b\(round)")
            let errors = Locked<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 2) { i in
                do { try DirectorySwap.install(i == 0 ? a : b, at: destination) } catch { errors.withLock { $0.append("\(error)") } }
            }
            XCTAssertEqual(errors.withLock { $0 }, [], "round \(round)")
            let tag = wholeTag(destination)
            XCTAssertTrue(tag == "a\(round)" || tag == "b\(round)", "round \(round): \(tag ?? "not whole")")
            let beside = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0 != "report" }
            XCTAssertEqual(beside, [], "round \(round): left beside the folder")
        }
        stop.withLock { $0 = true }
        while !reader.isFinished { usleep(1000) }
        XCTAssertGreaterThan(looks.withLock { $0 }, 100)
        XCTAssertEqual(missing.withLock { $0 }, 0, "a reader found no directory at the destination")
    }

    /// The way for file systems without renameat2's flags: into an empty name, and over a directory.
    func testRenameAsideStillWorks() throws {
        let dir = try temporaryDirectory(self)
        let destination = dir.appendingPathComponent("out")
        try DirectorySwap.renameAside(try prepare(destination, tag: "one"), into: destination)
        XCTAssertEqual(wholeTag(destination), "one")
        try DirectorySwap.renameAside(try prepare(destination, tag: "two"), into: destination)
        XCTAssertEqual(wholeTag(destination), "two")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["out"])
    }
}
