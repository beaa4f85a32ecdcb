import EmbedScopeCore
/// Why an image could not be encoded or written.
public struct ImageWriteError: Error, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The arguments do not describe an image (bad size, channel count, or pixel count).
        case invalidInput
        /// The encoder (libpng) failed.
        case encodeFailed
        /// The file could not be written or moved into place.
        case ioFailed
    }

    public let kind: Kind
    /// The destination file, or "<memory>" when encoding to `Data`.
    public let path: String
    public let reason: String

    public init(kind: Kind, path: String, reason: String) {
        self.kind = kind
        self.path = path
        self.reason = reason
    }

    public var description: String {
        switch kind {
        case .invalidInput: return "\(path): \(reason) (this is a bug in the caller: pass width*height*channels bytes, channels 1 or 3)"
        case .encodeFailed: return "\(path): \(reason)"
        case .ioFailed: return "\(path): \(reason) (check that the directory exists, is writable, and has free space)"
        }
    }
}
