import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

/// The median of timings (the upper one of an even count).
func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] }

/// The median of each repetition's ratio a[i] / b[i], for timings taken interleaved: the VM's memory
/// bandwidth moves in spells (35 ↔ 60 GB/s on Zen 4), and a ratio of two medians can take its two
/// terms from different spells.
func medianOfRatios(_ a: [Double], _ b: [Double]) -> Double { median(zip(a, b).map { $0 / $1 }) }

/// `embedscope-bench`: the benchmark executable (figures, not tests), kept apart from the user's
/// CLI. The scripts in Scripts/bench_*.py run it beside numpy, FAISS, ONNX Runtime, PyTorch and
/// scikit-learn and print the ratios.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embedscope-bench",
        abstract: "Benchmarks (figures, not tests). Scripts/bench_search.py runs these beside numpy and FAISS.",
        subcommands: [Search.self, Half.self, Images.self, Extract.self, Metrics.self, Gemm.self])

    struct Search: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "search", abstract: "Time single and batched top-k queries on an index, and a memory-bandwidth pass over the same bytes.")

        @Argument(help: "Index directory.") var index: String
        @Option(help: "Queries: .npy [Q, d] (unit rows). At least --batch rows.") var queries: String
        @Option(help: "Space to scan.") var space = "embedding"
        @Option(name: .shortAndLong) var k = 10
        @Option(name: .customLong("repeat"), help: "Timed repetitions per measurement (the median is reported).") var repeats: Int = 10
        @Option(help: "Batch size for the batched measurement.") var batch = 64
        @Option(help: "Threads (default: the CPUs this process may use; see `info --system`).") var threads: Int?
        @Option(help: "What to time: all, single (the one-query scans) or batch (the own batch path only; for profiling).")
        var only = "all"
        @Flag(help: "Scan without the unit-length check of every row read (to measure what the check costs).") var unchecked = false
        @Flag var json = false

        struct Figures: Encodable {
            var rows: Int, dim: Int, bytes: Int, threads: Int, k: Int, batch: Int, repeats: Int
            var bandwidthMs: Double, bandwidthGBs: Double
            /// A pure read as the one-query kernel reads (its vector width and software prefetch): a stricter floor.
            var readPassMs: Double, readPassGBs: Double
            var singleSimdMs: Double, singleBlasMs: Double
            /// The median over repetitions of each repetition's ratio (scan / bandwidth pass, scan / read pass): the
            /// VM's memory bandwidth moves in spells, and a ratio of medians can take its terms from different ones.
            var singleOverBandwidth: Double, singleOverReadPass: Double
            /// The batch on the GEMM path in use (`batchPath`: own kernel unless EMBEDSCOPE_GEMM=openblas), and on OpenBLAS.
            var batchBlasMs: Double
            var batchPath: String
            var batchOpenBLASMs: Double
            var firstQueryTop: [Int]
            var firstBatchTops: [[Int]]
        }

        func run() throws {
            try runCommand {
                let idx = try Index.open(resolveURL(index))
                let v = try idx.vectors(space: space)
                let q = try NPYArray.read(contentsOf: resolveURL(queries))
                guard q.shape.count == 2, q.cols == v.dim, q.rows >= batch, q.rows >= 1 else {
                    throw EmbedScopeError(.shapeMismatch, "queries have shape \(q.shape); need [≥\(batch), \(v.dim)]")
                }
                let m = RowMatrix(base: v.base, rows: v.rows, dim: v.dim, stride: v.stride, unitRows: !unchecked)
                let t = threads ?? Scorer.defaultThreads
                let bytes = Int(v.header.payloadLength)
                func time(_ body: () throws -> Void) rethrows -> Double {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    try body()
                    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
                }
                var sink: Float = 0
                // Warm the page cache once.
                sink += Kernels.bandwidthPass(UnsafeRawPointer(v.base), bytes: bytes, threads: t)
                func query(_ i: Int) -> [Float] { Array(q.values[(i % q.rows) * q.cols..<((i % q.rows) + 1) * q.cols]) }
                var first: [Int] = []
                let single = only != "batch", batches = only != "single", all = only == "all"
                // Interleaved, one of each per repetition: the floors and the scan see the same
                // neighbours on a shared machine (blocks of one then the other drifted apart).
                var bwTimes: [Double] = [], readTimes: [Double] = [], simdTimes: [Double] = []
                for i in 0..<repeats {
                    bwTimes.append(time { sink += Kernels.bandwidthPass(UnsafeRawPointer(v.base), bytes: bytes, threads: t) })
                    guard single else { continue }
                    readTimes.append(time { sink += Kernels.readPass(v.base, count: bytes / 4, threads: t) })
                    let qi = query(i)
                    var hits: [Hit] = []
                    simdTimes.append(try time { hits = try Scorer.search(m, query: qi, k: k, kernel: .simd, threads: t) })
                    if i == 0 { first = hits.map(\.row) }
                }
                let bw = median(bwTimes)
                let read = single ? median(readTimes) : 0, simd = single ? median(simdTimes) : 0
                let overBandwidth = single ? medianOfRatios(simdTimes, bwTimes) : 0
                let overRead = single ? medianOfRatios(simdTimes, readTimes) : 0
                let blas = !all ? 0 : median(try (0..<repeats).map { i in
                    let qi = query(i)
                    return try time { _ = try Scorer.search(m, query: qi, k: k, kernel: .blas, threads: t) }
                })
                let qb = Array(q.values[0..<(batch * q.cols)])
                var tops: [[Int]] = []
                let batchMs = !batches ? 0 : median(try (0..<(all ? max(3, repeats / 3) : repeats)).map { i in
                    var r: [[Hit]] = []
                    let ms = try time { r = try Scorer.searchBatch(m, queries: qb, count: batch, k: k, kernel: .blas, threads: t) }
                    if i == 0 { tops = r.map { $0.map(\.row) } }
                    return ms
                })
                let batchOpenBLAS = !all ? 0 : median(try (0..<max(3, repeats / 3)).map { _ in
                    try SGEMM.withPath(.openblas) {
                        try time { _ = try Scorer.searchBatch(m, queries: qb, count: batch, k: k, kernel: .blas, threads: t) }
                    }
                })
                if sink.isNaN { note("(sink \(sink))") }
                let f = Figures(rows: v.rows, dim: v.dim, bytes: bytes, threads: t, k: k, batch: batch, repeats: repeats,
                                bandwidthMs: bw, bandwidthGBs: Double(bytes) / bw / 1e6,
                                readPassMs: read, readPassGBs: read > 0 ? Double(bytes) / read / 1e6 : 0,
                                singleSimdMs: simd, singleBlasMs: blas, singleOverBandwidth: overBandwidth, singleOverReadPass: overRead,
                                batchBlasMs: batchMs,
                                batchPath: SGEMM.path.rawValue, batchOpenBLASMs: batchOpenBLAS,
                                firstQueryTop: first, firstBatchTops: tops)
                if json { try printJSON(f) } else {
                    print(String(format: "%d × %d float32 (%.2f GB), %d threads, k=%d, median of %d", v.rows, v.dim, Double(bytes) / 1e9, t, k, repeats))
                    print(String(format: "bandwidth pass      %8.2f ms  (%.1f GB/s)", bw, f.bandwidthGBs))
                    print(String(format: "read pass (prefetch) %7.2f ms  (%.1f GB/s)", read, f.readPassGBs))
                    print(String(format: "single query simd   %8.2f ms  (%.2f× the bandwidth floor, %.2f× the read pass; per repetition)",
                                 simd, overBandwidth, overRead))
                    print(String(format: "single query blas   %8.2f ms  (%.2f× the bandwidth floor)", blas, blas / bw))
                    print(String(format: "batch of %d (%@) %8.2f ms  (%.3f ms per query)", batch, SGEMM.path.rawValue as NSString, batchMs, batchMs / Double(batch)))
                    print(String(format: "batch of %d (OpenBLAS) %8.2f ms", batch, batchOpenBLAS))
                }
            }
        }
    }
}
