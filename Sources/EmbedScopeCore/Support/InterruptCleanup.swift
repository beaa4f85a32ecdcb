import Dispatch
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Folders being written that must not outlive an interrupted process: a new index generation
/// (`IndexBuilder`), a report folder (`ReportWriter`). While one is tracked, SIGINT, SIGTERM and
/// SIGHUP remove every tracked folder, say so on stderr, and then end the process by the same
/// signal (the default action, so the shell sees 130 / 143 / 129 as before). Without this a Ctrl-C
/// during `build` left its `.tmp-gen-…` folder, possibly gigabytes, until the next writer.
///
/// The handlers are installed at the first `track` (never in a process that writes nothing,
/// such as `serve`, whose server has its own graceful shutdown). A process killed with SIGKILL
/// or by a crash still leaves the folder; the next writer removes it, as before.
package enum InterruptCleanup {
    private struct State: ~Copyable {
        var next = 0
        var folders: [Int: (URL, (@Sendable () -> Void)?)] = [:]
        var installed = false
        var sources: [DispatchSourceSignal] = []
    }
    private static let state = Mutex(State())
    private static let interrupting = Atomic<Bool>(false)
    private static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    /// Tracks `folder` until `untrack` is called with the returned token; on an interrupt it is
    /// removed, then `after` runs (e.g. releasing a writer lock, which removes an index folder
    /// that the writer created and nothing was committed into).
    package static func track(_ folder: URL, after: (@Sendable () -> Void)? = nil) -> Int {
        state.withLock { s in
            if !s.installed {
                s.installed = true
                let queue = DispatchQueue(label: "embedscope.interrupt")
                for sig in signals {
                    // A signal the process was started ignoring (`nohup`, a background job of a
                    // script) stays ignored: it is not ours to act on.
                    let previous = signal(sig, SIG_IGN)
                    guard unsafeBitCast(previous, to: Int.self) != unsafeBitCast(SIG_IGN, to: Int.self) else { continue }
                    let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
                    source.setEventHandler { interrupted(by: sig) }
                    source.resume()
                    s.sources.append(source)
                }
            }
            s.next += 1
            s.folders[s.next] = (folder, after)
            return s.next
        }
    }

    package static func untrack(_ token: Int) {
        state.withLock { s in _ = s.folders.removeValue(forKey: token) }
    }

    /// Called on a command's error path: when an interrupt is being handled, the error is most
    /// likely its consequence (a worker found its folder gone), so this thread waits for the
    /// handler to end the process instead of printing it and exiting 1.
    package static func holdIfInterrupted() {
        guard interrupting.load(ordering: .acquiring) else { return }
        while true { sleep(1) }
    }

    private static func interrupted(by sig: Int32) {
        interrupting.store(true, ordering: .releasing)
        let folders = state.withLock { s in
            let f = Array(s.folders.values)
            s.folders.removeAll()
            return f
        }
        let newline = isatty(2) != 0 ? "\n" : "" // after a progress line
        for (folder, after) in folders {
            if (try? FileManager.default.removeItem(at: folder)) != nil {
                StandardStreams.error("\(newline)interrupted: removed the unfinished \(folder.path)\n")
            }
            after?()
        }
        // Dispatch's threads block signals, so not raise(): the process gets it, a thread that
        // takes it ends the process; should every thread block it, exit with the shell's code.
        signal(sig, SIG_DFL)
        kill(getpid(), sig)
        usleep(500_000)
        _exit(128 + sig)
    }
}
