import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The writer lock of an index: an exclusive `flock` on `INDEX/.embedscope-index`, a file that
/// stays in place across generation switches. Every writer (build, import, adding a space or a
/// prototype set, recording metrics) holds it from before it reads the index it changes until
/// after the new generation is current, so writers run one after another and none loses
/// another's work. Readers never take it. The kernel releases it when the holder exits, even
/// on `kill -9`, so a stale lock cannot exist.
///
/// Not re-entrant: a second `acquire` of the same index in the same process waits for the
/// first to be released (pass the held lock along instead, e.g. `IndexBuilder(lock:)`).
public final class IndexWriterLock: Sendable {
    /// Removes the folders a writer created above its index (deepest first), each only if empty;
    /// stops at the first that stays (a folder gone already is passed over).
    static func removeCreatedParents(_ parents: [String]) {
        for parent in parents where rmdir(parent) != 0 && errno != ENOENT { break }
    }

    /// How long a writer waits for another writer, and where it says that it waits.
    public struct Policy: Sendable {
        /// Seconds to wait; nil waits as long as the other writer runs, 0 fails at once.
        public var timeout: Double?
        /// Receives "waiting for the writer lock held by PID …" once per wait.
        public var notice: @Sendable (String) -> Void
        /// - notice: nil writes the notice to stderr.
        public init(timeout: Double? = nil, notice: (@Sendable (String) -> Void)? = nil) {
            self.timeout = timeout; self.notice = notice ?? { StandardStreams.error($0 + "\n") }
        }

        /// Takes an exclusive `flock` on `fd`, polling (10 ms, doubling to 100 ms) until it is held;
        /// past `timeout` seconds since `start` throws `timedOut(timeout)`, and any error but
        /// "held by another" `failed(errno)`. `waiting()` is said once (`told`), after ~25 ms, not at
        /// once: a holder that has just taken the lock may not have written its line yet. The caller
        /// closes `fd` when this throws. (The index's writer lock, and `export`'s lock on its folder.)
        package func lockExclusive(_ fd: Int32, since start: UInt64, told: inout Bool, waiting: () -> String,
                                   timedOut: (Double) -> EmbedScopeError, failed: (Int32) -> EmbedScopeError) throws {
            var pause: UInt32 = 10_000
            while flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let e = errno
                if e == EINTR { continue }
                guard e == EWOULDBLOCK || e == EAGAIN else { throw failed(e) }
                let waited = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if let timeout, waited >= timeout { throw timedOut(timeout) }
                if !told, waited >= 0.025 {
                    notice(waiting() + (timeout.map { " (at most \(String(format: "%g", $0)) s)" } ?? ""))
                    told = true
                }
                usleep(pause)
                pause = min(pause * 2, 100_000)
            }
        }

