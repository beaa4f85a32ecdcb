import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Starting under a descriptor limit (`ulimit -n`) only with room to finish.
///
/// libdispatch, which every command runs on (signal sources, Swift concurrency, parallel loops),
/// stops the process (SIGILL) when it cannot open a descriptor: its event loop needs two when
/// the first source starts, and its thread monitor opens `/proc/<tid>/stat` once a second
/// whenever work is queued. Measured before this check: `ulimit -n 4` ended every command in
/// SIGILL; `ulimit -n 11; embedscope duplicates INDEX` one run in six — there the index's
/// descriptors and libdispatch's filled the table exactly. Near the limit, that outcome depends
/// on timing; so a command starts only with `needed` descriptors free (the most any command but
/// `serve` holds at once is about 13: the catalog, the generation folder, the image being
/// decoded, a writer's lock and journal; `serve` caps its connections, `ConnectionLimit`).
package enum DescriptorRoom {
    package static let needed = 24

    /// The soft descriptor limit, raised to the hard one first where that is higher (as Go's
    /// runtime does at start: the soft limit of 1,024 is a default for `select`, which nothing
    /// here uses). nil: unlimited or unknown.
    @discardableResult
    package static func raiseSoftLimit() -> Int? {
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

    /// Opens /dev/null up to `upTo` times, closing them all again: how many opened, and the
    /// errno of the open that failed (0: none did).
    static func probe(upTo: Int) -> (opened: Int, error: Int32) {
        var opened: [Int32] = []
        defer { for fd in opened { close(fd) } }
        while opened.count < upTo {
            let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
            if fd < 0 { return (opened.count, errno) }
            opened.append(fd)
        }
        return (opened.count, 0)
    }

    /// The descriptor limit as the error, when the process cannot open `room` more files now: for
    /// a library that reports a failed open without its errno (SQLite's "unable to open database
    /// file" under `ulimit -n` was all `build` said). nil: the room is there, or the opens failed
    /// for another reason.
    package static func shortage(room: Int = 3, opening path: String? = nil) -> EmbedScopeError? {
        let p = probe(upTo: room)
        guard p.opened < room, p.error == EMFILE || p.error == ENFILE else { return nil }
        return EmbedScopeError.descriptorLimit(p.error, path: path)
    }

    /// Throws `.resourceLimit` unless `room` descriptors are free (after raising the soft limit).
    package static func require(_ room: Int = needed) throws {
        let limit = raiseSoftLimit()
        let free = probe(upTo: room).opened
        guard free < room else { return }
        throw EmbedScopeError(
            .resourceLimit,
            "cannot open files: the descriptor limit\(limit.map { " (`ulimit -n` \($0))" } ?? "") leaves \(free) free, and embedscope "
                + "needs \(room) to run (libdispatch, under every command, stops the process when it finds none free)",
            hint: "raise the limit (`ulimit -n 64` or more); nothing was read or written")
    }
}
