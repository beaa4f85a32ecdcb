import EmbedScopeCore
import EmbedScopeImages
/// A depthwise k×k convolution (one filter per channel, BatchNorm folded in) over NHWC
/// activations, followed by bias and activation.
///
/// NHWC makes the channel the SIMD dimension: every tap is one 8-lane load of input and one of
/// weights, whatever the stride, and the image borders only cost the few edge pixels a bounds
/// check. The interior runs 8 output pixels × 8 channels at a time: eight independent
/// multiply-add chains (enough to hide the latency on two FP pipes); borders and small maps
/// run one pixel × 32 channels at a time (four chains, window clipped once per pixel).
struct DepthwiseConv: Sendable {
    let channels: Int
    let kernel: Int
    let stride: Int
    let padding: Padding2D
    /// [kh][kw][channel]: one vector of taps per kernel position, BatchNorm scale folded in.
    let weights: AlignedFloats
    let bias: AlignedFloats
    let activation: Activation
    /// The SIMD width of the C kernels (`ConvKernels.depthwise`, the GEMM path in use at load);
    /// with the OpenBLAS path, the Swift kernels below (the engine as it was before the C kernels).
    let path: GEMMPath

    /// `weight` in PyTorch's layout [C, 1, k, k].
    init(weight: [Float], channels: Int, kernel: Int, stride: Int, padding: Padding2D,
         scale: [Double], shift: [Double], activation: Activation, path: GEMMPath? = nil) {
        precondition(weight.count == channels * kernel * kernel)
        self.path = path ?? SGEMM.path
        self.channels = channels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.activation = activation
        var w = [Float](repeating: 0, count: weight.count)
        for c in 0..<channels {
            for t in 0..<(kernel * kernel) {
                w[t * channels + c] = Float(Double(weight[c * kernel * kernel + t]) * scale[c])
            }
        }
        weights = AlignedFloats(w)
        bias = AlignedFloats(shift.map { Float($0) })
    }

    func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        (Padding2D.outputSize(height, before: padding.top, after: padding.bottom, kernel: kernel, stride: stride),
         Padding2D.outputSize(width, before: padding.left, after: padding.right, kernel: kernel, stride: stride))
    }

    /// x: [images × height × width × C]; y: [images × oh × ow × C]. Computes the output rows
    /// `rows`, indices into the images × oh output rows (so callers can split the work).
    /// With `firstRow` > 0, x holds one image's input rows from `firstRow` on (a band): the
    /// rows read by output rows `rows` must be in it. With `outFirstRow` > 0, y holds the output
    /// rows from `outFirstRow` on (≤ rows.lowerBound).
    /// Whether `run(channels:)` can compute a subset of the channels (the C kernels; not the
    /// Swift ones of the OpenBLAS configuration).
    var splitsByChannels: Bool { path != .openblas }

    /// Output rows `rows`; with `channels`, only those channels of them (`splitsByChannels` only).
    func run(_ x: UnsafePointer<Float>, height: Int, width: Int, _ y: UnsafeMutablePointer<Float>, rows: Range<Int>, firstRow: Int = 0,
             outFirstRow: Int = 0, channels only: Range<Int>? = nil) {
        precondition(only == nil || splitsByChannels, "a channel range needs the C kernels")
        precondition(outFirstRow <= rows.lowerBound, "y starts after the first row written")
        let (oh, ow) = outputSize(height: height, width: width)
        let g = DepthwiseGeometry(h: height, w: width, c: channels, oh: oh, ow: ow, padTop: padding.top, padLeft: padding.left,
                                  firstRow: firstRow, outFirstRow: outFirstRow)
        weights.withUnsafeBufferPointer { wb in
            bias.withUnsafeBufferPointer { bb in
                let w = wb.baseAddress!, b = bb.baseAddress!
                if path != .openblas {
                    ConvKernels.depthwise(path: path, kernel: kernel, stride: stride, x, height: height, width: width, channels: channels,
                                          firstRow: firstRow, padTop: padding.top, padLeft: padding.left, outHeight: oh, outWidth: ow,
                                          weights: w, bias: b, activation: activation.gemm, y, outFirstRow: outFirstRow, rows: rows,
                                          only: only)
                    return
                }
                switch (kernel, stride, activation) {
                case (3, 1, .relu6): DepthwiseKernel<K3S1, ReLU6>.run(g, x, y, w, b, rows)
                case (3, 2, .relu6): DepthwiseKernel<K3S2, ReLU6>.run(g, x, y, w, b, rows)
                case (5, 1, .relu6): DepthwiseKernel<K5S1, ReLU6>.run(g, x, y, w, b, rows)
                case (5, 2, .relu6): DepthwiseKernel<K5S2, ReLU6>.run(g, x, y, w, b, rows)
                default: DepthwiseReference.run(g, k: kernel, s: stride, activation: activation, x, y, w, b, rows)
                }
            }
        }
    }
}

