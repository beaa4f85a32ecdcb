import EmbedScopeCore
import EmbedScopeImages
/// A dense k×k convolution with BatchNorm folded into its weights and bias, computed as
/// im2col + one OpenBLAS GEMM per chunk of output pixels, output NHWC.
///
/// The input is NHWC (activations) or CHW planar (the network input). For NHWC the patch of
/// one output pixel is k rows of k·C contiguous floats, so im2col is k memcpy's per pixel in the
/// interior. Chunks of at most `scratchCapacity / patchLength` pixels keep the patch matrix
/// and the GEMM output in cache for the epilogue. A 1×1 stride-1 convolution skips im2col, and
/// the first convolution (planar input) runs direct: the C kernel on our own GEMM paths
/// (`usesPlanarKernel`), PlanarDirectConv (a multiple of 32 outputs) with OpenBLAS.
struct Conv2D: Sendable {
    enum InputLayout: Sendable { case nhwc, planar }

    let inChannels: Int
    let outChannels: Int
    let kernel: Int
    let stride: Int
    let padding: Padding2D
    let inputLayout: InputLayout
    /// [patchLength × out] row-major; patch order (kh, kw, c) for NHWC input, (c, kh, kw) for planar.
    let weights: AlignedFloats
    let bias: AlignedFloats
    let activation: Activation
    /// `weights` packed for our GEMM kernel (nil: the OpenBLAS path is selected).
    let packed: PackedMatrix?

    var patchLength: Int { kernel * kernel * inChannels }
    /// `run` writes nothing to its scratch: the direct kernels of a planar input (either path).
    var runsWithoutScratch: Bool {
        usesPlanarKernel || (inputLayout == .planar && outChannels % 32 == 0)
    }

    /// Planar input on one of our own GEMM paths: the C direct kernel (`ConvKernels.convPlanar`).
    var usesPlanarKernel: Bool { inputLayout == .planar && packed != nil && patchLength <= ConvKernels.planarMaxTaps }

    var isPointwise: Bool { kernel == 1 && stride == 1 && padding == .zero && inputLayout == .nhwc }

    /// `weight` in PyTorch's layout [out, in, k, k]; `scale`/`shift` from the BatchNorm that follows.
    init(weight: [Float], out: Int, in inC: Int, kernel k: Int, stride: Int, padding: Padding2D,
         inputLayout: InputLayout, scale: [Double], shift: [Double], activation: Activation) {
        precondition(weight.count == out * inC * k * k)
        inChannels = inC
        outChannels = out
        kernel = k
        self.stride = stride
        self.padding = padding
        self.inputLayout = inputLayout
        self.activation = activation
        let plen = k * k * inC
        var w = [Float](repeating: 0, count: plen * out)
        for o in 0..<out {
            for c in 0..<inC {
                for t in 0..<(k * k) {
                    let v = Float(Double(weight[(o * inC + c) * k * k + t]) * scale[o])
                    let p = inputLayout == .planar ? c * k * k + t : t * inC + c
                    w[p * out + o] = v
                }
            }
        }
        weights = AlignedFloats(w)
        bias = AlignedFloats(shift.map { Float($0) })
        packed = packedWeights(w, k: plen, n: out)
    }

    init(_ reader: StateDictReader, conv: String, bn: String, in inC: Int, out: Int, kernel: Int, stride: Int,
         padding: Padding2D, inputLayout: InputLayout = .nhwc, eps: Double, activation: Activation) throws {
        let w = try reader.tensor(conv + ".weight", shape: [out, inC, kernel, kernel])
        let (scale, shift) = try reader.batchNorm(bn, channels: out, eps: eps)
        self.init(weight: w.data, out: out, in: inC, kernel: kernel, stride: stride, padding: padding,
                  inputLayout: inputLayout, scale: scale, shift: shift, activation: activation)
    }

