/// A depthwise k×k convolution (one filter per channel, BatchNorm folded in) over NHWC
/// activations, followed by bias and activation.
///
/// NHWC makes the channel the SIMD dimension: every tap is one 8-lane load of input and one of
/// weights, whatever the stride, and the image borders only cost the few edge pixels a bounds
/// check. The interior runs 8 output pixels × 8 channels at a time: eight independent FMA
/// chains (enough to hide the FMA latency on two FMA pipes), the k weight vectors of a kernel
/// row loaded once per row and the input vectors once per (row, column).
struct DepthwiseConv: Sendable {
    let channels: Int
    let kernel: Int
    let stride: Int
    let padding: Padding2D
    /// [kh][kw][channel]: one vector of taps per kernel position, BatchNorm scale folded in.
    let weights: [Float]
    let bias: [Float]
    let activation: Activation

    /// `weight` in PyTorch's layout [C, 1, k, k].
    init(weight: [Float], channels: Int, kernel: Int, stride: Int, padding: Padding2D,
         scale: [Double], shift: [Double], activation: Activation) {
        precondition(weight.count == channels * kernel * kernel)
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
        weights = w
        bias = shift.map { Float($0) }
    }

    func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        (Padding2D.outputSize(height, before: padding.top, after: padding.bottom, kernel: kernel, stride: stride),
         Padding2D.outputSize(width, before: padding.left, after: padding.right, kernel: kernel, stride: stride))
    }

    /// x: [images × height × width × C]; y: [images × oh × ow × C]. Computes the output rows
    /// `rows`, indices into the images × oh output rows (so callers can split the work).
    func run(_ x: UnsafePointer<Float>, height: Int, width: Int, _ y: UnsafeMutablePointer<Float>, rows: Range<Int>) {
        let (oh, ow) = outputSize(height: height, width: width)
        let geometry = DepthwiseGeometry(h: height, w: width, c: channels, oh: oh, ow: ow,
                                         padTop: padding.top, padLeft: padding.left)
        weights.withUnsafeBufferPointer { wb in
            bias.withUnsafeBufferPointer { bb in
                let w = wb.baseAddress!, b = bb.baseAddress!
                switch (kernel, stride, activation) {
                case (3, 1, .relu6): DepthwiseKernel.run(k: 3, s: 1, geometry, x, y, w, b, .relu6, rows)
                case (3, 2, .relu6): DepthwiseKernel.run(k: 3, s: 2, geometry, x, y, w, b, .relu6, rows)
                case (5, 1, .relu6): DepthwiseKernel.run(k: 5, s: 1, geometry, x, y, w, b, .relu6, rows)
                case (5, 2, .relu6): DepthwiseKernel.run(k: 5, s: 2, geometry, x, y, w, b, .relu6, rows)
                default: DepthwiseKernel.runGeneric(k: kernel, s: stride, geometry, x, y, w, b, activation, rows)
                }
            }
        }
    }
}

struct DepthwiseGeometry {
    let h: Int, w: Int, c: Int, oh: Int, ow: Int, padTop: Int, padLeft: Int
}

enum DepthwiseKernel {
    typealias V = SIMD8<Float>

    @inline(never)
    static func runGeneric(k: Int, s: Int, _ g: DepthwiseGeometry, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                           _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ act: Activation, _ rows: Range<Int>) {
        run(k: k, s: s, g, x, y, w, b, act, rows)
    }

