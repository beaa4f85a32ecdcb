import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport

/// The layer kernels against plain Double loops written from the definitions (PyTorch's
/// conv2d with explicit zero padding, BatchNorm as y = scale·x + shift).
final class ModelKernelTests: XCTestCase {
    // MARK: - Reference

    /// NHWC input [n, h, w, c]; torch weight [o, c/groups, k, k]; returns NHWC [n, oh, ow, o].
    static func referenceConv(_ x: [Float], n: Int, h: Int, w: Int, c: Int, weight: [Float], out o: Int, k: Int, stride s: Int,
                              pad: Padding2D, depthwise: Bool, scale: [Double], shift: [Double], activation: Activation,
                              residual: [Float]? = nil) -> [Float] {
        let oh = (h + pad.top + pad.bottom - k) / s + 1, ow = (w + pad.left + pad.right - k) / s + 1
        var y = [Float](repeating: 0, count: n * oh * ow * o)
        for i in 0..<n {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    for oc in 0..<o {
                        var acc = 0.0
                        for kh in 0..<k {
                            let iy = oy * s - pad.top + kh
                            if iy < 0 || iy >= h { continue }
                            for kw in 0..<k {
                                let ix = ox * s - pad.left + kw
                                if ix < 0 || ix >= w { continue }
                                if depthwise {
                                    acc += Double(x[((i * h + iy) * w + ix) * c + oc]) * Double(weight[(oc * k + kh) * k + kw])
                                } else {
                                    for ic in 0..<c {
                                        acc += Double(x[((i * h + iy) * w + ix) * c + ic]) * Double(weight[((oc * c + ic) * k + kh) * k + kw])
                                    }
                                }
                            }
                        }
                        let idx = ((i * oh + oy) * ow + ox) * o + oc
                        var v = scale[oc] * acc + shift[oc]
                        if let residual { v += Double(residual[idx]) }
                        y[idx] = activate(Float(v), activation)
                    }
                }
            }
        }
        return y
    }

    /// Largest |a − b|; infinity if either holds a NaN (outputs start as NaN, so an element a
    /// kernel never wrote fails).
    static func maxDiff(_ a: [Float], _ b: [Float]) -> Float {
        let d = maxAbsDifference(a, b)
        return d.isNaN ? .infinity : Float(d)
    }

    static func affine(_ c: Int, seed: UInt64) -> (scale: [Double], shift: [Double]) {
        var g = SeededGenerator(seed: seed)
        return ((0..<c).map { _ in 0.5 + abs(g.gaussian()) * 0.5 }, (0..<c).map { _ in g.gaussian() * 0.5 })
    }

    // MARK: - Padding

    func testTensorFlowSamePadding() {
        // From the reference: stride 2, 3×3 pads 0 before / 1 after; 5×5 pads 1 / 2; stride 1 symmetric k/2.
        XCTAssertEqual(Padding2D.tfSame(height: 224, width: 224, kernel: 3, stride: 2), Padding2D(top: 0, bottom: 1, left: 0, right: 1))
        XCTAssertEqual(Padding2D.tfSame(height: 56, width: 56, kernel: 5, stride: 2), Padding2D(top: 1, bottom: 2, left: 1, right: 2))
        XCTAssertEqual(Padding2D.tfSame(height: 14, width: 14, kernel: 5, stride: 1), .symmetric(2))
        XCTAssertEqual(Padding2D.tfSame(height: 7, width: 7, kernel: 3, stride: 1), .symmetric(1))
        // Odd input, stride 2: total = (4 - 1)·2 + 3 − 7 = 2 → 1 / 1.
        XCTAssertEqual(Padding2D.tfSame(height: 7, width: 8, kernel: 3, stride: 2), Padding2D(top: 1, bottom: 1, left: 0, right: 1))
        XCTAssertEqual(Padding2D.outputSize(224, before: 0, after: 1, kernel: 3, stride: 2), 112)
    }

    // MARK: - Depthwise

    func testDepthwiseMatchesReference() {
        var seed: UInt64 = 10
        for (k, s) in [(3, 1), (3, 2), (5, 1), (5, 2), (7, 1)] {
            for (h, w) in [(13, 21), (7, 7), (2, 9), (29, 30)] {
                for c in [8, 72, 12] {
                    for (activation, pad) in [(Activation.relu6, Padding2D.tfSame(height: h, width: w, kernel: k, stride: s)),
                                              (.relu6, .symmetric(k / 2)), (.none, .symmetric(k / 2))] {
                        do {
                            seed += 1
                            let n = 2
                            let x = seededFloats(n * h * w * c, seed: seed, scale: 2)
                            let wt = seededFloats(c * k * k, seed: seed + 1000, scale: 0.5)
                            let (scale, shift) = Self.affine(c, seed: seed + 2000)
                            let dw = DepthwiseConv(weight: wt, channels: c, kernel: k, stride: s, padding: pad, scale: scale, shift: shift, activation: activation)
                            let (oh, ow) = dw.outputSize(height: h, width: w)
                            var y = [Float](repeating: .nan, count: n * oh * ow * c)
                            // Two calls over a split of the output rows, as the threads do.
                            let cut = (n * oh) / 3
                            x.withUnsafeBufferPointer { xb in
                                y.withUnsafeMutableBufferPointer { yb in
                                    dw.run(xb.baseAddress!, height: h, width: w, yb.baseAddress!, rows: 0..<cut)
                                    dw.run(xb.baseAddress!, height: h, width: w, yb.baseAddress!, rows: cut..<(n * oh))
                                }
                            }
                            let ref = Self.referenceConv(x, n: n, h: h, w: w, c: c, weight: wt, out: c, k: k, stride: s, pad: pad,
                                                         depthwise: true, scale: scale, shift: shift, activation: activation)
                            let d = Self.maxDiff(y, ref)
                            XCTAssertLessThanOrEqual(d, 1e-4, "depthwise k\(k) s\(s) \(h)×\(w)×\(c) \(activation) pad \(pad): max |Δ| \(d), tolerance 1e-4")
                        }
                    }
                }
            }
        }
    }

    /// `dw` over one image x [h × w × C] in bands of 3 output rows, each band given only the
    /// input rows it reads (`firstRow` > 0), as the banded MBConv path passes them.
    static func inBands(_ dw: DepthwiseConv, _ x: [Float], height h: Int, width w: Int) -> [Float] {
        let (oh, ow) = dw.outputSize(height: h, width: w)
        let c = dw.channels, k = dw.kernel, s = dw.stride, top = dw.padding.top
        var banded = [Float](repeating: .nan, count: oh * ow * c)
        banded.withUnsafeMutableBufferPointer { yb in
            var r0 = 0
            while r0 < oh {
                let r1 = min(r0 + 3, oh)
                let lo = max(0, r0 * s - top), hi = min(h, (r1 - 1) * s - top + k)
                let band = Array(x[(lo * w * c)..<(hi * w * c)])   // only the rows the band needs
                // The output rows go to a buffer of just those rows (outFirstRow), as in runBanded.
                var out = [Float](repeating: .nan, count: (r1 - r0) * ow * c)
                band.withUnsafeBufferPointer { xb in
                    out.withUnsafeMutableBufferPointer {
                        dw.run(xb.baseAddress!, height: h, width: w, $0.baseAddress!, rows: r0..<r1, firstRow: lo, outFirstRow: r0)
                    }
                }
                for (i, v) in out.enumerated() { yb[r0 * ow * c + i] = v }
                r0 = r1
            }
        }
        return banded
    }

    /// A band of input rows (`firstRow` > 0) written to a band of output rows (`outFirstRow`), as
    /// the banded MBConv path passes them.
    func testDepthwiseOnARowBand() {
        for (k, s) in [(3, 1), (3, 2), (5, 1), (5, 2)] {
            let h = 23, w = 19, c = 40
            let pad = Padding2D.tfSame(height: h, width: w, kernel: k, stride: s)
            let x = seededFloats(h * w * c, seed: 77)
            let wt = seededFloats(c * k * k, seed: 78, scale: 0.5)
            let (scale, shift) = Self.affine(c, seed: 79)
            let dw = DepthwiseConv(weight: wt, channels: c, kernel: k, stride: s, padding: pad, scale: scale, shift: shift, activation: .relu6)
            let (oh, ow) = dw.outputSize(height: h, width: w)
            var full = [Float](repeating: .nan, count: oh * ow * c)
            x.withUnsafeBufferPointer { xb in
                full.withUnsafeMutableBufferPointer { dw.run(xb.baseAddress!, height: h, width: w, $0.baseAddress!, rows: 0..<oh) }
            }
            let banded = Self.inBands(dw, x, height: h, width: w)
            XCTAssertEqual(Self.maxDiff(full, banded), 0, "k\(k) s\(s): bands of rows must give the whole-image result")
        }
    }

    // MARK: - Pointwise

    func testPointwiseMatchesReference() {
        var seed: UInt64 = 100
        // Kernel path (K ≤ 32) and OpenBLAS path; rows across the 1024-row chunk boundary and below the 4-row tile.
        for (rows, k, n) in [(1, 16, 96), (3, 24, 144), (1031, 32, 16), (2100, 16, 8), (5, 40, 240), (1030, 96, 24), (49, 192, 40), (7, 8, 12)] {
            for activation in [Activation.relu6, .none, .relu] {
                for withResidual in [false, true] {
                    seed += 1
                    let x = seededFloats(rows * k, seed: seed)
                    let wt = seededFloats(n * k, seed: seed + 1, scale: 0.3)
                    let (scale, shift) = Self.affine(n, seed: seed + 2)
                    let res = withResidual ? seededFloats(rows * n, seed: seed + 3) : nil
                    let pw = Pointwise(weight: wt, out: n, in: k, scale: scale, shift: shift, activation: activation)
                    var y = [Float](repeating: .nan, count: rows * n)
                    x.withUnsafeBufferPointer { xb in
                        y.withUnsafeMutableBufferPointer { yb in
                            if let res {
                                res.withUnsafeBufferPointer { rb in pw.run(xb.baseAddress!, rows: rows, yb.baseAddress!, residual: rb.baseAddress!) }
                            } else {
                                pw.run(xb.baseAddress!, rows: rows, yb.baseAddress!)
                            }
                        }
                    }
                    let ref = Self.referenceConv(x, n: 1, h: 1, w: rows, c: k, weight: wt, out: n, k: 1, stride: 1, pad: .zero,
                                                 depthwise: false, scale: scale, shift: shift, activation: activation, residual: res)
                    let d = Self.maxDiff(y, ref)
                    XCTAssertLessThanOrEqual(d, 1e-4, "pointwise \(rows)×\(k)→\(n) \(activation) residual \(withResidual) (kernel \(pw.usesKernel)): max |Δ| \(d), tolerance 1e-4")
                }
            }
        }
    }

    // MARK: - Dense convolutions

    func testConv2DMatchesReference() {
        var seed: UInt64 = 300
        struct Case { let h, w, c, o, k, s: Int; let pad: Padding2D; let layout: Conv2D.InputLayout; let residual: Bool }
        let cases = [
            Case(h: 9, w: 11, c: 5, o: 12, k: 3, s: 1, pad: .symmetric(1), layout: .nhwc, residual: true),
            Case(h: 10, w: 9, c: 16, o: 8, k: 3, s: 2, pad: .symmetric(1), layout: .nhwc, residual: false),
            Case(h: 8, w: 8, c: 24, o: 40, k: 1, s: 2, pad: .zero, layout: .nhwc, residual: false),
            Case(h: 6, w: 7, c: 24, o: 40, k: 1, s: 1, pad: .zero, layout: .nhwc, residual: true),
            Case(h: 15, w: 16, c: 3, o: 32, k: 3, s: 2, pad: .tfSame(height: 15, width: 16, kernel: 3, stride: 2), layout: .planar, residual: false),
            Case(h: 17, w: 13, c: 3, o: 64, k: 7, s: 2, pad: .symmetric(3), layout: .planar, residual: false),
            Case(h: 12, w: 12, c: 3, o: 8, k: 3, s: 1, pad: .symmetric(1), layout: .planar, residual: false),  // im2col fallback
        ]
        for t in cases {
            for activation in [Activation.relu, .relu6, .none] {
                seed += 1
                let n = 2
                let xNHWC = seededFloats(n * t.h * t.w * t.c, seed: seed)
                // The planar layout sees the same images as CHW planes.
                var xIn = xNHWC
                if t.layout == .planar {
                    for i in 0..<n { for y in 0..<t.h { for x in 0..<t.w { for ch in 0..<t.c {
                        xIn[((i * t.c + ch) * t.h + y) * t.w + x] = xNHWC[((i * t.h + y) * t.w + x) * t.c + ch]
                    } } } }
                }
                let wt = seededFloats(t.o * t.c * t.k * t.k, seed: seed + 1, scale: 0.3)
                let (scale, shift) = Self.affine(t.o, seed: seed + 2)
                let conv = Conv2D(weight: wt, out: t.o, in: t.c, kernel: t.k, stride: t.s, padding: t.pad, inputLayout: t.layout,
                                  scale: scale, shift: shift, activation: activation)
                let (oh, ow) = conv.outputSize(height: t.h, width: t.w)
                let res = t.residual ? seededFloats(n * oh * ow * t.o, seed: seed + 3) : nil
                // A scratch of 3 patches forces many im2col chunks.
                let cap = 3 * conv.patchLength
                var scratch = [Float](repeating: 0, count: cap)
                var y = [Float](repeating: .nan, count: n * oh * ow * t.o)
                xIn.withUnsafeBufferPointer { xb in
                    y.withUnsafeMutableBufferPointer { yb in
                        scratch.withUnsafeMutableBufferPointer { sb in
                            let half = (n * oh * ow) / 2 + 1
                            for part in [0..<half, half..<(n * oh * ow)] {
                                if let res {
                                    res.withUnsafeBufferPointer { rb in
                                        conv.run(xb.baseAddress!, images: n, height: t.h, width: t.w, yb.baseAddress!, residual: rb.baseAddress!,
                                                 scratch: sb.baseAddress!, scratchCapacity: cap, pixels: part)
                                    }
                                } else {
                                    conv.run(xb.baseAddress!, images: n, height: t.h, width: t.w, yb.baseAddress!,
                                             scratch: sb.baseAddress!, scratchCapacity: cap, pixels: part)
                                }
                            }
                        }
                    }
                }
                let ref = Self.referenceConv(xNHWC, n: n, h: t.h, w: t.w, c: t.c, weight: wt, out: t.o, k: t.k, stride: t.s, pad: t.pad,
                                             depthwise: false, scale: scale, shift: shift, activation: activation, residual: res)
                let d = Self.maxDiff(y, ref)
                XCTAssertLessThanOrEqual(d, 1e-4, "conv \(t.h)×\(t.w)×\(t.c)→\(t.o) k\(t.k) s\(t.s) \(t.layout) \(activation): max |Δ| \(d), tolerance 1e-4")
            }
        }
    }

    // MARK: - Pooling

    func testPoolingMatchesReference() {
        let n = 2, h = 9, w = 10, c = 20
        let x = seededFloats(n * h * w * c, seed: 500)
        var y = [Float](repeating: .nan, count: n * 5 * 5 * c)
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                Pooling.max(xb.baseAddress!, images: n, height: h, width: w, channels: c, kernel: 3, stride: 2, pad: 1, yb.baseAddress!)
            }
        }
        var ref = [Float](repeating: 0, count: y.count)
        for i in 0..<n { for oy in 0..<5 { for ox in 0..<5 { for ch in 0..<c {
            var m = -Float.infinity
            for iy in (oy * 2 - 1)...(oy * 2 + 1) where iy >= 0 && iy < h {
                for ix in (ox * 2 - 1)...(ox * 2 + 1) where ix >= 0 && ix < w { m = max(m, x[((i * h + iy) * w + ix) * c + ch]) }
            }
            ref[((i * 5 + oy) * 5 + ox) * c + ch] = m
        } } } }
        XCTAssertEqual(y, ref, "max pool 3×3/2 pad 1")

        var mean = [Float](repeating: .nan, count: n * c)
        x.withUnsafeBufferPointer { xb in
            mean.withUnsafeMutableBufferPointer { mb in
                Pooling.globalAverage(xb.baseAddress!, images: n, pixels: h * w, channels: c, mb.baseAddress!)
            }
        }
        for i in 0..<n { for ch in 0..<c {
            let r = (0..<(h * w)).reduce(0.0) { $0 + Double(x[(i * h * w + $1) * c + ch]) } / Double(h * w)
            XCTAssertEqual(Double(mean[i * c + ch]), r, accuracy: 1e-5, "global average, image \(i) channel \(ch)")
        } }

        // 75 channels: two blocks of 32 (four sums each), one of 8, three single ones; and the
        // same channels pooled in ranges, as the head's parts do. Each channel is summed over the
        // pixels in order, so every path gives the plain Float loop's result bit for bit.
        let wide = 75, pixels = 49
        let xw = seededFloats(n * pixels * wide, seed: 9)
        var whole = [Float](repeating: .nan, count: n * wide), parts = whole
        xw.withUnsafeBufferPointer { xb in
            whole.withUnsafeMutableBufferPointer { mb in
                Pooling.globalAverage(xb.baseAddress!, images: n, pixels: pixels, channels: wide, mb.baseAddress!)
            }
            parts.withUnsafeMutableBufferPointer { mb in
                for r in [0..<33, 33..<40, 40..<75] {
                    Pooling.globalAverage(xb.baseAddress!, images: n, pixels: pixels, channels: wide, columns: r, mb.baseAddress!)
                }
            }
        }
        var plain = [Float](repeating: 0, count: n * wide)
        for i in 0..<n { for ch in 0..<wide {
            var sum: Float = 0
            for p in 0..<pixels { sum += xw[(i * pixels + p) * wide + ch] }
            plain[i * wide + ch] = sum * (1 / Float(pixels))
        } }
        XCTAssertEqual(whole, plain, "global average, 75 channels")
        XCTAssertEqual(parts, plain, "global average in channel ranges")
    }
}
