import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Allocation of the GEMM paths' large operands (packed matrices, packed row blocks, Strassen
/// blocks): 64-byte aligned, and from `hugePageThreshold` bytes on, aligned to 2 MiB and advised
/// for transparent huge pages (`MADV_HUGEPAGE`).
///
/// Linux's default (`enabled = madvise`, as on the machines measured) gives a fresh anonymous
/// mapping 4 KiB pages, each one a page fault and each a TLB entry for kernels that stream the
/// whole buffer: the silhouette of 10,000 × 1,280 packs ~90 MB of operands, ~22,000 faults. With
/// the advice: `embedscope metrics` on that index 0.349 → 0.333 s (median of 12, alternated, Zen 5;
/// the same gain as `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` for the whole process). Where huge
/// pages are off (`never`) the advice is ignored and nothing else changes.
///
/// numpy does the same for its arrays from 4 MB on (its `NUMPY_MADVISE_HUGEPAGE`). A huge-page
/// fault may have to compact memory first (`defrag = madvise`): single runs here took 0.32–0.40 s
/// against 0.33–0.35 s without, the medians still lower. `EMBEDSCOPE_HUGEPAGES=0` turns the
/// advice off.
///
/// Memory from `allocate` goes back through `deallocate` (it is `posix_memalign`ed; `free`).
package enum LargeBuffer {
    /// Whether large buffers are advised (`EMBEDSCOPE_HUGEPAGES=0` in the environment: not).
    package static let advisesHugePages = ProcessInfo.processInfo.environment["EMBEDSCOPE_HUGEPAGES"] != "0"

    /// Bytes from which a buffer is 2 MiB aligned and advised (a smaller one gains nothing from
    /// a huge page it cannot fill).
    package static let hugePageThreshold = 4 << 20
    static let hugePage = 2 << 20

    /// `bytes` (at least 1) of uninitialized memory, 64-byte aligned; nil when the system refuses.
    package static func allocate(bytes: Int) -> UnsafeMutableRawPointer? {
        let n = Swift.max(1, bytes)
        let large = advisesHugePages && n >= hugePageThreshold && n <= Int.max - hugePage
        var p: UnsafeMutableRawPointer?
        guard posix_memalign(&p, large ? hugePage : 64, n) == 0, let p else { return nil }
        #if os(Linux)
        if large {
            // Whole huge pages only: the tail past the last 2 MiB boundary keeps small pages.
            _ = madvise(p, n / hugePage * hugePage, MADV_HUGEPAGE)
        }
        #endif
        return p
    }

    /// `allocate`; when the system refuses (`ulimit -v`: the commands check their estimates
    /// before the work, but an estimate can fall short), the process ends with a clear error and
    /// exit code 1, what it was writing removed (`InterruptCleanup.fail`) — not a trap.
    package static func allocate<T>(_: T.Type, count: Int, for what: @autoclosure () -> String) -> UnsafeMutablePointer<T> {
        let (bytes, overflow) = Swift.max(1, count).multipliedReportingOverflow(by: MemoryLayout<T>.stride)
        guard !overflow, let p = allocate(bytes: bytes) else {
            InterruptCleanup.fail(outOfMemoryMessage(count: count, stride: MemoryLayout<T>.stride, for: what()))
        }
        return p.bindMemory(to: T.self, capacity: Swift.max(1, count))
    }

    static func outOfMemoryMessage(count: Int, stride: Int, for what: String) -> String {
        var m = "out of memory: \(count) × \(stride) bytes for \(what)"
        if let limit = AddressSpace.limit {
            m += " (the address-space limit, `ulimit -v`, is \(AddressSpace.mebibytes(limit)); raise it or work on fewer rows)"
        }
        return m
    }

    package static func deallocate(_ p: UnsafeMutableRawPointer?) { free(p) }
    package static func deallocate<T>(_ p: UnsafeMutablePointer<T>?) { free(p) }
}
