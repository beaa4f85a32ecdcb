import EmbedScopeCore
#if canImport(Glibc)
import Glibc
#endif
/// Why an image could not be read. `kind` is for code to switch on; `description` is for people.
public struct ImageError: Error, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The file could not be read at all (missing, permission denied, a directory, I/O error).
        case unreadable
        /// The bytes are not an image (no known signature, and the name does not claim to be one).
        case notAnImage
        /// An image whose data is damaged: bad checksum, bad compressed data, inconsistent headers.
        case corrupt
        /// An image whose data stops before the image does (an interrupted copy or download).
        case truncated
        /// A real image in a format or variant this build does not decode (12-bit JPEG, GIF, ...).
        case unsupported
        /// Width × height above `ImageDecoder.maxPixels`, or more memory than could be allocated.
        case tooLarge
    }

    public let kind: Kind
    /// The file the error is about, as given by the caller.
    public let path: String
    /// What went wrong, with the detail the decoder knows (sizes, byte offsets, the codec's message).
    public let reason: String

    public init(kind: Kind, path: String, reason: String) {
        self.kind = kind
        self.path = path
        self.reason = reason
    }

    /// A file that could not be read. A name listed with U+FFFD that opens nothing was not valid
    /// UTF-8 on disk (Foundation replaced its bad bytes): said so, since "does not exist" misleads.
    /// Where the process ran out of descriptors or memory, that is the error instead
    /// (`EmbedScopeError.resourceShortage`): not the file's fault, and no skip may hide it.
    public static func unreadable(_ path: String, _ error: any Error) -> any Error {
        if let shortage = EmbedScopeError.resourceShortage(error, reading: path) { return shortage }
        if path.contains("\u{FFFD}"), access(path, F_OK) != 0 {
            return ImageError(kind: .unreadable, path: path, reason: "its name is not valid UTF-8, so it cannot be opened by name (rename it)")
        }
        var st = stat()
        if stat(path, &st) == 0, (st.st_mode & S_IFMT) != S_IFREG {
            // Foundation refuses these with "You don't have permission", which misleads.
            let what = (st.st_mode & S_IFMT) == S_IFIFO ? "a FIFO" : (st.st_mode & S_IFMT) == S_IFDIR ? "a folder"
                : (st.st_mode & S_IFMT) == S_IFSOCK ? "a socket" : "a device"
            return ImageError(kind: .unreadable, path: path, reason: "not a regular file (\(what)), so not read")
        }
        return ImageError(kind: .unreadable, path: path, reason: "cannot read file (\(EmbedScopeError.describe(error)))")
    }

    /// What the user can do about it.
    public var advice: String {
        switch kind {
        case .unreadable: return "check that the file exists and is readable"
        case .notAnImage: return "remove the file from the dataset folder or exclude it"
        case .corrupt: return "the file is damaged: re-export or re-download it, or remove it from the dataset"
        case .truncated: return "the file is incomplete (interrupted copy or download?): copy it again, or remove it"
        case .unsupported: return "convert it to an 8-bit RGB or grayscale PNG or JPEG"
        case .tooLarge: return "downscale it below \(ImageDecoder.maxPixels) pixels before indexing"
        }
    }

    /// "path: reason (advice)".
    public var description: String { "\(path.displayEscaped): \(reason) (\(advice))" }
}
