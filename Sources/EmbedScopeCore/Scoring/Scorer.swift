import CBLAS
import CKernels
import Dispatch
import Foundation

/// How dot products are computed. `.simd` is our kernel (one row at a time with four 8-wide
/// SIMD accumulators, streamed once through memory); `.blas` is OpenBLAS sgemv/sgemm, kept as the reference
/// and selectable everywhere (`--kernel blas`).
public enum ScoreKernel: String, CaseIterable, Sendable {
    case simd, blas
}

/// Which rows may appear in results. Checked only for candidates that would enter a top-k,
/// so a filter costs nothing on rows that score below the current threshold.
public struct RowFilter: Sendable {
    /// Rows never returned (e.g. the query's own row).
    public var excluded: Set<Int> = []
    /// If set, only rows whose bit is set are returned (e.g. one class).
    public var allowed: [UInt64]? = nil

    public init(excluded: Set<Int> = [], allowed: [UInt64]? = nil) {
        self.excluded = excluded
        self.allowed = allowed
    }

    public static func allowing(rows: some Sequence<Int>, total: Int) -> RowFilter {
        var bits = [UInt64](repeating: 0, count: (total + 63) / 64)
        for r in rows { bits[r >> 6] |= 1 << UInt64(r & 63) }
        return RowFilter(allowed: bits)
    }

    @inline(__always) func isAllowed(_ row: Int) -> Bool {
        guard let allowed else { return true }
        return allowed[row >> 6] & (1 << UInt64(row & 63)) != 0
    }

    @inline(__always) func accepts(_ row: Int) -> Bool {
        isAllowed(row) && (excluded.isEmpty || !excluded.contains(row))
    }

    /// Number of rows out of `total` that can be returned.
    func eligible(total: Int) -> Int {
        let allowedCount = allowed.map { $0.reduce(0) { $0 + $1.nonzeroBitCount } } ?? total
        return allowedCount - excluded.filter { $0 >= 0 && $0 < total && isAllowed($0) }.count
    }
}

/// Exact (brute-force) top-k by inner product over unit rows: cosine similarity.
/// Nearest = highest cosine; farthest = lowest cosine. Ties go to the lower row.
public enum Scorer {
    /// Rows per chunk: each worker scores a chunk into a small buffer, then selects from it.
    static let chunkRows = 1024

    /// Threads used for a scan: the CPUs this process may use (`CPUBudget`: affinity mask,
    /// cgroup CPU quota, `EMBEDSCOPE_THREADS`).
    public static var defaultThreads: Int { CPUBudget.threads }

