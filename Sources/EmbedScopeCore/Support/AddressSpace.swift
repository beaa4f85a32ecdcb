import CBLAS
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Running under an address-space limit (`ulimit -v`, `RLIMIT_AS`: batch schedulers' `h_vmem`,
/// hardened shells) without hanging.
///
/// OpenBLAS takes a 128 MiB buffer from its address space for each call of a level-3 routine
/// that runs at the same time (LAPACK's too), and one for each of its worker threads, which it
/// starts when the library loads. OpenBLAS up to 0.3.29 (Debian 12 ships 0.3.21) retries a
/// failed mapping forever (OpenMathLib/OpenBLAS#5289, fixed in 0.3.30 by exiting): under a limit
/// that leaves less than that, a worker spins from the moment the library loads and any command
/// hangs when it stops the workers or exits (measured: `ulimit -v 200000`, `embedscope metrics`
/// on a 10,000-row index never returned, one core at 100 %). So, where a limit is set:
///
/// - the command-line tool starts again with `OPENBLAS_NUM_THREADS=1` before any library runs
///   (`Sources/CStart/start.c`, from the executable's `.preinit_array`), unless the user set
///   OpenBLAS's thread count: OpenBLAS then starts no worker. Everything EmbedScope runs on its
///   own threads is unchanged. It also sets `MALLOC_ARENA_MAX=1` (unless set): glibc's
///   per-thread arenas reserve 64 MiB each. (The restart used to happen in `main`, after
///   OpenBLAS's constructor had started its worker: below ~150 MiB that start failed and
///   OpenBLAS raised SIGINT before `main` ran.)
/// - `OpenBLASMemory.reserve` checks, before an operation that calls OpenBLAS, that the limit
///   leaves room for its buffer, and throws a clear error if not; `serialized` then runs the
///   calls one at a time so that one buffer serves them all.
/// - `require` checks an operation's estimate before it starts (the silhouette, the neighbour
///   tiles, PCA / LDA, the probe, a network's weights, the build's decoded batches, the forward
///   pass's buffers, each file mapping, an .npy's values): `error: out of memory: … needs N MiB more, and the limit leaves M MiB`.
///   An allocation that still fails (an estimate fell short) ends the command through
///   `InterruptCleanup.fail`: the same message, exit code 1, the unfinished output removed.
///
/// Without a limit (the usual case) none of this does anything.
package enum AddressSpace {
    /// The process's address-space limit in bytes (`RLIMIT_AS`'s soft limit, read once: the
    /// process never changes it, and the forward pass asks on every call); nil: unlimited.
    package static let limit: Int? = {
        var rl = rlimit(rlim_cur: 0, rlim_max: 0)
        let status = withUnsafeMutablePointer(to: &rl) { getrlimit(Int32(RLIMIT_AS.rawValue), $0) }
        guard status == 0, rl.rlim_cur != rlim_t.max else { return nil }   // rlim_t.max: RLIM_INFINITY
        return Int(clamping: rl.rlim_cur)
    }()

    /// The process's mapped address space now, in bytes (`/proc/self/statm`'s first field).
    package static var used: Int? {
        guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
              let pages = s.split(separator: " ").first.flatMap({ Int($0) }) else { return nil }
        return pages.multipliedReportingOverflow(by: Int(sysconf(Int32(_SC_PAGESIZE)))).partialValue
    }

    /// Bytes that can still be mapped under the limit; nil: no limit.
    package static var headroom: Int? {
        guard let limit else { return nil }
        return Swift.max(0, limit - (used ?? 0))
    }

    /// Room a command needs besides its data: a few threads' stacks, the catalog's pages, tables.
    /// Checked at start and after each file mapping under a limit, so that what follows has it.
    package static let workingRoom = 32 << 20

    /// Throws `.outOfMemory` when the limit leaves less than `workingRoom` (the command-line
    /// tools' first check, after the restart).
    package static func requireWorkingRoom() throws {
        try require(workingRoom, for: "starting (threads' stacks, the catalog, tables)")
    }

    /// The environment variable that marks the restarted process (its value: the address-space
    /// limit seen, in bytes, or `threads` when the restart was for the room for threads).
    package static let restartMarker = "EMBEDSCOPE_ADDRESS_LIMIT_RESTART"

    /// Whether this process is the restart, with `OPENBLAS_NUM_THREADS=1` set by EmbedScope.
    package static var restarted: Bool { ProcessInfo.processInfo.environment[restartMarker] != nil }

    /// Whether the restart was for the room for threads (`ulimit -u`, a pids cgroup), not for an
    /// address-space limit.
    package static var restartedForThreads: Bool { ProcessInfo.processInfo.environment[restartMarker] == "threads" }

    /// What `require` adds to every estimate: the allocations an estimate leaves out (a thread's
    /// stack, a packed operand, the results' own arrays) must not be the ones that find no room.
    package static let slack = 24 << 20

    /// Throws `.outOfMemory` unless `bytes` (and `slack`) more can be mapped under the limit
    /// (nothing to check without one).
    package static func require(_ bytes: Int, for what: @autoclosure () -> String) throws {
        let bytes = bytes.addingReportingOverflow(slack).partialValue
        guard let limit, let room = headroom, room < bytes else { return }
        throw EmbedScopeError(
            .outOfMemory,
            "out of memory: \(what()) needs \(mebibytes(bytes)) more, and the address-space limit "
                + "(\(mebibytes(limit)), `ulimit -v`) leaves \(mebibytes(room))",
            hint: "raise the limit (`ulimit -v`), or work on fewer rows")
    }

    /// `require` for an estimate computed in floating point (sizes that could overflow `Int`).
    package static func require(estimate bytes: Double, for what: @autoclosure () -> String) throws {
        try require(bytes < Double(Int.max / 2) ? Int(bytes.rounded(.up)) : Int.max / 2, for: what())
    }

    package static func mebibytes(_ bytes: Int) -> String {
        bytes >= 10 << 20 ? "\(bytes >> 20) MiB" : String(format: "%.1f MiB", Double(bytes) / 1048576)
    }
}

/// OpenBLAS's working buffers under an address-space limit (see `AddressSpace`).
package enum OpenBLASMemory {
    /// What one buffer maps: OpenBLAS's `BUFFER_SIZE` on x86-64 (32 << 22) and a page.
    package static let bufferBytes = (128 << 20) + 4096
    /// Room left beyond the buffer for whatever the process allocates next.
    static let margin = 16 << 20

    private struct State { var reserved = false }
    private static let state = Locked(State())
    /// Held around every OpenBLAS call while a limit is set.
    private static let callLock = NSLock()
    private static let limited = AddressSpace.limit != nil

    /// Makes sure, under an address-space limit, that OpenBLAS has its buffer before `what`
    /// calls it: the first time, checks the room and makes OpenBLAS map the buffer (a 128 × 128
    /// product), or throws `.outOfMemory` instead of letting OpenBLAS retry forever. Does
    /// nothing without a limit.
    package static func reserve(for what: @autoclosure () -> String) throws {
        guard limited else { return }
        try state.withLock { s in
            guard !s.reserved else { return }
            try AddressSpace.require(bufferBytes + margin, for: "OpenBLAS's working buffer for \(what())")
            callLock.lock()
            defer { callLock.unlock() }
            // Large enough that no small-matrix path skips the buffer on any core.
            let n = 128
            let a = [Double](repeating: 0, count: n * n)
            var c = [Double](repeating: 0, count: n * n)
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 2, a, Int32(n), a, Int32(n), 0.5, &c, Int32(n))
            s.reserved = true
        }
    }

    /// Runs an OpenBLAS call; under an address-space limit one at a time in the process, so that
    /// the buffer `reserve` made OpenBLAS map serves every call (two at once would map a second).
    ///
    /// A call no `reserve` came before (a path that should have had one) reserves here; if the
    /// limit leaves no room, the process ends with the error and exit code 1
    /// (`InterruptCleanup.fail`) — OpenBLAS would otherwise retry its mapping forever.
    @inline(__always)
    package static func serialized<T>(_ body: () throws -> T) rethrows -> T {
        guard limited else { return try body() }
        if !state.withLock({ $0.reserved }) {
            do {
                try reserve(for: "an OpenBLAS call")
            } catch {
                InterruptCleanup.fail(EmbedScopeError.describe(error))
            }
        }
        callLock.lock()
        defer { callLock.unlock() }
        return try body()
    }
}
