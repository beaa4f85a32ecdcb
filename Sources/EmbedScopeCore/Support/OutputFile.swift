import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One output file a user named (`project --csv`): a regular file (or a new one) is replaced
/// atomically — a temporary file beside it, then `rename(2)` — after following symlinks, so a
/// link's target is written, not the link replaced; anything else that exists there (a FIFO,
/// `/dev/stdout`, a terminal, `/dev/full`) is opened and written as it is, never replaced by a
/// regular file, and a failed write is an error.
package enum OutputFile {
    /// `write` of an `OutputBytes` (not copied).
    package static func write(_ bytes: OutputBytes, to url: URL, what: String) throws {
        try bytes.withBytes { raw in
            let data = raw.baseAddress.map { Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: $0), count: raw.count, deallocator: .none) } ?? Data()
            try write(data, to: url, what: what)
        }
    }

    package static func write(_ data: Data, to url: URL, what: String) throws {
        // Nothing computed from an index file another program cut short is written (`MappingDamage`).
        try MappingDamage.requireLiveNone()
        let target = url.resolvingSymlinksInPath()
        var st = stat()
        let exists = stat(target.path, &st) == 0
        if exists, (st.st_mode & S_IFMT) == S_IFDIR {
            throw EmbedScopeError(.refused, "\(what) is a folder", path: url.path, hint: "give a file name")
        }
        if !exists || (st.st_mode & S_IFMT) == S_IFREG {
            do { try data.write(to: target, options: .atomic) } catch {
                throw EmbedScopeError(.io, "cannot write \(what)", path: url.path, underlying: error)
            }
            return
        }
        let fd = open(target.path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw EmbedScopeError(.io, "cannot open \(what): \(String(cString: strerror(errno)))", path: url.path) }
        defer { close(fd) }
        if let e = StandardStreams.writeAll(fd, data) {
            throw EmbedScopeError(.io, "cannot write \(what): \(String(cString: strerror(e)))", path: url.path)
        }
    }
}
