import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Bench.Gemm {
    /// Every distinct depthwise layer of EfficientNet-Lite0 at 224 × 224 (channels, input side, kernel, stride; how many
    /// blocks have it), in network order.
    static let efficientNetDepthwise: [(c: Int, side: Int, k: Int, s: Int, count: Int)] = [
        (32, 112, 3, 1, 1), (96, 112, 3, 2, 1), (144, 56, 3, 1, 1), (144, 56, 5, 2, 1), (240, 28, 5, 1, 1), (240, 28, 3, 2, 1),
        (480, 14, 3, 1, 2), (480, 14, 5, 1, 1), (672, 14, 5, 1, 2), (672, 14, 5, 2, 1), (1152, 7, 5, 1, 3), (1152, 7, 3, 1, 1),
    ]

    /// `rows`: output rows timed (a band, or the whole layer); `imageMs`: the layer's share of one image at this speed
    /// (all its rows, every block that has it).
    struct DepthwiseRow: Encodable {
        var channels: Int, side: Int, kernel: Int, stride: Int, rows: Int, path: String, input: String, ms: Double, gflops: Double, imageMs: Double
    }

    /// `--depthwise`: the depthwise kernel alone on the network's shapes, best of the repetitions.
    func runDepthwise() throws {
        try runCommand {
            var rng = SplitMix64(seed: 5)
            var rows = [DepthwiseRow]()
            for (c, side, k, s, count) in Self.efficientNetDepthwise {
                let h = side, w = side, oh = (h + s - 1) / s, ow = (w + s - 1) / s
                let padTop = max(0, (oh - 1) * s + k - h) / 2, padLeft = max(0, (ow - 1) * s + k - w) / 2
                // The wide layers run in bands of rows whose input fits half of L2 in the network
                // (MBConvBlock); time such a band (its input L2-resident across the repetitions).
                let inputRows = (CacheSizes.l2Bytes / 2) / (((ow - 1) * s + k) * c * 4)
                let band = side <= 14 ? oh : min(oh, max(1, (inputRows - k) / s + 1))   // 14×14 and 7×7: whole layers, as the network runs them
                // Every buffer 64-byte aligned, as the network's (an Array's storage is 16-byte aligned).
                func aligned(_ count: Int, _ value: () -> Float) -> UnsafeMutablePointer<Float> {
                    let p = LargeBuffer.allocate(Float.self, count: count, for: "bench")
                    for i in 0..<count { p[i] = value() }
                    return p
                }
                let weights = aligned(k * k * c) { Float(rng.gaussian()) }, bias = aligned(c) { Float(rng.gaussian()) }
                let x = aligned(h * w * c) { Float(rng.gaussian()) }, y = aligned(oh * ow * c) { 0 }
                defer { for p in [weights, bias, x, y] { LargeBuffer.deallocate(p) } }
                for path in GEMMPath.allCases where path.isSupported && (path == .avx512 || path == .avx2) {
                    let layout = ConvKernels.PlaneLayout(path: path, kernel: k, stride: s, imageWidth: w, padLeft: padLeft, rows: h, channels: c)
                    // The input as planes (pad columns zero) where the layer reads planes, else NHWC.
                    // 64-byte aligned, as the network's workspace (an Array's storage is only 16-byte aligned).
                    let planes = LargeBuffer.allocate(Float.self, count: layout?.floats ?? 1, for: "planes")
                    defer { LargeBuffer.deallocate(planes) }
                    planes.initialize(repeating: 0, count: layout?.floats ?? 1)
                    if let l = layout {
                        for r in 0..<h {
                            for j in 0..<w {
                                for ch in 0..<c {
                                    planes[(ch / l.width) * l.planeStride + r * l.rowFloats + (l.padLeft + j) * l.width + ch % l.width] = x[(r * w + j) * c + ch]
                                }
                            }
                        }
                    }
                    var best = Double.infinity
                    for _ in 0..<(repeats + 1) {
                        let t0 = DispatchTime.now().uptimeNanoseconds
                        if let l = layout {
                            ConvKernels.depthwisePlanes(path: path, kernel: k, planes, layout: l, height: h, firstRow: 0, padTop: padTop, outHeight: oh,
                                                        weights: weights, bias: bias, activation: .relu6, y, rows: 0..<band, only: 0..<c)
                        } else {
                            ConvKernels.depthwise(path: path, kernel: k, stride: s, x, height: h, width: w, channels: c, firstRow: 0, padTop: padTop,
                                                  padLeft: padLeft, outHeight: oh, outWidth: ow, weights: weights, bias: bias, activation: .relu6,
                                                  y, rows: 0..<band)
                        }
                        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                    }
                    rows.append(DepthwiseRow(channels: c, side: side, kernel: k, stride: s, rows: band, path: path.rawValue, input: layout == nil ? "nhwc" : "planes",
                                             ms: best, gflops: 2.0 * Double(k * k * c * band * ow) / best / 1e6,
                                             imageMs: best * Double(oh) / Double(band) * Double(count)))
                }
            }
            let peaks = Self.fmaPeaks(repeats: repeats)
            if json { try printJSON(Merged(["rows": rows], ["peakGflops": peaks])) } else {
                Self.printHeader(peaks)
                var total: [String: Double] = [:]
                for r in rows {
                    total[r.path, default: 0] += r.imageMs
                    let share = peaks[r.path].map { String(format: "  %3.0f %% of peak", 100 * r.gflops / $0) } ?? ""
                    print(String(format: "%5d ch %3d² %d×%d /%d  %-7@ %-7@ %3d rows %8.3f ms  %7.1f GFLOP/s", r.channels, r.side, r.kernel, r.kernel, r.stride,
                                 r.path as NSString, r.input as NSString, r.rows, r.ms, r.gflops) + share)
                }
                for (p, t) in total.sorted(by: { $0.key > $1.key }) { print(String(format: "one image's depthwise layers at these speeds, %@: %.3f ms", p as NSString, t)) }
            }
        }
    }
}
