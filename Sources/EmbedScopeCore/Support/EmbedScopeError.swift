import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one error type of the engine. `kind` is what tests and callers switch on; `description`
/// is for a person: what failed, where, and what to do about it.
public struct EmbedScopeError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable, Equatable {
        /// A file or directory could not be read or written (see `underlying`).
        case io
        /// An index file does not start with the EmbedScope magic.
        case badMagic
        /// An index file was written by a format this build does not read.
        case unsupportedVersion
        /// An index file is shorter than its header says.
        case truncated
        /// Header or payload checksum does not match: the file was damaged.
        case checksumMismatch
        /// A header field holds an impossible value.
        case corruptHeader
        /// The catalog is missing, unreadable or disagrees with the vector files.
        case catalog
        /// A .npy file is malformed or of an unsupported kind.
        case npy
        /// A manifest (CSV) is malformed.
        case manifest
        /// Dimensions or row counts disagree.
        case shapeMismatch
        /// A vector contains NaN or infinity.
        case nonFinite
        /// A vector has zero norm and cannot be normalized.
        case zeroVector
        /// A named thing (space, class, prototype, row, path) does not exist.
        case notFound
        /// The destination exists and overwriting was not requested.
        case alreadyExists
        /// An argument is out of range or inconsistent.
        case invalidArgument
        /// A data set (image folder, IDX file) is empty or malformed.
        case dataset
        /// A PyTorch checkpoint is malformed, truncated, of an unsupported kind, or refers to code
        /// the restricted unpickler does not run.
        case checkpoint
        /// A quantity is not defined for this input (e.g. a cluster metric with fewer than two
        /// classes, or with every sample in a class of its own).
        case undefined
        /// Another writer holds the index's writer lock and the wait timed out.
        case locked
        /// The destination may not be written: not an EmbedScope index (or report / data set),
        /// the data set itself or a folder holding it, or a read-only folder. Nothing was changed.
        case refused
        /// The memory the work needs cannot be had: the address-space limit (`ulimit -v`) leaves
        /// too little. Nothing was changed.
        case outOfMemory
        /// A limit of the process, not a fault of the input, stopped the work: the threads it needs
        /// cannot be started (`ulimit -u`, a container's pids limit), or no file can be opened
        /// (`ulimit -n`, the system's file table). Nothing was changed.
        case resourceLimit
    }

    public let kind: Kind
    public let message: String
    public let path: String?
    public let hint: String?
    public var underlying: String? { underlyingText }
    private var underlyingText: String?
    /// Whether the error is about data stored in an index (a row or norm damaged after it was
    /// written), as opposed to a caller's input of the same kind (a query vector holding NaN):
    /// the server answers the first 500 and the second 400.
    package private(set) var isStoredDamage = false

    public init(_ kind: Kind, _ message: String, path: String? = nil, hint: String? = nil, underlying: Error? = nil) {
        self.kind = kind
        self.message = message
        self.path = path
        self.hint = hint
        self.underlyingText = underlying.map(EmbedScopeError.describe)
    }

    /// The same error naming `file` when it names none (a vector read from a user's file and
    /// refused deeper down, where the file is not known: "query vector has 7 values, …").
    package func naming(_ file: String) -> EmbedScopeError {
        guard path == nil else { return self }
        var e = EmbedScopeError(kind, message, path: file, hint: hint)
        e.underlyingText = underlying
        e.isStoredDamage = isStoredDamage
        return e
    }

    /// The same error, marked as being about an index's stored data (`isStoredDamage`).
    package func storedDamage() -> EmbedScopeError {
        var e = self
        e.isStoredDamage = true
        return e
    }

    /// `body`, with an EmbedScopeError it throws naming `file` (`naming`) — every one, or those
    /// of `kinds`.
    package static func naming<T>(_ file: String, kinds: [Kind]? = nil, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as EmbedScopeError where kinds?.contains(e.kind) ?? true { throw e.naming(file) }
    }

    /// A system error in a few words: the POSIX reason ("No space left on device") where
    /// Foundation wraps one, instead of its `Error Domain=NSCocoaErrorDomain Code=640 … UserInfo={…}`.
    /// The error as `.resourceLimit` (EMFILE, ENFILE) or `.outOfMemory` (ENOMEM) when reading
    /// `path` failed for want of the process's resources rather than because of the file: work
    /// that skips unreadable files must stop on these instead (under `ulimit -n 14`, `build`
    /// skipped 595 of 700 images as "cannot read file (Too many open files)" and exited 0).
    public static func resourceShortage(_ error: any Error, reading path: String) -> EmbedScopeError? {
        guard let code = posixCode(error), [EMFILE, ENFILE, ENOMEM].contains(code) else { return nil }
        let what = String(cString: strerror(code))
        if code == ENOMEM {
            return EmbedScopeError(.outOfMemory, "out of memory reading a file (\(what))", path: path,
                                   hint: "raise the memory limit (`ulimit -v`), or work on fewer files at once")
        }
        return descriptorLimit(code, path: path)
    }

    /// EMFILE / ENFILE as the descriptor limit it is (the limit named where there is one).
    static func descriptorLimit(_ code: Int32, path: String?) -> EmbedScopeError {
        var rl = rlimit(rlim_cur: 0, rlim_max: 0)
        let limit = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) == 0 && rl.rlim_cur != rlim_t.max ? " (`ulimit -n` \(rl.rlim_cur))" : ""
        return EmbedScopeError(.resourceLimit, "cannot open files: \(String(cString: strerror(code))) — the process's descriptor limit\(limit) or the system's file table is full",
                               path: path, hint: "raise the limit (`ulimit -n`); nothing was skipped, nothing was written")
    }

    /// Whether `error` is one of the limits above, which no file-by-file skip may hide.
    public static func isResourceShortage(_ error: any Error) -> Bool {
        guard let e = error as? EmbedScopeError else { return false }
        return e.kind == .resourceLimit || e.kind == .outOfMemory
    }

    /// The POSIX error code of `error` or of the error under it (Foundation's file errors wrap one).
    private static func posixCode(_ error: any Error) -> Int32? {
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain, let c = Int32(exactly: ns.code) { return c }
        if let u = ns.userInfo[NSUnderlyingErrorKey] as? any Error {
            let un = u as NSError
            if un.domain == NSPOSIXErrorDomain, let c = Int32(exactly: un.code) { return c }
        }
        return nil
    }

    public static func describe(_ error: any Error) -> String {
        if let e = error as? EmbedScopeError { return e.description }
        if let c = posixCode(error) { return String(cString: strerror(c)) }
        let ns = error as NSError
        if ns.domain == NSCocoaErrorDomain { return ns.localizedDescription }
        return String(describing: error)
    }

    /// The message (with its path and cause) on one line, the hint on the next. A line break inside
    /// a part — a class or file name that has one, quoted in the message — is shown as `\u{A}`:
    /// it printed the rest of a class list as a line of its own (red team: `query --class`).
    public var description: String {
        func oneLine(_ t: String) -> String {
            guard t.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else { return t }
            return t.unicodeScalars.map { $0 == "\n" ? "\\u{A}" : $0 == "\r" ? "\\u{D}" : String($0) }.joined()
        }
        var s = oneLine(path.map { "\($0): \(message)" } ?? message)
        if let underlying { s += " (\(oneLine("\(underlying)")))" }
        if let hint { s += "\n  hint: \(oneLine(hint))" }
        return s
    }
}

extension EmbedScopeError: LocalizedError {
    public var errorDescription: String? { description }
}
