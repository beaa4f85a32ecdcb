import CKernels
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Writes to stdout and stderr that never trap. Foundation's `FileHandle.write(_:)` ends the
/// process with a fatal error (SIGILL) when the write fails: stdout or stderr closed (`>&-`),
/// a full device (`> /dev/full`), a pipe whose reader left while SIGPIPE is ignored.
package enum StandardStreams {
    private static let stdoutWasClosed = Atomic<Bool>(false)

    /// Opens /dev/null on any of fds 0–2 the process was started without (`>&-`), before
    /// anything else is opened: else the next file opened — a catalog, a vector file — would
    /// get that number and the results would be written into it. A closed stdout is then
    /// reported by `finishOutput` as an error.
    package static func reserveClosedDescriptors() {
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
            let null = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY)
            if null >= 0 && null != fd { _ = dup2(null, fd); close(null) }
            if fd == 1 { stdoutWasClosed.store(true, ordering: .relaxed) }
        }
    }

    /// The whole of `data` to stdout (Swift's `print` buffer is flushed first, to keep order).
    package static func output(_ data: Data) throws {
        _ = ck_stdout_flush_failed() // (an earlier failure is reported by finishOutput)
        if let errno = writeAll(1, data) {
            throw EmbedScopeError(.io, "cannot write the results to stdout: \(String(cString: strerror(errno)))")
        }
    }

    /// `output` of a buffer built without `Data` (`OutputBytes`: a large JSON or CSV).
    package static func output(_ bytes: OutputBytes) throws {
        _ = ck_stdout_flush_failed()
        if let errno = bytes.write(to: 1) {
            throw EmbedScopeError(.io, "cannot write the results to stdout: \(String(cString: strerror(errno)))")
        }
    }

    /// The width in columns of the terminal stderr is on; nil when it is not one or does not say.
    package static var errorColumns: Int? {
        let n = Int(ck_terminal_columns(2))
        return n > 0 ? n : nil
    }

    /// Whether the terminal has no escape sequences (`TERM=dumb`: an editor's shell buffer).
    package static let terminalIsDumb = ProcessInfo.processInfo.environment["TERM"] == "dumb"

    /// Clears a progress line still drawn on stderr's terminal (nothing when stderr is not one):
    /// `ESC [ K`, or spaces over the row where the terminal has no escape sequences (`TERM=dumb`).
    package static func clearErrorLine() {
        guard isatty(2) == 1 else { return }
        if terminalIsDumb {
            error("\r" + String(repeating: " ", count: max(0, (errorColumns ?? 80) - 1)) + "\r")
        } else {
            error("\r\u{1B}[K")
        }
    }

    /// A message to stderr; if stderr cannot take it there is nowhere to say so, so it is dropped.
    package static func error(_ text: String) {
        _ = writeAll(2, Data(text.utf8))
    }

    /// Drops what `print` has buffered and not yet written: results found wrong before they left
    /// (on a pipe or a file stdout holds a few KiB until the command ends; on a terminal each line
    /// is written as printed).
    package static func discardBufferedOutput() {
        ck_stdout_discard()
    }

    /// Flushes what `print` buffered; an error if any of stdout's writes failed.
    package static func finishOutput() throws {
        if stdoutWasClosed.load(ordering: .relaxed) {
            throw EmbedScopeError(.io, "cannot write the results: stdout is closed")
        }
        errno = 0
        if ck_stdout_flush_failed() != 0 {
            let e = errno
            throw EmbedScopeError(.io, "cannot write the results to stdout\(e != 0 ? ": \(String(cString: strerror(e)))" : "")")
        }
    }

    /// Writes all of `data` to `fd` (retrying short writes and EINTR): nil, or the errno of the
    /// write that failed. Also `OutputFile`'s loop for FIFOs and devices.
    package static func writeAll(_ fd: Int32, _ data: Data) -> Int32? {
        data.withUnsafeBytes { writeAll(fd, $0) }
    }

    /// `writeAll` of raw bytes (`OutputBytes`).
    package static func writeAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer) -> Int32? {
        guard var p = raw.baseAddress else { return nil }
        var left = raw.count
        while left > 0 {
            let n = write(fd, p, left)
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            p += n
            left -= n
        }
        return nil
    }
}
