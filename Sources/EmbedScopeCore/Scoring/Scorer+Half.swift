import CKernels
import Foundation

/// A read-only view of half-precision rows (a mapped half copy, or memory in tests and
/// benchmarks): `stride` elements per row, a multiple of 32, zero padding after `dim`.
/// `@unchecked`: like `RowMatrix`, a view of memory never written through it.
package struct HalfRows: @unchecked Sendable {
    package let base: UnsafePointer<UInt16>
    package let rows: Int
    package let dim: Int
    package let stride: Int
    package let storage: HalfStorage

    package init(base: UnsafePointer<UInt16>, rows: Int, dim: Int, stride: Int, storage: HalfStorage) {
        precondition(stride % 32 == 0 && stride >= dim && rows >= 0, "half rows need a stride that is a multiple of 32 and ≥ dim")
        self.base = base; self.rows = rows; self.dim = dim; self.stride = stride; self.storage = storage
    }

    package init(_ file: HalfVectorFile) {
        self.init(base: file.base, rows: file.rows, dim: file.dim, stride: file.stride, storage: file.storage)
    }

    /// Elements the scan reads per row: `dim` rounded up to 32 (the padding is zero).
    var paddedDim: Int { (dim + 31) & ~31 }
}

/// The half scan found NaN or ±Inf in the half copy's scores (rows of the half file).
package struct NonFiniteHalfScores: Error, Sendable {
    package var rows: [Int]
    package var count: Int

    /// Throws when any worker of a half scan noted damaged rows (the first ten named, all counted).
    static func check(_ damaged: [DamagedRows]) throws {
        let count = damaged.reduce(0) { $0 + $1.count }
        if count > 0 { throw NonFiniteHalfScores(rows: Array(damaged.flatMap(\.rows).sorted().prefix(10)), count: count) }
    }
}

/// What a half scan did, besides its answer (for tests and benchmarks).
package struct HalfScanStats: Sendable, Equatable {
    /// Rows re-scored against the float32 rows (the candidates within 2B of the k-th half score).
    package var rescored: Int
    /// The bound B used (per query for a batch: the largest).
    package var bound: Double
}

extension Scorer {
    /// Top-k for one query from the half copy, re-scored exactly: the same rows, order and
    /// bitwise scores as `search(matrix, query:, kernel: .simd)` (docs/index-format.md,
    /// "Half-precision copies"). `matrix` and `half` hold the same rows.
    package static func searchHalf(_ matrix: RowMatrix, half: HalfRows, query: [Float], k: Int, farthest: Bool = false,
                                  filter: RowFilter = RowFilter(), threads: Int = defaultThreads,
                                  path: HalfPath = HalfPath.current) throws -> [Hit] {
        try searchHalfWithStats(matrix, half: half, query: query, k: k, farthest: farthest, filter: filter,
                                threads: threads, path: path).hits
    }