    /// Top-k for one query. `query` must have `matrix.dim` values (it is used as given: pass a
    /// unit vector for cosine scores). Throws `NonFiniteScores` naming the rows if any score is
    /// NaN or ±Inf (a damaged row, or a damaged query): a NaN is never silently left out.
    package static func search(_ matrix: RowMatrix, query: [Float], k: Int, farthest: Bool = false,
                              filter: RowFilter = RowFilter(), kernel: ScoreKernel = .simd,
                              threads: Int = defaultThreads) throws -> [Hit] {
        precondition(query.count == matrix.dim, "query has \(query.count) values, matrix dim is \(matrix.dim)")
        let kk = min(k, filter.eligible(total: matrix.rows))
        guard kk > 0 else { return [] }
        let sign: Float = farthest ? -1 : 1
        // For farthest, score with −q: the k best of −cos are the k lowest cos.
        let q = farthest ? query.map { -$0 } : query
        let parts = partitions(rows: matrix.rows, threads: threads)
        var heaps = [TopK](repeating: TopK(k: kk), count: parts.count)
        var damaged = [DamagedRows](repeating: DamagedRows(), count: parts.count)
        if kernel == .blas { try OpenBLASMemory.reserve(for: "the BLAS query kernel") }
        // Only the BLAS kernel needs OpenBLAS held to one thread per worker.
        BLASThreads.single(if: kernel == .blas) {
        q.withUnsafeBufferPointer { qp in
            heaps.withUnsafeMutableBufferPointer { hp in
              damaged.withUnsafeMutableBufferPointer { dp in
                let heapBase = hp.baseAddress!, damagedBase = dp.baseAddress!
                parallelFor(parts.count) { t in
                    var heap = TopK(k: kk)
                    var bad = DamagedRows()
                    var buf = [Float](repeating: 0, count: chunkRows)
                    var candidates = [Int32](repeating: 0, count: chunkRows)
                    candidates.withUnsafeMutableBufferPointer { cand in
                    buf.withUnsafeMutableBufferPointer { bp in
                        var start = parts[t].lowerBound
                        while start < parts[t].upperBound {
                            let n = min(chunkRows, parts[t].upperBound - start)
                            switch kernel {
                            case .simd: Kernels.dots(matrix, rows: start..<(start + n), query: qp.baseAddress!, out: bp.baseAddress!)
                            case .blas:
                                // In pieces of ~256 KB, each checked for unit rows right after sgemv read it
                                // (from L2; after the whole chunk the check re-read it from L3: 1.42× the
                                // bandwidth pass instead of 1.11×, 1M × 512).
                                var p = start
                                while p < start + n {
                                    let h = min(blasPieceRows(matrix), start + n - p)
                                    OpenBLASMemory.serialized {
                                        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(h), Int32(matrix.dim), 1,
                                                    matrix.row(p), Int32(matrix.stride), qp.baseAddress!, 1, 0, bp.baseAddress! + (p - start), 1)
                                    }
                                    Kernels.markNotUnit(matrix, rows: p..<(p + h), scores: bp.baseAddress! + (p - start), rowStep: 1,
                                                        queryStep: 0, queries: 1)
                                    p += h
                                }
                            }
                            if !select(bp.baseAddress!, count: n, firstRow: start, into: &heap, filter: filter,
                                       candidates: cand.baseAddress!) {
                                bad.note(bp.baseAddress!, count: n, firstRow: start)
                            }
                            start += n
                        }
                    }
                    }
                    heapBase[t] = heap
                    damagedBase[t] = bad
                }
              }
            }
        }
        }
        try DamagedRows.check(damaged)
        var all = heaps[0]
        for h in heaps.dropFirst() { all.merge(h) }
        return all.sorted().map { Hit(row: $0.row, score: $0.score * sign) }
    }

    /// Rows per sgemv call of the BLAS one-query scan: ~256 KB of them (at least 16), so the unit
    /// check that follows each call reads them from L2.
    static func blasPieceRows(_ m: RowMatrix) -> Int {
        m.unitRows ? max(16, (256 << 10) / max(1, m.stride * 4)) : chunkRows
    }

    /// Top-k for a batch of queries (row-major `queries`, `count × dim`) as one GEMM-like pass:
    /// each worker multiplies the whole batch by a chunk of rows, then selects per query — on the
    /// own scan kernel (`scanBatch`), or on OpenBLAS sgemm when `SGEMM.path` is `.openblas`.
    package static func searchBatch(_ matrix: RowMatrix, queries: [Float], count b: Int, k: Int, farthest: Bool = false,
                                   filters: [RowFilter]? = nil, kernel: ScoreKernel = .blas,
                                   threads: Int = defaultThreads) throws -> [[Hit]] {
        precondition(queries.count == b * matrix.dim, "queries must be count × dim")
        guard b > 0 else { return [] }
        if kernel == .simd && b == 1 {
            return [try search(matrix, query: queries, k: k, farthest: farthest, filter: filters?[0] ?? RowFilter(), kernel: .simd, threads: threads)]
        }
        let fs = filters ?? [RowFilter](repeating: RowFilter(), count: b)
        let ks = fs.map { min(k, $0.eligible(total: matrix.rows)) }
        let sign: Float = farthest ? -1 : 1
        let q = farthest ? queries.map { -$0 } : queries
        let parts = partitions(rows: matrix.rows, threads: threads)
        let chunk = 2048
        var heapsPerPart = [[TopK]](repeating: [], count: parts.count)
        var damaged = [DamagedRows](repeating: DamagedRows(), count: parts.count)
        let d = matrix.dim
        if SGEMM.path != .openblas {
            // Own kernels: the batch packed once, the rows multiplied where they are (not packed),
            // candidates picked from each score tile by vector compares (Scorer+Scan.swift).
            (heapsPerPart, damaged) = scanBatch(matrix, queries: q, count: b, ks: ks, filters: fs, workers: parts.count, path: SGEMM.path)
        } else {
        BLASInfo.warnIfGeneric("batch queries (EMBEDSCOPE_GEMM=openblas)")
        try OpenBLASMemory.reserve(for: "batch queries (EMBEDSCOPE_GEMM=openblas)")
        BLASThreads.single {
            q.withUnsafeBufferPointer { qp in
                heapsPerPart.withUnsafeMutableBufferPointer { hp in
                  damaged.withUnsafeMutableBufferPointer { dp in
                    let out = hp.baseAddress!, damagedBase = dp.baseAddress!
                    parallelFor(parts.count) { t in
                        var heaps = ks.map { TopK(k: $0) }
                        var bad = DamagedRows()
                        var c = [Float](repeating: 0, count: b * chunk)
                        var candidates = [Int32](repeating: 0, count: chunk)
                        candidates.withUnsafeMutableBufferPointer { cand in
                        c.withUnsafeMutableBufferPointer { cp in
                            var start = parts[t].lowerBound
                            while start < parts[t].upperBound {
                                let n = min(chunk, parts[t].upperBound - start)
                                OpenBLASMemory.serialized {
                                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(b), Int32(n), Int32(d), 1,
                                                qp.baseAddress!, Int32(d), matrix.row(start), Int32(matrix.stride), 0,
                                                cp.baseAddress!, Int32(n))
                                }
                                Kernels.markNotUnit(matrix, rows: start..<(start + n), scores: cp.baseAddress!, rowStep: 1, queryStep: n, queries: b)
                                var noted = false
                                for i in 0..<b where ks[i] > 0 {
                                    if !select(cp.baseAddress! + i * n, count: n, firstRow: start, into: &heaps[i], filter: fs[i],
                                               candidates: cand.baseAddress!) && !noted {
                                        // A damaged row scores NaN for every query: note its rows once.
                                        bad.note(cp.baseAddress! + i * n, count: n, firstRow: start)
                                        noted = true
                                    }
                                }
                                start += n
                            }
                        }
                        }
                        out[t] = heaps
                        damagedBase[t] = bad
                    }
                  }
                }
            }
        }
        }
        try DamagedRows.check(damaged)
        return (0..<b).map { i in
            var all = TopK(k: ks[i])
            for part in heapsPerPart { all.merge(part[i]) }
            return all.sorted().map { Hit(row: $0.row, score: $0.score * sign) }
        }
    }

    /// Contiguous, chunk-aligned row ranges, one per thread (`RowPartition`).
    package static func partitions(rows: Int, threads: Int) -> [Range<Int>] {
        let chunks = (rows + chunkRows - 1) / chunkRows
        return RowPartition.ranges(rows, parts: max(1, min(threads, chunks)), alignment: chunkRows)
    }

    /// Offers a chunk of scores to the heap. Returns false if a score was NaN or ±Inf.
    /// The scores at or above the heap's threshold when the chunk starts are picked by vector
    /// compares (`ck_scan_select`, which also flags non-finite scores) into `candidates` (room
    /// for `n`); each is then offered in row order against the threshold as it rises, as a
    /// one-by-one pass would. (That pass spent ~4 cycles a score on the running sum it kept for the
    /// finiteness test, with no loads of the next rows issued meanwhile: with the VM reading ~75 GB/s
    /// the one-query scan went from 1.08–1.13× the read pass to 1.06–1.10×, alternated runs.)
    @inline(__always) @discardableResult
    static func select(_ scores: UnsafePointer<Float>, count n: Int, firstRow: Int, into heap: inout TopK, filter: RowFilter,
                       candidates: UnsafeMutablePointer<Int32>) -> Bool {
        var threshold = heap.threshold
        var nonfinite: Int32 = 0
        let found = ck_scan_select(Kernels.dotsPath, n, scores, threshold, candidates, &nonfinite)
        for i in 0..<found {
            let j = Int(candidates[i]), s = scores[j]
            // `>=` lets equal scores through; TopK.push breaks the tie by row.
            if s >= threshold {
                let r = firstRow + j
                if filter.accepts(r) {
                    heap.push(s, r)
                    threshold = heap.threshold
                }
            }
        }
        return nonfinite == 0
    }
}

