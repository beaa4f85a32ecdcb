import CKernels
import Dispatch

/// Hand-written dot-product kernels for the single-query scan. Memory-bound: each row is read
/// once, in order.
package enum Kernels {
    typealias V = SIMD8<Float>

    /// The own kernel path of the one-query scan: the GEMM path in use (`SGEMM.path`, so
    /// `EMBEDSCOPE_GEMM` and `SGEMM.withPath` choose it too), or the best one when that is OpenBLAS.
    static var dotsPath: Int32 {
        SGEMM.path.kernelPath ?? SGEMM.bestPath.kernelPath ?? Int32(CK_PATH_PORTABLE.rawValue)
    }

    /// out[i - rows.lowerBound] = row(i) · query for i in rows (`ck_scan_dots`, ckscan.h).
    ///
    /// Rows are visited strictly in order (one sequential stream), with a software prefetch
    /// 64 KB ahead (AVX-512; 16 KB on AVX2; none on AMD Zen 3/4, `ck_scan_prefetch_bytes`); each row is reduced alone with four independent vector accumulators, so a
    /// row's score is the same whatever range it is computed in (the half scan's exact re-scoring
    /// relies on it). The query stays in L1.
    ///
    /// Rows of a unit-row file (`m.unitRows`) are checked on the way (`ck_scan_dots_unit`: one
    /// more multiply-add per load, the scores unchanged): a row that is not unit length scores
    /// NaN, so the scan reports it as damaged even when it would have fallen out of the answer.
    @inline(__always)
    package static func dots(_ m: RowMatrix, rows: Range<Int>, query: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        guard !rows.isEmpty else { return }
        if m.unitRows {
            ck_scan_dots_unit(dotsPath, rows.count, m.dim, m.row(rows.lowerBound), m.stride, query,
                              UnitRows.scanTolerance(dim: m.dim), out)
        } else {
            ck_scan_dots(dotsPath, rows.count, m.dim, m.row(rows.lowerBound), m.stride, query, out)
        }
    }

    /// For scores computed without the check (OpenBLAS sgemm / sgemv): sets the scores of every row in
    /// `rows` of a unit-row matrix that is not unit length to NaN (`ck_mark_not_unit`); row
    /// `rows.lowerBound + r`'s score for query j is at `scores[r · rowStep + j · queryStep]`,
    /// j < queries. Nothing for a matrix not flagged unit. (The own batch kernels check each block
    /// of rows while it is in cache instead: `QueryPanels.scores(unitTolerance:)`.)
    @inline(__always)
    static func markNotUnit(_ m: RowMatrix, rows: Range<Int>, scores: UnsafeMutablePointer<Float>, rowStep: Int,
                            queryStep: Int, queries: Int) {
        guard m.unitRows, !rows.isEmpty else { return }
        ck_mark_not_unit(dotsPath, rows.count, m.dim, m.row(rows.lowerBound), m.stride, UnitRows.scanTolerance(dim: m.dim),
                         scores, rowStep, queryStep, queries)
    }
}

extension Kernels {
    /// Reads `count` floats from `base` as the one-query scan reads its rows (`ck_read_pass`: the
    /// same vector width and software prefetch, one add per vector) and returns their sum: a
    /// stricter floor than `bandwidthPass` for the scan. Multi-threaded like the scan.
    package static func readPass(_ base: UnsafePointer<Float>, count: Int, threads: Int) -> Float {
        let t = max(1, threads)
        let per = (count / t) & ~63
        let path = dotsPath
        var partial = [Float](repeating: 0, count: t)
        partial.withUnsafeMutableBufferPointer { out in
            let o = out
            parallelFor(t) { i in
                let start = i * per
                let end = i == t - 1 ? count : start + per
                o[i] = ck_read_pass(path, base + start, end - start)
            }
        }
        return partial.reduce(0, +)
    }

    /// Reads every byte of `bytes` (as Float lanes) and returns their sum: the memory-bandwidth
    /// floor a scan of the same bytes cannot beat. Multi-threaded like the scan.
    package static func bandwidthPass(_ base: UnsafeRawPointer, bytes: Int, threads: Int) -> Float {
        let t = max(1, threads)
        let per = (bytes / t) & ~63
        var partial = [Float](repeating: 0, count: t)
        partial.withUnsafeMutableBufferPointer { out in
            let o = out
            parallelFor(t) { i in
                let start = i * per
                let end = i == t - 1 ? bytes & ~31 : start + per
                var a0 = V(), a1 = V(), a2 = V(), a3 = V()
                var off = start
                while off + 128 <= end {
                    a0 += base.loadUnaligned(fromByteOffset: off, as: V.self)
                    a1 += base.loadUnaligned(fromByteOffset: off + 32, as: V.self)
                    a2 += base.loadUnaligned(fromByteOffset: off + 64, as: V.self)
                    a3 += base.loadUnaligned(fromByteOffset: off + 96, as: V.self)
                    off += 128
                }
                o[i] = (a0 + a1 + a2 + a3).sum()
            }
        }
        return partial.reduce(0, +)
    }
}
