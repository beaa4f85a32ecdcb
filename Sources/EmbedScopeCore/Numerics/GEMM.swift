import CBLAS

/// The one place the model code calls OpenBLAS. Row-major throughout.
package enum GEMM {
    /// c[m × n] = a[m × k] · bᵀ (+ beta · c) where b is stored [n × k] (PyTorch's weight layout:
    /// one row per output channel). Leading dimensions are the row lengths.
    @inline(__always)
    package static func abt(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                    c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float = 0) {
        guard m > 0, n > 0 else { return }
        OpenBLASMemory.serialized {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k),
                        1, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
    }

    /// y[m] = a[m × n] · x[n] (row-major a with leading dimension lda).
    @inline(__always)
    package static func av(m: Int, n: Int, a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        guard m > 0 else { return }
        OpenBLASMemory.serialized { cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(n), 1, a, Int32(lda), x, 1, 0, y, 1) }
    }

    /// c[m × n] = a[m × k] · b[k × n] (+ beta · c).
    @inline(__always)
    package static func ab(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                   c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float = 0) {
        guard m > 0, n > 0 else { return }
        OpenBLASMemory.serialized {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                        1, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
    }
}