    package static func searchHalfWithStats(_ matrix: RowMatrix, half: HalfRows, query: [Float], k: Int, farthest: Bool = false,
                                           filter: RowFilter = RowFilter(), threads: Int = defaultThreads,
                                           path: HalfPath = HalfPath.current) throws -> (hits: [Hit], stats: HalfScanStats) {
        precondition(query.count == matrix.dim, "query has \(query.count) values, matrix dim is \(matrix.dim)")
        precondition(half.rows == matrix.rows && half.dim == matrix.dim, "the half copy is \(half.rows)×\(half.dim), the rows \(matrix.rows)×\(matrix.dim)")
        let kk = min(k, filter.eligible(total: matrix.rows))
        guard kk > 0 else { return ([], HalfScanStats(rescored: 0, bound: 0)) }
        let sign: Float = farthest ? -1 : 1
        let q = farthest ? query.map { -$0 } : query
        let margin = 2 * HalfBound.bound(query: q, storage: half.storage)
        let dp = half.paddedDim
        var qpad = [Float](repeating: 0, count: dp)
        for j in 0..<q.count { qpad[j] = q[j] }
        let parts = partitions(rows: matrix.rows, threads: threads)
        var heaps = [TopK](repeating: TopK(k: kk), count: parts.count)
        var found = [Candidates](repeating: Candidates(), count: parts.count)
        var damaged = [DamagedRows](repeating: DamagedRows(), count: parts.count)
        let kp = path.kernelPath, type = half.storage.kernelType
        // Half rows of unit rows are checked on the way (a damaged one scores NaN).
        let tol: Float = matrix.unitRows ? UnitRows.scanTolerance(dim: dp, storage: half.storage) : -1
        qpad.withUnsafeBufferPointer { qp in
            heaps.withUnsafeMutableBufferPointer { hp in
              found.withUnsafeMutableBufferPointer { fp in
                damaged.withUnsafeMutableBufferPointer { dp2 in
                    let heapBase = hp.baseAddress!, foundBase = fp.baseAddress!, damagedBase = dp2.baseAddress!
                    parallelFor(parts.count) { t in
                        var heap = TopK(k: kk)
                        var cands = Candidates()
                        var bad = DamagedRows()
                        let buf = UnsafeMutablePointer<Float>.allocate(capacity: chunkRows)
                        let picked = UnsafeMutablePointer<Int32>.allocate(capacity: chunkRows)
                        defer { buf.deallocate(); picked.deallocate() }
                        var start = parts[t].lowerBound
                        while start < parts[t].upperBound {
                            let n = min(chunkRows, parts[t].upperBound - start)
                            ck_half_dots(kp, type, half.base + start * half.stride, half.stride, n, dp, qp.baseAddress!, tol, buf)
                            if !selectCandidates(buf, count: n, firstRow: start, heap: &heap, candidates: &cands, margin: margin, filter: filter,
                                                 picked: picked) {
                                bad.note(buf, count: n, firstRow: start)
                            }
                            start += n
                        }
                        heapBase[t] = heap
                        foundBase[t] = cands
                        damagedBase[t] = bad
                    }
                }
              }
            }
        }
        try NonFiniteHalfScores.check(damaged)
        var all = heaps[0]
        for h in heaps.dropFirst() { all.merge(h) }
        let finalCut = all.count < kk ? -Float.infinity : HalfBound.cut(kth: all.threshold, margin: margin)
        // Re-score every candidate with the float32 kernel the float32 scan uses (one row at a time:
        // `Kernels.dots` computes each row alone, so its score is the scan's, bit for bit).
        var exact = TopK(k: kk)
        var rescored = 0
        var bad = DamagedRows()
        q.withUnsafeBufferPointer { qp in
            var s: Float = 0
            for c in found {
                for i in 0..<c.rows.count where c.scores[i] >= finalCut {
                    let r = c.rows[i]
                    Kernels.dots(matrix, rows: r..<(r + 1), query: qp.baseAddress!, out: &s)
                    rescored += 1
                    if s.isFinite { exact.push(s, r) } else { bad.note(&s, count: 1, firstRow: r) }
                }
            }
        }
        try DamagedRows.check([bad])
        let hits = exact.sorted().map { Hit(row: $0.row, score: $0.score * sign) }
        return (hits, HalfScanStats(rescored: rescored, bound: margin / 2))
    }

