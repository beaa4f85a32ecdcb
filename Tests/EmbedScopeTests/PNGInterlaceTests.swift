import CZlib
import Foundation
import XCTest
@testable import EmbedScopeImages

/// 16-bit Adam7-interlaced PNGs: libpng 1.6.39's simplified API, reducing them to 8 bits, returned
/// wrong rows (found by a red-team pass: every even row of a 32×32 RGB file, exit 0, the pixel
/// cosine to the same picture stored plainly 0.95). The same pixels stored interlaced and not
/// interlaced must decode alike; the files are written here (no fixture, no Python).
final class PNGInterlaceTests: XCTestCase {
    /// A PNG of `samples` (row-major, `channels` 16-bit samples a pixel; colour type 0 gray,
    /// 4 gray+alpha, 2 RGB, 6 RGBA), filter 0 on every row, Adam7-interlaced or not, optionally
    /// with an sRGB chunk.
    static func png16(width w: Int, height h: Int, channels: Int, samples: [UInt16], interlaced: Bool, sRGB: Bool = false) -> Data {
        let colorType: UInt8 = [1: 0, 2: 4, 3: 2, 4: 6][channels]!
        var raw: [UInt8] = []
        func rows(_ xs: [Int], _ ys: [Int]) {
            guard !xs.isEmpty else { return }
            for y in ys {
                raw.append(0)
                for x in xs { for c in 0..<channels { let v = samples[(y * w + x) * channels + c]; raw += [UInt8(v >> 8), UInt8(v & 0xff)] } }
            }
        }
        if interlaced {
            let passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
            for (x0, y0, dx, dy) in passes {
                rows(Array(stride(from: x0, to: w, by: dx)), Array(stride(from: y0, to: h, by: dy)))
            }
        } else {
            rows(Array(0..<w), Array(0..<h))
        }
        var bound = compressBound(uLong(raw.count))
        var z = [UInt8](repeating: 0, count: Int(bound))
        XCTAssertEqual(compress(&z, &bound, raw, uLong(raw.count)), Z_OK)
        z.removeSubrange(Int(bound)...)
        var out = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
        func chunk(_ type: String, _ data: [UInt8]) {
            let body = Array(type.utf8) + data
            out += be32(data.count) + body + be32(Int(crc32(0, body, uInt(body.count))))
        }
        chunk("IHDR", be32(w) + be32(h) + [16, colorType, 0, 0, interlaced ? 1 : 0])
        if sRGB { chunk("sRGB", [0]) }
        chunk("IDAT", z)
        chunk("IEND", [])
        return out
    }

    func testSixteenBitInterlacedDecodesAsTheSamePixelsStoredPlainly() throws {
        var g = SystemRandomNumberGenerator()
        for (w, h) in [(32, 32), (13, 7), (1, 9), (9, 1)] {
            for channels in [1, 2, 3, 4] {
                var samples = (0..<(w * h * channels)).map { _ in UInt16.random(in: 0...65535, using: &g) }
                if channels == 2 || channels == 4 {
                    // Alpha: opaque, transparent and in between.
                    for p in 0..<(w * h) { samples[p * channels + channels - 1] = [65535, 0, 32768, 257, 65535][p % 5] }
                }
                for sRGB in [false, true] {
                    let plain = try ImageDecoder.decodePNG(Self.png16(width: w, height: h, channels: channels, samples: samples, interlaced: false, sRGB: sRGB), path: "plain.png")
                    let adam7 = try ImageDecoder.decodePNG(Self.png16(width: w, height: h, channels: channels, samples: samples, interlaced: true, sRGB: sRGB), path: "adam7.png")
                    XCTAssertEqual(adam7.width, w); XCTAssertEqual(adam7.height, h)
                    let worst = zip(plain.pixels, adam7.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
                    // Opaque pixels exactly; semi-transparent ones within 1 (libpng premultiplies linear samples).
                    XCTAssertLessThanOrEqual(worst, channels % 2 == 0 ? 1 : 0, "\(w)×\(h), \(channels) channels, sRGB \(sRGB)")
                    if channels % 2 == 1 { XCTAssertEqual(plain.pixels, adam7.pixels) }
                }
            }
        }
        // Reduced as png_set_scale_16: round(v / 257).
        let one = try ImageDecoder.decodePNG(Self.png16(width: 1, height: 1, channels: 3, samples: [257, 384, 65535], interlaced: true), path: "one.png")
        XCTAssertEqual(one.pixels, [1, 1, 255])
        let two = try ImageDecoder.decodePNG(Self.png16(width: 1, height: 1, channels: 3, samples: [385, 0, 65407], interlaced: true), path: "two.png")
        XCTAssertEqual(two.pixels, [UInt8((385.0 / 257).rounded()), 0, UInt8((65407.0 / 257).rounded())])
    }
}
