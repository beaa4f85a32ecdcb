import CKernels
import Foundation

/// How the 3×3 stride-1 pad-1 convolutions of the native CNNs run: Winograd F(2×2, 3×3)
/// (2.25× fewer multiplications, our packed SGEMM for the 16 products) or im2col + SGEMM (the
/// reference, and the only path for stride 2, other kernels and the OpenBLAS GEMM path).
package enum Conv3x3Algorithm: String, CaseIterable, Sendable {
    case winograd
    case im2col

    /// Forces the algorithm at model load (`winograd`, `im2col`); benchmarks use it for before/after.
    package static let environmentVariable = "EMBEDSCOPE_CONV3X3"

    /// `EMBEDSCOPE_CONV3X3` when it names an algorithm; else Winograd. Either way Winograd needs
    /// one of our own GEMM paths (not `EMBEDSCOPE_GEMM=openblas`).
    package static let environment: Conv3x3Algorithm = {
        ProcessInfo.processInfo.environment[environmentVariable].flatMap { Conv3x3Algorithm(rawValue: $0.lowercased()) } ?? .winograd
    }()

    private static let override = Locked<Conv3x3Algorithm?>(nil)

    /// The algorithm models loaded now are asked for: an override set by `withAlgorithm`
    /// (tests, benchmarks), else `environment`.
    package static var selected: Conv3x3Algorithm { override.withLock { $0 } ?? environment }

    /// What a model loaded now uses for its stride-1 3×3 convolutions (Winograd needs our own GEMM).
    package static var current: Conv3x3Algorithm {
        selected == .winograd && SGEMM.path.kernelPath != nil ? .winograd : .im2col
    }

    /// Runs `body` with `algorithm` selected (for tests and benchmarks; not reentrant across threads).
    package static func withAlgorithm<T>(_ algorithm: Conv3x3Algorithm, _ body: () throws -> T) rethrows -> T {
        let before = override.withLock { current in
            defer { current = algorithm }
            return current
        }
        defer { override.withLock { $0 = before } }
        return try body()
    }
}

/// The transforms of Winograd F(m×m, 3×3), m = 2 or 4, over NHWC activations
/// (`CKernels/winograd.c`); the caller runs the (m + 2)² GEMMs between them with `PackedMatrix`.
package enum WinogradKernels {
    /// The tile sizes the transforms support.
    package static let tileSizes = [2, 4]

    /// The (m + 2)² transformed weight matrices U = G g Gᵀ, each [cin × cout] row-major (ξ-major),
    /// from 3×3 weights in the im2col layout [(kh·3 + kw)·cin + c][o]; computed in Double.
    package static func transformWeights(_ w: [Float], tile m: Int, cin: Int, cout: Int) -> [Float] {
        precondition(tileSizes.contains(m), "Winograd tile \(m) (2 or 4)")
        precondition(w.count == 9 * cin * cout, "3×3 weights hold \(w.count) values, expected \(9 * cin * cout)")
        var u = [Float](repeating: 0, count: (m + 2) * (m + 2) * cin * cout)
        w.withUnsafeBufferPointer { wb in
            u.withUnsafeMutableBufferPointer { ub in
                guard let wp = wb.baseAddress, let up = ub.baseAddress else { return }
                ck_wino_weights(Int32(m), cin, cout, wp, up)
            }
        }
        return u
    }

    /// V[ξ] (ξ at `v + ξ · ldv · count`) of tiles `tiles` of an NHWC input of height × width × cin.
    package static func input(tile m: Int, path: GEMMPath, _ x: UnsafePointer<Float>, height: Int, width: Int, cin: Int,
                             tiles: Range<Int>, _ v: UnsafeMutablePointer<Float>, ldv: Int) {
        ck_wino_input(Int32(m), simdPath(path), x, height, width, cin, tiles.lowerBound, tiles.count, v, ldv)
    }

    /// y = act(Aᵀ M A + bias (+ residual)) for the output pixels of tiles `tiles` (NHWC, same
    /// height × width as the input), M[ξ] at `m + ξ · ldm · count`.
    package static func output(tile t: Int, path: GEMMPath, _ m: UnsafePointer<Float>, ldm: Int, tiles: Range<Int>, height: Int,
                              width: Int, cout: Int, bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?,
                              activation: GEMMActivation, _ y: UnsafeMutablePointer<Float>) {
        ck_wino_output(Int32(t), simdPath(path), m, ldm, tiles.lowerBound, tiles.count, height, width, cout, bias, residual,
                       activation.rawValue, y)
    }

    /// The SIMD width of the transforms: that of the GEMM path (portable C for OpenBLAS).
    static func simdPath(_ p: GEMMPath) -> Int32 { p.kernelPath ?? Int32(CK_PATH_PORTABLE.rawValue) }
}