    func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        (Padding2D.outputSize(height, before: padding.top, after: padding.bottom, kernel: kernel, stride: stride),
         Padding2D.outputSize(width, before: padding.left, after: padding.right, kernel: kernel, stride: stride))
    }

    /// x: `images` inputs of height×width (NHWC or planar); y: [images × oh × ow × out] NHWC.
    /// `residual` (y's layout) is added before the activation. Computes output pixels `pixels`
    /// (indices into images × oh × ow; all when nil). `scratch` holds `scratchCapacity` floats,
    /// at least one patch (unused for a 1×1 stride-1 convolution). y holds pixel `outputOrigin`
    /// first (a band of output rows; residual then nil).
    func run(_ x: UnsafePointer<Float>, images: Int, height: Int, width: Int, _ y: UnsafeMutablePointer<Float>,
             residual: UnsafePointer<Float>? = nil, scratch: UnsafeMutablePointer<Float>, scratchCapacity: Int,
             pixels: Range<Int>? = nil, outputOrigin: Int = 0) {
        let (oh, ow) = outputSize(height: height, width: width)
        let all = 0..<(images * oh * ow)
        let range = pixels ?? all
        precondition(outputOrigin <= range.lowerBound && (outputOrigin == 0 || residual == nil))
        if usesPlanarKernel && residual == nil, let packed {
            // Our own GEMM path: the C kernel of its SIMD width (CKernels/conv.c).
            weights.withUnsafeBufferPointer { wb in
                bias.withUnsafeBufferPointer { bb in
                    ConvKernels.convPlanar(path: packed.path, x, height: height, width: width, inChannels: inChannels, kernel: kernel,
                                           stride: stride, padTop: padding.top, padLeft: padding.left, outHeight: oh, outWidth: ow,
                                           weights: wb.baseAddress!, outChannels: outChannels, bias: bb.baseAddress!,
                                           activation: activation.gemm, y, outputOrigin: outputOrigin, pixels: range)
                }
            }
            return
        }
        if inputLayout == .planar && outChannels % 32 == 0 && residual == nil {
            weights.withUnsafeBufferPointer { wb in
                bias.withUnsafeBufferPointer { bb in
                    PlanarDirectConv.run(self, x, height: height, width: width, oh: oh, ow: ow, y, outputOrigin: outputOrigin,
                                         pixels: range, wb.baseAddress!, bb.baseAddress!)
                }
            }
            return
        }
        let plen = patchLength
        let chunk = isPointwise ? Pointwise.chunkRows : max(1, min(Pointwise.chunkRows, scratchCapacity / plen))
        precondition(isPointwise || scratchCapacity >= plen, "Conv2D scratch holds \(scratchCapacity) floats, a patch needs \(plen)")
        weights.withUnsafeBufferPointer { wb in
            bias.withUnsafeBufferPointer { bb in
                var p0 = range.lowerBound
                while p0 < range.upperBound {
                    let m = min(chunk, range.upperBound - p0)
                    let a: UnsafePointer<Float>
                    if isPointwise {
                        a = x + p0 * inChannels
                    } else {
                        switch inputLayout {
                        case .nhwc: im2colNHWC(x, height: height, width: width, oh: oh, ow: ow, pixels: p0..<(p0 + m), scratch)
                        case .planar: im2colPlanar(x, height: height, width: width, oh: oh, ow: ow, pixels: p0..<(p0 + m), scratch)
                        }
                        a = UnsafePointer(scratch)
                    }
                    let yc = y + (p0 - outputOrigin) * outChannels
                    if let packed {
                        // A (the input rows, or the chunk's patches just written) is read in place.
                        ConvKernels.pointwise(packed, m: m, a, lda: plen, bias: bb.baseAddress!,
                                              residual: residual.map { $0 + p0 * outChannels }, ldr: outChannels,
                                              activation: activation.gemm, yc, ldc: outChannels)
                        p0 += m
                        continue
                    }
                    GEMM.ab(m: m, n: outChannels, k: plen, a: a, lda: plen, b: wb.baseAddress!, ldb: outChannels,
                            c: yc, ldc: outChannels)
                    Epilogue.apply(yc, rows: m, cols: outChannels, bias: bb.baseAddress!,
                                   residual: residual.map { $0 + p0 * outChannels }, activation: activation)
                    p0 += m
                }
            }
        }
    }

    /// One image's output pixels `pixels` (whole rows) written into planes (`usesPlanarKernel`):
    /// the values of `run`, bit for bit.
    func runPlanes(_ x: UnsafePointer<Float>, height: Int, width: Int, planes: UnsafeMutablePointer<Float>,
                   layout: ConvKernels.PlaneLayout, pixels: Range<Int>) {
        precondition(usesPlanarKernel && layout.channels == outChannels)
        let (oh, ow) = outputSize(height: height, width: width)
        weights.withUnsafeBufferPointer { wb in
            bias.withUnsafeBufferPointer { bb in
                ConvKernels.convPlanarPlanes(path: packed!.path, x, height: height, width: width, inChannels: inChannels, kernel: kernel,
                                             stride: stride, padTop: padding.top, padLeft: padding.left, outHeight: oh, outWidth: ow,
                                             weights: wb.baseAddress!, bias: bb.baseAddress!, activation: activation.gemm,
                                             planes: planes, layout: layout, pixels: pixels)
            }
        }
    }

    /// Patch rows (kh, kw, c) for output pixels `pixels` of NHWC input.
    private func im2colNHWC(_ x: UnsafePointer<Float>, height h: Int, width w: Int, oh: Int, ow: Int,
                            pixels: Range<Int>, _ out: UnsafeMutablePointer<Float>) {
        let c = inChannels, k = kernel, s = stride
        var dst = out
        for p in pixels {
            let img = p / (oh * ow), rem = p - img * oh * ow
            let oy = rem / ow, ox = rem - oy * ow
            let iy0 = oy * s - padding.top, ix0 = ox * s - padding.left
            let base = x + img * h * w * c
            for kh in 0..<k {
                let iy = iy0 + kh
                if iy < 0 || iy >= h {
                    dst.update(repeating: 0, count: k * c)
                } else if ix0 >= 0 && ix0 + k <= w {
                    dst.update(from: base + (iy * w + ix0) * c, count: k * c)
                } else {
                    for kw in 0..<k {
                        let ix = ix0 + kw
                        if ix < 0 || ix >= w {
                            (dst + kw * c).update(repeating: 0, count: c)
                        } else {
                            (dst + kw * c).update(from: base + (iy * w + ix) * c, count: c)
                        }
                    }
                }
                dst += k * c
            }
        }
    }

    /// Patch rows (c, kh, kw) for output pixels `pixels` of CHW planar input.
    private func im2colPlanar(_ x: UnsafePointer<Float>, height h: Int, width w: Int, oh: Int, ow: Int,
                              pixels: Range<Int>, _ out: UnsafeMutablePointer<Float>) {
        let c = inChannels, k = kernel, s = stride
        var dst = out
        for p in pixels {
            let img = p / (oh * ow), rem = p - img * oh * ow
            let oy = rem / ow, ox = rem - oy * ow
            let iy0 = oy * s - padding.top, ix0 = ox * s - padding.left
            let inside = iy0 >= 0 && iy0 + k <= h && ix0 >= 0 && ix0 + k <= w
            for ch in 0..<c {
                let plane = x + (img * c + ch) * h * w
                for kh in 0..<k {
                    let iy = iy0 + kh
                    if inside {
                        let row = plane + iy * w + ix0
                        for kw in 0..<k { dst[kw] = row[kw] }
                    } else {
                        for kw in 0..<k {
                            let ix = ix0 + kw
                            dst[kw] = (iy < 0 || iy >= h || ix < 0 || ix >= w) ? 0 : plane[iy * w + ix]
                        }
                    }
                    dst += k
                }
            }
        }
    }
}

