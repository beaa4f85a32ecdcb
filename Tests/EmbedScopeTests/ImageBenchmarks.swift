import EmbedScope
import Foundation
import XCTest

/// Timings for the image layer; skipped unless EMBEDSCOPE_BENCH=1. Run through
/// Scripts/bench_images.py, which builds in release and prints Pillow's figures beside these.
/// Optional: EMBEDSCOPE_BENCH_JPEG=/path/to/file.jpg to time a real JPEG decode.
final class ImageBenchmarks: XCTestCase {
    private var environment: [String: String] { ProcessInfo.processInfo.environment }

    override func setUpWithError() throws {
        try XCTSkipUnless(environment["EMBEDSCOPE_BENCH"] == "1", "set EMBEDSCOPE_BENCH=1 to run benchmarks")
    }

    /// Median wall time of `runs` calls, in milliseconds.
    private func median(runs: Int, _ body: () throws -> Void) rethrows -> Double {
        var times = [Double]()
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        return times.sorted()[runs / 2]
    }

    private func photoLike(width: Int, height: Int, seed: UInt64) -> RGBImage {
        var rng = SplitMix64(seed: seed)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                pixels[i] = UInt8((x * 255 / width + Int.random(in: 0...15, using: &rng)) & 0xFF)
                pixels[i + 1] = UInt8((y * 255 / height + Int.random(in: 0...15, using: &rng)) & 0xFF)
                pixels[i + 2] = UInt8(((x + y) & 0xFF) ^ 0x55)
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    func testResize4000x3000ToShortSide256() {
        let image = photoLike(width: 4000, height: 3000, seed: 1)
        var out = [Float]()
        let ms = median(runs: 5) { out = ImageResize.resize(image, width: 341, height: 256) }
        XCTAssertEqual(out.count, 341 * 256 * 3)
        print(String(format: "bench: resize 4000x3000 -> 341x256: %.1f ms (median of 5)", ms))
    }

    func testResize28x28To32x32() {
        let image = photoLike(width: 28, height: 28, seed: 2)
        let ms = median(runs: 5) {
            for _ in 0..<1000 { _ = ImageResize.resize(image, width: 32, height: 32) }
        }
        print(String(format: "bench: resize 28x28 -> 32x32: %.2f µs per image (median of 5 x 1000)", ms))
    }

    func testDecodePNG2000x1500() throws {
        let image = photoLike(width: 2000, height: 1500, seed: 3)
        let data = try PNGWriter.encode(width: image.width, height: image.height, channels: 3, pixels: image.pixels)
        var decoded = RGBImage(width: 0, height: 0, pixels: [])
        let ms = try median(runs: 5) { decoded = try ImageDecoder.decode(data: data, path: "bench.png") }
        XCTAssertEqual(decoded, image)
        let encodeMs = try median(runs: 3) {
            _ = try PNGWriter.encode(width: image.width, height: image.height, channels: 3, pixels: image.pixels)
        }
        print(String(format: "bench: PNG 2000x1500 (%.2f MB): decode %.1f ms, encode %.1f ms (median)",
                     Double(data.count) / 1e6, ms, encodeMs))
    }

    func testDecodeJPEG() throws {
        let path = try XCTUnwrap(environment["EMBEDSCOPE_BENCH_JPEG"], "set EMBEDSCOPE_BENCH_JPEG")
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        var decoded = RGBImage(width: 0, height: 0, pixels: [])
        let ms = try median(runs: 7) { decoded = try ImageDecoder.decode(data: data, path: path) }
        print(String(format: "bench: JPEG %dx%d (%.2f MB): decode %.1f ms (median of 7)",
                     decoded.width, decoded.height, Double(data.count) / 1e6, ms))
    }
}