extension DepthwiseConv {
    /// Output rows `rows` (of one image), channels `only`, of this layer reading its input from
    /// planes (`ConvKernels.depthwisePlanes`; rows `firstRow` on of the image present): the same
    /// values as `run`, bit for bit.
    func runPlanes(_ planes: UnsafePointer<Float>, layout: ConvKernels.PlaneLayout, height: Int, firstRow: Int = 0,
                   _ y: UnsafeMutablePointer<Float>, outFirstRow: Int = 0, rows: Range<Int>, channels only: Range<Int>) {
        precondition(path != .openblas && layout.stride == stride && layout.padLeft == padding.left, "planes of this layer's geometry")
        let oh = outputSize(height: height, width: layout.imageWidth).height
        weights.withUnsafeBufferPointer { w in
            bias.withUnsafeBufferPointer { b in
                ConvKernels.depthwisePlanes(path: path, kernel: kernel, planes, layout: layout, height: height, firstRow: firstRow,
                                            padTop: padding.top, outHeight: oh, weights: w.baseAddress!, bias: b.baseAddress!,
                                            activation: activation.gemm, y, outFirstRow: outFirstRow, rows: rows, only: only)
            }
        }
    }
}

struct DepthwiseGeometry {
    let h: Int, w: Int, c: Int, oh: Int, ow: Int, padTop: Int, padLeft: Int
    /// The first input row present at x (rows before it are never read): 0 for whole images,
    /// the band's first row when the input is a band of rows of one image.
    var firstRow: Int = 0
    /// The output row y points at (0: the whole output; a band's first row when y is a band).
    var outFirstRow: Int = 0
}

/// Kernel size and stride as compile-time constants: each specialization of DepthwiseKernel
/// unrolls its tap loops fully.
protocol KernelShape { static var k: Int { get }; static var s: Int { get } }
enum K3S1: KernelShape { static var k: Int { 3 }; static var s: Int { 1 } }
enum K3S2: KernelShape { static var k: Int { 3 }; static var s: Int { 2 } }
enum K5S1: KernelShape { static var k: Int { 5 }; static var s: Int { 1 } }
enum K5S2: KernelShape { static var k: Int { 5 }; static var s: Int { 2 } }

protocol VectorActivation { static func apply(_ x: SIMD8<Float>) -> SIMD8<Float> }
enum ReLU6: VectorActivation {
    @inline(__always) static func apply(_ x: SIMD8<Float>) -> SIMD8<Float> { activate(x, .relu6) }
}

enum DepthwiseKernel<Shape: KernelShape, Act: VectorActivation> {
    typealias V = SIMD8<Float>

    static func run(_ g: DepthwiseGeometry, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                    _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ rows: Range<Int>) {
        let k = Shape.k, s = Shape.s
        let c = g.c, c8 = c & ~7
        // Output columns whose whole window lies inside the row: [owLo, owHi).
        let owLo = min(g.ow, (g.padLeft + s - 1) / s)
        let lastStart = g.w - k + g.padLeft
        let owHi = max(owLo, min(g.ow, lastStart >= 0 ? lastStart / s + 1 : 0))
        let blocks = (owHi - owLo) / 8
        let blockEnd = owLo + blocks * 8
        // When the k×k×C weights overflow L1 (the 14×14 and 7×7 layers: 17–115 KB), go through
        // the channels in chunks of 64, each over all rows, so a chunk's weights stay in L1
        // (measured 1.15× faster there); otherwise all channels per row (1.1× faster on the
        // 112×112 and 56×56 layers, whose rows are long and weights small).
        let chunkWidth = k * k * c8 * 4 > 16 * 1024 ? 64 : c8
        var chunk = 0
        while chunk < c8 {
            let chunkEnd = min(chunk + chunkWidth, c8)
            for r in rows {
                let img = r / g.oh, orow = r - img * g.oh
                let ihBase = orow * s - g.padTop
                let khLo = max(0, -ihBase), khHi = min(k, g.h - ihBase)
                // Element offset of the image's row 0 from x (negative inside a band: only rows
                // from firstRow on are addressed, so every address formed is inside x's buffer).
                let xImg = (img * g.h - g.firstRow) * g.w * c
                let yRow = y + (r - g.outFirstRow) * g.ow * c
                // Interior: 8 pixels × 8 channels per tile.
                var cb = chunk
                while cb < chunkEnd {
                    var o = owLo
                    while o < blockEnd {
                        interior8(x, xImg, g, ihBase: ihBase, khLo: khLo, khHi: khHi, o: o, cb: cb, w, b, yRow)
                        o += 8
                    }
                    cb += 8
                }
                // Borders and the interior remainder: one pixel × the chunk's channels per tile.
                for o in 0..<g.ow where o < owLo || o >= blockEnd {
                    pixel(x, xImg, g, ihBase: ihBase, khLo: khLo, khHi: khHi, o: o, channels: chunk..<chunkEnd, w, b, yRow)
                }
            }
            chunk = chunkEnd
        }
        if c8 < c {
            for r in rows {
                let img = r / g.oh
                DepthwiseReference.tail(g, k: k, s: s, activation: .relu6, channels: c8..<c, img: img, orow: r - img * g.oh, x, y, w, b)
            }
        }
    }

