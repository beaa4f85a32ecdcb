import CKernels
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Running under a small stack limit (`ulimit -s`, `RLIMIT_STACK`) without a segmentation fault.
///
/// glibc sizes every thread's stack from the soft limit as the process started it (the default
/// 8 MiB; `ulimit -s 64`: 64 KiB), and the main thread's stack may not grow past the limit.
/// Measured before this existed: `ulimit -s 64; embedscope metrics INDEX` ended in SIGSEGV
/// (a silhouette worker in the Swift runtime's type lookup), `build` likewise (a decoding
/// worker; then the main thread in the depthwise kernel). So, first thing in the command-line
/// tools (`raise`):
///
/// - the soft limit goes up to `wanted` where the hard limit allows (`ulimit -Ss` sets only the
///   soft one): Linux checks it each time the main thread's stack grows;
/// - every thread created from then on gets a `wanted` stack (`pthread_setattr_default_np`): our
///   workers, Foundation's `Thread`s and libdispatch's;
/// - where the hard limit is below `wanted` (`ulimit -s 64` sets both), the main thread cannot
///   grow, and `raise` says so: the caller runs everything on a thread of its own (`run`) — from
///   the first use of `ProcessInfo` on (its first use alone instantiates enough generic metadata
///   to overflow 32 KiB, one run in six).
///
/// Measured after: every command answers down to 20 KiB (a test runs six at 32 KiB); at 16 KiB
/// the dynamic loader and the Swift runtime fail before `main` one run in three (`python3` and
/// `gdb` fail at 64 KiB, `ls` at 16); nothing here can help there. With the limit at its default
/// none of this runs.
package enum StackLimit {
    /// The stack every thread gets at least: glibc's usual default (the 8 MiB soft limit of a
    /// standard shell), the environment everything is tested in.
    package static let wanted = 8 << 20

    /// The soft limit, nil: unlimited (or unreadable).
    package static var soft: Int? {
        var rl = rlimit(rlim_cur: 0, rlim_max: 0)
        guard getrlimit(Int32(RLIMIT_STACK.rawValue), &rl) == 0, rl.rlim_cur != rlim_t.max else { return nil }
        return Int(clamping: rl.rlim_cur)
    }

    /// Raises the soft limit towards `wanted` and sets later threads' stacks to `wanted`.
    /// Returns true when the main thread still cannot grow to `wanted` (the hard limit is lower),
    /// so that the caller runs its work on a thread of its own (`run`).
    @discardableResult
    package static func raise() -> Bool {
        var rl = rlimit(rlim_cur: 0, rlim_max: 0)
        guard getrlimit(Int32(RLIMIT_STACK.rawValue), &rl) == 0, rl.rlim_cur != rlim_t.max,
              rl.rlim_cur < rlim_t(wanted) else { return false }
        let target = rl.rlim_max == rlim_t.max ? rlim_t(wanted) : Swift.min(rlim_t(wanted), rl.rlim_max)
        if target > rl.rlim_cur {
            rl.rlim_cur = target
            _ = setrlimit(Int32(RLIMIT_STACK.rawValue), &rl)
        }
        _ = ck_set_default_thread_stack_size(wanted)
        return (soft ?? wanted) < wanted
    }

    /// Runs `body` on a new thread with a `wanted` stack and waits for it (the calling thread
    /// only waits; the join orders what `body` wrote before what the caller reads). Where no
    /// thread can be started, runs `body` here: a small stack is better than no answer.
    package static func run(_ body: () -> Void) {
        withoutActuallyEscaping(body) { body in
            let box = Unmanaged.passRetained(Body(body))
            defer { box.release() }
            let status = ck_run_on_thread({ context in
                Unmanaged<Body>.fromOpaque(context!).takeUnretainedValue().body()
            }, box.toOpaque(), wanted)
            if status != 0 { body() }
        }
    }

    private final class Body {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
}
