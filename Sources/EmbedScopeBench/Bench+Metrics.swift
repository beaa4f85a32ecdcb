import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Bench {
    /// Cluster-metric timings on seeded synthetic clusters; Scripts/bench_metrics.py times
    /// scikit-learn on the same rows (written with --save) in the same run.
    struct Metrics: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "metrics", abstract: "Time the exact silhouette (and Davies-Bouldin, Calinski-Harabasz) on seeded clustered unit vectors.")

        @Option(help: "Rows.") var rows = 10_000
        @Option(help: "Dimensions.") var dim = 1280
        @Option(help: "Classes (sizes grow with the class index: weights 1, 2, …, K).") var classes = 10
        @Option(help: "Noise relative to the class centres (larger = more overlap).") var spread = 1.0
        @Option(help: "Seed of the data.") var seed: UInt64 = 1
        @Option(name: .customLong("repeat"), help: "Timed runs of the exact silhouette (the median is reported).") var repeats = 1
        @Option(help: "Rows per block.") var block = SilhouetteOptions().blockRows
        @Option(help: "One level of Strassen–Winograd on the exact float32 silhouette's full off-diagonal tiles: auto, always or never.")
        var strassen = "auto"
        @Option(help: "Threads (default: the CPUs this process may use; see `info --system`).") var threads: Int?
        @Option(help: "Also time a sampled silhouette of this many rows.") var sample: Int?
        @Flag(help: "Also time the float64 (dgemm) kernel and report its difference from float32.") var compareFloat64 = false
        @Option(help: "Write the rows (X.npy, float32) and labels (labels.txt) to this directory.") var save: String?
        @Flag var json = false

        func validate() throws {
            guard rows >= 3, dim >= 1, classes >= 2, classes < rows else { throw ValidationError("need rows ≥ 3, dim ≥ 1, 2 ≤ classes < rows") }
            guard repeats >= 1, block >= 1 else { throw ValidationError("--repeat and --block must be at least 1") }
            if let sample, sample < 2 { throw ValidationError("--sample must be at least 2") }
            guard Self.strassenUse(strassen) != nil else { throw ValidationError("--strassen must be auto, always or never") }
        }

        struct Figures: Encodable {
            var rows: Int, dim: Int, classes: Int, threads: Int, block: Int, seed: UInt64, spread: Double
            var generateSeconds: Double
            var silhouette: Double
            var silhouetteSeconds: [Double]
            var silhouetteMedianSeconds: Double
            /// Effective GFLOP/s of the exact silhouette: N²·dim multiply-adds (one per ordered pair) / time.
            var silhouetteGflops: Double
            /// CPU seconds (user + system, all threads) of each timed run: far steadier than wall
            /// time on a shared machine; and N²·dim multiply-adds / the median CPU seconds.
            var silhouetteCPUSeconds: [Double]
            var silhouetteGflopsPerCPUSecond: Double
            var refinedPairs: Int
            /// Tiles multiplied with one level of Strassen–Winograd (`--strassen`).
            var strassenTiles: Int
            var daviesBouldin: Double
            var calinskiHarabasz: Double
            var centroidMetricsSeconds: Double
            var float64Silhouette: Double?
            var float64Seconds: Double?
            var float64RelativeDifference: Double?
            var sample: Int?
            var sampledSilhouette: Double?
            var sampledStandardError: Double?
            var sampledSeconds: Double?
        }

        func run() throws {
            try runCommand {
                let t = threads ?? Scorer.defaultThreads
                func time<R>(_ body: () throws -> R) rethrows -> (R, Double) {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    let r = try body()
                    return (r, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                }
                let ((x, labels), gen) = time { Self.clusters(rows: rows, dim: dim, classes: classes, spread: spread, seed: seed, threads: t) }
                if let save {
                    let dir = resolveURL(save)
                    do {
                        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                        try labels.map(String.init).joined(separator: "\n").appending("\n")
                            .write(to: dir.appendingPathComponent("labels.txt"), atomically: true, encoding: .utf8)
                    } catch {
                        throw EmbedScopeError(.io, "cannot write the benchmark data", path: dir.path, underlying: error)
                    }
                    try NPYArray.write(shape: [rows, dim], values: x, to: dir.appendingPathComponent("X.npy"))
                }
                var f = try x.withUnsafeBufferPointer { xp -> Figures in
                    let m = RowMatrix(base: xp.baseAddress!, rows: rows, dim: dim, stride: dim)
                    var o = SilhouetteOptions(blockRows: block, threads: t)
                    o.strassen = Self.strassenUse(strassen) ?? .automatic
                    var result: SilhouetteResult?
                    var seconds: [Double] = [], cpu: [Double] = []
                    for _ in 0..<repeats {
                        let c0 = Self.processCPUSeconds()
                        let (r, s) = try time { try ClusterMetrics.silhouette(m, labels: labels, options: o, progress: TerminalProgress()) }
                        cpu.append(Self.processCPUSeconds() - c0)
                        result = r
                        seconds.append(s)
                    }
                    let medianCPU = cpu.sorted()[cpu.count / 2]
                    guard let sil = result else { throw EmbedScopeError(.invalidArgument, "no timed run") }
                    let median = seconds.sorted()[seconds.count / 2]
                    let ((db, ch), centroid) = try time {
                        (try ClusterMetrics.daviesBouldin(m, labels: labels, threads: t), try ClusterMetrics.calinskiHarabasz(m, labels: labels, threads: t))
                    }
                    return Figures(rows: rows, dim: dim, classes: classes, threads: t, block: block, seed: seed, spread: spread,
                                   generateSeconds: gen, silhouette: sil.mean, silhouetteSeconds: seconds, silhouetteMedianSeconds: median,
                                   silhouetteGflops: Double(rows) * Double(rows) * Double(dim) / median / 1e9,
                                   silhouetteCPUSeconds: cpu,
                                   silhouetteGflopsPerCPUSecond: Double(rows) * Double(rows) * Double(dim) / medianCPU / 1e9,
                                   refinedPairs: sil.refinedPairs, strassenTiles: sil.strassenTiles, daviesBouldin: db, calinskiHarabasz: ch, centroidMetricsSeconds: centroid)
                }
                try x.withUnsafeBufferPointer { xp in
                    let m = RowMatrix(base: xp.baseAddress!, rows: rows, dim: dim, stride: dim)
                    if compareFloat64 {
                        let o = SilhouetteOptions(kernel: .float64, blockRows: block, threads: t)
                        let (r, s) = try time { try ClusterMetrics.silhouette(m, labels: labels, options: o, progress: TerminalProgress()) }
                        f.float64Silhouette = r.mean
                        f.float64Seconds = s
                        f.float64RelativeDifference = abs(f.silhouette - r.mean) / abs(r.mean)
                    }
                    if let sample {
                        let o = SilhouetteOptions(sample: sample, seed: seed, blockRows: block, threads: t)
                        let (r, s) = try time { try ClusterMetrics.silhouette(m, labels: labels, options: o, progress: TerminalProgress()) }
                        f.sample = r.sample ?? rows
                        f.sampledSilhouette = r.mean
                        f.sampledStandardError = r.standardError
                        f.sampledSeconds = s
                    }
                }
                if json { try printJSON(f) } else { print(Self.text(f)) }
            }
        }

        static func strassenUse(_ s: String) -> SilhouetteOptions.StrassenUse? {
            switch s { case "auto": .automatic; case "always": .always; case "never": .never; default: nil }
        }

        /// User + system CPU seconds of this process so far (all threads).
        static func processCPUSeconds() -> Double {
            var u = rusage()
            #if os(Linux)
            getrusage(RUSAGE_SELF.rawValue, &u)
            #else
            getrusage(RUSAGE_SELF, &u)
            #endif
            return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
        }

        static func text(_ f: Figures) -> String {
            var lines = [String(format: "%d × %d float32 unit rows, %d classes, seed %llu, %d threads, blocks of %d (generated in %.2f s)",
                                f.rows, f.dim, f.classes, f.seed, f.threads, f.block, f.generateSeconds)]
            lines.append(String(format: "exact silhouette (float32)  %.9f  %8.3f s  (median of %d; %.1f effective GFLOP/s; %.1f per CPU second; %d pairs refined in Double; %d Strassen tiles)",
                                f.silhouette, f.silhouetteMedianSeconds, f.silhouetteSeconds.count, f.silhouetteGflops,
                                f.silhouetteGflopsPerCPUSecond, f.refinedPairs, f.strassenTiles))
            if let v = f.float64Silhouette, let s = f.float64Seconds, let d = f.float64RelativeDifference {
                lines.append(String(format: "exact silhouette (float64)  %.9f  %8.3f s  (%.2f× the float32 time; relative difference %.1e)",
                                    v, s, s / f.silhouetteMedianSeconds, d))
            }
            if let n = f.sample, let v = f.sampledSilhouette, let s = f.sampledSeconds {
                lines.append(String(format: "sampled silhouette (%d)   %.6f ± %.6f  %8.3f s", n, v, f.sampledStandardError ?? 0, s))
            }
            lines.append(String(format: "Davies-Bouldin %.6f, Calinski-Harabasz %.3f  %8.3f s", f.daviesBouldin, f.calinskiHarabasz, f.centroidMetricsSeconds))
            return lines.joined(separator: "\n")
        }

        /// Seeded clusters of unit rows: K centres drawn N(0, I/dim); class k has weight k + 1
        /// and noise spread·(0.75 + 0.5·k/(K − 1))·N(0, I/dim); rows are normalized in Double and
        /// stored as Float. Each row has its own generator (seeded from the seed and the row), so
        /// rows are generated in parallel and identically for any thread count.
        static func clusters(rows n: Int, dim d: Int, classes k: Int, spread: Double, seed: UInt64, threads: Int) -> ([Float], [Int32]) {
            var g = SplitMix64(seed: seed)
            let scale = 1 / Double(d).squareRoot()
            let centres = (0..<(k * d)).map { _ in g.gaussian() * scale }
            let total = Double(k * (k + 1) / 2)
            var cumulative: [Double] = []
            var acc = 0.0
            for c in 0..<k { acc += Double(c + 1) / total; cumulative.append(acc) }
            var x = [Float](repeating: 0, count: n * d)
            var labels = [Int32](repeating: 0, count: n)
            x.withUnsafeMutableBufferPointer { xp in
                labels.withUnsafeMutableBufferPointer { lp in
                    let xb = xp.baseAddress!, lb = lp.baseAddress!
                    let chunks = max(1, threads * 8)
                    parallelFor(chunks) { part in
                        var v = [Double](repeating: 0, count: d)
                        for r in (n * part / chunks)..<(n * (part + 1) / chunks) {
                            var rowSeed = SplitMix64(seed: seed ^ 0x5EED_0000_0000_0000 ^ UInt64(r))
                            var rg = SplitMix64(seed: rowSeed.next())
                            let u = rg.unit()
                            let c = cumulative.firstIndex { u < $0 } ?? (k - 1)
                            let sigma = spread * (0.75 + 0.5 * Double(c) / Double(max(1, k - 1))) * scale
                            var norm = 0.0
                            for j in 0..<d {
                                v[j] = centres[c * d + j] + sigma * rg.gaussian()
                                norm += v[j] * v[j]
                            }
                            let inv = 1 / norm.squareRoot()
                            for j in 0..<d { xb[r * d + j] = Float(v[j] * inv) }
                            lb[r] = Int32(c)
                        }
                    }
                }
            }
            return (x, labels)
        }
    }
}