    /// Top-k for a batch of queries from the half copy through the own GEMM kernels (`SGEMM.path`
    /// not `.openblas`), re-scored exactly: the same answers as `searchBatch` on the float32 rows.
    /// Each chunk of half rows is widened to float32 (exact) and multiplied by the packed batch;
    /// candidates within 2B_i of query i's k-th half score are gathered (float32 rows) and
    /// multiplied by the same packed batch: the scan kernels compute every element of C with the
    /// same operations wherever its row sits in A, so these are the float32 search's scores.
    package static func searchBatchHalf(_ matrix: RowMatrix, half: HalfRows, queries: [Float], count b: Int, k: Int,
                                       farthest: Bool = false, filters: [RowFilter]? = nil, threads: Int = defaultThreads,
                                       path: HalfPath = HalfPath.current) throws -> [[Hit]] {
        precondition(queries.count == b * matrix.dim, "queries must be count × dim")
        precondition(half.rows == matrix.rows && half.dim == matrix.dim)
        guard b > 0 else { return [] }
        let gemmPath = SGEMM.path
        precondition(gemmPath != .openblas, "the half batch scan runs on the own GEMM kernels")
        let fs = filters ?? [RowFilter](repeating: RowFilter(), count: b)
        let ks = fs.map { min(k, $0.eligible(total: matrix.rows)) }
        let sign: Float = farthest ? -1 : 1
        let q = farthest ? queries.map { -$0 } : queries
        let d = matrix.dim
        let margins: [Double] = (0..<b).map { i in
            q.withUnsafeBufferPointer { 2 * HalfBound.bound(query: UnsafeBufferPointer(rebasing: $0[(i * d)..<((i + 1) * d)]), storage: half.storage) }
        }
        // The float32 batch scan's kernel (`scanBatch`): the re-scored candidates get its scores, bit for bit.
        let packed = QueryPanels.packing(q, count: b, dim: d, path: gemmPath)
        let parts = partitions(rows: matrix.rows, threads: threads)
        let chunk = 2048
        var heapsPerPart = [[TopK]](repeating: [], count: parts.count)
        var foundPerPart = [[Candidates]](repeating: [], count: parts.count)
        var damaged = [DamagedRows](repeating: DamagedRows(), count: parts.count)
        let kp = path.kernelPath, type = half.storage.kernelType
        let halfTolerance = matrix.unitRows ? UnitRows.scanTolerance(dim: d, storage: half.storage) : nil
        heapsPerPart.withUnsafeMutableBufferPointer { hp in
          foundPerPart.withUnsafeMutableBufferPointer { fp in
            damaged.withUnsafeMutableBufferPointer { dp in
                let heapOut = hp.baseAddress!, foundOut = fp.baseAddress!, damagedBase = dp.baseAddress!
                parallelFor(parts.count) { t in
                    var heaps = ks.map { TopK(k: $0) }
                    var cands = [Candidates](repeating: Candidates(), count: b)
                    var bad = DamagedRows()
                    let widened = UnsafeMutablePointer<Float>.allocate(capacity: chunk * d)
                    let rowsFirst = UnsafeMutablePointer<Float>.allocate(capacity: b * chunk)
                    let perQuery = UnsafeMutablePointer<Float>.allocate(capacity: b * chunk)
                    let picked = UnsafeMutablePointer<Int32>.allocate(capacity: chunk)
                    defer { widened.deallocate(); rowsFirst.deallocate(); perQuery.deallocate(); picked.deallocate() }
                    var start = parts[t].lowerBound
                    while start < parts[t].upperBound {
                        let n = min(chunk, parts[t].upperBound - start)
                        for r in 0..<n {
                            ck_half_to_float(kp, type, half.base + (start + r) * half.stride, widened + r * d, d)
                        }
                        packed.scores(rows: n, a: widened, lda: d, c: rowsFirst, ldc: b, unitTolerance: halfTolerance)
                        for r in 0..<n {
                            for i in 0..<b { perQuery[i * n + r] = rowsFirst[r * b + i] }
                        }
                        var noted = false
                        for i in 0..<b where ks[i] > 0 {
                            if !selectCandidates(perQuery + i * n, count: n, firstRow: start, heap: &heaps[i], candidates: &cands[i],
                                                 margin: margins[i], filter: fs[i], picked: picked) && !noted {
                                bad.note(perQuery + i * n, count: n, firstRow: start)
                                noted = true
                            }
                        }
                        start += n
                    }
                    heapOut[t] = heaps
                    foundOut[t] = cands
                    damagedBase[t] = bad
                }
            }
          }
        }
        try NonFiniteHalfScores.check(damaged)
        // Per query: the final cut, then its candidates; the union of their rows is re-scored once.
        var perQueryRows = [[Int]](repeating: [], count: b)
        var union = Set<Int>()
        for i in 0..<b where ks[i] > 0 {
            var all = TopK(k: ks[i])
            for part in heapsPerPart { all.merge(part[i]) }
            let cut = all.count < ks[i] ? -Float.infinity : HalfBound.cut(kth: all.threshold, margin: margins[i])
            for part in foundPerPart {
                let c = part[i]
                for j in 0..<c.rows.count where c.scores[j] >= cut { perQueryRows[i].append(c.rows[j]) }
            }
            union.formUnion(perQueryRows[i])
        }
        let rows = union.sorted()
        var position = [Int: Int](minimumCapacity: rows.count)
        for (p, r) in rows.enumerated() { position[r] = p }
        var scores = [Float](repeating: 0, count: max(1, rows.count * b))
        if !rows.isEmpty {
            try matrix.gathering(rows: rows) { g in
                scores.withUnsafeMutableBufferPointer { sp in
                    packed.scores(rows: g.rows, a: g.base, lda: g.stride, c: sp.baseAddress!, ldc: b,
                                  unitTolerance: g.unitRows ? UnitRows.scanTolerance(dim: d) : nil)
                }
                var bad = DamagedRows()
                for p in 0..<rows.count {
                    for i in 0..<b where !scores[p * b + i].isFinite { bad.note(&scores[p * b + i], count: 1, firstRow: rows[p]); break }
                }
                try DamagedRows.check([bad])
            }
        }
        return (0..<b).map { i in
            var exact = TopK(k: ks[i])
            for r in perQueryRows[i] { exact.push(scores[position[r]! * b + i], r) }
            return exact.sorted().map { Hit(row: $0.row, score: $0.score * sign) }
        }
    }

