import Foundation
#if canImport(Glibc)
import Glibc
#endif
import EmbedScopeCore

/// Decodes PNG and JPEG files into `RGBImage`. The format is chosen by the file's signature
/// (magic bytes), never by its name; the name only helps word the error when no signature matches.
package enum ImageDecoder {
    /// Images with more pixels than this are refused with `.tooLarge` before any pixel is decoded:
    /// Pillow's own limit (twice `Image.MAX_IMAGE_PIXELS`, above which it raises
    /// `DecompressionBombError`), so a PyTorch pipeline and `build` read the same images — a 108 MP
    /// photo (12000 × 9000) was refused at 10⁸. 537 MB of RGB at most.
    package static let maxPixels: Int = 2 * (1024 * 1024 * 1024 / 4 / 3)

    /// Image files larger than this are refused before they are read (the whole file is read into
    /// memory to decode it): a 3 GB file padded behind a small JPEG was read whole. Compressed,
    /// an image of `maxPixels` pixels is far smaller; stored uncompressed as 16-bit RGBA, one of
    /// more than 134 MP is not read.
    package static let maxFileBytes: Int = 1 << 30

    /// Reads and decodes the file at `url`.
    package static func decode(contentsOf url: URL) throws -> RGBImage {
        try decode(data: read(url), path: url.path)
    }

    /// The bytes of an image file, refused above `maxFileBytes` before it is read (every reader
    /// of image files comes here: `build` and `add` read them themselves, for the checksum, and
    /// read a 1 GiB file whole).
    package static func read(_ url: URL) throws -> Data {
        let path = url.path
        var st = stat()
        if stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, Int(st.st_size) > maxFileBytes {
            throw ImageError(kind: .tooLarge, path: path,
                             reason: "the file is \(Int(st.st_size)) bytes, above the limit of \(maxFileBytes >> 20) MiB for one image file")
        }
        do {
            return try Data(contentsOf: url)
        } catch {
            throw ImageError.unreadable(path, error)
        }
    }

    /// Decodes an image held in memory. `path` is used only to describe errors.
    package static func decode(data: Data, path: String) throws -> RGBImage {
        switch ImageFormat.sniff(data) {
        case .png:
            return try decodePNG(data, path: path)
        case .jpeg:
            return try decodeJPEG(data, path: path)
        case .other(let name):
            throw ImageError(kind: .unsupported, path: path,
                             reason: "\(name) images are not supported, only PNG and JPEG")
        case .signaturePrefix(let name):
            throw ImageError(kind: .truncated, path: path,
                             reason: "the file is \(data.count) bytes long, shorter than the \(name) signature")
        case .unknown:
            throw unrecognised(data, path: path)
        }
    }

    /// No known signature: a file named like an image is a damaged image, anything else is not an image.
    private static func unrecognised(_ data: Data, path: String) -> ImageError {
        let ext = (path as NSString).pathExtension.lowercased()
        let claimsImage = ImageFormat.imageExtensions.contains(ext)
        if data.isEmpty {
            return ImageError(kind: claimsImage ? .truncated : .notAnImage, path: path,
                              reason: "the file is empty (0 bytes)")
        }
        let head = data.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        if claimsImage {
            return ImageError(kind: .corrupt, path: path,
                              reason: "named like an image (.\(ext)) but starts with neither the PNG nor the JPEG signature (first bytes: \(head))")
        }
        return ImageError(kind: .notAnImage, path: path,
                          reason: "no PNG or JPEG signature (first bytes: \(head))")
    }
}

/// What the first bytes of a file say it is.
enum ImageFormat: Equatable {
    case png
    case jpeg
    /// A recognised image format that this build does not decode.
    case other(String)
    /// Fewer bytes than a signature, all of them matching it.
    case signaturePrefix(String)
    case unknown

    static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    static let jpegSignature: [UInt8] = [0xFF, 0xD8, 0xFF]

    static let imageExtensions: Set<String> = [
        "png", "jpg", "jpeg", "jpe", "jfif", "gif", "bmp", "webp", "tif", "tiff", "heic", "heif", "avif",
    ]

    static func sniff(_ data: Data) -> ImageFormat {
        let head = [UInt8](data.prefix(16))
        func starts(_ sig: [UInt8], at offset: Int = 0) -> Bool {
            head.count >= offset + sig.count && Array(head[offset..<offset + sig.count]) == sig
        }
        if starts(pngSignature) { return .png }
        if starts(jpegSignature) { return .jpeg }
        if !head.isEmpty {
            if head.count < pngSignature.count && pngSignature.starts(with: head) { return .signaturePrefix("PNG") }
            if head.count < jpegSignature.count && jpegSignature.starts(with: head) { return .signaturePrefix("JPEG") }
        }
        if starts(Array("GIF87a".utf8)) || starts(Array("GIF89a".utf8)) { return .other("GIF") }
        if starts(Array("RIFF".utf8)) && starts(Array("WEBP".utf8), at: 8) { return .other("WebP") }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return .other("TIFF") }
        if starts(Array("BM".utf8)) && head.count >= 14 { return .other("BMP") }
        if starts(Array("ftyp".utf8), at: 4) {
            if starts(Array("avif".utf8), at: 8) { return .other("AVIF") }
            if starts(Array("heic".utf8), at: 8) || starts(Array("heix".utf8), at: 8)
                || starts(Array("mif1".utf8), at: 8) { return .other("HEIF") }
        }
        return .unknown
    }
}