        /// `EMBEDSCOPE_LOCK_TIMEOUT` as a timeout: seconds, finite and ≥ 0; anything else
        /// (unset, "nan", "-5", "soon") is no limit.
        static func timeout(fromEnvironment value: String?) -> Double? {
            guard let t = value.flatMap(Double.init), t.isFinite, t >= 0 else { return nil }
            return t
        }
    }

    private static let _policy = Locked(Policy(timeout: Policy.timeout(fromEnvironment: ProcessInfo.processInfo.environment["EMBEDSCOPE_LOCK_TIMEOUT"])))
    /// The process-wide policy (the CLI sets it from `--lock-timeout`; default from the
    /// environment variable `EMBEDSCOPE_LOCK_TIMEOUT`, else no limit).
    public static var policy: Policy {
        get { _policy.withLock { $0 } }
        set { _policy.withLock { $0 = newValue } }
    }

    /// The index folder.
    public var index: URL { held.index }

    /// The lock file's descriptor and the folder, shared with the lock's interrupt action, which
    /// must outlive the lock: a command thread unwinding from an interrupt (its files went away)
    /// may free the lock before the handler has removed the unfinished generation.
    private final class Held: Sendable {
        let index: URL
        /// The lock file's descriptor while held, -1 once released.
        let fd: Locked<Int32>
        /// This lock created the index folder: if nothing was committed into it by the time the
        /// lock is released, the folder (holding only the marker) is removed again.
        let createdFolder: Bool
        /// A descriptor kept in reserve (a duplicate of the lock's) for the removal `release`
        /// makes: a command that failed because the process ran out of descriptors (`ulimit -n`)
        /// could not list the folder, and left it behind holding only the marker. -1: none.
        let spare: Int32
        /// The folders above the index that this lock created with it (deepest first): removed
        /// with it, each only if empty (a failed `import --out new/a/b/idx` left new/a/b).
        let createdParents: [String]

        init(index: URL, fd: Int32, createdFolder: Bool, createdParents: [String]) {
            self.index = index
            self.fd = Locked(fd)
            self.createdFolder = createdFolder
            self.createdParents = createdFolder ? createdParents : []
            spare = createdFolder ? dup(fd) : -1
        }

        func release() {
            fd.withLock { fd in
                guard fd >= 0 else { return }
                if spare >= 0 { close(spare) }   // the lock stays: `fd` still holds it
                var st = stat()
                if createdFolder, lstat(index.appendingPathComponent(IndexDirectory.currentName).path, &st) != 0 {
                    // Nothing was committed into the folder this lock created (no `current`): all
                    // that is in it is this writer's unfinished work (no other writer enters
                    // without the lock). Its generation's own clean-up may have failed for want
                    // of descriptors (`ulimit -n`), and left it for this one.
                    try? FileManager.default.removeItem(at: index)
                    if lstat(index.path, &st) != 0 {
                        IndexWriterLock.removeCreatedParents(createdParents)
                    } else {
                        // Still there (not even that could list it): rmdir removes only an empty
                        // folder; if something is left in it, the marker goes back, as a new file
                        // (a waiter that gets the lock re-checks the marker's inode).
                        let marker = index.appendingPathComponent(IndexDirectory.markerName).path
                        unlink(marker)
                        if rmdir(index.path) != 0 {
                            _ = flock(fd, LOCK_UN)
                            close(fd)
                            fd = -1
                            let m = open(marker, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0o644)
                            if m >= 0 { close(m) }
                            return
                        }
                    }
                }
                _ = flock(fd, LOCK_UN)
                close(fd)
                fd = -1
            }
        }
    }
    private let held: Held

    /// Its entry in `InterruptCleanup`: an interrupted writer releases the lock (and so removes a
    /// folder it created that nothing was committed into).
    private let interruptToken = Locked<Int?>(nil)

    private init(held: Held) { self.held = held }
    deinit { release() }

    /// Takes the writer lock of the index at `index`. With `create`, a missing folder is
    /// created (a writer's destination); otherwise the folder must exist. A path that is not
    /// an index folder (a file, a folder with other contents) or is read-only is refused
    /// before anything is written.
    public static func acquire(_ index: URL, create: Bool, policy: Policy = IndexWriterLock.policy) throws -> IndexWriterLock {
        let index = index.standardizedFileURL
        try IndexDirectory.refuseGenerationFolder(index)
        let start = DispatchTime.now().uptimeNanoseconds
        var told = false
        for _ in 0..<64 {
            var created = false
            var createdParents: [String] = []
            switch IndexDirectory.classify(index) {
            case .missing:
                guard create else {
                    throw EmbedScopeError(.notFound, "no such index", path: index.path,
                                          hint: "build one with `embedscope build DATASET --out \(index.path)` or `embedscope import`")
                }
                var parent = index.deletingLastPathComponent(), st = stat()
                while parent.path != "/", lstat(parent.path, &st) != 0, errno == ENOENT {
                    createdParents.append(parent.path)
                    parent = parent.deletingLastPathComponent()
                }
                do {
                    try FileManager.default.createDirectory(at: index, withIntermediateDirectories: true)
                    created = true
                } catch {
                    if case .missing = IndexDirectory.classify(index) {
                        Self.removeCreatedParents(createdParents)
                        throw EmbedScopeError(.io, "cannot create the index folder", path: index.path, underlying: error)
                    }
                }
            case .index, .reusable:
                break
            case .foreign(let why):
                throw EmbedScopeError(.refused, "refusing to write an index here: it \(why)", path: index.path,
                                      hint: "EmbedScope replaces only an index it wrote (even with --force); choose another --out, or move that folder away yourself. Nothing was changed")
            }
            try IndexDirectory.refuseReadOnly(index)
            let path = index.appendingPathComponent(IndexDirectory.markerName).path
            // Never through a link (a symlinked marker would have its target truncated and written).
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
            guard fd >= 0 else {
                let e = errno
                if e == ENOENT { continue } // the folder went away meanwhile
                if e == ELOOP {
                    throw EmbedScopeError(.refused, "the index's lock file is a symbolic link, which EmbedScope never writes", path: path,
                                          hint: "remove the link; nothing was changed")
                }
                if e == EACCES || e == EROFS || e == EPERM {
                    throw EmbedScopeError(.refused, "cannot write the index's lock file: \(String(cString: strerror(e)))", path: path,
                                          hint: "the index folder is not writable; nothing was changed")
                }
                throw EmbedScopeError(.io, "cannot open the index's lock file: \(String(cString: strerror(e)))", path: path)
            }
            var st = stat()
            guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
                close(fd)
                throw EmbedScopeError(.refused, "the index's lock file is not a regular file", path: path, hint: "remove it; nothing was changed")
            }
            // Nor a hard link: the holder's line written into it would change the other name's file,
            // which may lie outside the index (red team: `ln ~/user.txt IDX/.embedscope-index`).
            guard st.st_nlink == 1 else {
                close(fd)
                throw EmbedScopeError(.refused, "the index's lock file has \(st.st_nlink) hard links: writing it would change a file outside the index", path: path,
                                      hint: "remove it (EmbedScope makes a new one); nothing was changed")
            }
            do {
                try policy.lockExclusive(fd, since: start, told: &told,
                                         waiting: { "waiting for the writer lock held by \(holderDescription(fd)) on \(index.path)" },
                                         timedOut: { timeout in
                                             EmbedScopeError(.locked, "the index is being written by \(holderDescription(fd))", path: index.path,
                                                             hint: timeout == 0 ? "try again when it has finished, or pass --lock-timeout SECONDS to wait"
                                                                                : "waited \(String(format: "%g", timeout)) s; try again when it has finished, or pass a longer --lock-timeout")
                                         },
                                         failed: { e in EmbedScopeError(.io, "cannot lock the index for writing: \(String(cString: strerror(e)))", path: path) })
            } catch {
                close(fd)
                throw error
            }
            // The lock counts only if the marker is still the file at that path (a writer that
            // created the folder and failed removes both; then start again).
            var now = stat()
            guard stat(path, &now) == 0, now.st_dev == st.st_dev, now.st_ino == st.st_ino else {
                close(fd)
                continue
            }
            // Say who holds it, for the next waiter's message.
            let args = ProcessInfo.processInfo.arguments
            let what = ([URL(fileURLWithPath: args.first ?? "?").lastPathComponent] + args.dropFirst().prefix(1)).joined(separator: " ")
            let line = Array("pid \(getpid()) \(what)\n".utf8)
            _ = ftruncate(fd, 0)
            _ = line.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            let held = Held(index: index, fd: fd, createdFolder: created, createdParents: createdParents)
            let lock = IndexWriterLock(held: held)
            let token = InterruptCleanup.atInterrupt { held.release() }
            lock.interruptToken.withLock { $0 = token }
            return lock
        }
        throw EmbedScopeError(.io, "the index folder kept changing while taking its writer lock", path: index.path, hint: "try again")
    }

    /// "PID 1234 (embedscope probe)" from the lock file, or "another process".
    private static func holderDescription(_ fd: Int32) -> String {
        var buf = [UInt8](repeating: 0, count: 256)
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return "another process" }
        let text = String(decoding: buf[0..<n], as: UTF8.self).split(separator: "\n").first ?? ""
        let parts = text.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0] == "pid", let pid = Int32(parts[1]) else { return "another process" }
        // A line left by a writer that has exited (the holder has not written its own yet).
        if kill(pid, 0) != 0, errno == ESRCH { return "another process" }
        return "PID \(parts[1])" + (parts.count == 3 ? " (\(parts[2]))" : "")
    }

    /// Releases the lock (also done when the value is freed or the process exits). While an
    /// interrupt is being handled, the handler releases it instead, after it has removed the
    /// unfinished generation: a command thread unwinding meanwhile would find that generation
    /// still in a folder this lock created, keep the folder, and leave it holding only the
    /// marker (seen about once in 40 builds stopped by SIGTERM near their end).
    public func release() {
        if InterruptCleanup.isInterrupting { return }
        if let t = interruptToken.withLock({ t in defer { t = nil }; return t }) { InterruptCleanup.untrack(t) }
        held.release()
    }
}
