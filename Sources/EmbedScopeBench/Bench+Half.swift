import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Bench {
    /// One query over a space three ways: the float32 SIMD scan, the half-copy scan with its exact
    /// re-scoring, and the bandwidth pass over the float32 bytes (the floor a float32 scan cannot
    /// beat). The half answers are checked to equal the float32 answers, rows and scores bit for bit.
    struct Half: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "half", abstract: "Time one query on the float32 rows and on their f16/bf16 copy (exact re-scoring), beside the bandwidth pass.")

        @Argument(help: "Index directory (or give --synthetic).") var index: String?
        @Option(help: "Queries: .npy [Q, d] (default with --synthetic: 16 seeded Gaussian queries).") var queries: String?
        @Option(help: "Instead of an index: N×D seeded Gaussian unit rows made in memory (SplitMix64), e.g. 1000000x512.") var synthetic: String?
        @Option(help: "Space to scan.") var space = "embedding"
        @Option(help: "f16 or bf16: the index's copy when it has one of this type, else one converted in memory here.") var storage = "f16"
        @Option(name: .shortAndLong) var k = 10
        @Option(name: .customLong("repeat"), help: "Timed repetitions per measurement (the median is reported).") var repeats: Int = 10
        @Option(help: "Threads (default: the CPUs this process may use; see `info --system`).") var threads: Int?
        @Option(help: "Half kernel path: avx512, avx2 or portable (default: the one this CPU runs best).") var halfPath: String?
        @Flag(help: "Scan without the unit-length check of every row read (to measure what the check costs).") var unchecked = false
        @Flag(help: "Also time both scans without the unit-length check, in the same repetitions (alternating which runs first).")
        var abCheck = false
        @Flag var json = false

        struct Figures: Encodable {
            var rows: Int, dim: Int, threads: Int, k: Int, repeats: Int
            var storage: String, halfPath: String, halfSource: String
            var floatBytes: Int, halfBytes: Int
            var bandwidthMs: Double, halfBandwidthMs: Double
            var floatScanMs: Double, halfScanMs: Double
            var halfOverFloatBandwidth: Double, floatOverFloatBandwidth: Double
            var rescoredMedian: Int
            var identical: Bool
        }

        func run() throws {
            if let halfPath {
                guard let p = HalfPath(rawValue: halfPath), p.isSupported else {
                    throw ValidationError("--half-path must be one of \(HalfPath.allCases.filter(\.isSupported).map(\.rawValue)) here")
                }
                try HalfPath.withPath(p) { try measure() }
            } else {
                try measure()
            }
        }

        private func measure() throws {
            try runCommand {
                guard let st = HalfStorage(rawValue: storage) else { throw ValidationError("--storage must be f16 or bf16") }
                var floats: UnsafeMutablePointer<Float>?
                defer { floats?.deallocate() }
                var m: RowMatrix
                var fileHalf: HalfVectorFile?
                var idx: Index?
                if let synthetic {
                    let parts = synthetic.lowercased().split(separator: "x").compactMap { Int($0) }
                    guard parts.count == 2, parts[0] >= 1, parts[1] >= 1 else { throw ValidationError("--synthetic is N×D, e.g. 1000000x512") }
                    let (n, d) = (parts[0], parts[1])
                    let fstride = (d + 15) & ~15
                    let p = UnsafeMutablePointer<Float>.allocate(capacity: n * fstride)
                    p.initialize(repeating: 0, count: n * fstride)
                    floats = p
                    let t = max(1, threads ?? Scorer.defaultThreads)
                    parallelFor(t) { w in
                        var g = SplitMix64(seed: 0x5EED &+ UInt64(w))
                        for r in stride(from: w, to: n, by: t) {
                            let row = p + r * fstride
                            var s = 0.0
                            for j in 0..<d { let x = g.gaussian(); row[j] = Float(x); s += Double(row[j]) * Double(row[j]) }
                            let inv = 1 / s.squareRoot()
                            for j in 0..<d { row[j] = Float(Double(row[j]) * inv) }
                        }
                    }
                    m = RowMatrix(base: p, rows: n, dim: d, stride: fstride, unitRows: true)
                } else {
                    guard let index else { throw ValidationError("give an index directory or --synthetic N×D") }
                    let i = try Index.open(resolveURL(index))
                    let v = try i.vectors(space: space)
                    m = RowMatrix(v)
                    fileHalf = try i.halfVectors(space: space)
                    idx = i
                }
                let q: NPYArray
                if let queries {
                    q = try NPYArray.read(contentsOf: resolveURL(queries))
                } else {
                    var g = SplitMix64(seed: 1)
                    var vals = [Float]()
                    for _ in 0..<16 {
                        var row = (0..<m.dim).map { _ in Float(g.gaussian()) }
                        _ = try Normalize.toUnit(&row, what: "query")
                        vals += row
                    }
                    q = NPYArray(shape: [16, m.dim], values: vals)
                }
                guard q.shape.count == 2, q.cols == m.dim, q.rows >= 1 else {
                    throw EmbedScopeError(.shapeMismatch, "queries have shape \(q.shape); need [≥1, \(m.dim)]")
                }
                withExtendedLifetime(idx) {}
                if unchecked { m = RowMatrix(base: m.base, rows: m.rows, dim: m.dim, stride: m.stride, unitRows: false) }
                let t = threads ?? Scorer.defaultThreads
                // The index's copy, or one made here (same rounding as `--storage` writes).
                var owned: UnsafeMutablePointer<UInt16>?
                defer { owned?.deallocate() }
                let half: HalfRows
                let source: String
                if let f = fileHalf, f.storage == st {
                    half = HalfRows(f)
                    source = f.url.lastPathComponent
                } else {
                    let stride = (m.dim + 31) & ~31
                    let p = UnsafeMutablePointer<UInt16>.allocate(capacity: max(1, m.rows * stride))
                    p.initialize(repeating: 0, count: max(1, m.rows * stride))
                    for r in 0..<m.rows {
                        HalfConvert.toHalf(UnsafeBufferPointer(start: m.row(r), count: m.dim),
                                           UnsafeMutableBufferPointer(start: p + r * stride, count: m.dim), storage: st)
                    }
                    owned = p
                    half = HalfRows(base: p, rows: m.rows, dim: m.dim, stride: stride, storage: st)
                    source = "converted in memory"
                }
                let floatBytes = m.rows * m.stride * 4, halfBytes = half.rows * half.stride * 2
                func time(_ body: () throws -> Void) rethrows -> Double {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    try body()
                    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
                }
                func query(_ i: Int) -> [Float] { Array(q.values[(i % q.rows) * q.cols..<((i % q.rows) + 1) * q.cols]) }
                var sink: Float = 0
                sink += Kernels.bandwidthPass(UnsafeRawPointer(m.base), bytes: floatBytes, threads: t)
                sink += Kernels.bandwidthPass(UnsafeRawPointer(half.base), bytes: halfBytes, threads: t)
                var identical = true
                var rescored: [Int] = []
                var bw: [Double] = [], hbw: [Double] = [], fl: [Double] = [], hf: [Double] = []
                var flu: [Double] = [], hfu: [Double] = [], flc: [Double] = [], hfc: [Double] = [], bwu: [Double] = []
                // Interleaved, so drift on a shared machine hits every measurement alike.
                for i in 0..<repeats {
                    let qi = query(i)
                    bw.append(time { sink += Kernels.bandwidthPass(UnsafeRawPointer(m.base), bytes: floatBytes, threads: t) })
                    hbw.append(time { sink += Kernels.bandwidthPass(UnsafeRawPointer(half.base), bytes: halfBytes, threads: t) })
                    var want: [Hit] = [], got: (hits: [Hit], stats: HalfScanStats)?
                    fl.append(try time { want = try Scorer.search(m, query: qi, k: k, kernel: .simd, threads: t) })
                    hf.append(try time { got = try Scorer.searchHalfWithStats(m, half: half, query: qi, k: k, threads: t) })
                    if abCheck {
                        let mu = RowMatrix(base: m.base, rows: m.rows, dim: m.dim, stride: m.stride, unitRows: false)
                        let first = flu.count
                        for turn in 0..<2 {
                            if (turn == 0) == (first % 2 == 0) {
                                flu.append(try time { _ = try Scorer.search(mu, query: qi, k: k, kernel: .simd, threads: t) })
                                hfu.append(try time { _ = try Scorer.searchHalfWithStats(mu, half: half, query: qi, k: k, threads: t) })
                            } else {
                                flc.append(try time { _ = try Scorer.search(m, query: qi, k: k, kernel: .simd, threads: t) })
                                hfc.append(try time { _ = try Scorer.searchHalfWithStats(m, half: half, query: qi, k: k, threads: t) })
                            }
                        }
                        bwu.append(bw.last!)
                    }
                    let g = got?.hits ?? []
                    identical = identical && g.count == want.count
                        && zip(g, want).allSatisfy { $0.row == $1.row && $0.score.bitPattern == $1.score.bitPattern }
                    rescored.append(got?.stats.rescored ?? 0)
                }
                if sink.isNaN { note("(sink \(sink))") }
                let f = Figures(rows: m.rows, dim: m.dim, threads: t, k: k, repeats: repeats, storage: st.rawValue,
                                halfPath: HalfPath.current.rawValue, halfSource: source, floatBytes: floatBytes, halfBytes: halfBytes,
                                bandwidthMs: median(bw), halfBandwidthMs: median(hbw), floatScanMs: median(fl), halfScanMs: median(hf),
                                halfOverFloatBandwidth: medianOfRatios(hf, bw), floatOverFloatBandwidth: medianOfRatios(fl, bw),
                                rescoredMedian: rescored.sorted()[rescored.count / 2],
                                identical: identical)
                if json { try printJSON(f) } else {
                    print(String(format: "%d × %d, %d threads, k=%d, median of %d (ratios: of each repetition's); %@ copy (%@), kernels %@", f.rows, f.dim, t, k, repeats,
                                 st.rawValue as NSString, source as NSString, f.halfPath as NSString))
                    print(String(format: "bandwidth pass, float32 bytes  %8.2f ms  (%.1f GB/s)", f.bandwidthMs, Double(floatBytes) / f.bandwidthMs / 1e6))
                    print(String(format: "bandwidth pass, half bytes     %8.2f ms", f.halfBandwidthMs))
                    print(String(format: "float32 scan (SIMD)            %8.2f ms  (%.2f× the float32 bandwidth pass)", f.floatScanMs, f.floatOverFloatBandwidth))
                    print(String(format: "%@ scan + exact re-scoring    %8.2f ms  (%.2f× the float32 bandwidth pass; %d rows re-scored, median)",
                                 st.rawValue as NSString, f.halfScanMs, f.halfOverFloatBandwidth, f.rescoredMedian))
                    if abCheck {
                        print(String(format: "A/B, same repetitions: float32 scan checked %.2f× / unchecked %.2f×, %@ scan checked %.2f× / unchecked %.2f× the float32 bandwidth pass",
                                     medianOfRatios(flc, bwu), medianOfRatios(flu, bwu), st.rawValue as NSString, medianOfRatios(hfc, bwu), medianOfRatios(hfu, bwu)))
                    }
                    print("answers identical to float32 (rows and scores, every query): \(identical)")
                }
                if !identical { throw EmbedScopeError(.invalidArgument, "the half scan's answer differs from float32's: this is a bug") }
            }
        }
    }
}
