import CBLAS
import Dispatch
import Foundation
import Synchronization
import XCTest
@testable import EmbedScopeCore

/// The process-wide OpenBLAS thread setting (issue 9 item 9): safe from several threads at once
/// and re-entrant. Before, `single` held a non-recursive lock for the whole body: a nested
/// `single` on one thread deadlocked, and concurrent callers ran one at a time.
final class BLASThreadsTests: XCTestCase {
    func testNestedScopesOnOneThreadDoNotDeadlockAndRestore() {
        let before = openblas_get_num_threads()
        let inner: Int32 = BLASThreads.single {
            XCTAssertEqual(openblas_get_num_threads(), 1)
            return BLASThreads.single {
                XCTAssertEqual(BLASThreads.openScopes, 2)
                return openblas_get_num_threads()
            }
        }
        XCTAssertEqual(inner, 1)
        XCTAssertEqual(BLASThreads.openScopes, 0)
        XCTAssertEqual(openblas_get_num_threads(), before)
    }

    func testConcurrentScopesOverlapAndTheLastRestores() {
        let before = openblas_get_num_threads()
        // Every worker waits inside its scope until all have entered: with the old global lock
        // only one could be inside, and this would time out.
        let workers = 4
        let entered = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        let threadsInside = Mutex<[Int32]>([])
        for _ in 0..<workers {
            DispatchQueue.global().async(group: group) {
                BLASThreads.single {
                    threadsInside.withLock { $0.append(openblas_get_num_threads()) }
                    entered.signal()
                    _ = release.wait(timeout: .now() + 30)
                }
            }
        }
        var allIn = true
        for _ in 0..<workers where entered.wait(timeout: .now() + 10) == .timedOut { allIn = false }
        XCTAssertTrue(allIn, "every worker is inside a scope at the same time")
        XCTAssertEqual(BLASThreads.openScopes, allIn ? workers : BLASThreads.openScopes)
        for _ in 0..<workers { release.signal() }
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(threadsInside.withLock { $0 }, [Int32](repeating: 1, count: workers))
        XCTAssertEqual(BLASThreads.openScopes, 0)
        XCTAssertEqual(openblas_get_num_threads(), before)
    }
}
