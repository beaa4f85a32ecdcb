import CKernels

extension SGEMM {
    /// This core's single-thread fused multiply-add ceiling on `path` in GFLOP per CPU-second
    /// (independent FMA chains, no memory traffic; best of `repeats` runs of ~0.05–0.2 s, timed
    /// on the thread's CPU clock so other processes do not lower it), or nil for a path without
    /// SIMD FMA (portable, OpenBLAS) or one the CPU lacks. The benchmarks print every kernel's
    /// rate as a share of it.
    package static func fmaPeakGflops(path: GEMMPath, repeats: Int = 3) -> Double? {
        guard path.isSupported, let kp = path.kernelPath, path == .avx512 || path == .avx2 else { return nil }
        var best = 0.0
        for _ in 0..<Swift.max(1, repeats) { best = Swift.max(best, ck_fma_peak_gflops(kp, 10_000_000)) }
        return best > 0 ? best : nil
    }
}
