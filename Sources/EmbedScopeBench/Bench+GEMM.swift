import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Bench {
    /// GFLOP/s of every GEMM path on the hot shapes, same process, same data.
    struct Gemm: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gemm", abstract: "Time every SGEMM path (own AVX-512 / AVX2 / portable kernels, OpenBLAS) on the model's and the analysis' shapes.")

        @Option(help: "Shapes m×n×k, comma-separated (default: EfficientNet-Lite0 / ResNet layers and a silhouette tile; with --pointwise, every distinct 1×1 shape of EfficientNet-Lite0).")
        var shapes: String?
        @Option(help: "Threads (rows split across them; OpenBLAS is held to one thread when this is 1, else it threads itself).") var threads = 1
        @Option(name: .customLong("repeat"), help: "Timed repetitions (the best is reported).") var repeats = 5
        @Flag(help: "Time the 1×1-convolution kernels instead, on the SIMD paths, one thread: ConvKernels.pointwise (packed weights, A read in place) or, where the path prefers it, the unpacked small-shape kernel (kernel \"small\"); ReLU6 epilogue.")
        var pointwise = false
        @Flag(help: "Time the depthwise kernel instead, on the SIMD paths, one thread: every depthwise layer of EfficientNet-Lite0 at one image, on a band of rows whose input fits half of L2 (the 14×14 and 7×7 layers whole), as the network runs them at batch 1; input as planes where the padded rows fit L1, else NHWC; 64-byte-aligned buffers; ReLU6 epilogue.")
        var depthwise = false
        @Flag var json = false

        /// EfficientNet-Lite0 and ResNet layers and a silhouette tile.
        static let defaultShapes = "12544x96x16,3136x144x24,784x240x40,196x672x112,49x1152x192,49x1280x320,3136x64x576,784x512x128,1024x1024x1280"
        /// Every distinct 1×1-convolution shape of EfficientNet-Lite0 at 224 × 224, one image (pixels × out × in), in the
        /// order the network first runs it (block 0's projection, the blocks' expands and projections, the head).
        static let efficientNetPointwise = [
            "12544x16x32", "12544x96x16", "3136x24x96", "3136x144x24", "3136x24x144", "784x40x144", "784x240x40", "784x40x240",
            "196x80x240", "196x480x80", "196x80x480", "196x112x480", "196x672x112", "196x112x672", "49x192x672", "49x1152x192",
            "49x192x1152", "49x320x1152", "49x1280x320",
        ].joined(separator: ",")

        /// `kernel`: "sgemm" (the GEMM entry point), "pointwise" or "small" (`--pointwise`).
        struct Row: Encodable { var m: Int, n: Int, k: Int, path: String, kernel: String, ms: Double, gflops: Double }

        func run() throws {
            if depthwise { return try runDepthwise() }
            try runCommand {
                let list = try (shapes ?? (pointwise ? Self.efficientNetPointwise : Self.defaultShapes))
                    .split(separator: ",").map { s -> (Int, Int, Int) in
                        let p = s.split(separator: "x").compactMap { Int($0) }
                        guard p.count == 3, p.allSatisfy({ $0 > 0 }) else {
                            throw EmbedScopeError(.invalidArgument, "shape '\(s)' is not m×n×k, e.g. 3136x144x24")
                        }
                        return (p[0], p[1], p[2])
                    }
                var rng = SplitMix64(seed: 3)
                var rows = [Row]()
                for (m, n, k) in list {
                    let a = (0..<(m * k)).map { _ in Float(rng.gaussian()) }
                    let b = (0..<(k * n)).map { _ in Float(rng.gaussian()) }
                    let bias = (0..<n).map { _ in Float(rng.gaussian()) }
                    var c = [Float](repeating: 0, count: m * n)
                    for path in GEMMPath.allCases where path.isSupported && (!pointwise || path == .avx512 || path == .avx2) {
                        let packed = PackedMatrix.packing(b, k: k, n: n, path: path)
                        let small = pointwise && ConvKernels.prefersSmallPointwise(path: path, k: k, n: n)
                        var best = Double.infinity
                        for _ in 0..<(repeats + 1) {
                            let t0 = DispatchTime.now().uptimeNanoseconds
                            // One thread means one thread for the reference too: OpenBLAS would
                            // otherwise use every core and look twice as fast per thread.
                            a.withUnsafeBufferPointer { ap in
                                bias.withUnsafeBufferPointer { bp in
                                    c.withUnsafeMutableBufferPointer { cp in
                                        if small {
                                            b.withUnsafeBufferPointer { wp in
                                                ConvKernels.pointwiseSmall(path: path, rows: m, k: k, n: n, ap.baseAddress!, weights: wp.baseAddress!,
                                                                           bias: bp.baseAddress!, residual: nil, activation: .relu6, cp.baseAddress!)
                                            }
                                        } else if pointwise {
                                            ConvKernels.pointwise(packed, m: m, ap.baseAddress!, lda: k, bias: bp.baseAddress!, residual: nil, ldr: 0,
                                                                  activation: .relu6, cp.baseAddress!, ldc: n)
                                        } else {
                                            BLASThreads.single(if: threads == 1 && path == .openblas) {
                                                packed.multiply(m: m, a: ap.baseAddress!, lda: k, c: cp.baseAddress!, ldc: n,
                                                                bias: bp.baseAddress!, activation: .relu6, threads: threads)
                                            }
                                        }
                                    }
                                }
                            }
                            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                        }
                        rows.append(Row(m: m, n: n, k: k, path: path.rawValue,
                                        kernel: small ? "small" : pointwise ? "pointwise" : "sgemm", ms: best, gflops: 2.0 * Double(m * n * k) / best / 1e6))
                    }
                }
                let peaks = Self.fmaPeaks(repeats: repeats)
                if json { try printJSON(Merged(["rows": rows], ["peakGflops": peaks])) } else {
                    Self.printHeader(peaks)
                    for r in rows {
                        let share = peaks[r.path].map { String(format: "  %3.0f %% of peak", 100 * r.gflops / $0) } ?? ""
                        let label = r.kernel == "sgemm" ? r.path : "\(r.path) \(r.kernel)"
                        print(String(format: "%6d × %5d × %5d  %-16@ %9.3f ms  %7.1f GFLOP/s", r.m, r.n, r.k, label as NSString, r.ms, r.gflops) + share)
                    }
                }
            }
        }

        /// Each SIMD path's FMA ceiling on one thread (best of the repetitions), by path name.
        static func fmaPeaks(repeats: Int) -> [String: Double] {
            var peaks: [String: Double] = [:]
            for path in [GEMMPath.avx512, .avx2] {
                if let g = SGEMM.fmaPeakGflops(path: path, repeats: repeats) { peaks[path.rawValue] = g }
            }
            return peaks
        }

        /// The machine's summary line and the FMA peaks, before a table of kernel timings.
        static func printHeader(_ peaks: [String: Double]) {
            print(SystemInfo.collect().summary)
            for (p, g) in peaks.sorted(by: { $0.key > $1.key }) {
                print(String(format: "FMA peak, one thread, %@: %.1f GFLOP/s", p as NSString, g))
            }
        }
    }
}
