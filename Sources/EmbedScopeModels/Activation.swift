import EmbedScopeCore
import EmbedScopeImages
/// Activations and the epilogue every convolution ends with: add the (BatchNorm-folded) bias,
/// optionally add a residual, then the activation. Applied to a block of rows right after the
/// GEMM that produced them, while they are still in cache.
enum Activation: Sendable {
    case none
    case relu
    /// min(max(x, 0), 6): EfficientNet-Lite.
    case relu6
}

/// Applies an activation to one SIMD vector. `replace(with:where:)` compiles to vmaxps/vminps;
/// `pointwiseMax` does not (it handles NaN lane by lane in a call).
@inline(__always)
func activate(_ x: SIMD8<Float>, _ activation: Activation) -> SIMD8<Float> {
    var y = x
    switch activation {
    case .none:
        break
    case .relu:
        y.replace(with: 0, where: y .< 0)
    case .relu6:
        y.replace(with: 0, where: y .< 0)
        y.replace(with: 6, where: y .> 6)
    }
    return y
}

@inline(__always)
func activate(_ x: Float, _ activation: Activation) -> Float {
    switch activation {
    case .none: return x
    case .relu: return x < 0 ? 0 : x
    case .relu6: return x < 0 ? 0 : (x > 6 ? 6 : x)
    }
}

/// acc += a · b, fused into one instruction where the build has FMA (see Package.swift);
/// a separate multiply and add otherwise (never a per-lane libm fma call).
@inline(__always)
func multiplyAdd(_ acc: inout SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) {
    #if EMBEDSCOPE_FMA
    acc.addProduct(a, b)
    #else
    acc += a * b
    #endif
}

enum Epilogue {
    typealias V = SIMD8<Float>

    /// y[r, c] = act(y[r, c] + bias[c] (+ residual[r, c])) for `rows` rows of `cols` values,
    /// row stride `ld` (default `cols`). `residual`, when given, has the same layout as `y`.
    @inline(__always)
    static func apply(_ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ld: Int? = nil, bias: UnsafePointer<Float>,
                      residual: UnsafePointer<Float>?, activation: Activation) {
        let ld = ld ?? cols
        switch (activation, residual == nil) {
        case (.none, true): run(y, rows, cols, ld, bias, nil, .none)
        case (.none, false): run(y, rows, cols, ld, bias, residual, .none)
        case (.relu, true): run(y, rows, cols, ld, bias, nil, .relu)
        case (.relu, false): run(y, rows, cols, ld, bias, residual, .relu)
        case (.relu6, true): run(y, rows, cols, ld, bias, nil, .relu6)
        case (.relu6, false): run(y, rows, cols, ld, bias, residual, .relu6)
        }
    }

    @inline(__always)
    private static func run(_ y: UnsafeMutablePointer<Float>, _ rows: Int, _ cols: Int, _ ld: Int, _ bias: UnsafePointer<Float>,
                            _ residual: UnsafePointer<Float>?, _ activation: Activation) {
        let c8 = cols & ~7
        let yr = UnsafeMutableRawPointer(y), br = UnsafeRawPointer(bias)
        let rr = residual.map { UnsafeRawPointer($0) }
        for r in 0..<rows {
            let rowOffset = r * ld * 4
            var c = 0
            while c < c8 {
                let off = rowOffset + c * 4
                var v = yr.loadUnaligned(fromByteOffset: off, as: V.self) + br.loadUnaligned(fromByteOffset: c * 4, as: V.self)
                if let rr { v += rr.loadUnaligned(fromByteOffset: off, as: V.self) }
                yr.storeBytes(of: activate(v, activation), toByteOffset: off, as: V.self)
                c += 8
            }
            while c < cols {
                let i = r * ld + c
                var v = y[i] + bias[c]
                if let residual { v += residual[i] }
                y[i] = activate(v, activation)
                c += 1
            }
        }
    }
}
