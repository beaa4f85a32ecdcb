import CPNG
import EmbedScopeCore
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
import EmbedScopeCore
#endif

/// Encodes 8-bit grayscale or RGB pixels as PNG with libpng's simplified write API.
/// The files carry an sRGB chunk (libpng's default for 8-bit data) and decode back exactly.
package enum PNGWriter {
    /// Encodes `pixels` (row-major, `channels` interleaved bytes per pixel, no padding).
    /// - Parameter channels: 1 for grayscale, 3 for RGB.
    package static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8]) throws -> Data {
        try encode(width: width, height: height, channels: channels, pixels: pixels, path: "<memory>")
    }

    /// Encodes and writes atomically: the PNG goes to a temporary file in the destination's
    /// directory, which is then renamed over `url`, so readers see the old file or the new one,
    /// never a partial one.
    package static func write(width: Int, height: Int, channels: Int, pixels: [UInt8], to url: URL) throws {
        let path = url.path
        let data = try encode(width: width, height: height, channels: channels, pixels: pixels, path: path)
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        do {
            try data.write(to: temporary, options: .withoutOverwriting)
        } catch {
            throw ImageWriteError(kind: .ioFailed, path: path,
                                  reason: "cannot write the temporary file \(temporary.path): \(EmbedScopeError.describe(error))")
        }
        if rename(temporary.path, path) != 0 {
            let why = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw ImageWriteError(kind: .ioFailed, path: path, reason: "cannot move the PNG into place: \(why)")
        }
    }

    private static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8], path: String) throws -> Data {
        guard channels == 1 || channels == 3 else {
            throw ImageWriteError(kind: .invalidInput, path: path, reason: "channels is \(channels), expected 1 (gray) or 3 (RGB)")
        }
        guard width > 0, height > 0, width <= 0x7FFF_FFFF / channels, height <= 0x7FFF_FFFF else {
            throw ImageWriteError(kind: .invalidInput, path: path, reason: "cannot encode a \(width)x\(height) image")
        }
        let (area, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, area <= Int.max / channels, pixels.count == area * channels else {
            throw ImageWriteError(kind: .invalidInput, path: path,
                                  reason: "\(pixels.count) pixel bytes for a \(width)x\(height)x\(channels) image")
        }
        // Room for incompressible data: raw bytes + one filter byte per row + zlib and chunk overhead.
        var capacity = pixels.count + height + pixels.count / 100 + 4096
        for _ in 0..<2 {
            let png = LibPNGImage()
            png.image.pointee.width = png_uint_32(width)
            png.image.pointee.height = png_uint_32(height)
            png.image.pointee.format = channels == 1 ? LibPNGImage.formatGray : LibPNGImage.formatRGB
            var size = png_alloc_size_t(capacity)
            var buffer = Data(count: capacity)
            let ok = buffer.withUnsafeMutableBytes { out in
                pixels.withUnsafeBytes { src in
                    png_image_write_to_memory(png.image, out.baseAddress, &size, 0, src.baseAddress, 0, nil)
                }
            }
            if ok != 0 {
                buffer.count = Int(size)
                return buffer
            }
            // Failure with a size above what we offered means only "buffer too small": retry once.
            guard Int(size) > capacity else {
                let message = png.message
                throw ImageWriteError(kind: .encodeFailed, path: path,
                                      reason: "libpng could not encode the image: \(message.isEmpty ? "unknown error" : message)")
            }
            capacity = Int(size)
        }
        throw ImageWriteError(kind: .encodeFailed, path: path, reason: "libpng kept asking for a larger output buffer")
    }
}
