import EmbedScope
import Foundation
import XCTest
@testable import EmbedScopeImages
@testable import EmbedScopeModels

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
            let weights = ResampleWeights(inSize: w, outSize: ow, outputs: 0..<ow)
            let got = ImageResize.horizontalPass(image, weights: weights, rows: 0..<h, columns: 0..<ow)
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

    /// A window of the resize equals the same window cut from the whole resize, bit for bit:
    /// centre crops as the preprocessing takes them, edges, single pixels, same-size axes.
    func testWindowEqualsTheCropOfTheWholeResizeBitForBit() {
        var rng = SeededGenerator(seed: 41)
        let cases: [(w: Int, h: Int, ow: Int, oh: Int)] = [(97, 61, 34, 26), (61, 97, 26, 40), (40, 30, 40, 17), (40, 30, 13, 30),
                                                           (40, 30, 40, 30), (5, 3, 23, 11), (1, 1, 4, 4), (333, 250, 341, 256)]
        for c in cases {
            let pixels = (0..<(c.w * c.h * 3)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let image = RGBImage(width: c.w, height: c.h, pixels: pixels)
            let whole = ImageResize.resize(image, width: c.ow, height: c.oh)
            let windows: [(Range<Int>, Range<Int>)] = [(0..<c.ow, 0..<c.oh), (c.ow / 4..<(c.ow - c.ow / 4), c.oh / 3..<(c.oh - c.oh / 4)),
                                                       (0..<1, (c.oh - 1)..<c.oh), ((c.ow - 1)..<c.ow, 0..<1), (c.ow / 2..<(c.ow / 2 + 1), 0..<c.oh)]
            for (cols, rows) in windows {
                let got = ImageResize.resize(image, width: c.ow, height: c.oh, columns: cols, rows: rows)
                var want: [Float] = []
                for y in rows { for x in cols { for ch in 0..<3 { want.append(whole[(y * c.ow + x) * 3 + ch]) } } }
                XCTAssertEqual(got.count, want.count, "\(c) \(cols) \(rows)")
                XCTAssertTrue(zip(got, want).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(c) \(cols) \(rows): not bit-identical")
            }
        }
        let image = RGBImage(width: 4, height: 4, pixels: [UInt8](repeating: 9, count: 48))
        XCTAssertEqual(ImageResize.resize(image, width: 8, height: 8, columns: 0..<9, rows: 0..<8), [], "a window outside the output")
        XCTAssertEqual(ImageResize.resize(image, width: 8, height: 8, columns: 2..<2, rows: 0..<8), [], "an empty window")
    }

    /// The preprocessing (resize the short side, centre crop, normalize) computes only the crop,
    /// and gives the values of the whole resize cropped, bit for bit: wide, tall, square, tiny
    /// images, and a crop larger than the resize (zero padding).
    func testPreprocessingEqualsTheCropOfTheWholeResize() {
        var rng = SeededGenerator(seed: 43)
        let recipes = [Preprocessing.efficientNetLite, .torchvisionImageNet,
                       Preprocessing(resizeShort: 40, crop: 48, mean: [1, 2, 3], std: [2, 3, 4]),
                       Preprocessing(resizeShort: 37, crop: 32, mean: [0, 0, 0], std: [1, 1, 1])]
        for (w, h) in [(300, 200), (200, 300), (257, 257), (3, 2), (1, 9)] {
            let pixels = (0..<(w * h * 3)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let image = RGBImage(width: w, height: h, pixels: pixels)
            for p in recipes {
                let got = p.apply(image)
                let (rw, rh) = p.resizedSize(width: w, height: h)
                let resized = ImageResize.resize(image, width: rw, height: rh)
                let top = Int((Double(rh - p.crop) / 2).rounded(.toNearestOrEven))
                let left = Int((Double(rw - p.crop) / 2).rounded(.toNearestOrEven))
                var want = [Float](repeating: 0, count: 3 * p.crop * p.crop)
                for y in 0..<p.crop {
                    for x in 0..<p.crop {
                        let sy = y + top, sx = x + left
                        let inside = sy >= 0 && sy < rh && sx >= 0 && sx < rw && !resized.isEmpty
                        for c in 0..<3 {
                            let v: Float = inside ? resized[(sy * rw + sx) * 3 + c] : 0
                            want[c * p.crop * p.crop + y * p.crop + x] = (v - p.mean[c]) * (1 / p.std[c])
                        }
                    }
                }
                XCTAssertEqual(got.count, want.count)
                XCTAssertTrue(zip(got, want).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(w)x\(h) \(p.summary): not bit-identical")
            }
        }
    }

    /// A thin image (1 × 4,000,000 pixels, 12 MB decoded) resizes to a short side of 256 as an
    /// image 1,024 million pixels tall; only the crop's rows and columns get weights. Computing them
    /// for every row took ~7 KB per input row (28 GB here; `build` and `query --image` died by a
    /// signal on a 10 KB PNG). Each value is checked against the filter's formula in Double.
    func testThinImagesResizeWithoutWeightsForEveryRow() {
        let n = 4_000_000
        let p = Preprocessing.efficientNetLite
        for tall in [true, false] {
            let pixels = [UInt8](unsafeUninitializedCapacity: n * 3) { b, count in
                for i in 0..<n { b[3 * i] = UInt8(i % 251); b[3 * i + 1] = UInt8((i / 7) % 256); b[3 * i + 2] = 200 }
                count = n * 3
            }
            let image = RGBImage(width: tall ? 1 : n, height: tall ? n : 1, pixels: pixels)
            let got = p.apply(image)
            let (rw, rh) = p.resizedSize(width: image.width, height: image.height)
            let long = tall ? rh : rw
            let offset = Int((Double(long - p.crop) / 2).rounded(.toNearestOrEven))
            let scale = Double(n) / Double(long)   // < 1: upscaling, support 1
            for t in [0, 1, 100, p.crop - 1] {
                let centre = (Double(offset + t) + 0.5) * scale
                let lo = max(Int((centre - 1 + 0.5).rounded(.down)), 0), hi = min(Int((centre + 1 + 0.5).rounded(.down)), n)
                var sum = 0.0, total = 0.0
                for k in lo..<hi {
                    let w = max(0, 1 - abs(Double(k) - centre + 0.5))
                    sum += w * Double(k % 251)
                    total += w
                }
                let want = (sum / total - Double(p.mean[0])) / Double(p.std[0])
                for s in [0, 57, p.crop - 1] {   // every position across the thin axis has the same value
                    let (y, x) = tall ? (t, s) : (s, t)
                    XCTAssertEqual(Double(got[y * p.crop + x]), want, accuracy: 1e-4, "tall \(tall) at \(t), \(s)")
                }
            }
        }
    }
}
