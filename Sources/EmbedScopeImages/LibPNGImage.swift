import CPNG
import EmbedScopeCore

/// Owns one libpng simplified-API control structure (`png_image`).
///
/// The `png_image` lives at a fixed heap address: libpng's error handler keeps a pointer to it
/// from `png_image_begin_read_*` until the image is freed, so it must never be a Swift value that
/// could be copied or moved between calls. `deinit` releases libpng's memory.
final class LibPNGImage {
    let image: UnsafeMutablePointer<png_image>

    init() {
        image = .allocate(capacity: 1)
        image.initialize(to: png_image())
        image.pointee.version = png_uint_32(PNG_IMAGE_VERSION)
    }

    deinit {
        png_image_free(image)
        image.deinitialize(count: 1)
        image.deallocate()
    }

    /// libpng's text for the last warning or error ("" if none). For display only.
    var message: String {
        withUnsafeBytes(of: image.pointee.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// True if libpng reported an error (as opposed to a warning) on the last call.
    var failed: Bool { image.pointee.warning_or_error & 0x03 > PNG_IMAGE_WARNING }

    static let formatRGB = png_uint_32(PNG_FORMAT_FLAG_COLOR)
    static let formatRGBA = png_uint_32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)
    static let formatGray = png_uint_32(0)
    static let formatFlagAlpha = png_uint_32(PNG_FORMAT_FLAG_ALPHA)
    static let formatFlagLinear = png_uint_32(PNG_FORMAT_FLAG_LINEAR)
}
