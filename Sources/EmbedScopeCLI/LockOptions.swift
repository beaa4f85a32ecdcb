import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine

/// `--lock-timeout` for commands that write an index (build, import, probe, and the commands
/// that record results in metrics.json): how long to wait for another writer of the same index.
struct LockOptions: ParsableArguments {
    @Option(name: .customLong("lock-timeout"),
            help: "Seconds to wait when another process is writing the same index (0: fail at once; default: wait until it is done, or EMBEDSCOPE_LOCK_TIMEOUT).")
    var lockTimeout: Double?

    func validate() throws {
        if let t = lockTimeout, !(t >= 0 && t.isFinite) { throw ValidationError("--lock-timeout must be 0 or more seconds") }
    }

    /// Sets the process-wide writer-lock policy; waiting is announced on stderr.
    func apply() {
        if let lockTimeout { IndexWriterLock.policy.timeout = lockTimeout }
    }
}