    /// Output pixels o..<o+8 of one row, channels cb..<cb+8; the whole window is inside.
    @inline(__always)
    static func interior8(_ x: UnsafePointer<Float>, _ xImg: Int, _ g: DepthwiseGeometry, ihBase: Int, khLo: Int, khHi: Int, o: Int, cb: Int,
                          _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        let k = Shape.k, s = Shape.s, c = g.c
        let xr = UnsafeRawPointer(x), wr = UnsafeRawPointer(w), yr = UnsafeMutableRawPointer(y)
        let cs = c * 4
        let bias = UnsafeRawPointer(b).loadUnaligned(fromByteOffset: cb * 4, as: V.self)
        var a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias, a6 = bias, a7 = bias
        let iw0 = o * s - g.padLeft
        for kh in khLo..<khHi {
            let p = xImg * 4 + ((ihBase + kh) * g.w + iw0) * cs + cb * 4
            let wrow = kh * k * cs + cb * 4
            for kw in 0..<k {
                let wv = wr.loadUnaligned(fromByteOffset: wrow + kw * cs, as: V.self)
                let q = p + kw * cs
                multiplyAdd(&a0, xr.loadUnaligned(fromByteOffset: q, as: V.self), wv)
                multiplyAdd(&a1, xr.loadUnaligned(fromByteOffset: q + s * cs, as: V.self), wv)
                multiplyAdd(&a2, xr.loadUnaligned(fromByteOffset: q + 2 * s * cs, as: V.self), wv)
                multiplyAdd(&a3, xr.loadUnaligned(fromByteOffset: q + 3 * s * cs, as: V.self), wv)
                multiplyAdd(&a4, xr.loadUnaligned(fromByteOffset: q + 4 * s * cs, as: V.self), wv)
                multiplyAdd(&a5, xr.loadUnaligned(fromByteOffset: q + 5 * s * cs, as: V.self), wv)
                multiplyAdd(&a6, xr.loadUnaligned(fromByteOffset: q + 6 * s * cs, as: V.self), wv)
                multiplyAdd(&a7, xr.loadUnaligned(fromByteOffset: q + 7 * s * cs, as: V.self), wv)
            }
        }
        let out = o * cs + cb * 4
        yr.storeBytes(of: Act.apply(a0), toByteOffset: out, as: V.self)
        yr.storeBytes(of: Act.apply(a1), toByteOffset: out + cs, as: V.self)
        yr.storeBytes(of: Act.apply(a2), toByteOffset: out + 2 * cs, as: V.self)
        yr.storeBytes(of: Act.apply(a3), toByteOffset: out + 3 * cs, as: V.self)
        yr.storeBytes(of: Act.apply(a4), toByteOffset: out + 4 * cs, as: V.self)
        yr.storeBytes(of: Act.apply(a5), toByteOffset: out + 5 * cs, as: V.self)
        yr.storeBytes(of: Act.apply(a6), toByteOffset: out + 6 * cs, as: V.self)
        yr.storeBytes(of: Act.apply(a7), toByteOffset: out + 7 * cs, as: V.self)
    }

