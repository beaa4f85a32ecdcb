import Foundation

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
        /// The threads the work needs cannot be started: the user's process limit (`ulimit -u`,
        /// `RLIMIT_NPROC`) or a container's pids limit is reached. Nothing was changed.
        case threadLimit
    }

    public let kind: Kind
    public let message: String
    public let path: String?
    public let hint: String?
    public let underlying: String?

    public init(_ kind: Kind, _ message: String, path: String? = nil, hint: String? = nil, underlying: Error? = nil) {
        self.kind = kind
        self.message = message
        self.path = path
        self.hint = hint
        self.underlying = underlying.map(EmbedScopeError.describe)
    }

    /// A system error in a few words: the POSIX reason ("No space left on device") where
    /// Foundation wraps one, instead of its `Error Domain=NSCocoaErrorDomain Code=640 … UserInfo={…}`.
    public static func describe(_ error: any Error) -> String {
        if let e = error as? EmbedScopeError { return e.description }
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain, let c = Int32(exactly: ns.code) { return String(cString: strerror(c)) }
        if let u = ns.userInfo[NSUnderlyingErrorKey] as? any Error {
            let un = u as NSError
            if un.domain == NSPOSIXErrorDomain, let c = Int32(exactly: un.code) { return String(cString: strerror(c)) }
        }
        if ns.domain == NSCocoaErrorDomain { return ns.localizedDescription }
        return String(describing: error)
    }

    public var description: String {
        var s = path.map { "\($0): \(message)" } ?? message
        if let underlying { s += " (\(underlying))" }
        if let hint { s += "\n  hint: \(hint)" }
        return s
    }
}

extension EmbedScopeError: LocalizedError {
    public var errorDescription: String? { description }
}
