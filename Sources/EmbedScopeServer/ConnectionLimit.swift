import EmbedScope
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How many connections the server holds open at once, so that the process never runs out of
/// file descriptors (`ulimit -n`).
///
/// Each connection is a descriptor. With none left, a request that opens a file (an image, a
/// thumbnail) fails, and libdispatch's thread monitor, which reads `/proc/self/task/…/stat`,
/// stops the whole process: measured before this existed, `ulimit -n 40; embedscope serve`
/// under `wrk -c 100` ended in SIGILL (`_dispatch_workq_monitor_pools`) within a second. So the
/// server stops accepting (Hummingbird's `MaximumAvailableConnections`: the next connections
/// wait in the kernel's listen queue, which needs no descriptor of ours) at the limit less the
/// descriptors already open and a reserve for the work itself.
enum ConnectionLimit {
    /// The soft descriptor limit, raised to the hard one first (`DescriptorRoom.raiseSoftLimit`).
    static func descriptorLimit() -> Int? { DescriptorRoom.raiseSoftLimit() }

    /// Descriptors open now (`/proc/self/fd`); nil where that cannot be listed.
    static func openDescriptors() -> Int? {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")).map { Swift.max(0, $0.count - 1) }  // less the listing's own
    }

    /// The most connections to hold at once: the limit, less what is open, less a reserve (the
    /// files a request opens, the catalog's connections, the listen loop's accepts ahead:
    /// 40, or half of what is free where that is less). nil: no cap needed (unlimited).
    static func maximum() -> Int? {
        guard let limit = descriptorLimit() else { return nil }
        let free = limit - (openDescriptors() ?? 32)
        let reserve = Swift.min(40, Swift.max(8, free / 2))
        return Swift.max(1, free - reserve)
    }
}
