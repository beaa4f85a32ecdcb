import EmbedScopeCore

/// "Logits for rows by chunked GEMM", once: the dot products of chosen rows of a matrix with
/// the rows of a weight matrix (a probe's classes, a prototype set), one GEMM per block of
/// rows, so memory stays bounded whatever the row count. Used by prototype evaluation, the
/// probe's predictions and the mislabel search's cross-validated probe.
enum RowLogits {
    /// Rows gathered per GEMM.
    static let chunkRows = 4096

    /// For `rows` of `x` (row r multiplied by `scales[r]` when given) against `weights`
    /// ([columns × x.dim], row-major): `body(start, dots)` receives each block in order, where
    /// `dots[i * columns + j]` is row `rows[start + i]` · weight row j. `path` as
    /// `SGEMM.multiply` (nil: the default path; `.openblas`: OpenBLAS's sgemm as it is).
    static func forEachBlock(_ x: RowMatrix, rows: [Int], scales: [Float]? = nil, weights: [Float], columns: Int,
                             path: GEMMPath? = nil,
                             _ body: (_ start: Int, _ dots: UnsafeBufferPointer<Float>) throws -> Void) rethrows {
        let d = x.dim, c = columns
        guard !rows.isEmpty, c > 0, weights.count == c * d else { return }
        let capacity = min(chunkRows, rows.count)
        var a = [Float](repeating: 0, count: capacity * d)
        var dots = [Float](repeating: 0, count: capacity * c)
        var start = 0
        while start < rows.count {
            let n = min(capacity, rows.count - start)
            a.withUnsafeMutableBufferPointer { ap in
                for i in 0..<n {
                    let r = rows[start + i], src = x.row(r)
                    if let s = scales?[r] {
                        for t in 0..<d { ap[i * d + t] = s * src[t] }
                    } else {
                        for t in 0..<d { ap[i * d + t] = src[t] }
                    }
                }
            }
            SGEMM.multiply(m: n, n: c, k: d, a: a, lda: d, b: weights, ldb: d, bTransposed: true, c: &dots, ldc: c, path: path)
            try dots.withUnsafeBufferPointer { try body(start, UnsafeBufferPointer(rebasing: $0[0..<(n * c)])) }
            start += n
        }
    }
}
