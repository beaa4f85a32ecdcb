import Dispatch
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What an interrupted writer must not leave behind: a new index generation being written
/// (`IndexBuilder`), a new index folder its writer lock created (`IndexWriterLock`), a report or
/// data-set folder being written. On SIGINT, SIGTERM, SIGHUP or SIGXCPU the handler
/// 1. waits for a commit in progress to finish (`commit`): a generation is either switched in
///    whole, or its commit never starts — a signal never lands between the two;
/// 2. renames each tracked folder aside and removes it (renamed first, so a writer thread still
///    running cannot create files in it), says so on stderr;
/// 3. runs the tracked actions (a writer lock's release, which removes an index folder that it
///    created and nothing was committed into), and says on stderr which changes this process has
///    already committed (`CommittedChanges`: a signal right after a commit does not undo it);
/// 4. ends the process by the same signal (the default action: 130 / 143 / 129 / 152 in a shell).
/// Meanwhile a command thread that fails because its folder went away waits to be ended instead
/// of printing that failure (`holdIfInterrupted`).
///
/// `install` sets the handlers up front (`runCommand` calls it before any work), so there is no
/// window in which a writer has made a folder that is not yet tracked. A signal the process was
/// started ignoring (`nohup`, a background job of a script) stays ignored, and one already
/// handled keeps its handler: `serve` (whose server shuts down gracefully) has installed its own
/// by the time a writable request records metrics. SIGKILL or a crash still leaves the folder; the next
/// writer removes it, as before.
package enum InterruptCleanup {
    private struct State {
        var next = 0
        var folders: [Int: URL] = [:]
        var actions: [Int: @Sendable () -> Void] = [:]
        var installed = false
        var sources: [DispatchSourceSignal] = []
        var interrupting = false
        var commits = 0
    }
    private static let condition = NSCondition()
    nonisolated(unsafe) private static var state = State()  // guarded by `condition`
    private static let interrupting = Atomic<Bool>(false)
    /// SIGXCPU: a soft CPU-time limit (`ulimit -S -t`) reached; its default action ends the
    /// process as SIGTERM's does, so it is handled the same way. (Where the hard limit equals the
    /// soft one, the kernel sends SIGKILL instead, which nothing can handle: the next writer
    /// removes what is left, as after a crash.)
    private static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGXCPU]

    private static func locked<T>(_ body: (inout State) throws -> T) rethrows -> T {
        condition.lock()
        defer { condition.unlock() }
        return try body(&state)
    }

    /// Installs the handlers (once; later calls do nothing).
    package static func install() {
        locked { s in
            guard !s.installed else { return }
            s.installed = true
            let queue = DispatchQueue(label: "embedscope.interrupt")
            for sig in signals {
                // Only a signal left at its default action is ours: one inherited as ignored is
                // not ours to act on, and one the process already handles (`serve`: the server's
                // graceful shutdown, whose dispatch source is already installed) must keep its
                // handler — setting SIG_IGN over it left a writable server that had recorded
                // metrics unable to stop on SIGTERM or Ctrl-C.
                guard hasDefaultAction(sig) else { continue }
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
                source.setEventHandler { interrupted(by: sig) }
                source.resume()
                s.sources.append(source)
            }
        }
    }

    /// Whether `sig`'s current disposition is the default action (neither ignored nor handled).
    static func hasDefaultAction(_ sig: Int32) -> Bool {
        var current = sigaction()
        guard sigaction(sig, nil, &current) == 0 else { return false }
        if current.sa_flags & Int32(SA_SIGINFO) != 0 { return false }
        return current.__sigaction_handler.sa_handler == nil   // SIG_DFL is the null handler
    }

    /// Tracks a folder being written (it need not exist yet) until `untrack`.
    package static func track(_ folder: URL) -> Int {
        install()
        return locked { s in
            s.next += 1
            s.folders[s.next] = folder
            return s.next
        }
    }

    /// Tracks an action to run on an interrupt, after the folders are removed, until `untrack`.
    package static func atInterrupt(_ action: @escaping @Sendable () -> Void) -> Int {
        install()
        return locked { s in
            s.next += 1
            s.actions[s.next] = action
            return s.next
        }
    }

    package static func untrack(_ token: Int) {
        locked { s in
            s.folders[token] = nil
            s.actions[token] = nil
        }
    }

    /// Runs `body` (a commit: renames that switch a generation or a folder in) so that an
    /// interrupt either waits for it to finish or, having come first, stops it from starting
    /// (an error; the caller's clean-up then runs as for any failure).
    package static func commit<T>(_ body: () throws -> T) throws -> T {
        try locked { s in
            if s.interrupting { throw EmbedScopeError(.refused, "interrupted before the commit; nothing was changed") }
            s.commits += 1
        }
        defer {
            locked { s in s.commits -= 1 }
            condition.broadcast()
        }
        return try body()
    }

    /// Whether a signal is being handled (the process is about to end by it).
    package static var isInterrupting: Bool { interrupting.load(ordering: .acquiring) }

    /// Called on a command's error path: when an interrupt is being handled, the error is most
    /// likely its consequence (a worker found its folder gone), so this thread waits for the
    /// handler to end the process instead of printing it and exiting 1.
    package static func holdIfInterrupted() {
        guard isInterrupting else { return }
        while true { sleep(1) }
    }

    private static func interrupted(by sig: Int32) {
        removeUnfinished(saying: "interrupted")
        // This is a dispatch thread, which blocks signals: unblock this one here and raise it, so
        // the default action ends the process now (a process-directed kill() could wait on
        // another thread); should it not, exit with the shell's code for it.
        signal(sig, SIG_DFL)
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, sig)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        raise(sig)
        usleep(200_000)
        _exit(128 + sig)
    }

    /// Ends the process with `message` on stderr and exit code 1 where it cannot go on and cannot
    /// throw (an allocation for a kernel's operand refused under `ulimit -v`, deep in a parallel
    /// loop): as an interrupt would, what was being written is removed first — no half-written
    /// index, no signal. Threads that fail meanwhile wait (`holdIfInterrupted`).
    package static func fail(_ message: String) -> Never {
        removeUnfinished(saying: "stopped")
        StandardStreams.error((isatty(2) != 0 ? "\n" : "") + "error: \(message)\n")
        _exit(1)
    }

    /// Step 1 of an interrupt: marks the process as interrupting (no commit starts after this),
    /// waits until no commit is in progress, and takes the tracked folders and actions.
    ///
    /// The wait reads `state` afresh on each wake-up, outside any `inout` access: inside
    /// `locked { s in … }` the optimizer may keep `s.commits` in a register across the opaque
    /// `wait()` (an `inout` is exclusive), so a signal that came during a commit waited forever —
    /// `probe` then hung holding its index's writer lock, and `add` exited 0 without handling the
    /// signal (red team, 2026-12-07, a signal timed into the commit's renames).
    static func waitOutCommits() -> (folders: [URL], actions: [@Sendable () -> Void]) {
        interrupting.store(true, ordering: .releasing)
        condition.lock()
        defer { condition.unlock() }
        state.interrupting = true
        while commitsInProgress() > 0 { condition.wait() }
        let taken = (Array(state.folders.values), Array(state.actions.values))
        state.folders.removeAll()
        state.actions.removeAll()
        return taken
    }

    /// Undoes `waitOutCommits` for the test that calls it in-process (the folders and actions it
    /// took are not given back).
    static func endInterruptForTesting() {
        locked { $0.interrupting = false }
        interrupting.store(false, ordering: .releasing)
    }

    /// `state.commits`, read from memory (called with `condition` locked).
    @inline(never) private static func commitsInProgress() -> Int { state.commits }

    /// Steps 1–3 of an interrupt: waits out a commit, removes each tracked folder, runs the actions.
    private static func removeUnfinished(saying verb: String) {
        let (folders, actions) = waitOutCommits()
        let fm = FileManager.default
        let newline = isatty(2) != 0 ? "\n" : "" // after a progress line
        for folder in folders where fm.fileExists(atPath: folder.path) {
            // The same name + a suffix: an index's next writer still knows a `.tmp-gen-…` leftover.
            let aside = folder.deletingLastPathComponent().appendingPathComponent("\(folder.lastPathComponent).interrupted")
            let target = rename(folder.path, aside.path) == 0 ? aside : folder
            var removed = false
            for _ in 0..<5 where !removed {  // a writer thread may still be closing a file in it
                removed = (try? fm.removeItem(at: target)) != nil || !fm.fileExists(atPath: target.path)
                if !removed { usleep(20_000) }
            }
            StandardStreams.error(removed ? "\(newline)\(verb): removed the unfinished \(folder.path)\n"
                                          : "\(newline)\(verb): could not remove the unfinished \(target.path); remove it by hand\n")
        }
        for action in actions { action() }
        // A change already committed stays: said, so that an exit by a signal (or 1) is not taken
        // for "nothing happened" and the command run again (an `add` applied twice).
        for change in CommittedChanges.all {
            StandardStreams.error("\(newline)\(verb): the change was made before the \(verb == "interrupted" ? "signal" : "error") and stays: \(change) (do not run the command again to make it)\n")
        }
    }
}
