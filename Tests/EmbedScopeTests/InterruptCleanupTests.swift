import Foundation
import XCTest
@testable import EmbedScopeCore

/// The interrupt handler's first step in-process (the rest ends the process by the signal; the
/// CLI tests in CLIWriterTests send real signals).
final class InterruptCleanupTests: XCTestCase {
    /// A signal that comes while a commit runs waits for that commit to end, then goes on, and no
    /// commit starts after it. The handler once kept the commit count from before its wait (read
    /// inside an `inout` access), so it waited forever: `probe` hung holding its writer lock and
    /// `add` exited 0 with the signal unhandled (red team, a SIGTERM timed into the commit's renames).
    func testAnInterruptWaitsOutACommitInProgressThenGoesOn() throws {
        let inCommit = DispatchSemaphore(value: 0)
        let committed = Locked(false)
        let writer = Thread {
            _ = try? InterruptCleanup.commit {
                inCommit.signal()
                usleep(300_000)
                committed.withLock { $0 = true }
            }
        }
        writer.start()
        XCTAssertEqual(inCommit.wait(timeout: .now() + 10), .success)
        let token = InterruptCleanup.track(URL(fileURLWithPath: "/nonexistent/embedscope-test-folder"))
        let returned = Locked<Bool?>(nil)
        let handler = Thread {
            let taken = InterruptCleanup.waitOutCommits()
            returned.withLock { $0 = committed.withLock { $0 } && taken.folders.contains { $0.path == "/nonexistent/embedscope-test-folder" } }
        }
        handler.start()
        let deadline = Date().addingTimeInterval(10)
        while returned.withLock({ $0 }) == nil, Date() < deadline { usleep(5_000) }
        defer { InterruptCleanup.untrack(token); InterruptCleanup.endInterruptForTesting() }
        XCTAssertEqual(returned.withLock { $0 }, true, "the interrupt never went on after the commit ended (or went on before it)")
        XCTAssertTrue(InterruptCleanup.isInterrupting)
        XCTAssertThrowsError(try InterruptCleanup.commit { XCTFail("a commit started during an interrupt") })
    }
}