    /// Called with literal k, s and activation so that each instance is compiled with them as
    /// constants (the kernel-column loops unroll fully).
    @inline(__always)
    static func run(k: Int, s: Int, _ g: DepthwiseGeometry, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                    _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ act: Activation, _ rows: Range<Int>) {
        let c = g.c, c8 = c & ~7
        let xr = UnsafeRawPointer(x), wr = UnsafeRawPointer(w), br = UnsafeRawPointer(b)
        let yr = UnsafeMutableRawPointer(y)
        let cs = c * 4                       // bytes between horizontally adjacent pixels
        // Output columns whose whole window lies inside the row: [owLo, owHi).
        let owLo = min(g.ow, (g.padLeft + s - 1) / s)
        let lastStart = g.w - k + g.padLeft   // largest ow·s whose window ends inside
        let owHi = max(owLo, min(g.ow, lastStart >= 0 ? lastStart / s + 1 : 0))

        for r in rows {
            let img = r / g.oh, orow = r - img * g.oh
            let ihBase = orow * s - g.padTop
            let khLo = max(0, -ihBase), khHi = min(k, g.h - ihBase)
            let xImg = img * g.h * g.w * cs      // byte offset of the image
            let yRow = r * g.ow * cs             // byte offset of the output row

            var cb = 0
            while cb < c8 {
                let cbo = cb * 4
                let bias = br.loadUnaligned(fromByteOffset: cbo, as: V.self)

                /// One output pixel with bounds checks (the borders).
                @inline(__always) func edge(_ o: Int) {
                    var acc = bias
                    let iw0 = o * s - g.padLeft
                    for kh in khLo..<khHi {
                        let rowOff = xImg + (ihBase + kh) * g.w * cs + cbo
                        for kw in 0..<k {
                            let iw = iw0 + kw
                            if iw < 0 || iw >= g.w { continue }
                            acc.addProduct(xr.loadUnaligned(fromByteOffset: rowOff + iw * cs, as: V.self),
                                           wr.loadUnaligned(fromByteOffset: ((kh * k + kw) * c) * 4 + cbo, as: V.self))
                        }
                    }
                    yr.storeBytes(of: activate(acc, act), toByteOffset: yRow + o * cs + cbo, as: V.self)
                }

                var o = 0
                while o < owLo { edge(o); o += 1 }
                // Interior, 8 pixels at a time.
                while o + 8 <= owHi {
                    var a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias, a6 = bias, a7 = bias
                    let iw0 = o * s - g.padLeft
                    for kh in khLo..<khHi {
                        let p = xImg + ((ihBase + kh) * g.w + iw0) * cs + cbo
                        let wrow = (kh * k * c) * 4 + cbo
                        for kw in 0..<k {
                            let wv = wr.loadUnaligned(fromByteOffset: wrow + kw * cs, as: V.self)
                            let q = p + kw * cs
                            a0.addProduct(xr.loadUnaligned(fromByteOffset: q, as: V.self), wv)
                            a1.addProduct(xr.loadUnaligned(fromByteOffset: q + s * cs, as: V.self), wv)
                            a2.addProduct(xr.loadUnaligned(fromByteOffset: q + 2 * s * cs, as: V.self), wv)
                            a3.addProduct(xr.loadUnaligned(fromByteOffset: q + 3 * s * cs, as: V.self), wv)
                            a4.addProduct(xr.loadUnaligned(fromByteOffset: q + 4 * s * cs, as: V.self), wv)
                            a5.addProduct(xr.loadUnaligned(fromByteOffset: q + 5 * s * cs, as: V.self), wv)
                            a6.addProduct(xr.loadUnaligned(fromByteOffset: q + 6 * s * cs, as: V.self), wv)
                            a7.addProduct(xr.loadUnaligned(fromByteOffset: q + 7 * s * cs, as: V.self), wv)
                        }
                    }
                    let out = yRow + o * cs + cbo
                    yr.storeBytes(of: activate(a0, act), toByteOffset: out, as: V.self)
                    yr.storeBytes(of: activate(a1, act), toByteOffset: out + cs, as: V.self)
                    yr.storeBytes(of: activate(a2, act), toByteOffset: out + 2 * cs, as: V.self)
                    yr.storeBytes(of: activate(a3, act), toByteOffset: out + 3 * cs, as: V.self)
                    yr.storeBytes(of: activate(a4, act), toByteOffset: out + 4 * cs, as: V.self)
                    yr.storeBytes(of: activate(a5, act), toByteOffset: out + 5 * cs, as: V.self)
                    yr.storeBytes(of: activate(a6, act), toByteOffset: out + 6 * cs, as: V.self)
                    yr.storeBytes(of: activate(a7, act), toByteOffset: out + 7 * cs, as: V.self)
                    o += 8
                }
                // Interior remainder, 2 pixels at a time then one.
                while o + 2 <= owHi {
                    var a0 = bias, a1 = bias
                    let iw0 = o * s - g.padLeft
                    for kh in khLo..<khHi {
                        let p = xImg + ((ihBase + kh) * g.w + iw0) * cs + cbo
                        let wrow = (kh * k * c) * 4 + cbo
                        for kw in 0..<k {
                            let wv = wr.loadUnaligned(fromByteOffset: wrow + kw * cs, as: V.self)
                            a0.addProduct(xr.loadUnaligned(fromByteOffset: p + kw * cs, as: V.self), wv)
                            a1.addProduct(xr.loadUnaligned(fromByteOffset: p + (s + kw) * cs, as: V.self), wv)
                        }
                    }
                    let out = yRow + o * cs + cbo
                    yr.storeBytes(of: activate(a0, act), toByteOffset: out, as: V.self)
                    yr.storeBytes(of: activate(a1, act), toByteOffset: out + cs, as: V.self)
                    o += 2
                }
                while o < g.ow { edge(o); o += 1 }
                cb += 8
            }

            // Channels beyond the last multiple of 8 (none in EfficientNet-Lite0): scalar.
            if c8 < c {
                for o in 0..<g.ow {
                    let iw0 = o * s - g.padLeft
                    for ch in c8..<c {
                        var acc = b[ch]
                        for kh in khLo..<khHi {
                            for kw in 0..<k {
                                let iw = iw0 + kw
                                if iw < 0 || iw >= g.w { continue }
                                acc += x[(img * g.h + ihBase + kh) * g.w * c + iw * c + ch] * w[(kh * k + kw) * c + ch]
                            }
                        }
                        y[r * g.ow * c + o * c + ch] = activate(acc, act)
                    }
                }
            }
        }
    }
}
