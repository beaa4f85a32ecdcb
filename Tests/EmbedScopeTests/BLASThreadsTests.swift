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
        // Locked (a pthread mutex), not Synchronization.Mutex: ThreadSanitizer does not see Mutex's
        // contended hand-over and reported this test's own appends as a race (CI, 2026-12-06).
        let threadsInside = Locked<[Int32]>([])
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

    /// After `stopIdleWorkers` (what every command does first) OpenBLAS is single-threaded outside
    /// scopes, `allCores` hands it the count it started with, a `single` inside wins, and OpenBLAS
    /// still computes right once its stopped workers have been started again.
    func testAllCoresScopesAfterTheIdleWorkersAreStopped() {
        let cores = Int32(BLASThreads.cores)
        XCTAssertGreaterThanOrEqual(cores, 1)
        BLASThreads.stopIdleWorkers()
        BLASThreads.stopIdleWorkers()   // once per process: the second call does nothing
        XCTAssertEqual(openblas_get_num_threads(), 1)
        let (outer, inner, nested): (Int32, Int32, Int32) = BLASThreads.allCores {
            let outer = openblas_get_num_threads()
            let inner = BLASThreads.single { openblas_get_num_threads() }
            let nested = BLASThreads.allCores { openblas_get_num_threads() }
            return (outer, inner, nested)
        }
        XCTAssertEqual(outer, cores)
        XCTAssertEqual(inner, 1)
        XCTAssertEqual(nested, cores)
        XCTAssertEqual(openblas_get_num_threads(), 1)
        // A product big enough for OpenBLAS to split across its (restarted) threads.
        let n = 256
        let a = (0..<(n * n)).map { Double(($0 * 7) % 13) - 6 }
        var c = [Double](repeating: .nan, count: n * n)
        BLASThreads.allCores {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(n), 1, a, Int32(n), a, Int32(n), 0, &c, Int32(n))
        }
        for (i, j) in [(0, 0), (3, 200), (255, 17), (128, 128)] {
            var s = 0.0
            for t in 0..<n { s += a[i * n + t] * a[j * n + t] }
            XCTAssertEqual(c[i * n + j], s, "C[\(i)][\(j)]")
        }
        XCTAssertEqual(openblas_get_num_threads(), 1)
    }
}
