import EmbedScope
import Foundation
import XCTest
@testable import EmbedScopeImages

final class ResizeTests: XCTestCase {
    /// Against the float64 reference of Pillow's BILINEAR-with-antialias formula
    /// (Scripts/make_image_fixtures.py). Tolerance 1e-3 absolute on [0, 255]: Float accumulation
    /// over ≤ 27 taps in two passes stays below ~1e-4; the JSON values are rounded to 1e-4.
    func testMatchesFloat64Reference() throws {
        let file = try ImageFixtures.resizeCases()
        XCTAssertGreaterThanOrEqual(file.cases.count, 10)
        for c in file.cases {
            let pixels = [UInt8](try XCTUnwrap(Data(base64Encoded: c.pixels_base64), c.name))
            let image = RGBImage(width: c.width, height: c.height, pixels: pixels)
            XCTAssertTrue(image.isWellFormed, c.name)
            let out = ImageResize.resize(image, width: c.out_width, height: c.out_height)
            XCTAssertEqual(out.count, c.expected.count, c.name)
            guard out.count == c.expected.count else { continue }
            var worst = 0.0, worstIndex = 0
            for i in out.indices where abs(Double(out[i]) - c.expected[i]) > worst {
                worst = abs(Double(out[i]) - c.expected[i])
                worstIndex = i
            }
            XCTAssertLessThanOrEqual(worst, file.tolerance_abs, """
                \(c.name) \(c.width)x\(c.height) -> \(c.out_width)x\(c.out_height): value \(worstIndex): \
                expected \(c.expected[worstIndex]), observed \(out[worstIndex]), tolerance \(file.tolerance_abs)
                """)
        }
    }

    func testIdentityResizeReturnsInputExactly() {
        var rng = SeededGenerator(seed: 7)
        let pixels = (0..<(13 * 7 * 3)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let image = RGBImage(width: 13, height: 7, pixels: pixels)
        XCTAssertEqual(ImageResize.resize(image, width: 13, height: 7), pixels.map(Float.init))
    }

    func testConstantImageStaysConstant() {
        let image = RGBImage(width: 37, height: 23, pixels: [UInt8](repeating: 200, count: 37 * 23 * 3))
        for (w, h) in [(1, 1), (5, 3), (37, 5), (8, 23), (100, 61), (38, 24)] {
            let out = ImageResize.resize(image, width: w, height: h)
            XCTAssertEqual(out.count, w * h * 3)
            let worst = out.map { abs($0 - 200) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1e-3, "\(w)x\(h): max |observed - 200| = \(worst), tolerance 1e-3")
        }
    }

    /// Float accumulation at the production reduction factor (4000x3000 -> 341x256 is 11.7x; here
    /// 400x300 -> 34x26, the same taps per output) against a direct float64 evaluation of the
    /// separable filter. Seeded; the seed is printed on failure.
    func testFloatAccumulationAtLargeReductionFactor() {
        let seed: UInt64 = 2024
        var rng = SeededGenerator(seed: seed)
        let (w, h, ow, oh) = (400, 300, 34, 26)
        let pixels = (0..<(w * h * 3)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let out = ImageResize.resize(RGBImage(width: w, height: h, pixels: pixels), width: ow, height: oh)
        let wx = Self.referenceWeights(inSize: w, outSize: ow)
        let wy = Self.referenceWeights(inSize: h, outSize: oh)
        var worst = 0.0
        for oy in [0, 1, oh / 2, oh - 1] {
            for ox in [0, 1, ow / 2, ow - 1] {
                for c in 0..<3 {
                    var sum = 0.0
                    for (y, wyv) in wy[oy] {
                        var row = 0.0
                        for (x, wxv) in wx[ox] { row += wxv * Double(pixels[(y * w + x) * 3 + c]) }
                        sum += wyv * row
                    }
                    worst = maxKeepingNaN(worst, abs(Double(out[(oy * ow + ox) * 3 + c]) - sum))
                }
            }
        }
        XCTAssertLessThanOrEqual(worst, 1e-3, "seed \(seed): max |float - float64| = \(worst), tolerance 1e-3")
    }

    /// Pillow's precompute_coeffs with the bilinear filter, in float64, as (index, weight) pairs.
    static func referenceWeights(inSize: Int, outSize: Int) -> [[(Int, Double)]] {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        return (0..<outSize).map { i in
            let center = (Double(i) + 0.5) * scale
            let lo = max(Int(center - filterScale + 0.5), 0)
            let hi = min(Int(center + filterScale + 0.5), inSize)
            let raw = (lo..<hi).map { x -> (Int, Double) in
                let t = abs((Double(x) - center + 0.5) / filterScale)
                return (x, t < 1 ? 1 - t : 0)
            }
            let total = raw.reduce(0) { $0 + $1.1 }
            return raw.map { ($0.0, $0.1 / total) }
        }
    }

    func testDegenerateArguments() {
        let image = RGBImage(width: 2, height: 2, pixels: [UInt8](repeating: 9, count: 12))
        XCTAssertEqual(ImageResize.resize(image, width: 0, height: 5), [])
        XCTAssertEqual(ImageResize.resize(image, width: 3, height: -1), [])
        let malformed = RGBImage(width: 2, height: 2, pixels: [1, 2, 3])
        XCTAssertFalse(malformed.isWellFormed)
        XCTAssertEqual(ImageResize.resize(malformed, width: 3, height: 1), [Float](repeating: 0, count: 9))
        let empty = RGBImage(width: 0, height: 0, pixels: [])
        XCTAssertEqual(ImageResize.resize(empty, width: 1, height: 1), [0, 0, 0])
    }

    /// The SIMD horizontal pass equals the plain per-channel loop it replaced, bit for bit, on
    /// widths that end the row at every lane offset, up- and downscaling, one-pixel images.
    func testHorizontalPassEqualsThePlainLoopBitForBit() {
        var rng = SeededGenerator(seed: 31)
        for (w, h, ow) in [(1, 1, 1), (1, 3, 5), (2, 2, 1), (7, 3, 3), (13, 5, 29), (64, 4, 7), (333, 3, 256), (1000, 2, 32), (517, 2, 341)] {
            let pixels = (0..<(w * h * 3)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let image = RGBImage(width: w, height: h, pixels: pixels)
            let weights = ResampleWeights(inSize: w, outSize: ow)
            let got = ImageResize.horizontalPass(image, weights: weights)
            var want = [Float](repeating: 0, count: ow * h * 3)
            for y in 0..<h {
                for x in 0..<ow {
                    var r: Float = 0, g: Float = 0, b: Float = 0
                    var p = (y * w + weights.start[x]) * 3
                    for k in (x * weights.taps)..<(x * weights.taps + weights.count[x]) {
                        let wk = weights.weights[k]
                        r += wk * Float(pixels[p]); g += wk * Float(pixels[p + 1]); b += wk * Float(pixels[p + 2])
                        p += 3
                    }
                    want[(y * ow + x) * 3] = r; want[(y * ow + x) * 3 + 1] = g; want[(y * ow + x) * 3 + 2] = b
                }
            }
            XCTAssertEqual(got.count, want.count, "\(w)x\(h) -> \(ow)")
            XCTAssertTrue(zip(got, want).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(w)x\(h) -> \(ow): not bit-identical")
        }
    }
}