/// Rows whose score was NaN or ±Inf in one worker's part of a scan (the first few, and how many).
struct DamagedRows {
    var rows: [Int] = []
    var count = 0

    mutating func note(_ scores: UnsafePointer<Float>, count n: Int, firstRow: Int) {
        for j in 0..<n where !scores[j].isFinite {
            count += 1
            if rows.count < 10 { rows.append(firstRow + j) }
        }
    }

    static func check(_ parts: [DamagedRows]) throws {
        let count = parts.reduce(0) { $0 + $1.count }
        guard count > 0 else { return }
        throw NonFiniteScores(rows: Array(parts.flatMap(\.rows).sorted().prefix(10)), count: count)
    }
}

/// OpenBLAS threading: EmbedScope runs its own workers over row ranges, so each BLAS call
/// inside them must be single-threaded or the two cores are oversubscribed.
///
/// `single` is safe to call from several threads at once and re-entrant (a `single` inside a
/// `single`, on the same thread or another): scopes are counted; while any is open, every
/// OpenBLAS call in the process is single-threaded, and when the last one closes OpenBLAS gets
/// back the count it has outside scopes. The body runs outside the lock, so concurrent callers
/// (server requests, nested analyses) never wait on one another.
///
/// The command-line tools call `stopIdleWorkers` first: OpenBLAS is then single-threaded outside
/// scopes too, and only `allCores` scopes (a GEMM handed to OpenBLAS whole: prototype
/// evaluation, `EMBEDSCOPE_GEMM=openblas`) hand it every core. Where we can split the work
/// ourselves we do (PCA / LDA's scatter): OpenBLAS's threads meet at barriers that stall
/// whenever another process holds a core. Thread counts are only ever set when they change,
/// because setting one restarts OpenBLAS's worker threads if they were stopped.
package enum BLASThreads {
    private struct State {
        var open = 0, wide = 0
        var read = false
        /// OpenBLAS's count now, its count at start (what `allCores` uses), the count outside scopes.
        var current: Int32 = 1, cores: Int32 = 1, idle: Int32 = 1

        mutating func apply() {
            if !read {
                current = openblas_get_num_threads(); cores = current; idle = current; read = true
                // OpenBLAS counts the affinity mask but not a cgroup CPU quota: held to the CPUs this
                // process may use (`CPUBudget`), unless the user set its thread count.
                let env = ProcessInfo.processInfo.environment
                if !["OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"].contains(where: { env[$0] != nil }) {
                    let budget = Int32(clamping: CPUBudget.threads)
                    if budget < cores { cores = budget; idle = budget }
                }
            }
            let want = open > 0 ? 1 : wide > 0 ? cores : idle
            if want != current { openblas_set_num_threads(want); current = want }
        }
    }
    private static let state = Locked(State())

    /// Number of `single` scopes open in the process (for tests).
    package static var openScopes: Int { state.withLock { $0.open } }

    /// OpenBLAS's thread count at start: what it runs with in `allCores` scopes (and, unless
    /// `stopIdleWorkers` was called, outside scopes).
    package static var cores: Int { state.withLock { s in s.apply(); return Int(s.cores) } }

    package static func single<T>(if condition: Bool = true, _ body: () throws -> T) rethrows -> T {
        guard condition else { return try body() }
        state.withLock { s in s.open += 1; s.apply() }
        defer { state.withLock { s in s.open -= 1; s.apply() } }
        return try body()
    }

    /// Runs body with OpenBLAS on every core (its count at start), unless a `single` scope is
    /// open somewhere in the process, which wins.
    package static func allCores<T>(_ body: () throws -> T) rethrows -> T {
        state.withLock { s in s.wide += 1; s.apply() }
        defer { state.withLock { s in s.wide -= 1; s.apply() } }
        return try body()
    }

    /// Makes OpenBLAS single-threaded outside `allCores` scopes and ends its idle worker
    /// threads, once per process (later calls do nothing).
    ///
    /// OpenBLAS starts one worker per extra core when the library loads, and again whenever a
    /// thread count is set after its workers were stopped; each worker then spins on
    /// `sched_yield` for 2^28 TSC cycles (0.1 s on a 2.6 GHz TSC) waiting for a job before it
    /// sleeps, sharing a core with whatever the command computes meanwhile (7–8 % of a profiled
    /// `metrics` run's samples, all in `sched_yield`). `blas_thread_shutdown_` joins the workers;
    /// OpenBLAS starts them again by itself when an `allCores` scope sets its thread count.
    /// Looked up at run time: a serial or OpenMP OpenBLAS may not export it (then the workers,
    /// if any, stay).
    package static func stopIdleWorkers() { _ = stopped }

    private static let stopped: Bool = state.withLock { s in
        s.apply()
        s.idle = 1
        s.apply()
        typealias Shutdown = @convention(c) () -> Int32
        guard let symbol = dlsym(nil, "blas_thread_shutdown_") else { return false }
        _ = unsafeBitCast(symbol, to: Shutdown.self)()
        return true
    }
}
