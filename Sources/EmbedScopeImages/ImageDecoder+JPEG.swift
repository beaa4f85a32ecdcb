import CJPEG
import CJPEGShim
import Foundation
import EmbedScopeCore

extension ImageDecoder {
    /// Decodes a baseline or progressive 8-bit JPEG (YCbCr, RGB, grayscale, CMYK or YCCK) into RGB through the
    /// setjmp shim `es_jpeg_decode_rgb`, which never exits and reports failures as codes.
    /// Decoding settings are libjpeg's defaults (ISLOW IDCT, fancy upsampling), the same as Pillow's.
    static func decodeJPEG(_ data: Data, path: String) throws -> RGBImage {
        var result = es_jpeg_result()
        var rgb: UnsafeMutablePointer<UInt8>? = nil
        data.withUnsafeBytes { raw in
            es_jpeg_decode_rgb(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, maxPixels, &rgb, &result)
        }
        defer { free(rgb) }
        let message = withUnsafeBytes(of: result.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        let size = "\(result.width)x\(result.height)"
        switch es_jpeg_status(rawValue: UInt32(result.status)) {
        case ES_JPEG_OK:
            let count = Int(result.width) * Int(result.height) * 3
            guard let rgb, result.width > 0, result.height > 0 else {
                throw ImageError(kind: .corrupt, path: path, reason: "corrupt JPEG: decoder returned no pixels")
            }
            let pixels = [UInt8](UnsafeBufferPointer(start: rgb, count: count))
            return RGBImage(width: Int(result.width), height: Int(result.height), pixels: pixels)
        case ES_JPEG_TRUNCATED:
            throw ImageError(kind: .truncated, path: path,
                             reason: result.width > 0 && result.height > 0
                                 ? "truncated JPEG: the data (\(data.count) bytes) ends before the \(size) image does"
                                 : "truncated JPEG: the data (\(data.count) bytes) ends before the frame header that gives the image's size")
        case ES_JPEG_UNSUPPORTED_COLOR:
            throw ImageError(kind: .unsupported, path: path,
                             reason: "\(colorSpaceName(result)) JPEG (\(result.components) components) is not supported, only YCbCr, RGB, grayscale, CMYK and YCCK")
        case ES_JPEG_UNSUPPORTED_FEATURE:
            throw ImageError(kind: .unsupported, path: path, reason: "unsupported JPEG variant (libjpeg: \(message))")
        case ES_JPEG_TOO_MANY_SCANS:
            throw ImageError(kind: .unsupported, path: path, reason: message)
        case ES_JPEG_TOO_LARGE:
            throw ImageError(kind: .tooLarge, path: path, reason: "\(size) pixels is above the limit of \(maxPixels)")
        case ES_JPEG_OUT_OF_MEMORY:
            throw ImageError(kind: .tooLarge, path: path, reason: "out of memory decoding a \(size) JPEG")
        default:
            throw ImageError(kind: .corrupt, path: path,
                             reason: "corrupt JPEG (libjpeg: \(message.isEmpty ? "unknown error" : message))")
        }
    }

    private static func colorSpaceName(_ result: es_jpeg_result) -> String {
        switch J_COLOR_SPACE(rawValue: UInt32(result.color_space)) {
        case JCS_CMYK: return "CMYK"
        case JCS_YCCK: return "YCCK"
        default: return "colour space \(result.color_space)"
        }
    }
}