/// The first convolution (3 input planes) computed directly: for each output pixel, every tap
/// is one broadcast input value times the weight vectors of 32 output channels. Two pixels ×
/// 32 channels per tile (eight accumulation chains); im2col + GEMM with K = 27 runs at less
/// than half the speed.
enum PlanarDirectConv {
    typealias V = SIMD8<Float>

    static func run(_ conv: Conv2D, _ x: UnsafePointer<Float>, height h: Int, width w: Int, oh: Int, ow: Int,
                    _ y: UnsafeMutablePointer<Float>, outputOrigin: Int, pixels: Range<Int>, _ wt: UnsafePointer<Float>,
                    _ b: UnsafePointer<Float>) {
        let c = conv.inChannels, k = conv.kernel, s = conv.stride, out = conv.outChannels
        let pt = conv.padding.top, pl = conv.padding.left
        let wr = UnsafeRawPointer(wt), br = UnsafeRawPointer(b), yr = UnsafeMutableRawPointer(y)
        let act = conv.activation
        var p = pixels.lowerBound
        while p < pixels.upperBound {
            let img = p / (oh * ow), rem = p - img * oh * ow
            let oy = rem / ow, ox = rem - oy * ow
            // Two pixels when both are in the same row.
            let pair = ox + 1 < ow && p + 1 < pixels.upperBound
            let iy0 = oy * s - pt, ix0 = ox * s - pl
            let inside = iy0 >= 0 && iy0 + k <= h && ix0 >= 0 && ix0 + (pair ? s : 0) + k <= w
            let planes = x + img * c * h * w
            var cb = 0
            while cb < out {
                let bo = cb * 4
                var a0 = br.loadUnaligned(fromByteOffset: bo, as: V.self)
                var a1 = br.loadUnaligned(fromByteOffset: bo + 32, as: V.self)
                var a2 = br.loadUnaligned(fromByteOffset: bo + 64, as: V.self)
                var a3 = br.loadUnaligned(fromByteOffset: bo + 96, as: V.self)
                var b0 = a0, b1 = a1, b2 = a2, b3 = a3
                var tap = 0
                for ch in 0..<c {
                    let plane = planes + ch * h * w
                    for kh in 0..<k {
                        let iy = iy0 + kh
                        for kw in 0..<k {
                            let wo = (tap * out + cb) * 4
                            tap += 1
                            let ix = ix0 + kw
                            let v0: Float, v1: Float
                            if inside {
                                v0 = plane[iy * w + ix]
                                v1 = plane[iy * w + ix + s]
                            } else {
                                let rowOK = iy >= 0 && iy < h
                                v0 = rowOK && ix >= 0 && ix < w ? plane[iy * w + ix] : 0
                                v1 = pair && rowOK && ix + s >= 0 && ix + s < w ? plane[iy * w + ix + s] : 0
                            }
                            let w0 = wr.loadUnaligned(fromByteOffset: wo, as: V.self)
                            let w1 = wr.loadUnaligned(fromByteOffset: wo + 32, as: V.self)
                            let w2 = wr.loadUnaligned(fromByteOffset: wo + 64, as: V.self)
                            let w3 = wr.loadUnaligned(fromByteOffset: wo + 96, as: V.self)
                            let x0 = V(repeating: v0), x1 = V(repeating: v1)
                            multiplyAdd(&a0, x0, w0); multiplyAdd(&a1, x0, w1)
                            multiplyAdd(&a2, x0, w2); multiplyAdd(&a3, x0, w3)
                            multiplyAdd(&b0, x1, w0); multiplyAdd(&b1, x1, w1)
                            multiplyAdd(&b2, x1, w2); multiplyAdd(&b3, x1, w3)
                        }
                    }
                }
                let o0 = ((p - outputOrigin) * out + cb) * 4
                yr.storeBytes(of: activate(a0, act), toByteOffset: o0, as: V.self)
                yr.storeBytes(of: activate(a1, act), toByteOffset: o0 + 32, as: V.self)
                yr.storeBytes(of: activate(a2, act), toByteOffset: o0 + 64, as: V.self)
                yr.storeBytes(of: activate(a3, act), toByteOffset: o0 + 96, as: V.self)
                if pair {
                    let o1 = o0 + out * 4
                    yr.storeBytes(of: activate(b0, act), toByteOffset: o1, as: V.self)
                    yr.storeBytes(of: activate(b1, act), toByteOffset: o1 + 32, as: V.self)
                    yr.storeBytes(of: activate(b2, act), toByteOffset: o1 + 64, as: V.self)
                    yr.storeBytes(of: activate(b3, act), toByteOffset: o1 + 96, as: V.self)
                }
                cb += 32
            }
            p += pair ? 2 : 1
        }
    }
}
