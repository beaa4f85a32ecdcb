import CKernels

/// A batch of queries packed once for the scan kernels (`ckscan.h`) of one own GEMM path: the
/// B operand of C = rows · queriesᵀ, where the rows are read in place (never packed).
/// Every score depends only on its row, its query and the path, so the same rows scored in
/// another call (a gathered subset, re-scored candidates of a half scan) get the same bits.
/// `@unchecked`: the panels are a raw allocation written only in `init`, read-only after.
package final class QueryPanels: @unchecked Sendable {
    package let path: GEMMPath
    /// Queries (columns of C) and their dimension.
    package let count: Int
    package let dim: Int
    let kernelPath: Int32
    private let storage: UnsafeMutablePointer<Float>

    /// Packs `count` queries of `dim` floats (query j at `queries + j * ldq`, `ldq` ≥ dim; default dim).
    /// `path` must be one of the own kernels (not `.openblas`).
    package init(queries: UnsafePointer<Float>, count: Int, dim: Int, ldq: Int? = nil, path: GEMMPath) {
        precondition(count >= 0 && dim >= 0 && (ldq ?? dim) >= dim)
        guard let kp = path.kernelPath else { preconditionFailure("QueryPanels is for the own kernels, not \(path)") }
        self.path = path
        self.count = count
        self.dim = dim
        kernelPath = kp
        let n = ck_scan_packed_count(kp, dim, count)
        storage = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64).bindMemory(to: Float.self, capacity: n)
        ck_scan_pack_queries(kp, dim, count, queries, ldq ?? dim, storage)
    }

    /// Packs a Swift array of `count × dim` queries, row-major.
    package static func packing(_ queries: [Float], count: Int, dim: Int, path: GEMMPath) -> QueryPanels {
        precondition(queries.count >= count * dim, "queries hold \(queries.count) values, count × dim = \(count * dim)")
        let dummy: [Float] = [0]
        return (queries.isEmpty ? dummy : queries).withUnsafeBufferPointer {
            QueryPanels(queries: $0.baseAddress!, count: count, dim: dim, path: path)
        }
    }

    deinit { storage.deallocate() }

    /// c[m × count] (row stride `ldc` ≥ count) = rows · queriesᵀ, the m rows at `a` with row
    /// stride `lda` (≥ dim), on the calling thread.
    ///
    /// `unitTolerance`: the rows were stored unit length; each block of them is checked right after
    /// it is multiplied, and a row whose sum of squares is off by more than this scores NaN for
    /// every query (`ck_scan_gemm_unit`, `UnitRows.scanTolerance`).
    package func scores(rows m: Int, a: UnsafePointer<Float>, lda: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                        unitTolerance: Float? = nil) {
        guard m > 0, count > 0 else { return }
        precondition(lda >= dim && ldc >= count)
        ck_scan_gemm_unit(kernelPath, m, count, dim, a, lda, storage, unitTolerance ?? -1, c, ldc)
    }
}

extension Scorer {
    /// Rows per GEMM call of a worker in the batch scan (its score tile, rows × queries, stays in L2).
    static let scanChunkRows = 512
    /// Rows whose scores are searched for candidates at a time (the thresholds rise in between).
    static let scanStripRows = 64

    /// The batch scan on the own kernels (`searchBatch` unless the path is OpenBLAS): `workers`
    /// threads take chunks of rows in turn from a shared counter (a worker slowed by a neighbour
    /// on a shared machine takes fewer; the answer does not depend on who took what), and each
    /// chunk is multiplied by the packed batch, read in place, into a [rows × queries] tile; the
    /// tile is searched strip by strip for scores at or above each query's current k-th best
    /// (`ck_scan_candidates`, vectorized), and only those are offered to the heaps. A
    /// chunk with a NaN or ±Inf score is noted as the per-query scan notes it (`DamagedRows`).
    /// `q` is the batch as scored (negated for farthest); `ks[i]` 0 skips query i.
    static func scanBatch(_ matrix: RowMatrix, queries q: [Float], count b: Int, ks: [Int], filters fs: [RowFilter],
                          workers: Int, path: GEMMPath) -> (heaps: [[TopK]], damaged: [DamagedRows]) {
        let panels = QueryPanels.packing(q, count: b, dim: matrix.dim, path: path)
        let kp = panels.kernelPath
        // A row not unit length scores NaN for every query (checked block by block, in cache).
        let tolerance = matrix.unitRows ? UnitRows.scanTolerance(dim: matrix.dim) : nil
        let chunk = scanChunkRows, strip = scanStripRows
        precondition(strip * b < Int(Int32.max), "batch of \(b) queries is too large for one strip")
        let total = matrix.rows, chunks = (total + chunk - 1) / chunk
        let workers = max(1, min(workers, chunks))
        let claims = Claims(chunks)
        var heapsPerPart = [[TopK]](repeating: [], count: workers)
        var damaged = [DamagedRows](repeating: DamagedRows(), count: workers)
        heapsPerPart.withUnsafeMutableBufferPointer { hp in
          damaged.withUnsafeMutableBufferPointer { dp in
            let out = hp.baseAddress!, damagedBase = dp.baseAddress!
            parallelFor(workers) { t in
                var heaps = ks.map { TopK(k: $0) }
                var bad = DamagedRows()
                // Per query: the score a candidate must reach (-inf until its heap is full); NaN
                // (never reached) for a query that wants nothing.
                var thresholds = ks.map { $0 > 0 ? -Float.infinity : Float.nan }
                let scores = UnsafeMutablePointer<Float>.allocate(capacity: chunk * b)
                let found = UnsafeMutablePointer<Int32>.allocate(capacity: strip * b)
                defer { scores.deallocate(); found.deallocate() }
                for c in claims {
                    let start = c * chunk
                    let n = min(chunk, total - start)
                    panels.scores(rows: n, a: matrix.row(start), lda: matrix.stride, c: scores, ldc: b, unitTolerance: tolerance)
                    var nonfinite: Int32 = 0
                    var r0 = 0
                    while r0 < n {
                        let h = min(strip, n - r0)
                        let tile = scores + r0 * b
                        let count = thresholds.withUnsafeBufferPointer {
                            ck_scan_candidates(kp, h, b, tile, b, $0.baseAddress!, found, &nonfinite)
                        }
                        for e in 0..<count {
                            let pos = Int(found[e])
                            let r = pos / b, i = pos - r * b
                            let s = tile[pos]
                            // `>=` lets equal scores through; TopK.push breaks the tie by row. The
                            // threshold may have risen since the strip was searched.
                            guard s >= thresholds[i] else { continue }
                            let row = start + r0 + r
                            if fs[i].accepts(row) {
                                heaps[i].push(s, row)
                                thresholds[i] = heaps[i].threshold
                            }
                        }
                        r0 += h
                    }
                    if nonfinite != 0 {
                        // As the per-query scan: the first query (that wants results) with a NaN or
                        // ±Inf score in this chunk names its damaged rows; a damaged row is
                        // damaged for every query.
                        var column = [Float](repeating: 0, count: n)
                        for i in 0..<b where ks[i] > 0 {
                            var any = false
                            for r in 0..<n {
                                column[r] = scores[r * b + i]
                                if !column[r].isFinite { any = true }
                            }
                            if any {
                                bad.note(column, count: n, firstRow: start)
                                break
                            }
                        }
                    }
                }
                out[t] = heaps
                damagedBase[t] = bad
            }
          }
        }
        return (heapsPerPart, damaged)
    }
}
