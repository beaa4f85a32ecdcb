import Foundation
import XCTest
import CKernels
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels

/// The C convolution kernels (`CKernels/conv.c`: depthwise k×k, 1×1 on packed weights with A
/// read in place, 1×1 with K ≤ 32, the direct conv on planar input) on every
/// dispatch path this CPU runs (AVX-512F, AVX2 + FMA, portable C), against the Double reference
/// of ModelKernelTests and the Swift kernels (the `.openblas` configuration), on odd shapes:
/// channels not a multiple of 16 or 8, 1×1 and tiny maps, stride 2 on odd sides, row bands,
/// NaN inputs.
final class ConvKernelTests: XCTestCase {
    var paths: [GEMMPath] { [.avx512, .avx2, .portable].filter(\.isSupported) }
    /// `paths` with AVX-512 twice, for `ck_set_avx512_half_rate`: as on full-width units (0) and as
    /// where 512-bit multiply-adds run at half rate (1); -1 (not forced) for the other paths.
    var halfRateRuns: [(GEMMPath, Int32)] {
        paths.flatMap { p -> [(GEMMPath, Int32)] in p == .avx512 ? [(p, Int32(0)), (p, Int32(1))] : [(p, Int32(-1))] }
    }

    func testEveryPathIsExercisedHere() {
        // The portable path runs everywhere; on this kind of machine all three do.
        XCTAssertTrue(paths.contains(.portable))
        if GEMMPath.avx512.isSupported { XCTAssertEqual(paths.count, 3) }
    }

