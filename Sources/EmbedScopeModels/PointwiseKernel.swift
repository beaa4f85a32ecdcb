import EmbedScopeCore
import EmbedScopeImages
/// A hand-written 1×1 convolution for few input channels, with the epilogue fused:
/// y[p, :] = act(Σ_k x[p, k] · W[k, :] + b (+ residual[p, :])).
///
/// Register tile: 4 pixels × 24 output channels (12 accumulators); per input channel, three
/// weight vectors and four broadcast inputs feed 12 multiply-adds. W ([K × N], ≤ 40 KB for
/// the layers it serves) stays in L1/L2. No packing, no second pass over the output.
enum PointwiseKernel {
    typealias V = SIMD8<Float>

    /// Requires n % 8 == 0.
    static func run(_ x: UnsafePointer<Float>, rows: Int, k: Int, n: Int, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                    _ y: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, activation: Activation) {
        switch (activation, residual == nil) {
        case (.relu6, true): Tiles<ReLU6, NoResidual>.run(x, rows, k, n, w, b, y, residual)
        case (.none, true): Tiles<Identity, NoResidual>.run(x, rows, k, n, w, b, y, residual)
        case (.none, false): Tiles<Identity, AddResidual>.run(x, rows, k, n, w, b, y, residual)
        case (.relu, true): Tiles<ReLU, NoResidual>.run(x, rows, k, n, w, b, y, residual)
        default:
            // Not used by the models; plain GEMM-shaped loops keep it correct.
            for p in 0..<rows {
                for o in 0..<n {
                    var acc = b[o]
                    for i in 0..<k { acc += x[p * k + i] * w[i * n + o] }
                    if let residual { acc += residual[p * n + o] }
                    y[p * n + o] = activate(acc, activation)
                }
            }
        }
    }

    protocol ResidualMode { static var adds: Bool { get } }
    enum NoResidual: ResidualMode { static var adds: Bool { false } }
    enum AddResidual: ResidualMode { static var adds: Bool { true } }

    enum Tiles<Act: VectorActivation, Res: ResidualMode> {
        static func run(_ x: UnsafePointer<Float>, _ rows: Int, _ k: Int, _ n: Int, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                        _ y: UnsafeMutablePointer<Float>, _ residual: UnsafePointer<Float>?) {
            let n24 = n - n % 24
            var p = 0
            while p + 4 <= rows {
                var o = 0
                while o < n24 { tile4x3(x, p, k, n, o, w, b, y, residual); o += 24 }
                while o < n { tile4x1(x, p, k, n, o, w, b, y, residual); o += 8 }
                p += 4
            }
            while p < rows {
                var o = 0
                while o < n { tile1x1(x, p, k, n, o, w, b, y, residual); o += 8 }
                p += 1
            }
        }

        @inline(__always)
        static func finish(_ a: V, _ y: UnsafeMutablePointer<Float>, _ residual: UnsafePointer<Float>?, _ offset: Int) {
            var v = a
            if Res.adds, let residual { v += UnsafeRawPointer(residual).loadUnaligned(fromByteOffset: offset * 4, as: V.self) }
            UnsafeMutableRawPointer(y).storeBytes(of: Act.apply(v), toByteOffset: offset * 4, as: V.self)
        }

