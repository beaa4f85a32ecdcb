import CKernels
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Starting under a process limit (`ulimit -u`, `RLIMIT_NPROC`, which counts every thread of
/// the user's processes; a container's pids limit) without hanging.
///
/// libdispatch retries a thread it cannot create for ever (`_dispatch_temporary_resource_shortage`:
/// sleep, retry), and it creates its first when a signal source starts. Measured before this
/// existed, as an ordinary user (the limit does not bind root): `ulimit -u 1` … `3; embedscope
/// metrics INDEX` never returned (gdb: the main thread in that loop, from `InterruptCleanup`'s
/// first signal source). So the command-line tools first check (`require`) that the threads a
/// command may run at once can be started — the probe starts them and ends them again — and
/// stop with `error: cannot start threads …` (exit 1) where they cannot.
///
/// The check is for the start: a limit reached later by other processes of the same user can
/// still make a command wait for a thread (as long as none is freed).
package enum ThreadRoom {
    /// Threads a command may run at once besides the main one: libdispatch's workers and manager,
    /// the forward pass's team and the build's pipeline thread, OpenBLAS's workers (started
    /// already when this runs, so not counted), and some room.
    package static var needed: Int { 2 * CPUBudget.threads + 4 }

    /// Throws `.resourceLimit` unless `count` more threads can be alive at once.
    package static func require(_ count: Int = needed) throws {
        var error: Int32 = 0
        let started = Int(ck_probe_threads(Int32(clamping: count), &error))
        guard started < count, error != 0 else { return }
        let nproc = ck_process_limit()
        let limit = nproc >= 0 ? "the process limit (`ulimit -u` \(nproc)) or a container's pids limit" : "a container's pids limit"
        throw EmbedScopeError(
            .resourceLimit,
            "cannot start threads (\(String(cString: strerror(error)))): \(limit) leaves room for \(started) "
                + "of the \(count) this command may run at once",
            hint: "raise the limit (`ulimit -u`), or end other processes of this user")
    }
}