    private func depthwise(_ dw: DepthwiseConv, _ x: [Float], images n: Int, h: Int, w: Int, splits: Int = 3) -> [Float] {
        let (oh, ow) = dw.outputSize(height: h, width: w)
        var y = [Float](repeating: .nan, count: n * oh * ow * dw.channels)
        let total = n * oh
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                // Split the output rows, as the threads do.
                for part in 0..<splits {
                    let rows = (part * total / splits)..<((part + 1) * total / splits)
                    dw.run(xb.baseAddress!, height: h, width: w, yb.baseAddress!, rows: rows)
                }
            }
        }
        return y
    }

    func testDepthwiseMatchesDoubleAndSwiftReferencesOnEveryPath() {
        var seed: UInt64 = 500
        let shapes: [(h: Int, w: Int)] = [(1, 1), (2, 9), (7, 7), (13, 21), (29, 30), (14, 14), (5, 27)]
        for (k, s) in [(3, 1), (3, 2), (5, 1), (5, 2), (7, 1), (1, 1), (3, 3)] {
            for (h, w) in shapes {
                for c in [1, 7, 16, 17, 40, 63, 72] {
                    seed += 1
                    let n = 2
                    let pad = seed % 2 == 0 ? Padding2D.tfSame(height: h, width: w, kernel: k, stride: s) : .symmetric(k / 2)
                    let activation: Activation = seed % 3 == 0 ? .none : .relu6
                    let x = seededFloats(n * h * w * c, seed: seed, scale: 2)
                    let wt = seededFloats(c * k * k, seed: seed + 1000, scale: 0.5)
                    let (scale, shift) = ModelKernelTests.affine(c, seed: seed + 2000)
                    let ref = ModelKernelTests.referenceConv(x, n: n, h: h, w: w, c: c, weight: wt, out: c, k: k, stride: s, pad: pad,
                                                             depthwise: true, scale: scale, shift: shift, activation: activation)
                    let swift = DepthwiseConv(weight: wt, channels: c, kernel: k, stride: s, padding: pad, scale: scale, shift: shift,
                                              activation: activation, path: .openblas)
                    let ys = depthwise(swift, x, images: n, h: h, w: w)
                    for path in paths {
                        let dw = DepthwiseConv(weight: wt, channels: c, kernel: k, stride: s, padding: pad, scale: scale, shift: shift,
                                               activation: activation, path: path)
                        let y = depthwise(dw, x, images: n, h: h, w: w, splits: 1 + Int(seed % 3))
                        let label = "\(path) k\(k) s\(s) \(h)×\(w)×\(c) pad \(pad) \(activation)"
                        let d = ModelKernelTests.maxDiff(y, ref), e = ModelKernelTests.maxDiff(y, ys)
                        XCTAssertLessThanOrEqual(d, 1e-4, "\(label): max |Δ| vs Double \(d), tolerance 1e-4")
                        XCTAssertLessThanOrEqual(e, 1e-4, "\(label): max |Δ| vs the Swift kernel \(e), tolerance 1e-4")
                    }
                }
            }
        }
    }

    /// A band of input rows (`firstRow` > 0) into a band of output rows (`outFirstRow`), as the
    /// banded MBConv path passes them: the same numbers, bit for bit, as the whole image — on
    /// every C path and the Swift kernels.
    func testDepthwiseOnARowBandOnEveryPath() {
        for path in paths + [.openblas] {
            for (k, s) in [(3, 1), (3, 2), (5, 1), (5, 2)] {
                let h = 23, w = 19, c = 41
                let pad = Padding2D.tfSame(height: h, width: w, kernel: k, stride: s)
                let x = seededFloats(h * w * c, seed: 77)
                let wt = seededFloats(c * k * k, seed: 78, scale: 0.5)
                let (scale, shift) = ModelKernelTests.affine(c, seed: 79)
                let dw = DepthwiseConv(weight: wt, channels: c, kernel: k, stride: s, padding: pad, scale: scale, shift: shift,
                                       activation: .relu6, path: path)
                let full = depthwise(dw, x, images: 1, h: h, w: w, splits: 1)
                let banded = ModelKernelTests.inBands(dw, x, height: h, width: w)
                XCTAssertEqual(ModelKernelTests.maxDiff(full, banded), 0, "\(path) k\(k) s\(s): bands of rows must give the whole-image result")
            }
        }
    }

    /// The SIMD paths' depthwise tiles (AVX-512: two channel vectors per tile where K input rows
    /// fit L1, one elsewhere; AVX2: one; each input vector loaded once per tap row) and border
    /// pixels all take an output's taps in the same order, kh then kw, with one fused multiply-add
    /// each: the AVX-512 and AVX2 paths give the same bits, on maps narrow and wide (the 112-wide
    /// rows take the one-vector tiles on AVX-512), every stride and channel count, and channel
    /// ranges that start mid-vector.
    func testDepthwiseSIMDPathsAgreeBitForBit() throws {
        guard GEMMPath.avx512.isSupported, GEMMPath.avx2.isSupported else { throw XCTSkip("needs AVX-512F and AVX2") }
        var seed: UInt64 = 7100
        for (k, s) in [(3, 1), (3, 2), (5, 1), (5, 2), (7, 1), (3, 3)] {
            for (h, w) in [(9, 60), (6, 112), (14, 14), (7, 7), (5, 33)] {
                for c in [17, 32, 40, 64, 96, 144] {
                    seed += 1
                    let pad = Padding2D.tfSame(height: h, width: w, kernel: k, stride: s)
                    let x = seededFloats(h * w * c, seed: seed, scale: 2)
                    let wt = seededFloats(c * k * k, seed: seed + 1000, scale: 0.5)
                    let (scale, shift) = ModelKernelTests.affine(c, seed: seed + 2000)
                    let (oh, ow) = DepthwiseConv(weight: wt, channels: c, kernel: k, stride: s, padding: pad, scale: scale, shift: shift,
                                                 activation: .relu6, path: .avx2).outputSize(height: h, width: w)
                    for range in [0..<c, (c / 2)..<c] {
                        var outputs: [[Float]] = []
                        for path in [GEMMPath.avx512, .avx2] {
                            let dw = DepthwiseConv(weight: wt, channels: c, kernel: k, stride: s, padding: pad, scale: scale, shift: shift,
                                                   activation: .relu6, path: path)
                            var y = [Float](repeating: 0, count: oh * ow * c)
                            x.withUnsafeBufferPointer { xb in
                                y.withUnsafeMutableBufferPointer {
                                    dw.run(xb.baseAddress!, height: h, width: w, $0.baseAddress!, rows: 0..<oh, channels: range)
                                }
                            }
                            outputs.append(y)
                        }
                        let differ = zip(outputs[0], outputs[1]).filter { $0.bitPattern != $1.bitPattern }.count
                        XCTAssertEqual(differ, 0, "k\(k) s\(s) \(h)×\(w)×\(c) channels \(range): outputs that differ between AVX-512 and AVX2")
                        XCTAssertFalse(outputs[0].contains { !$0.isFinite }, "k\(k) s\(s) \(h)×\(w)×\(c)")
                    }
                }
            }
        }
    }

    /// A channel range (how a team splits a few-row block's expand + depthwise): those channels
    /// bit for bit as the whole layer computes them, every other channel of y left untouched.
    func testDepthwiseOnAChannelRangeOnEveryPath() {
        for path in paths {
            for (k, s) in [(3, 1), (3, 2), (5, 1), (5, 2), (7, 1)] {
                let n = 2, h = 14, w = 13, c = 200
                let pad = Padding2D.tfSame(height: h, width: w, kernel: k, stride: s)
                let x = seededFloats(n * h * w * c, seed: 88)
                let wt = seededFloats(c * k * k, seed: 89, scale: 0.5)
                let (scale, shift) = ModelKernelTests.affine(c, seed: 90)
                let dw = DepthwiseConv(weight: wt, channels: c, kernel: k, stride: s, padding: pad, scale: scale, shift: shift,
                                       activation: .relu6, path: path)
                XCTAssertTrue(dw.splitsByChannels)
                let full = depthwise(dw, x, images: n, h: h, w: w, splits: 1)
                let (oh, ow) = dw.outputSize(height: h, width: w)
                for range in [0..<32, 32..<200, 16..<17, 96..<160, 0..<200, 199..<200, 64..<64] {
                    var y = [Float](repeating: -7, count: n * oh * ow * c)
                    x.withUnsafeBufferPointer { xb in
                        y.withUnsafeMutableBufferPointer {
                            dw.run(xb.baseAddress!, height: h, width: w, $0.baseAddress!, rows: 0..<(n * oh), channels: range)
                        }
                    }
                    let label = "\(path) k\(k) s\(s) channels \(range)"
                    var inside = 0, outside = 0
                    for p in 0..<(n * oh * ow) {
                        for ch in 0..<c {
                            let v = y[p * c + ch]
                            if range.contains(ch) { if v.bitPattern != full[p * c + ch].bitPattern { inside += 1 } }
                            else if v != -7 { outside += 1 }
                        }
                    }
                    XCTAssertEqual(inside, 0, "\(label): outputs that differ from the whole layer's")
                    XCTAssertEqual(outside, 0, "\(label): outputs written outside the range")
                }
                XCTAssertFalse(full.contains { !$0.isFinite }, "\(path) k\(k) s\(s)")
            }
        }
    }

    /// A NaN input reaches exactly the outputs whose window holds it, through ReLU6 (max/min
    /// would drop it with the operands the other way round); every other output stays finite.
    func testDepthwiseKeepsNaNOnEveryPath() {
        for path in paths {
            for (k, s) in [(3, 1), (3, 2), (5, 1), (5, 2)] {
                for (h, w) in [(9, 11), (14, 14)] {
                    for c in [7, 16, 33] {
                        let pad = Padding2D.tfSame(height: h, width: w, kernel: k, stride: s)
                        var x = seededFloats(h * w * c, seed: 91, scale: 2)
                        // NaNs at a corner, on the border and inside, in a few channels.
                        let spots = [(0, 0, 0), (h / 2, w - 1, c - 1), (h / 2, w / 2, c / 2), (h - 1, 1, 0)]
                        for (r, col, ch) in spots { x[(r * w + col) * c + ch] = .nan }
                        let wt = seededFloats(c * k * k, seed: 92, scale: 0.5)
                        let (scale, shift) = ModelKernelTests.affine(c, seed: 93)
                        let dw = DepthwiseConv(weight: wt, channels: c, kernel: k, stride: s, padding: pad, scale: scale, shift: shift,
                                               activation: .relu6, path: path)
                        let (oh, ow) = dw.outputSize(height: h, width: w)
                        let y = depthwise(dw, x, images: 1, h: h, w: w, splits: 2)
                        var wrong = 0
                        for oy in 0..<oh {
                            for ox in 0..<ow {
                                for ch in 0..<c {
                                    let hit = spots.contains { r, col, sc in
                                        sc == ch && r - (oy * s - pad.top) >= 0 && r - (oy * s - pad.top) < k
                                            && col - (ox * s - pad.left) >= 0 && col - (ox * s - pad.left) < k
                                    }
                                    let v = y[(oy * ow + ox) * c + ch]
                                    if hit != v.isNaN || (!hit && !(v >= 0 && v <= 6)) { wrong += 1 }
                                }
                            }
                        }
                        XCTAssertEqual(wrong, 0, "\(path) k\(k) s\(s) \(h)×\(w)×\(c): outputs with the wrong NaN-ness or out of [0, 6]")
                    }
                }
            }
        }
    }

    func testSmallPointwiseMatchesDoubleReferenceOnEveryPath() {
        var seed: UInt64 = 900
        for rows in [1, 7, 9, 17, 40, 65] {
            // K up to 32 on every path; on AVX-512 the kernel also runs K ≤ 48 and any K with
            // N ≤ 48 (EfficientNet-Lite0's 96 → 24, 144 → 40, 240 → 40).
            for k in [1, 3, 16, 24, 32, 40, 96, 240] {
                for n in [1, 7, 16, 17, 24, 40, 48, 49, 96, 144] {
                    seed += 1
                    let activation: Activation = [.relu6, .none, .relu][Int(seed % 3)]
                    let withResidual = seed % 2 == 0
                    let x = seededFloats(rows * k, seed: seed)
                    let wt = seededFloats(n * k, seed: seed + 1, scale: 0.3)
                    let (scale, shift) = ModelKernelTests.affine(n, seed: seed + 2)
                    let res = withResidual ? seededFloats(rows * n, seed: seed + 3) : nil
                    let ref = ModelKernelTests.referenceConv(x, n: 1, h: 1, w: rows, c: k, weight: wt, out: n, k: 1, stride: 1, pad: .zero,
                                                             depthwise: false, scale: scale, shift: shift, activation: activation, residual: res)
                    var simd: [[Float]] = []
                    // AVX-512 twice: as on full-width units, and as where 512-bit multiply-adds run at
                    // half rate (n = 24 and 40 then run on 8-lane vectors, conv.c's y32 width).
                    for (path, halfRate) in halfRateRuns {
                        ck_set_avx512_half_rate(halfRate)
                        defer { ck_set_avx512_half_rate(-1) }
                        let pw = SGEMM.withPath(path) {
                            Pointwise(weight: wt, out: n, in: k, scale: scale, shift: shift, activation: activation, smallKernel: true)
                        }
                        XCTAssertTrue(pw.usesSmallKernel, "K = \(k) on \(path) runs the small kernel when told to")
                        var y = [Float](repeating: .nan, count: rows * n)
                        x.withUnsafeBufferPointer { xb in
                            y.withUnsafeMutableBufferPointer { yb in
                                if let res {
                                    res.withUnsafeBufferPointer { pw.run(xb.baseAddress!, rows: rows, yb.baseAddress!, residual: $0.baseAddress!) }
                                } else {
                                    pw.run(xb.baseAddress!, rows: rows, yb.baseAddress!)
                                }
                            }
                        }
                        let d = ModelKernelTests.maxDiff(y, ref)
                        XCTAssertLessThanOrEqual(d, 1e-4, "\(path) (half rate \(halfRate)) pointwise \(rows)×\(k)→\(n) \(activation) residual \(withResidual): max |Δ| \(d), tolerance 1e-4")
                        if path != .portable { simd.append(y) }
                    }
                    // The SIMD paths sum every output in the same order with fused multiply-adds
                    // (AVX-512 runs n = 24 and 40 two pixels to a set of full vectors, or at half
                    // rate on 8-lane vectors): the same bits.
                    for other in simd.dropFirst() {
                        XCTAssertEqual(simd[0].map(\.bitPattern), other.map(\.bitPattern),
                                       "pointwise \(rows)×\(k)→\(n): the SIMD paths differ")
                    }
                }
            }
        }
    }

    /// Which 1×1 kernel each of EfficientNet-Lite0's shapes runs on each path (the measured rule
    /// in `ConvKernels.prefersSmallPointwise`), and that a layer built on a path follows it.
    func testPointwiseKernelChoiceFollowsTheMeasuredRule() {
        let small: [(k: Int, n: Int, avx512: Bool, avx2: Bool)] = [
            (32, 16, true, true), (16, 96, true, true), (24, 144, true, true), (96, 24, true, true), (144, 24, true, true),
            (144, 40, true, false),
            (40, 240, true, false), (240, 40, true, false), (240, 80, false, false), (80, 480, false, false),
            (672, 112, false, false), (192, 1152, false, false), (1152, 320, false, false), (320, 1280, false, false),
        ]
        for t in small {
            XCTAssertEqual(ConvKernels.prefersSmallPointwise(path: .avx512, k: t.k, n: t.n), t.avx512, "AVX-512 \(t.k)→\(t.n)")
            XCTAssertEqual(ConvKernels.prefersSmallPointwise(path: .avx2, k: t.k, n: t.n), t.avx2, "AVX2 \(t.k)→\(t.n)")
            XCTAssertFalse(ConvKernels.prefersSmallPointwise(path: .portable, k: t.k, n: t.n), "portable \(t.k)→\(t.n)")
            for path in paths {
                let wt = seededFloats(t.n * t.k, seed: 11, scale: 0.3)
                let pw = SGEMM.withPath(path) { Pointwise(weight: wt, out: t.n, in: t.k, scale: nil, shift: nil, activation: .relu6) }
                XCTAssertEqual(pw.usesSmallKernel, ConvKernels.prefersSmallPointwise(path: path, k: t.k, n: t.n), "\(path) \(t.k)→\(t.n)")
            }
        }
    }

    func testSmallPointwiseKeepsNaNOnEveryPath() {
        // n = 24 and 40: AVX-512's pairs of pixels, and at half rate the 8-lane vectors.
        for n in [50, 24, 40] {
            let rows = 11, k = 24
            var x = seededFloats(rows * k, seed: 5)
            x[3 * k + 7] = .nan
            let wt = seededFloats(n * k, seed: 6, scale: 0.3)
            let (scale, shift) = ModelKernelTests.affine(n, seed: 7)
            for (path, halfRate) in halfRateRuns {
                ck_set_avx512_half_rate(halfRate)
                defer { ck_set_avx512_half_rate(-1) }
                for activation in [Activation.relu6, .relu, .none] {
                    let pw = SGEMM.withPath(path) {
                        Pointwise(weight: wt, out: n, in: k, scale: scale, shift: shift, activation: activation, smallKernel: true)
                    }
                    var y = [Float](repeating: 0, count: rows * n)
                    x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { pw.run(xb.baseAddress!, rows: rows, $0.baseAddress!) } }
                    let nanRows = (0..<rows).filter { r in y[(r * n)..<((r + 1) * n)].contains { $0.isNaN } }
                    XCTAssertEqual(nanRows, [3], "\(path) (half rate \(halfRate)) n \(n) \(activation): only the row with the NaN input")
                    XCTAssertTrue(y[(3 * n)..<(4 * n)].allSatisfy(\.isNaN),
                                  "\(path) (half rate \(halfRate)) n \(n) \(activation): every output of that row is NaN")
                }
            }
        }
    }

    // MARK: - 1×1 on packed weights, A in place (K > 32)

    func testPackedPointwiseMatchesDoubleReferenceOnEveryPath() {
        var seed: UInt64 = 1300
        // Rows across the 8-tile row block (96 on AVX-512, 48 on AVX2), depths across the 256 slice;
        // last tiles of every size the kernel runs (a third, two thirds or all of its 12 / 6 rows,
        // and on AVX-512 the 13- and 14-row tiles: 13, 14, 26, 49, 50, 97, 98; a block stretched
        // by two rows: 98; not stretched: 99, 200; on AVX2 the 4- and 5-row tiles of a block's last 7 to 13
        // rows and a block of 48 stretched to 54: 9, 13, 49, 50, 54, 103; not stretched: 55). 49 and 196 are
        // the 7×7 and 14×14 maps of one image, 98 half of 196.
        for (rows, k, n) in [(1, 33, 17), (5, 40, 1), (13, 96, 24), (14, 20, 64), (26, 70, 33), (97, 257, 40), (98, 112, 80),
                             (99, 30, 16), (50, 300, 65), (200, 64, 33), (7, 1152, 20), (49, 192, 40), (196, 40, 48),
                             (54, 300, 40), (55, 64, 32), (103, 40, 48), (9, 24, 32)] {
            seed += 1
            let activation: Activation = [.relu6, .none, .relu][Int(seed % 3)]
            let x = seededFloats(rows * k, seed: seed)
            let wt = seededFloats(n * k, seed: seed + 1, scale: 0.3)
            let (scale, shift) = ModelKernelTests.affine(n, seed: seed + 2)
            let res = seededFloats(rows * n, seed: seed + 3)
            for withResidual in [false, true] {
                let ref = ModelKernelTests.referenceConv(x, n: 1, h: 1, w: rows, c: k, weight: wt, out: n, k: 1, stride: 1, pad: .zero,
                                                         depthwise: false, scale: scale, shift: shift, activation: activation,
                                                         residual: withResidual ? res : nil)
                for path in paths {
                    let pw = SGEMM.withPath(path) {
                        Pointwise(weight: wt, out: n, in: k, scale: scale, shift: shift, activation: activation, smallKernel: false)
                    }
                    XCTAssertFalse(pw.usesSmallKernel)
                    var y = [Float](repeating: .nan, count: rows * n), yc = y, yr = y
                    x.withUnsafeBufferPointer { xb in
                        res.withUnsafeBufferPointer { rb in
                            let r = withResidual ? rb.baseAddress : nil
                            y.withUnsafeMutableBufferPointer { pw.run(xb.baseAddress!, rows: rows, $0.baseAddress!, residual: r) }
                            // Row by row: a row's sum runs in the same order whatever row tile holds it
                            // (so an image's features do not depend on the batch it came in).
                            yr.withUnsafeMutableBufferPointer { yb in
                                for i in 0..<rows {
                                    pw.run(xb.baseAddress! + i * k, rows: 1, yb.baseAddress! + i * n, residual: r.map { $0 + i * n })
                                }
                            }
                            // By column ranges starting where a team may start them (half panels on the
                            // SIMD paths), as a team splits the 14×14 and 7×7 layers.
                            yc.withUnsafeMutableBufferPointer { yb in
                                let unit = pw.packed.map { ConvKernels.startAlignment($0) } ?? 8
                                var j = 0
                                while j < n {
                                    let e = min(n, j + unit)
                                    pw.run(xb.baseAddress!, rows: rows, yb.baseAddress!, residual: r, columns: j..<e)
                                    j = e
                                }
                            }
                        }
                    }
                    let label = "\(path) \(rows)×\(k)→\(n) \(activation) residual \(withResidual)"
                    let d = ModelKernelTests.maxDiff(y, ref), dc = ModelKernelTests.maxDiff(yc, ref)
                    XCTAssertLessThanOrEqual(d, 1e-4, "\(label): max |Δ| \(d), tolerance 1e-4")
                    XCTAssertLessThanOrEqual(dc, 1e-4, "\(label), by columns: max |Δ| \(dc), tolerance 1e-4")
                    // Each column is computed the same way whichever range holds it.
                    if pw.packed != nil {
                        XCTAssertEqual(yc, y, "\(label): by columns differs from the whole layer")
                        XCTAssertEqual(yr, y, "\(label): row by row differs from the whole layer")
                    }
                }
            }
        }
    }

    /// The split's cost model counts the rows of work the packed kernel runs (`gp_run`'s tiles).
    func testPackedPointwiseRowWorkFollowsTheKernelsTiles() {
        // AVX-512: tiles of 12, a short last tile of 4, 8 or 12, one or two rows past a whole tile joining it.
        let avx512: [(Int, Int)] = [(1, 4), (4, 4), (5, 8), (9, 12), (12, 12), (13, 13), (14, 14), (15, 16), (25, 25), (26, 26),
                                    (27, 28), (49, 49), (50, 50), (51, 52), (96, 96), (97, 97), (98, 98), (99, 100), (196, 196), (197, 200)]
        for (rows, work) in avx512 { XCTAssertEqual(Pointwise.tileRows(rows, path: .avx512), work, "AVX-512, \(rows) rows") }
        // AVX2: tiles of 6, a block's last 7 to 13 rows in tiles of 4 and 5, a short last tile of 2, 4, 5 or 6; a
        // block of 48 stretching by up to 6 rows (49 = 6·6 + 5 + 4 + 4; 103 = 48 + 48 + 4 + a 4-row tile for 3).
        let avx2: [(Int, Int)] = [(1, 2), (3, 4), (5, 5), (7, 8), (8, 8), (9, 9), (10, 10), (11, 11), (13, 13), (49, 49), (54, 54),
                                  (55, 56), (98, 98), (99, 99), (103, 104)]
        for (rows, work) in avx2 { XCTAssertEqual(Pointwise.tileRows(rows, path: .avx2), work, "AVX2, \(rows) rows") }
    }

    /// A team splits a few-row 1×1 layer by output columns or by rows, whichever leaves the busiest
    /// thread fewer kernel tiles; either way every output is the one the single thread computes.
    func testTeamSplitOfPointwiseChoosesTheBalancedSplitAndMatchesOneThread() {
        let team = Team(threads: 2)
        for path in paths {
            // (rows, k, n, expected: split by columns?) — the 14×14 projections to 80 / 112 split by
            // rows on our kernels (by 32-column panels one thread got 48 of 80 / 80 of 112 columns).
            let cases: [(rows: Int, k: Int, n: Int, columns: Bool?)] = [
                (196, 480, 80, path == .openblas ? true : false), (196, 672, 112, path == .openblas ? true : false),
                (49, 672, 192, true), (49, 1152, 320, true), (196, 112, 672, nil), (300, 64, 96, false), (49, 320, 1280, true),
                (40, 70, 72, true), (33, 45, 65, nil),
            ]
            for (c, t) in cases.enumerated() {
                let x = seededFloats(t.rows * t.k, seed: UInt64(900 + c))
                let wt = seededFloats(t.n * t.k, seed: UInt64(950 + c), scale: 0.2)
                let (scale, shift) = ModelKernelTests.affine(t.n, seed: UInt64(990 + c))
                let pw = SGEMM.withPath(path) { Pointwise(weight: wt, out: t.n, in: t.k, scale: scale, shift: shift, activation: .relu6) }
                let parts = pw.columnParts(rows: t.rows, team: team)
                let label = "\(path) \(t.rows)×\(t.k)→\(t.n)"
                if let expected = t.columns { XCTAssertEqual(parts != nil, expected, "\(label): split by columns") }
                if let parts {
                    // Contiguous, covering every column, each part starting on a panel boundary.
                    XCTAssertEqual(parts.first?.lowerBound, 0, label)
                    XCTAssertEqual(parts.last?.upperBound, t.n, label)
                    XCTAssertTrue(zip(parts, parts.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }, label)
                    // Each part starting where the kernel can start one (half panels on AVX-512).
                    if let p = pw.packed { XCTAssertTrue(parts.allSatisfy { $0.lowerBound % ConvKernels.startAlignment(p) == 0 }, label) }
                }
                var alone = [Float](repeating: 0, count: t.rows * t.n), split = alone
                var clock = Stopwatch(kinds: 1, enabled: false)
                x.withUnsafeBufferPointer { xb in
                    alone.withUnsafeMutableBufferPointer { pw.run(xb.baseAddress!, rows: t.rows, $0.baseAddress!) }
                    split.withUnsafeMutableBufferPointer { pw.run(xb.baseAddress!, rows: t.rows, $0.baseAddress!, team: team, kind: 0, &clock) }
                }
                XCTAssertFalse(alone.contains { !$0.isFinite }, label)
                XCTAssertEqual(split, alone, "\(label): the team's output differs from one thread's")
            }
            // The 14×14 blocks' expand + depthwise split by `panelParts`: 480 and 672 channels in two
            // equal halves — on AVX-512 (15 and 21 panels of 32) by starting on a half panel, not
            // 224 / 256 and 320 / 352; on AVX2 (30 and 42 panels of 16) on whole panels.
            for n in [480, 672] where path == .avx512 || path == .avx2 {
                let wt = seededFloats(n * 80, seed: UInt64(n), scale: 0.2)
                let (scale, shift) = ModelKernelTests.affine(n, seed: UInt64(n + 1))
                let pw = SGEMM.withPath(path) { Pointwise(weight: wt, out: n, in: 80, scale: scale, shift: shift, activation: .relu6) }
                let parts = pw.panelParts(team: team)
                XCTAssertEqual(parts, [0..<(n / 2), (n / 2)..<n], "\(path) \(n) channels")
            }
        }
    }

    func testPackedPointwiseKeepsNaNOnEveryPath() {
        let rows = 30, k = 70, n = 45
        var x = seededFloats(rows * k, seed: 15)
        x[17 * k + 69] = .nan
        let wt = seededFloats(n * k, seed: 16, scale: 0.3)
        let (scale, shift) = ModelKernelTests.affine(n, seed: 17)
        for path in paths {
            let pw = SGEMM.withPath(path) { Pointwise(weight: wt, out: n, in: k, scale: scale, shift: shift, activation: .relu6, smallKernel: false) }
            var y = [Float](repeating: 0, count: rows * n)
            x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { pw.run(xb.baseAddress!, rows: rows, $0.baseAddress!) } }
            let nanRows = (0..<rows).filter { r in y[(r * n)..<((r + 1) * n)].contains { $0.isNaN } }
            XCTAssertEqual(nanRows, [17], "\(path): only the row with the NaN input")
            XCTAssertTrue(y[(17 * n)..<(18 * n)].allSatisfy(\.isNaN), "\(path): every output of that row is NaN")
        }
    }

    // MARK: - Dense conv on planar input (the stem)

    func testPlanarConvMatchesDoubleReferenceOnEveryPath() {
        var seed: UInt64 = 1700
        let cases: [(h: Int, w: Int, c: Int, o: Int, k: Int, s: Int)] = [
            (1, 1, 3, 5, 3, 1), (15, 16, 3, 32, 3, 2), (7, 8, 3, 17, 5, 1), (13, 9, 1, 40, 3, 2), (17, 13, 3, 64, 7, 2),
            (30, 29, 3, 48, 3, 2), (6, 30, 2, 16, 3, 1),
        ]
        for t in cases {
            seed += 1
            let n = 2
            let pad = seed % 2 == 0 ? Padding2D.tfSame(height: t.h, width: t.w, kernel: t.k, stride: t.s) : .symmetric(t.k / 2)
            let activation: Activation = [.relu6, .none, .relu][Int(seed % 3)]
            var xNHWC = seededFloats(n * t.h * t.w * t.c, seed: seed)
            xNHWC[((1 * t.h + t.h / 2) * t.w + t.w - 1) * t.c] = .nan   // image 1, right border
            var xIn = xNHWC
            for i in 0..<n { for y in 0..<t.h { for x in 0..<t.w { for ch in 0..<t.c {
                xIn[((i * t.c + ch) * t.h + y) * t.w + x] = xNHWC[((i * t.h + y) * t.w + x) * t.c + ch]
            } } } }
            let wt = seededFloats(t.o * t.c * t.k * t.k, seed: seed + 1, scale: 0.3)
            let (scale, shift) = ModelKernelTests.affine(t.o, seed: seed + 2)
            let ref = ModelKernelTests.referenceConv(xNHWC, n: n, h: t.h, w: t.w, c: t.c, weight: wt, out: t.o, k: t.k, stride: t.s, pad: pad,
                                                     depthwise: false, scale: scale, shift: shift, activation: activation)
            for path in paths {
                let conv = SGEMM.withPath(path) {
                    Conv2D(weight: wt, out: t.o, in: t.c, kernel: t.k, stride: t.s, padding: pad, inputLayout: .planar,
                           scale: scale, shift: shift, activation: activation)
                }
                let (oh, ow) = conv.outputSize(height: t.h, width: t.w)
                var y = [Float](repeating: .nan, count: n * oh * ow * t.o)
                var scratch = [Float](repeating: 0, count: conv.patchLength)
                xIn.withUnsafeBufferPointer { xb in
                    y.withUnsafeMutableBufferPointer { yb in
                        scratch.withUnsafeMutableBufferPointer { sb in
                            let cut = (n * oh * ow) / 3 + 1   // a split inside a row, as the threads make
                            for part in [0..<cut, cut..<(n * oh * ow)] {
                                conv.run(xb.baseAddress!, images: n, height: t.h, width: t.w, yb.baseAddress!,
                                         scratch: sb.baseAddress!, scratchCapacity: conv.patchLength, pixels: part)
                            }
                        }
                    }
                }
                // NaN where the reference has it (the windows holding the NaN input), values elsewhere.
                let nanAgree = zip(y, ref).allSatisfy { $0.isNaN == $1.isNaN }
                XCTAssertEqual(y.count, ref.count)
                XCTAssertTrue(nanAgree, "\(path) planar \(t): NaN outputs differ from the reference")
                XCTAssertTrue(ref.contains { $0.isNaN }, "the NaN input reaches some output")
                let finite = zip(y, ref).filter { !$1.isNaN }
                let d = maxAbsDifference(finite.map(\.0), finite.map(\.1))
                XCTAssertLessThanOrEqual(d.isNaN ? .infinity : d, 1e-4, "\(path) planar \(t) pad \(pad) \(activation): max |Δ| \(d), tolerance 1e-4")
            }
            // A band of output rows written to its own buffer (`outputOrigin`: how EfficientNet-Lite0
            // runs its stem inside the first block's bands): the same bits as those rows of the whole
            // output, on every path (OpenBLAS: the planar Swift kernel or im2col), nothing written
            // outside the band.
            for path in paths + [.openblas] {
                let conv = SGEMM.withPath(path) {
                    Conv2D(weight: wt, out: t.o, in: t.c, kernel: t.k, stride: t.s, padding: pad, inputLayout: .planar,
                           scale: scale, shift: shift, activation: activation)
                }
                let (oh, ow) = conv.outputSize(height: t.h, width: t.w)
                let all = n * oh * ow, lo = (n * oh / 2) * ow, hi = min(all, lo + 2 * ow)
                var whole = [Float](repeating: 0, count: all * t.o), band = [Float](repeating: -7, count: (hi - lo) * t.o + 5)
                var scratch = [Float](repeating: 0, count: conv.patchLength)
                xIn.withUnsafeBufferPointer { xb in
                    scratch.withUnsafeMutableBufferPointer { sb in
                        whole.withUnsafeMutableBufferPointer { yb in
                            conv.run(xb.baseAddress!, images: n, height: t.h, width: t.w, yb.baseAddress!,
                                     scratch: sb.baseAddress!, scratchCapacity: conv.patchLength)
                        }
                        band.withUnsafeMutableBufferPointer { bb in
                            conv.run(xb.baseAddress!, images: n, height: t.h, width: t.w, bb.baseAddress!,
                                     scratch: sb.baseAddress!, scratchCapacity: conv.patchLength, pixels: lo..<hi, outputOrigin: lo)
                        }
                    }
                }
                let expected = Array(whole[(lo * t.o)..<(hi * t.o)]), got = Array(band[0..<((hi - lo) * t.o)])
                XCTAssertEqual(got.map(\.bitPattern), expected.map(\.bitPattern), "\(path) planar \(t): the band differs from the whole output's rows")
                XCTAssertEqual(Array(band[((hi - lo) * t.o)...]), [Float](repeating: -7, count: 5), "\(path) planar \(t): written past the band")
            }
        }
    }

    /// The depthwise kernels size two choices to the L1 data cache (`ck_l1d_bytes`): the padded
    /// window of the stride-1 layers (when its K rows fit) and, on AVX-512, two channel vectors per
    /// tile (when K input rows of two vectors fit 5/6 of it). Whatever the sizes — Zen 5's 48 KB,
    /// a 32 KB L1, a tiny one — every path gives the same bits: on shapes where the choices flip
    /// (112-wide 3×3 on 32 channels: a 43.8 KB window on AVX-512; 56-wide 5×5: 38 KB, and 36 KB of
    /// rows for the two-vector tiles), stride 1 and 2, channel counts that leave masked vectors.
    func testDepthwiseGivesTheSameBitsWhateverTheCacheSizes() {
        let detected = (l1: ck_l1d_bytes(), l2: ck_l2_bytes())
        defer { ck_set_cache_sizes(0, 0) }
        XCTAssertTrue((8 << 10)...(1 << 20) ~= detected.l1, "detected L1d \(detected.l1) bytes")
        XCTAssertTrue((64 << 10)...(64 << 20) ~= detected.l2, "detected L2 \(detected.l2) bytes")
        let sizes: [(Int, Int)] = [(49152, 1 << 20), (32768, 512 << 10), (16384, 256 << 10), (1 << 20, 64 << 20)]
        var seed: UInt64 = 9300
        for path in paths {
            for (k, s, h, w, c) in [(3, 1, 6, 112, 32), (3, 1, 5, 112, 40), (5, 1, 9, 56, 64), (5, 1, 7, 7, 1152),
                                    (5, 2, 11, 56, 64), (3, 2, 7, 112, 96), (5, 1, 14, 14, 72)] {
                seed += 1
                let pad = Padding2D.tfSame(height: h, width: w, kernel: k, stride: s)
                let x = seededFloats(h * w * c, seed: seed, scale: 2)
                let wt = seededFloats(c * k * k, seed: seed + 1000, scale: 0.5)
                let (scale, shift) = ModelKernelTests.affine(c, seed: seed + 2000)
                let dw = DepthwiseConv(weight: wt, channels: c, kernel: k, stride: s, padding: pad, scale: scale, shift: shift,
                                       activation: .relu6, path: path)
                var outputs: [[Float]] = []
                for (l1, l2) in sizes {
                    ck_set_cache_sizes(l1, l2)
                    XCTAssertEqual(ck_l1d_bytes(), l1)
                    XCTAssertEqual(ck_l2_bytes(), l2)
                    outputs.append(depthwise(dw, x, images: 1, h: h, w: w, splits: 2))
                }
                let label = "\(path) k\(k) s\(s) \(h)×\(w)×\(c)"
                XCTAssertFalse(outputs[0].contains { !$0.isFinite }, label)
                for (i, y) in outputs.enumerated().dropFirst() {
                    let differ = zip(outputs[0], y).filter { $0.bitPattern != $1.bitPattern }.count
                    XCTAssertEqual(differ, 0, "\(label): outputs that differ with L1d \(sizes[i].0) bytes from those with 48 KB")
                }
            }
        }
        ck_set_cache_sizes(0, 0)
        XCTAssertEqual(ck_l1d_bytes(), detected.l1, "detected again after the override is cleared")
        XCTAssertEqual(ck_l2_bytes(), detected.l2)
    }

    /// The banded blocks size their bands to half of L2, at most 512 KB: a 512 KB L2 (Zen 2, 3)
    /// gets more, thinner bands than 1 MB does, and the network the same features and logits,
    /// bit for bit, on one thread and on two; so do a 2 MB L2 with a 48 KB L1d (Sapphire Rapids)
    /// and the bounds the detection accepts (8 KB / 64 KB, 1 MB / 64 MB), on 1 to 3 threads.
    func testEfficientNetLite0GivesTheSameBitsWhateverTheCacheSizes() throws {
        let sd = try ModelFixtures.efficientNetLite0()
        let per = 3 * 224 * 224
        let x = Array(try ModelFixtures.inputs()[0..<per])
        defer { ck_set_cache_sizes(0, 0) }
        var runs: [(features: [Float], logits: [Float], bandRows: [Int])] = []
        for (l1, l2) in [(49152, 1 << 20), (32768, 512 << 10), (49152, 2 << 20), (8 << 10, 64 << 10), (1 << 20, 64 << 20)] {
            ck_set_cache_sizes(l1, l2)
            for threads in l2 == 1 << 20 || l2 == 512 << 10 ? [1, 2] : [1, 3] {
                let model = try EfficientNetLite0(stateDict: sd, threads: threads)
                let (f, l) = try model.forward(x, count: 1)
                runs.append((f, l, model.blocks.map(\.bandRows)))
            }
        }
        XCTAssertLessThan(runs[2].bandRows.reduce(0, +), runs[0].bandRows.reduce(0, +), "a 512 KB L2 gets thinner bands")
        XCTAssertFalse(runs[0].features.contains { !$0.isFinite } || runs[0].logits.contains { !$0.isFinite })
        for r in runs.dropFirst() {
            XCTAssertEqual(r.features.map(\.bitPattern), runs[0].features.map(\.bitPattern), "features, bands \(r.bandRows)")
            XCTAssertEqual(r.logits.map(\.bitPattern), runs[0].logits.map(\.bitPattern), "logits, bands \(r.bandRows)")
        }
    }

    /// Planes (`ConvKernels.PlaneLayout`): the 1×1 expand (packed and small-shape kernels), the
    /// stem, and the stride-1 depthwise reading them give the bits of the NHWC layers they replace,
    /// on every SIMD path: channel counts that leave a plane half full or end mid-vector (72, 41,
    /// 40: the small kernel's pairs path when NHWC), maps 1 to 28 wide, whole maps, bands of rows
    /// and column / channel parts as a team splits them. The buffer starts as NaN: the pad columns
    /// and the lanes past the last channel must be zeroed by the writers.
    func testPlanesGiveTheBitsOfNHWCOnEverySIMDPath() throws {
        let simd = paths.filter { $0 == .avx512 || $0 == .avx2 }
        guard !simd.isEmpty else { throw XCTSkip("planes need a SIMD path") }
        var seed: UInt64 = 9100
        let cases: [(h: Int, w: Int, k: Int, s: Int, inC: Int, c: Int, small: Bool)] = [
            (7, 7, 5, 1, 40, 72, false), (14, 14, 3, 1, 24, 48, true), (5, 19, 5, 1, 33, 41, false), (9, 28, 5, 1, 16, 96, true),
            (3, 1, 3, 1, 8, 16, false), (6, 13, 3, 1, 20, 40, true), (11, 14, 5, 1, 80, 120, false),
            (14, 14, 5, 2, 80, 120, false), (9, 28, 3, 2, 16, 96, true), (7, 7, 5, 2, 40, 72, false), (5, 19, 3, 2, 33, 41, false),
            (6, 13, 5, 2, 20, 40, true), (2, 1, 3, 2, 8, 16, false),
        ]
        for path in simd {
            for t in cases {
                seed += 10
                let x = seededFloats(t.h * t.w * t.inC, seed: seed)
                let (scale, shift) = ModelKernelTests.affine(t.c, seed: seed + 1)
                let pw = SGEMM.withPath(path) {
                    Pointwise(weight: seededFloats(t.c * t.inC, seed: seed + 2, scale: 0.3), out: t.c, in: t.inC, scale: scale, shift: shift,
                              activation: .relu6, smallKernel: t.small)
                }
                let (dscale, dshift) = ModelKernelTests.affine(t.c, seed: seed + 3)
                let pad = Padding2D.tfSame(height: t.h, width: t.w, kernel: t.k, stride: t.s)
                let dw = DepthwiseConv(weight: seededFloats(t.c * t.k * t.k, seed: seed + 4, scale: 0.5), channels: t.c, kernel: t.k,
                                       stride: t.s, padding: pad, scale: dscale, shift: dshift, activation: .relu6, path: path)
                let (oh, ow) = dw.outputSize(height: t.h, width: t.w)
                let label = "\(path) \(t)"
                guard let layout = ConvKernels.PlaneLayout(path: path, kernel: t.k, stride: t.s, imageWidth: t.w, padLeft: pad.left,
                                                           rows: t.h, channels: t.c) else { XCTFail("\(label): no planes"); continue }
                XCTAssertEqual(layout.paddedWidth, (ow - 1) * t.s + t.k)
                XCTAssertEqual(layout.width, path == .avx512 ? 32 : 16)
                // NHWC: expand, then depthwise.
                var e = [Float](repeating: .nan, count: t.h * t.w * t.c), y = [Float](repeating: .nan, count: oh * ow * t.c)
                x.withUnsafeBufferPointer { xb in e.withUnsafeMutableBufferPointer { pw.run(xb.baseAddress!, rows: t.h * t.w, $0.baseAddress!) } }
                e.withUnsafeBufferPointer { eb in
                    y.withUnsafeMutableBufferPointer { dw.run(eb.baseAddress!, height: t.h, width: t.w, $0.baseAddress!, rows: 0..<oh) }
                }
                // Planes, whole map: by column parts where the packed kernel may start them.
                var planes = [Float](repeating: .nan, count: layout.floats)
                let unit = t.small ? t.c : ConvKernels.startAlignment(pw.packed!)
                planes.withUnsafeMutableBufferPointer { p in
                    x.withUnsafeBufferPointer { xb in
                        var j = 0
                        while j < t.c {
                            // Parts of one and two half planes: every other one starts mid-plane.
                            let end = t.small ? t.c : min(t.c, j + unit * (j / unit % 2 == 0 ? 1 : 2))
                            pw.runPlanes(xb.baseAddress!, rows: t.h, planes: p.baseAddress!, layout: layout, columns: j..<end)
                            j = end
                        }
                    }
                }
                var interior = true, pads = true
                for r in 0..<t.h {
                    for col in 0..<layout.paddedWidth {
                        for ch in 0..<(layout.count * layout.width) {
                            let v = planes[(ch / layout.width) * layout.planeStride + r * layout.rowFloats + col * layout.width + ch % layout.width]
                            let x0 = col - layout.padLeft
                            if x0 >= 0 && x0 < t.w && ch < t.c {
                                interior = interior && v.bitPattern == e[(r * t.w + x0) * t.c + ch].bitPattern
                            } else {
                                pads = pads && v.bitPattern == Float(0).bitPattern
                            }
                        }
                    }
                }
                XCTAssertTrue(interior, "\(label): the planes hold the expand's values")
                XCTAssertTrue(pads, "\(label): pad columns and lanes past the channels are zero")
                // The depthwise on planes, by channel parts (on half-plane boundaries).
                var yp = [Float](repeating: .nan, count: y.count)
                let half = layout.width / 2, cut = min(t.c, (t.c / 2 + half - 1) / half * half)
                planes.withUnsafeBufferPointer { p in
                    yp.withUnsafeMutableBufferPointer { yb in
                        for part in [0..<cut, cut..<t.c] where !part.isEmpty {
                            dw.runPlanes(p.baseAddress!, layout: layout, height: t.h, yb.baseAddress!, rows: 0..<oh, channels: part)
                        }
                    }
                }
                XCTAssertEqual(Self.bitMismatches(yp, y), 0, "\(label): depthwise from planes (values that differ)")
                // A band: output rows [r0, r1) from planes holding only the input rows they read.
                let r0 = oh / 3, r1 = max(r0 + 1, 2 * oh / 3), pt = pad.top
                let lo = max(0, r0 * t.s - pt), hi = min(t.h, (r1 - 1) * t.s - pt + t.k)
                guard let band = ConvKernels.PlaneLayout(path: path, kernel: t.k, stride: t.s, imageWidth: t.w, padLeft: pad.left,
                                                         rows: hi - lo, channels: t.c) else { XCTFail(label); continue }
                var bp = [Float](repeating: .nan, count: band.floats), yb = [Float](repeating: .nan, count: (r1 - r0) * ow * t.c)
                bp.withUnsafeMutableBufferPointer { p in
                    x.withUnsafeBufferPointer { xb in pw.runPlanes(xb.baseAddress! + lo * t.w * t.inC, rows: hi - lo, planes: p.baseAddress!, layout: band) }
                }
                bp.withUnsafeBufferPointer { p in
                    yb.withUnsafeMutableBufferPointer {
                        dw.runPlanes(p.baseAddress!, layout: band, height: t.h, firstRow: lo, $0.baseAddress!, outFirstRow: r0, rows: r0..<r1,
                                     channels: 0..<t.c)
                    }
                }
                XCTAssertEqual(Self.bitMismatches(yb, Array(y[(r0 * ow * t.c)..<(r1 * ow * t.c)])), 0, "\(label): a band from planes (values that differ)")
            }
            // The stem: a planar 3×3 / 2 convolution writing whole output rows into planes.
            seed += 10
            let (h, w, out) = (30, 29, path == .avx512 ? 32 : 48)
            let spad = Padding2D.tfSame(height: h, width: w, kernel: 3, stride: 2)
            let (scale, shift) = ModelKernelTests.affine(out, seed: seed)
            let conv = SGEMM.withPath(path) {
                Conv2D(weight: seededFloats(out * 27, seed: seed + 1, scale: 0.3), out: out, in: 3, kernel: 3, stride: 2, padding: spad,
                       inputLayout: .planar, scale: scale, shift: shift, activation: .relu6)
            }
            XCTAssertTrue(conv.usesPlanarKernel)
            let (oh, ow) = conv.outputSize(height: h, width: w)
            let img = seededFloats(3 * h * w, seed: seed + 2)
            var ref = [Float](repeating: .nan, count: oh * ow * out)
            var scratch = [Float](repeating: 0, count: conv.patchLength)
            img.withUnsafeBufferPointer { xb in
                ref.withUnsafeMutableBufferPointer { yb in
                    scratch.withUnsafeMutableBufferPointer { sb in
                        conv.run(xb.baseAddress!, images: 1, height: h, width: w, yb.baseAddress!, scratch: sb.baseAddress!, scratchCapacity: sb.count)
                    }
                }
            }
            let (a, b) = (2, 9)   // output rows [a, b) into planes of b − a rows
            guard let layout = ConvKernels.PlaneLayout(path: path, kernel: 3, stride: 1, imageWidth: ow, padLeft: 1, rows: b - a,
                                                       channels: out) else { XCTFail("\(path) stem: no planes"); continue }
            var planes = [Float](repeating: .nan, count: layout.floats)
            img.withUnsafeBufferPointer { xb in
                planes.withUnsafeMutableBufferPointer { conv.runPlanes(xb.baseAddress!, height: h, width: w, planes: $0.baseAddress!, layout: layout,
                                                                       pixels: (a * ow)..<(b * ow)) }
            }
            var same = true, zero = true
            for r in 0..<(b - a) {
                for col in 0..<(ow + 2) {
                    for ch in 0..<out {
                        let v = planes[(ch / layout.width) * layout.planeStride + r * layout.rowFloats + col * layout.width + ch % layout.width]
                        if col >= 1 && col <= ow { same = same && v.bitPattern == ref[((a + r) * ow + col - 1) * out + ch].bitPattern }
                        else { zero = zero && v == 0 }
                    }
                }
            }
            XCTAssertTrue(same, "\(path) stem: planes hold the convolution's values")
            XCTAssertTrue(zero, "\(path) stem: pad columns zero")
        }
    }

    /// The weights and biases the SIMD kernels read as vectors start on a 64-byte line (an
    /// Array's elements do not), whatever their count, and hold the values given.
    func testLayerWeightsAre64ByteAligned() {
        for n in [0, 1, 7, 63, 65, 288, 1280, 25 * 1152] {
            let values = (0..<n).map { Float($0) * 0.5 - 3 }
            let a = AlignedFloats(values)
            XCTAssertEqual(a.count, n)
            XCTAssertEqual(Array(a), values)
            a.withUnsafeBufferPointer { p in
                XCTAssertEqual(p.count, n)
                if n > 0 { XCTAssertEqual(Int(bitPattern: p.baseAddress!) % 64, 0, "\(n) floats") }
            }
        }
        var rng = SplitMix64(seed: 11)
        let (c, k) = (41, 5)
        let dw = DepthwiseConv(weight: (0..<(c * k * k)).map { _ in Float(rng.gaussian()) }, channels: c, kernel: k, stride: 1,
                               padding: .symmetric(2), scale: [Double](repeating: 1, count: c), shift: [Double](repeating: 0.25, count: c),
                               activation: .relu6)
        for buffer in [dw.weights, dw.bias] {
            buffer.withUnsafeBufferPointer { XCTAssertEqual(Int(bitPattern: $0.baseAddress!) % 64, 0) }
        }
        XCTAssertEqual(Array(dw.bias), [Float](repeating: 0.25, count: c))
    }

    /// Which layers read planes: stride 1 or 2, k 3 or 5, padded rows that fit L1; never the
    /// portable path.
    func testPlaneLayoutIsOfferedWhereTheWindowFitsL1() {
        defer { ck_set_cache_sizes(0, 0) }
        // A 48 KB L1d (Zen 5) whatever this machine has; the 32 KB case (Zen 4, most Intel) below.
        ck_set_cache_sizes(49152, 1 << 20)
        for path in paths {
            let simd = path == .avx512 || path == .avx2
            XCTAssertEqual(ConvKernels.PlaneLayout(path: path, kernel: 3, stride: 1, imageWidth: 56, padLeft: 1, rows: 3, channels: 64) != nil, simd)
            XCTAssertEqual(ConvKernels.PlaneLayout(path: path, kernel: 5, stride: 2, imageWidth: 56, padLeft: 1, rows: 5, channels: 64)?
                .paddedWidth, simd ? 59 : nil)
            XCTAssertNil(ConvKernels.PlaneLayout(path: path, kernel: 3, stride: 3, imageWidth: 56, padLeft: 0, rows: 3, channels: 64))
            XCTAssertNil(ConvKernels.PlaneLayout(path: path, kernel: 7, stride: 1, imageWidth: 14, padLeft: 3, rows: 7, channels: 64))
        }
        guard GEMMPath.avx512.isSupported else { return }
        // 112-wide 3×3 rows of 32 channels: 3 · 114 · 32 · 4 = 43.8 KB — a 48 KB L1d takes them, a 32 KB one not.
        ck_set_cache_sizes(49152, 1 << 20)
        XCTAssertNotNil(ConvKernels.PlaneLayout(path: .avx512, kernel: 3, stride: 1, imageWidth: 112, padLeft: 1, rows: 3, channels: 32))
        ck_set_cache_sizes(32768, 1 << 20)
        XCTAssertNil(ConvKernels.PlaneLayout(path: .avx512, kernel: 3, stride: 1, imageWidth: 112, padLeft: 1, rows: 3, channels: 32))
        // 56-wide 5×5 stride 2: 5 · 59 · 32 · 4 = 37.8 KB on AVX-512 (not in 32 KB), 18.9 KB in AVX2's 16-float planes.
        XCTAssertNil(ConvKernels.PlaneLayout(path: .avx512, kernel: 5, stride: 2, imageWidth: 56, padLeft: 1, rows: 5, channels: 64))
        XCTAssertEqual(ConvKernels.PlaneLayout(path: .avx2, kernel: 5, stride: 2, imageWidth: 56, padLeft: 1, rows: 5, channels: 64)?.paddedWidth, 59)
    }

    /// EfficientNet-Lite0 at batch 1 with its depthwise layers reading planes (the default)
    /// and on NHWC: the same features and logits, bit for bit, on one thread (bands) and two
    /// (bands, and the 14×14 / 7×7 blocks split by channels), at 224 and at small and odd input
    /// sides; and batches whose low-resolution blocks run in groups on a worker alone (planes
    /// in parts of channels, image by image).
    func testEfficientNetLite0PlanesGiveTheSameBits() throws {
        let sd = try ModelFixtures.efficientNetLite0()
        let per = 3 * 224 * 224
        let x = Array(try ModelFixtures.inputs()[0..<per])
        for threads in [1, 2] {
            let planes = try EfficientNetLite0(stateDict: sd, threads: threads)
            let nhwc = try EfficientNetLite0(stateDict: sd, threads: threads, planes: false)
            if SGEMM.path == .avx512 || SGEMM.path == .avx2 {
                XCTAssertGreaterThanOrEqual(planes.blocks.filter { $0.planes != nil }.count, 8, "the 14×14 and 7×7 stride-1 blocks")
                XCTAssertGreaterThanOrEqual(planes.blocks.filter { $0.bandPlanes != nil }.count, 3, "the first block, 56- and 28-wide")
            }
            XCTAssertTrue(nhwc.blocks.allSatisfy { $0.planes == nil && $0.bandPlanes == nil })
            let a = try planes.forward(x, count: 1), b = try nhwc.forward(x, count: 1)
            XCTAssertFalse(a.features.contains { !$0.isFinite })
            XCTAssertEqual(Self.bitMismatches(a.features, b.features), 0, "features that differ, \(threads) threads")
            XCTAssertEqual(Self.bitMismatches(a.logits, b.logits), 0, "logits that differ, \(threads) threads")
        }
        // Other input sides: odd maps, stride-2 layers over odd widths, bands of other heights.
        for side in [32, 61, 97] {
            let xs = seededFloats(3 * side * side, seed: UInt64(side))
            for threads in [1, 2] {
                let planes = try EfficientNetLite0(stateDict: sd, threads: threads, inputSize: side)
                let nhwc = try EfficientNetLite0(stateDict: sd, threads: threads, inputSize: side, planes: false)
                let a = try planes.forward(xs, count: 1), b = try nhwc.forward(xs, count: 1)
                XCTAssertFalse(a.features.contains { !$0.isFinite }, "side \(side)")
                XCTAssertEqual(Self.bitMismatches(a.features, b.features), 0, "features that differ, side \(side), \(threads) threads")
            }
        }
        // Groups: 3 images on one thread (a group of 3 in the 7×7 blocks); 5 on two (2 per
        // worker, the fifth split across both); at side 61 more blocks run in groups.
        let all = try ModelFixtures.inputs(), n = all.count / per
        for (threads, count, side) in [(1, 3, 224), (2, 5, 224), (1, 3, 61)] {
            let xs = side == 224 ? (0..<count).flatMap { all[($0 % n) * per..<($0 % n + 1) * per] }
                                 : seededFloats(count * 3 * side * side, seed: 7)
            let planes = try EfficientNetLite0(stateDict: sd, threads: threads, inputSize: side)
            let nhwc = try EfficientNetLite0(stateDict: sd, threads: threads, inputSize: side, planes: false)
            let a = try planes.forward(xs, count: count), b = try nhwc.forward(xs, count: count)
            XCTAssertFalse(a.features.contains { !$0.isFinite }, "side \(side), batch \(count)")
            XCTAssertEqual(Self.bitMismatches(a.features, b.features), 0, "features that differ, side \(side), batch \(count), \(threads) threads")
            XCTAssertEqual(Self.bitMismatches(a.logits, b.logits), 0, "logits that differ, side \(side), batch \(count), \(threads) threads")
        }
    }

    /// Positions where two arrays differ bit for bit (or the length difference).
    static func bitMismatches(_ a: [Float], _ b: [Float]) -> Int {
        zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count + abs(a.count - b.count)
    }

    /// The whole network on each forced path against the PyTorch fixtures, as
    /// ModelParityTests checks the default path.
    func testEfficientNetLite0MatchesPyTorchOnEveryPath() throws {
        let sd = try ModelFixtures.efficientNetLite0()
        let x = try ModelFixtures.inputs()
        let n = ModelFixtures.photos.count
        let ef = try ModelFixtures.npy("effnet_features.npy")
        for path in paths {
            let model = try SGEMM.withPath(path) { try EfficientNetLite0(stateDict: sd) }
            let (f, _) = try model.forward(x, count: n)
            let d = maxAbsDifference(f, ef.values)
            XCTAssertLessThanOrEqual(d.isNaN ? .infinity : d, ModelParityTests.maxFeatureDiff,
                                     "\(path): features vs PyTorch, max |Δ| \(d), tolerance \(ModelParityTests.maxFeatureDiff)")
        }
    }
}
