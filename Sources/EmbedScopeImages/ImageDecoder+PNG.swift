import CPNG
import Foundation
import EmbedScopeCore

extension ImageDecoder {
    /// Decodes a PNG with libpng's simplified API into 8-bit RGB, compositing alpha on white.
    ///
    /// Contract (pinned by Tests/EmbedScopeTests/Fixtures/images/expected.json):
    /// * every PNG variant: gray 1/2/4/8/16-bit, gray+alpha, RGB, RGBA, palette with or without
    ///   tRNS, interlaced or not;
    /// * alpha is composited on white on the 8-bit values, `(a*c + (255-a)*255 + 127) / 255`,
    ///   bit-identical to Pillow's `alpha_composite` on white. libpng is asked for RGBA and the
    ///   compositing is done here, because libpng's own background compositing works in linear light;
    /// * gAMA chunks are ignored, as Pillow ignores them: they are cut out of the data before libpng
    ///   sees it, otherwise libpng would gamma-correct the samples to sRGB;
    /// * 16-bit samples are reduced by libpng (`png_set_scale_16`, round(v / 257)); Pillow keeps the
    ///   high byte (v >> 8), so 16-bit files can differ from Pillow by 1 LSB. 8-bit files are exact.
    /// * a file whose data stops after its image data with only the IEND chunk missing is read, as
    ///   Pillow reads it (`PNGChunkLayout.missingEnd`); one whose compressed rows stop early is
    ///   `.truncated`;
    /// * 16-bit Adam7-interlaced files: libpng 1.6.39's simplified API returns wrong rows when it
    ///   reduces them to 8 bits (every pass-1…6 row; Pillow and pypng read them right). They are
    ///   read as 16-bit "linear" samples instead — with gAMA, sRGB and iCCP cut out, libpng then
    ///   returns the stored values unchanged — and reduced here with the same rounding
    ///   (`decodePNG16`; alpha: libpng premultiplies linear samples, undone before the reduction,
    ///   so a semi-transparent pixel can differ from the non-interlaced file by 1 LSB).
    static func decodePNG(_ data: Data, path: String) throws -> RGBImage {
        try data.withUnsafeBytes { raw in
            let layout: PNGChunkLayout
            do {
                layout = try PNGChunkLayout(raw)
            } catch PNGChunkLayout.Problem.truncated(let why) {
                throw ImageError(kind: .truncated, path: path, reason: "truncated PNG: \(why)")
            } catch PNGChunkLayout.Problem.corrupt(let why) {
                throw ImageError(kind: .corrupt, path: path, reason: "corrupt PNG: \(why)")
            }
            // libpng refuses a side above its build's user limit (1,000,000) as "Invalid IHDR data",
            // which read as damage; such a file is valid (Pillow reads a 1 × 1,200,000 strip).
            if layout.width > 0, layout.height > 0, max(layout.width, layout.height) > Self.libpngMaxSide {
                try refuseAboveMaxPixels(layout.width, layout.height, path: path)
                throw ImageError(kind: .unsupported, path: path,
                                 reason: "a \(layout.width)x\(layout.height) PNG: libpng reads at most \(Self.libpngMaxSide) pixels per side")
            }
            let sixteenInterlaced = layout.bitDepth == 16 && layout.interlaced
            let cut = (layout.gammaChunks + (sixteenInterlaced ? layout.colorSpaceChunks : [])).sorted { $0.lowerBound < $1.lowerBound }
            let decode = sixteenInterlaced ? decodePNG16 : decodePNGChunks
            if cut.isEmpty && !layout.missingEnd {
                return try decode(UnsafeRawBufferPointer(rebasing: raw[0..<layout.end]), path)
            }
            var stripped = [UInt8]()
            stripped.reserveCapacity(layout.end + PNGChunkLayout.iend.count)
            var from = 0
            for chunk in cut {
                stripped.append(contentsOf: raw[from..<chunk.lowerBound])
                from = chunk.upperBound
            }
            stripped.append(contentsOf: raw[from..<layout.end])
            if layout.missingEnd { stripped.append(contentsOf: PNGChunkLayout.iend) }
            return try stripped.withUnsafeBytes { try decode($0, path) }
        }
    }

    /// libpng's simplified reader on a structurally complete PNG (signature through IEND), its
    /// header read and the size checked: the image, its width and height.
    private static func beginPNG(_ bytes: UnsafeRawBufferPointer, path: String) throws -> (LibPNGImage, Int, Int) {
        let png = LibPNGImage()
        guard let base = bytes.baseAddress,
              png_image_begin_read_from_memory(png.image, base, bytes.count) != 0 else {
            throw libpngError(png, "reading the header", path: path)
        }
        let width = Int(png.image.pointee.width)
        let height = Int(png.image.pointee.height)
        guard width > 0, height > 0 else {
            throw ImageError(kind: .corrupt, path: path, reason: "corrupt PNG: header says \(width)x\(height) pixels")
        }
        try refuseAboveMaxPixels(width, height, path: path)
        return (png, width, height)
    }

    /// `.tooLarge` for a width × height (both ≥ 1) above `maxPixels`.
    private static func refuseAboveMaxPixels(_ width: Int, _ height: Int, path: String) throws {
        guard width <= maxPixels / height else {
            throw ImageError(kind: .tooLarge, path: path, reason: "\(width)x\(height) pixels is above the limit of \(maxPixels)")
        }
    }

