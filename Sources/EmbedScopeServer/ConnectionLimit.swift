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
    /// The soft descriptor limit, raised to the hard one first where that is higher (as Go's
    /// runtime does at start: the soft limit of 1,024 is a default for `select`, which nothing
    /// here uses). nil: unlimited.
    static func descriptorLimit() -> Int? {
        var rl = rlimit(rlim_cur: 0, rlim_max: 0)
        let resource = Int32(RLIMIT_NOFILE.rawValue)
        guard getrlimit(resource, &rl) == 0 else { return nil }
        if rl.rlim_cur < rl.rlim_max {
            var raised = rl
            raised.rlim_cur = Swift.min(rl.rlim_max, 1 << 20)
            if raised.rlim_cur > rl.rlim_cur, setrlimit(resource, &raised) == 0 { rl = raised }
        }
        return rl.rlim_cur == rlim_t.max ? nil : Int(clamping: rl.rlim_cur)
    }

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