    /// Offers a chunk of half scores: every eligible row whose score is within `margin` (2B) of
    /// the running k-th best half score is kept as a candidate (the running k-th only rises, so
    /// this keeps a superset of the final candidates). Returns false if a score was NaN or ±Inf.
    /// The scores at or above the cut when the chunk starts are picked by vector compares
    /// (`ck_scan_select`, which also flags non-finite scores) into `picked` (room for `n`), then
    /// offered in row order against the cut as it rises — what a one-by-one pass keeps, without
    /// its ~4 cycles a score of running sum (as `select` for the float32 scan).
    @inline(__always)
    static func selectCandidates(_ scores: UnsafePointer<Float>, count n: Int, firstRow: Int, heap: inout TopK,
                                 candidates: inout Candidates, margin: Double, filter: RowFilter,
                                 picked: UnsafeMutablePointer<Int32>) -> Bool {
        var threshold = heap.threshold
        var cut = HalfBound.cut(kth: threshold, margin: margin)
        var nonfinite: Int32 = 0
        let found = ck_scan_select(Kernels.dotsPath, n, scores, cut, picked, &nonfinite)
        for i in 0..<found {
            let j = Int(picked[i]), s = scores[j]
            if s >= cut {
                let r = firstRow + j
                if filter.accepts(r) {
                    candidates.append(r, s)
                    if s >= threshold {
                        heap.push(s, r)
                        if heap.threshold != threshold {
                            threshold = heap.threshold
                            cut = HalfBound.cut(kth: threshold, margin: margin)
                        }
                    }
                }
            }
        }
        if candidates.rows.count > candidates.limit { candidates.prune(below: cut) }
        return nonfinite == 0
    }
}

/// Candidate rows of a half scan and their half scores, pruned as the cut rises.
struct Candidates {
    var rows: [Int] = []
    var scores: [Float] = []
    var limit = 4096

    @inline(__always) mutating func append(_ r: Int, _ s: Float) {
        rows.append(r)
        scores.append(s)
    }

    mutating func prune(below cut: Float) {
        var w = 0
        for i in 0..<rows.count where scores[i] >= cut {
            rows[w] = rows[i]; scores[w] = scores[i]; w += 1
        }
        rows.removeLast(rows.count - w)
        scores.removeLast(scores.count - w)
        limit = max(4096, 2 * w)
    }
}

extension Scorer {
    /// The half scan's scores of every row (one thread), for tests and benchmarks.
    package static func halfScores(_ half: HalfRows, query: [Float], path: HalfPath = HalfPath.current) -> [Float] {
        precondition(query.count == half.dim)
        var qpad = [Float](repeating: 0, count: half.paddedDim)
        for j in 0..<query.count { qpad[j] = query[j] }
        var out = [Float](repeating: 0, count: max(1, half.rows))
        ck_half_dots(path.kernelPath, half.storage.kernelType, half.base, half.stride, half.rows, half.paddedDim, qpad, -1, &out)
        return Array(out.prefix(half.rows))
    }
}