    /// One output pixel, `channels` (a multiple of 8 long): 32 channels per tile (four
    /// independent accumulation chains), else 8 at a time. The window is clipped once per pixel.
    @inline(__always)
    static func pixel(_ x: UnsafePointer<Float>, _ xImg: Int, _ g: DepthwiseGeometry, ihBase: Int, khLo: Int, khHi: Int, o: Int,
                      channels: Range<Int>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        let k = Shape.k, s = Shape.s, c = g.c
        let xr = UnsafeRawPointer(x), wr = UnsafeRawPointer(w), br = UnsafeRawPointer(b), yr = UnsafeMutableRawPointer(y)
        let cs = c * 4
        let iw0 = o * s - g.padLeft
        let kwLo = max(0, -iw0), kwHi = min(k, g.w - iw0)
        let out = o * cs
        var cb = channels.lowerBound
        while cb + 32 <= channels.upperBound {
            let cbo = cb * 4
            var a0 = br.loadUnaligned(fromByteOffset: cbo, as: V.self)
            var a1 = br.loadUnaligned(fromByteOffset: cbo + 32, as: V.self)
            var a2 = br.loadUnaligned(fromByteOffset: cbo + 64, as: V.self)
            var a3 = br.loadUnaligned(fromByteOffset: cbo + 96, as: V.self)
            for kh in khLo..<khHi {
                let p = xImg * 4 + ((ihBase + kh) * g.w + iw0) * cs + cbo
                let wrow = kh * k * cs + cbo
                for kw in kwLo..<kwHi {
                    let q = p + kw * cs, wq = wrow + kw * cs
                    multiplyAdd(&a0, xr.loadUnaligned(fromByteOffset: q, as: V.self), wr.loadUnaligned(fromByteOffset: wq, as: V.self))
                    multiplyAdd(&a1, xr.loadUnaligned(fromByteOffset: q + 32, as: V.self), wr.loadUnaligned(fromByteOffset: wq + 32, as: V.self))
                    multiplyAdd(&a2, xr.loadUnaligned(fromByteOffset: q + 64, as: V.self), wr.loadUnaligned(fromByteOffset: wq + 64, as: V.self))
                    multiplyAdd(&a3, xr.loadUnaligned(fromByteOffset: q + 96, as: V.self), wr.loadUnaligned(fromByteOffset: wq + 96, as: V.self))
                }
            }
            yr.storeBytes(of: Act.apply(a0), toByteOffset: out + cbo, as: V.self)
            yr.storeBytes(of: Act.apply(a1), toByteOffset: out + cbo + 32, as: V.self)
            yr.storeBytes(of: Act.apply(a2), toByteOffset: out + cbo + 64, as: V.self)
            yr.storeBytes(of: Act.apply(a3), toByteOffset: out + cbo + 96, as: V.self)
            cb += 32
        }
        while cb < channels.upperBound {
            let cbo = cb * 4
            var a0 = br.loadUnaligned(fromByteOffset: cbo, as: V.self)
            for kh in khLo..<khHi {
                let p = xImg * 4 + ((ihBase + kh) * g.w + iw0) * cs + cbo
                let wrow = kh * k * cs + cbo
                for kw in kwLo..<kwHi {
                    multiplyAdd(&a0, xr.loadUnaligned(fromByteOffset: p + kw * cs, as: V.self), wr.loadUnaligned(fromByteOffset: wrow + kw * cs, as: V.self))
                }
            }
            yr.storeBytes(of: Act.apply(a0), toByteOffset: out + cbo, as: V.self)
            cb += 8
        }
    }
}

/// Plain loops: any kernel size, stride and activation, and channels beyond the last multiple
/// of 8 (none in EfficientNet-Lite0).
enum DepthwiseReference {
    static func run(_ g: DepthwiseGeometry, k: Int, s: Int, activation: Activation, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                    _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ rows: Range<Int>) {
        for r in rows {
            let img = r / g.oh, orow = r - img * g.oh
            tail(g, k: k, s: s, activation: activation, channels: 0..<g.c, img: img, orow: orow, x, y, w, b)
        }
    }

    static func tail(_ g: DepthwiseGeometry, k: Int, s: Int, activation: Activation, channels: Range<Int>, img: Int, orow: Int,
                     _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>) {
        let c = g.c
        let ihBase = orow * s - g.padTop
        for o in 0..<g.ow {
            let iw0 = o * s - g.padLeft
            for ch in channels {
                var acc = b[ch]
                for kh in 0..<k {
                    let ih = ihBase + kh
                    if ih < 0 || ih >= g.h { continue }
                    for kw in 0..<k {
                        let iw = iw0 + kw
                        if iw < 0 || iw >= g.w { continue }
                        acc += x[((img * g.h + ih - g.firstRow) * g.w + iw) * c + ch] * w[(kh * k + kw) * c + ch]
                    }
                }
                y[((img * g.oh + orow - g.outFirstRow) * g.ow + o) * c + ch] = activate(acc, activation)
            }
        }
    }
}
