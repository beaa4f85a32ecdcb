import Dispatch

/// Hand-written dot-product kernels for the single-query scan. Memory-bound: each row is read
/// once, four rows at a time so the query chunk loaded into registers serves four rows.
public enum Kernels {
    typealias V = SIMD8<Float>

    /// out[i - rows.lowerBound] = row(i) · query for i in rows.
    @inline(__always)
    static func dots(_ m: RowMatrix, rows: Range<Int>, query: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        let d = m.dim
        let dv = d & ~7
        let qraw = UnsafeRawPointer(query)
        var i = rows.lowerBound
        var o = out
        while i + 4 <= rows.upperBound {
            let r0 = UnsafeRawPointer(m.row(i)), r1 = UnsafeRawPointer(m.row(i + 1))
            let r2 = UnsafeRawPointer(m.row(i + 2)), r3 = UnsafeRawPointer(m.row(i + 3))
            var a0 = V(), a1 = V(), a2 = V(), a3 = V()
            var j = 0
            while j < dv {
                let off = j * 4
                let qv = qraw.loadUnaligned(fromByteOffset: off, as: V.self)
                a0 += r0.loadUnaligned(fromByteOffset: off, as: V.self) * qv
                a1 += r1.loadUnaligned(fromByteOffset: off, as: V.self) * qv
                a2 += r2.loadUnaligned(fromByteOffset: off, as: V.self) * qv
                a3 += r3.loadUnaligned(fromByteOffset: off, as: V.self) * qv
                j += 8
            }
            var s0 = a0.sum(), s1 = a1.sum(), s2 = a2.sum(), s3 = a3.sum()
            while j < d {
                let qj = query[j]
                s0 += m.row(i)[j] * qj; s1 += m.row(i + 1)[j] * qj
                s2 += m.row(i + 2)[j] * qj; s3 += m.row(i + 3)[j] * qj
                j += 1
            }
            o[0] = s0; o[1] = s1; o[2] = s2; o[3] = s3
            o += 4
            i += 4
        }
        while i < rows.upperBound {
            let r = UnsafeRawPointer(m.row(i))
            var a = V()
            var j = 0
            while j < dv {
                a += r.loadUnaligned(fromByteOffset: j * 4, as: V.self) * qraw.loadUnaligned(fromByteOffset: j * 4, as: V.self)
                j += 8
            }
            var s = a.sum()
            while j < d { s += m.row(i)[j] * query[j]; j += 1 }
            o.pointee = s
            o += 1
            i += 1
        }
    }
}

extension Kernels {
    /// Reads every byte of `bytes` (as Float lanes) and returns their sum: the memory-bandwidth
    /// floor a scan of the same bytes cannot beat. Multi-threaded like the scan.
    public static func bandwidthPass(_ base: UnsafeRawPointer, bytes: Int, threads: Int) -> Float {
        let t = max(1, threads)
        let per = (bytes / t) & ~63
        var partial = [Float](repeating: 0, count: t)
        partial.withUnsafeMutableBufferPointer { out in
            let o = out
            DispatchQueue.concurrentPerform(iterations: t) { i in
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
