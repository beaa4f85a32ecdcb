import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

/// `--lock-timeout` for commands that write an index (build, import, probe, and the commands
/// that record results in metrics.json): how long to wait for another writer of the same index.
struct LockOptions: ParsableArguments {
    @Option(name: .customLong("lock-timeout"), parsing: .unconditional,
            help: "Seconds to wait when another process is writing the same index (0: fail at once; default: wait until it is done, or EMBEDSCOPE_LOCK_TIMEOUT).")
    var lockTimeout: Double?

    func validate() throws {
        if let t = lockTimeout, !(t >= 0 && t.isFinite) { throw ValidationError("--lock-timeout must be a finite number of seconds, 0 or more (leave it out to wait as long as the other writer runs)") }
        // The library reads anything but a number of seconds as no limit; a user who set the
        // variable meant a limit, so the CLI refuses a value it cannot use (it waited forever).
        if lockTimeout == nil, let v = ProcessInfo.processInfo.environment["EMBEDSCOPE_LOCK_TIMEOUT"],
           !v.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let t = Double(v.trimmingCharacters(in: .whitespaces)), t >= 0, t.isFinite else {
                throw ValidationError("EMBEDSCOPE_LOCK_TIMEOUT is '\(v)': it must be 0 or more seconds (or unset: wait as long as the other writer runs)")
            }
        }
    }

    /// Sets the process-wide writer-lock policy; waiting is announced on stderr.
    func apply() {
        if let lockTimeout { IndexWriterLock.policy.timeout = lockTimeout }
    }
}
