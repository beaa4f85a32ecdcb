import CKernels
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one "write a directory aside, then swap it in": a new index generation (`IndexBuilder`)
/// and a report folder (`ReportWriter`) are both written complete under a temporary name in
/// the destination's parent folder, then renamed into place, so a reader sees the old
/// directory or the new one, never half of one.
package enum DirectorySwap {
    /// A fresh name beside `destination` for the directory being written:
    /// `.<name>.tmp-<pid>-<UUID>` (hidden; not created here). The process id lets a later writer
    /// tell one left by a process that was killed (`removeStale`).
    package static func temporary(beside destination: URL) -> URL {
        destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).tmp-\(getpid())-\(UUID().uuidString)")
    }

    /// Removes the folders a killed writer (SIGKILL, a crash: nothing could clean up) left beside
    /// `destination`: `.<name>.<kind>-<pid>` or `.<name>.<kind>-<pid>-<anything>` for each of
    /// `kinds` ("tmp", "export"), a real folder (not a link), whose process no longer runs.
    /// One of a live process (another writer at work) is left alone; so is any other name.
    package static func removeStale(beside destination: URL, kinds: [String]) {
        let parent = destination.deletingLastPathComponent()
        let name = destination.lastPathComponent
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: parent.path) else { return }
        for entry in entries {
            for kind in kinds {
                let prefix = ".\(name).\(kind)-"
                guard entry.hasPrefix(prefix) else { continue }
                let rest = entry.dropFirst(prefix.count)
                let digits = rest.prefix { $0.isASCII && $0.isNumber }
                guard !digits.isEmpty, digits.count == rest.count || rest.dropFirst(digits.count).first == "-",
                      let pid = Int32(digits), pid > 0, pid != getpid() else { continue }
                guard kill(pid, 0) != 0, errno == ESRCH else { continue }   // alive, or not ours to judge
                let path = parent.appendingPathComponent(entry)
                var st = stat()
                guard lstat(path.path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { continue }
                try? FileManager.default.removeItem(at: path)
            }
        }
    }

    /// Makes the complete directory `temporary` (same file system) the one at `destination`:
    /// fsyncs its entries and itself, puts it in place (`swap`), and fsyncs the parent so the
    /// switch is durable. On failure `temporary` is left for the caller to remove.
    package static func install(_ temporary: URL, at destination: URL) throws {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: temporary.path)) ?? [] {
            try IndexDirectory.fsyncPath(temporary.appendingPathComponent(name).path)
        }
        try IndexDirectory.fsyncPath(temporary.path)
        try swap(temporary, into: destination)
        try IndexDirectory.fsyncPath(destination.deletingLastPathComponent().path)
    }

    /// Puts `temporary` at `destination` in one step: renamed there if nothing is
    /// (`RENAME_NOREPLACE`), else exchanged with what is (`RENAME_EXCHANGE`) and the old directory,
    /// now under the temporary name, removed. There is no moment without a directory at
    /// `destination`, and two installs racing leave one of them there and nothing beside it.
    /// (Before: the old directory was renamed aside, then the new one into place; another install
    /// in between took the empty name, this one's rename failed, and the old directory could not
    /// be put back — left as `.<name>.old-<UUID>`.) A file system that cannot do either rename
    /// (EINVAL, ENOSYS) gets that older way.
    static func swap(_ temporary: URL, into destination: URL) throws {
        for _ in 0..<64 {
            if ck_rename_noreplace(temporary.path, destination.path) == 0 { return }
            var e = errno
            if e == EEXIST {
                if ck_rename_exchange(temporary.path, destination.path) == 0 {
                    try? FileManager.default.removeItem(at: temporary)   // the old directory
                    return
                }
                e = errno
                if e == ENOENT { continue }   // removed in between: rename again
            }
            if e == EINVAL || e == ENOSYS { return try renameAside(temporary, into: destination) }
            throw renameError(temporary, destination, e)
        }
        throw EmbedScopeError(.io, "\(destination.lastPathComponent) kept appearing and disappearing while it was replaced", path: destination.path,
                              hint: "another program is replacing it too; run the command again")
    }

    /// The way without renameat2: a directory at `destination` is renamed aside
    /// (`.<name>.old-<UUID>`), the new one into place (the old one put back if that fails), and
    /// the old one removed.
    static func renameAside(_ temporary: URL, into destination: URL) throws {
        var st = stat()
        guard lstat(destination.path, &st) == 0 else { return try move(temporary, destination) }
        let old = destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).old-\(UUID().uuidString)")
        try move(destination, old)
        do { try move(temporary, destination) } catch { try? move(old, destination); throw error }
        try? FileManager.default.removeItem(at: old)
    }

    private static func move(_ a: URL, _ b: URL) throws {
        guard rename(a.path, b.path) == 0 else { throw renameError(a, b, errno) }
    }

    private static func renameError(_ a: URL, _ b: URL, _ e: Int32) -> EmbedScopeError {
        EmbedScopeError(.io, "cannot rename \(a.lastPathComponent) to \(b.lastPathComponent): \(String(cString: strerror(e)))", path: b.path)
    }
}