    /// libpng's default user limit on width and height (PNG_USER_WIDTH_MAX / HEIGHT_MAX), which its
    /// simplified API gives no way to raise.
    static let libpngMaxSide = 1_000_000

    private static func libpngError(_ png: LibPNGImage, _ stage: String, path: String) -> ImageError {
        let message = png.message
        // The zlib stream ended before the image's rows did: the file was cut inside its pixel data
        // (the chunks themselves are whole, checked before).
        if message.contains("Not enough image data") {
            return ImageError(kind: .truncated, path: path,
                              reason: "truncated PNG: the compressed pixel data ends before the image's last row (libpng \(stage): \(message))")
        }
        return ImageError(kind: .corrupt, path: path,
                          reason: "corrupt PNG (libpng \(stage): \(message.isEmpty ? "unknown error" : message))")
    }

    /// A 16-bit interlaced PNG (gAMA, sRGB, iCCP cut out): libpng's 16-bit linear output, which is
    /// then the stored samples (alpha: premultiplied by it, undone here), reduced to 8 bits as
    /// `png_set_scale_16` does — (v × 255 + 32895) >> 16, round(v / 257).
    private static func decodePNG16(_ bytes: UnsafeRawBufferPointer, path: String) throws -> RGBImage {
        let (png, width, height) = try beginPNG(bytes, path: path)
        let hasAlpha = png.image.pointee.format & LibPNGImage.formatFlagAlpha != 0
        png.image.pointee.format = (hasAlpha ? LibPNGImage.formatRGBA : LibPNGImage.formatRGB) | LibPNGImage.formatFlagLinear
        let channels = hasAlpha ? 4 : 3
        var samples = [UInt16](repeating: 0, count: width * height * channels)
        let ok = samples.withUnsafeMutableBytes { png_image_finish_read(png.image, nil, $0.baseAddress, 0, nil) != 0 }
        guard ok, !png.failed else { throw libpngError(png, "decoding the pixels", path: path) }
        func scale(_ v: UInt32) -> UInt8 { UInt8((v * 255 + 32895) >> 16) }
        var out = [UInt8](repeating: 0, count: width * height * channels)
        for i in 0..<(width * height) {
            let s = i * channels
            guard hasAlpha else {
                for c in 0..<3 { out[s + c] = scale(UInt32(samples[s + c])) }
                continue
            }
            let a = UInt32(samples[s + 3])
            for c in 0..<3 {
                // premultiplied c·a/65535 back to c (0 where a is 0: composited on white, c is unused)
                let v = a == 0 ? 0 : min(65535, (UInt32(samples[s + c]) * 65535 + a / 2) / a)
                out[s + c] = scale(v)
            }
            out[s + 3] = scale(a)
        }
        guard hasAlpha else { return RGBImage(width: width, height: height, pixels: out) }
        return RGBImage(width: width, height: height, pixels: compositeOnWhite(rgba: out))
    }

    /// Runs libpng on a structurally complete PNG (signature through IEND).
    private static func decodePNGChunks(_ bytes: UnsafeRawBufferPointer, path: String) throws -> RGBImage {
        let (png, width, height) = try beginPNG(bytes, path: path)
        func libpngError(_ stage: String) -> ImageError { Self.libpngError(png, stage, path: path) }
        let hasAlpha = png.image.pointee.format & LibPNGImage.formatFlagAlpha != 0
        png.image.pointee.format = hasAlpha ? LibPNGImage.formatRGBA : LibPNGImage.formatRGB
        // 16-bit samples without gAMA/sRGB are sRGB-encoded (as Pillow assumes), not linear.
        png.image.pointee.flags |= png_uint_32(PNG_IMAGE_FLAG_16BIT_sRGB)
        let channels = hasAlpha ? 4 : 3
        let decoded = [UInt8](unsafeUninitializedCapacity: width * height * channels) { buffer, count in
            count = buffer.count
            if png_image_finish_read(png.image, nil, buffer.baseAddress, 0, nil) == 0 {
                count = 0
            }
        }
        guard decoded.count == width * height * channels, !png.failed else {
            throw libpngError("decoding the pixels")
        }
        guard hasAlpha else { return RGBImage(width: width, height: height, pixels: decoded) }
        return RGBImage(width: width, height: height, pixels: compositeOnWhite(rgba: decoded))
    }

    /// RGBA → RGB over an opaque white background: `(a*c + (255-a)*255 + 127) / 255` per channel.
    static func compositeOnWhite(rgba: [UInt8]) -> [UInt8] {
        let n = rgba.count / 4
        return [UInt8](unsafeUninitializedCapacity: n * 3) { out, count in
            rgba.withUnsafeBufferPointer { src in
                for i in 0..<n {
                    let a = UInt32(src[4 * i + 3])
                    let background = (255 - a) * 255 + 127
                    out[3 * i] = UInt8((a * UInt32(src[4 * i]) + background) / 255)
                    out[3 * i + 1] = UInt8((a * UInt32(src[4 * i + 1]) + background) / 255)
                    out[3 * i + 2] = UInt8((a * UInt32(src[4 * i + 2]) + background) / 255)
                }
            }
            count = n * 3
        }
    }
}
