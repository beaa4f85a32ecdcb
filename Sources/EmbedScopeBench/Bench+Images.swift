import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Bench {
    /// Image-layer timings; Scripts/bench_images.py prints Pillow's beside them.
    struct Images: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "images", abstract: "Time JPEG/PNG decoding, PNG encoding and the antialiased resize.")

        @Option(help: "A JPEG to time decoding on.") var jpeg: String?
        @Option(help: "Median of this many runs.") var runs = 5

        func run() throws {
            try runCommand {
                func median(_ n: Int, _ body: () throws -> Void) rethrows -> Double {
                    var t: [Double] = []
                    for _ in 0..<n {
                        let s = DispatchTime.now().uptimeNanoseconds
                        try body()
                        t.append(Double(DispatchTime.now().uptimeNanoseconds - s) / 1e6)
                    }
                    return t.sorted()[n / 2]
                }
                // Deterministic photo-like content: gradients plus noise (SplitMix64, seed 1).
                func photoLike(_ w: Int, _ h: Int) -> RGBImage {
                    var state: UInt64 = 1
                    func next() -> UInt64 {
                        state &+= 0x9E37_79B9_7F4A_7C15
                        var z = state
                        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                        return z ^ (z >> 31)
                    }
                    var px = [UInt8](repeating: 0, count: w * h * 3)
                    for y in 0..<h {
                        for x in 0..<w {
                            let i = (y * w + x) * 3
                            px[i] = UInt8((x * 255 / w + Int(next() & 15)) & 0xFF)
                            px[i + 1] = UInt8((y * 255 / h + Int(next() & 15)) & 0xFF)
                            px[i + 2] = UInt8(((x + y) & 0xFF) ^ 0x55)
                        }
                    }
                    return RGBImage(width: w, height: h, pixels: px)
                }
                let big = photoLike(4000, 3000)
                print(String(format: "resize 4000x3000 -> 341x256: %.1f ms", median(runs) { _ = ImageResize.resize(big, width: 341, height: 256) }))
                let small = photoLike(28, 28)
                let per = median(runs) { for _ in 0..<1000 { _ = ImageResize.resize(small, width: 32, height: 32) } }
                print(String(format: "resize 28x28 -> 32x32: %.2f µs per image", per))
                let mid = photoLike(2000, 1500)
                var png = Data()
                let enc = try median(3) { png = try PNGWriter.encode(width: 2000, height: 1500, channels: 3, pixels: mid.pixels) }
                let dec = try median(runs) { _ = try ImageDecoder.decode(data: png, path: "bench.png") }
                print(String(format: "PNG 2000x1500 (%.2f MB): decode %.1f ms, encode %.1f ms", Double(png.count) / 1e6, dec, enc))
                if let jpeg {
                    let data = try Data(contentsOf: resolveURL(jpeg))
                    var img = RGBImage(width: 0, height: 0, pixels: [])
                    let ms = try median(runs) { img = try ImageDecoder.decode(data: data, path: jpeg) }
                    print(String(format: "JPEG %dx%d (%.2f MB): decode %.1f ms", img.width, img.height, Double(data.count) / 1e6, ms))
                }
            }
        }
    }
}