        @inline(__always)
        static func tile4x3(_ x: UnsafePointer<Float>, _ p: Int, _ k: Int, _ n: Int, _ o: Int, _ w: UnsafePointer<Float>,
                            _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ residual: UnsafePointer<Float>?) {
            let wr = UnsafeRawPointer(w), br = UnsafeRawPointer(b)
            let b0 = br.loadUnaligned(fromByteOffset: o * 4, as: V.self)
            let b1 = br.loadUnaligned(fromByteOffset: o * 4 + 32, as: V.self)
            let b2 = br.loadUnaligned(fromByteOffset: o * 4 + 64, as: V.self)
            var a00 = b0, a01 = b1, a02 = b2, a10 = b0, a11 = b1, a12 = b2
            var a20 = b0, a21 = b1, a22 = b2, a30 = b0, a31 = b1, a32 = b2
            let x0 = x + p * k, x1 = x0 + k, x2 = x1 + k, x3 = x2 + k
            var wo = o * 4
            for i in 0..<k {
                let w0 = wr.loadUnaligned(fromByteOffset: wo, as: V.self)
                let w1 = wr.loadUnaligned(fromByteOffset: wo + 32, as: V.self)
                let w2 = wr.loadUnaligned(fromByteOffset: wo + 64, as: V.self)
                wo += n * 4
                var v = V(repeating: x0[i])
                multiplyAdd(&a00, v, w0); multiplyAdd(&a01, v, w1); multiplyAdd(&a02, v, w2)
                v = V(repeating: x1[i])
                multiplyAdd(&a10, v, w0); multiplyAdd(&a11, v, w1); multiplyAdd(&a12, v, w2)
                v = V(repeating: x2[i])
                multiplyAdd(&a20, v, w0); multiplyAdd(&a21, v, w1); multiplyAdd(&a22, v, w2)
                v = V(repeating: x3[i])
                multiplyAdd(&a30, v, w0); multiplyAdd(&a31, v, w1); multiplyAdd(&a32, v, w2)
            }
            let r0 = p * n + o
            finish(a00, y, residual, r0); finish(a01, y, residual, r0 + 8); finish(a02, y, residual, r0 + 16)
            let r1 = r0 + n
            finish(a10, y, residual, r1); finish(a11, y, residual, r1 + 8); finish(a12, y, residual, r1 + 16)
            let r2 = r1 + n
            finish(a20, y, residual, r2); finish(a21, y, residual, r2 + 8); finish(a22, y, residual, r2 + 16)
            let r3 = r2 + n
            finish(a30, y, residual, r3); finish(a31, y, residual, r3 + 8); finish(a32, y, residual, r3 + 16)
        }

        @inline(__always)
        static func tile4x1(_ x: UnsafePointer<Float>, _ p: Int, _ k: Int, _ n: Int, _ o: Int, _ w: UnsafePointer<Float>,
                            _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ residual: UnsafePointer<Float>?) {
            let wr = UnsafeRawPointer(w)
            let b0 = UnsafeRawPointer(b).loadUnaligned(fromByteOffset: o * 4, as: V.self)
            var a0 = b0, a1 = b0, a2 = b0, a3 = b0
            let x0 = x + p * k, x1 = x0 + k, x2 = x1 + k, x3 = x2 + k
            var wo = o * 4
            for i in 0..<k {
                let w0 = wr.loadUnaligned(fromByteOffset: wo, as: V.self)
                wo += n * 4
                multiplyAdd(&a0, V(repeating: x0[i]), w0)
                multiplyAdd(&a1, V(repeating: x1[i]), w0)
                multiplyAdd(&a2, V(repeating: x2[i]), w0)
                multiplyAdd(&a3, V(repeating: x3[i]), w0)
            }
            let r0 = p * n + o
            finish(a0, y, residual, r0); finish(a1, y, residual, r0 + n)
            finish(a2, y, residual, r0 + 2 * n); finish(a3, y, residual, r0 + 3 * n)
        }

        @inline(__always)
        static func tile1x1(_ x: UnsafePointer<Float>, _ p: Int, _ k: Int, _ n: Int, _ o: Int, _ w: UnsafePointer<Float>,
                            _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ residual: UnsafePointer<Float>?) {
            let wr = UnsafeRawPointer(w)
            var a0 = UnsafeRawPointer(b).loadUnaligned(fromByteOffset: o * 4, as: V.self)
            let x0 = x + p * k
            for i in 0..<k { multiplyAdd(&a0, V(repeating: x0[i]), wr.loadUnaligned(fromByteOffset: (i * n + o) * 4, as: V.self)) }
            finish(a0, y, residual, p * n + o)
        }
    }
}

enum Identity: VectorActivation {
    @inline(__always) static func apply(_ x: SIMD8<Float>) -> SIMD8<Float> { x }
}
enum ReLU: VectorActivation {
    @inline(__always) static func apply(_ x: SIMD8<Float>) -> SIMD8<Float> { activate(x, .relu) }
}
