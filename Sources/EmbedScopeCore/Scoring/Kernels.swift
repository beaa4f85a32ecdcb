import Dispatch

/// Hand-written dot-product kernels for the single-query scan. Memory-bound: each row is read
/// once, in order, one row at a time with four independent 8-lane accumulators.
package enum Kernels {
    typealias V = SIMD8<Float>

    /// out[i - rows.lowerBound] = row(i) · query for i in rows.
    ///
    /// Rows are visited strictly in order (one sequential stream, which the hardware
    /// prefetcher follows best); each row is reduced with four independent 8-lane
    /// accumulators so the adds are not one dependent chain. The query stays in L1.
    @inline(__always)
    static func dots(_ m: RowMatrix, rows: Range<Int>, query: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        let d = m.dim
        let d32 = d & ~31, d8 = d & ~7
        let q = UnsafeRawPointer(query)
        var o = out
        for i in rows {
            let r = UnsafeRawPointer(m.row(i))
            var a0 = V(), a1 = V(), a2 = V(), a3 = V()
            var j = 0
            while j < d32 {
                let off = j * 4
                a0 += r.loadUnaligned(fromByteOffset: off, as: V.self) * q.loadUnaligned(fromByteOffset: off, as: V.self)
                a1 += r.loadUnaligned(fromByteOffset: off + 32, as: V.self) * q.loadUnaligned(fromByteOffset: off + 32, as: V.self)
                a2 += r.loadUnaligned(fromByteOffset: off + 64, as: V.self) * q.loadUnaligned(fromByteOffset: off + 64, as: V.self)
                a3 += r.loadUnaligned(fromByteOffset: off + 96, as: V.self) * q.loadUnaligned(fromByteOffset: off + 96, as: V.self)
                j += 32
            }
            while j < d8 {
                a0 += r.loadUnaligned(fromByteOffset: j * 4, as: V.self) * q.loadUnaligned(fromByteOffset: j * 4, as: V.self)
                j += 8
            }
            var s = ((a0 + a1) + (a2 + a3)).sum()
            let rp = m.row(i)
            while j < d { s += rp[j] * query[j]; j += 1 }
            o.pointee = s
            o += 1
        }
    }
}

extension Kernels {
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
