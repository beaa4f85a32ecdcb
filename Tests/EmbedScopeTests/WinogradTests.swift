import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeModels

/// Winograd F(2×2, 3×3) against the im2col path (same folded weights, same GEMM path) and a
/// Double reference written from the definition, on odd shapes (partial tiles), every own
/// SGEMM path forced, with and without residual, and NaN inputs.
///
/// Tolerance: 1e-4 × max(1, largest |reference|) (float32 transforms: the F(2,3) matrices hold
/// only 0, ±½, ±1, so Winograd adds at most a few ulps over im2col, observed ~1e-6 relative;
/// F(4,3), tested though the models do not use it, is ~1e-5 relative).
final class WinogradTests: XCTestCase {
    var paths: [GEMMPath] { [.avx512, .avx2, .portable].filter(\.isSupported) }

    struct Case { let h, w, cin, cout, batch: Int; let residual: Bool; let activation: Activation }

    /// Every H and W of {1, 2, 3, 7, 8, 14, 15}, every (Cin, Cout) of {1, 3, 64, 65}², batch 1 and 3.
    static var cases: [Case] {
        let sizes = [1, 2, 3, 7, 8, 14, 15], channels = [1, 3, 64, 65]
        let acts: [Activation] = [.relu, .none, .relu6]
        var out = [Case]()
        for k in 0..<16 {
            out.append(Case(h: sizes[k % 7], w: sizes[(k * 3 + 2) % 7], cin: channels[k / 4], cout: channels[k % 4],
                            batch: k % 2 == 0 ? 1 : 3, residual: k % 3 != 1, activation: acts[k % 3]))
        }
        out.append(Case(h: 7, w: 7, cin: 64, cout: 64, batch: 3, residual: true, activation: .relu))  // ResNet layer4's partial tiles
        out.append(Case(h: 14, w: 15, cin: 65, cout: 3, batch: 3, residual: false, activation: .relu))
        return out
    }

    /// Runs `wino` over all tiles in two ranges, with a scratch of `blockTiles` tiles (many blocks).
    static func run(_ wino: Winograd3x3, _ x: [Float], _ c: Case, residual: [Float]?, blockTiles: Int) -> [Float] {
        var y = [Float](repeating: .nan, count: c.batch * c.h * c.w * c.cout)
        let tiles = wino.tiles(images: c.batch, height: c.h, width: c.w)
        let cap = blockTiles * wino.floatsPerTile
        var scratch = [Float](repeating: 0, count: cap)
        let res = residual ?? [0]
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                scratch.withUnsafeMutableBufferPointer { sb in
                    res.withUnsafeBufferPointer { rb in
                        let half = tiles / 2
                        for part in [0..<half, half..<tiles] {
                            wino.run(xb.baseAddress!, images: c.batch, height: c.h, width: c.w, yb.baseAddress!,
                                     residual: residual == nil ? nil : rb.baseAddress!, scratch: sb.baseAddress!,
                                     scratchCapacity: cap, tiles: part)
                        }
                    }
                }
            }
        }
        return y
    }

    static func runIm2col(_ conv: Conv2D, _ x: [Float], _ c: Case, residual: [Float]?) -> [Float] {
        var y = [Float](repeating: .nan, count: c.batch * c.h * c.w * c.cout)
        let cap = 4 * conv.patchLength
        var scratch = [Float](repeating: 0, count: cap)
        let res = residual ?? [0]
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                scratch.withUnsafeMutableBufferPointer { sb in
                    res.withUnsafeBufferPointer { rb in
                        conv.run(xb.baseAddress!, images: c.batch, height: c.h, width: c.w, yb.baseAddress!,
                                 residual: residual == nil ? nil : rb.baseAddress!, scratch: sb.baseAddress!, scratchCapacity: cap)
                    }
                }
            }
        }
        return y
    }

    /// NaN where the reference is NaN, and |Δ| ≤ tol elsewhere; returns the largest |Δ| (∞ on a mismatch).
    static func compare(_ got: [Float], _ ref: [Float]) -> Double {
        guard got.count == ref.count else { return .infinity }
        var m = 0.0
        for i in got.indices {
            if ref[i].isNaN != got[i].isNaN { return .infinity }
            if !ref[i].isNaN { m = maxKeepingNaN(m, abs(Double(got[i]) - Double(ref[i]))) }
        }
        return m
    }

    func testMatchesIm2colAndDoubleReferenceOnOddShapes() throws {
        var seed: UInt64 = 900
        var worst = [Int: Double]()
        defer { print("Winograd vs im2col, largest |Δ| / max(1, |reference|): \(worst.sorted { $0.key < $1.key })") }
        for c in Self.cases {
            seed += 10
            let x = seededFloats(c.batch * c.h * c.w * c.cin, seed: seed)
            let wt = seededFloats(c.cout * c.cin * 9, seed: seed + 1, scale: 0.3)
            let (scale, shift) = ModelKernelTests.affine(c.cout, seed: seed + 2)
            let res = c.residual ? seededFloats(c.batch * c.h * c.w * c.cout, seed: seed + 3) : nil
            let ref = ModelKernelTests.referenceConv(x, n: c.batch, h: c.h, w: c.w, c: c.cin, weight: wt, out: c.cout, k: 3, stride: 1,
                                                     pad: .symmetric(1), depthwise: false, scale: scale, shift: shift,
                                                     activation: c.activation, residual: res)
            let tol = 1e-4 * max(1, Double(ref.map { abs($0) }.max() ?? 0))
            for path in paths {
                let conv = SGEMM.withPath(path) {
                    Conv2D(weight: wt, out: c.cout, in: c.cin, kernel: 3, stride: 1, padding: .symmetric(1), inputLayout: .nhwc,
                           scale: scale, shift: shift, activation: c.activation)
                }
                let im2col = Self.runIm2col(conv, x, c, residual: res)
                XCTAssertLessThanOrEqual(Self.compare(im2col, ref), tol, "im2col vs Double reference")
                for tile in [2, 4] {
                    let wino = try XCTUnwrap(Winograd3x3(conv, path: path, algorithm: .winograd, tile: tile))
                    XCTAssertEqual(wino.path, path)
                    let what = "F(\(tile),3) \(c.batch)×\(c.h)×\(c.w)×\(c.cin)→\(c.cout) residual \(c.residual) \(c.activation) on \(path.rawValue)"
                    for blockTiles in [1, 5, 192] {
                        let y = Self.run(wino, x, c, residual: res, blockTiles: blockTiles)
                        let d = Self.compare(y, ref)
                        XCTAssertLessThanOrEqual(d, tol, "Winograd vs Double reference, \(what), blocks of \(blockTiles): max |Δ| \(d)")
                    }
                    let y = Self.run(wino, x, c, residual: res, blockTiles: 64)
                    let d = Self.compare(y, im2col)
                    XCTAssertLessThanOrEqual(d, tol, "Winograd vs im2col, \(what): max |Δ| \(d)")
                    worst[tile] = max(worst[tile] ?? 0, d / tol * 1e-4)
                }
            }
        }
    }

    /// F(2×2): a NaN input pixel makes exactly the outputs whose 3×3 window holds it NaN (as the
    /// direct convolution does); the other pixels of its tiles stay finite and correct. F(4×4):
    /// those outputs are NaN too (its transforms also spread it over the rest of the tile).
    func testNaNInputPropagatesLikeTheDirectConvolution() throws {
        let c = Case(h: 7, w: 8, cin: 5, cout: 17, batch: 2, residual: true, activation: .relu)
        var x = seededFloats(c.batch * c.h * c.w * c.cin, seed: 41)
        x[((1 * c.h + 3) * c.w + 4) * c.cin + 2] = .nan  // image 1, (3, 4), channel 2
        x[((0 * c.h + 0) * c.w + 7) * c.cin + 0] = .nan  // image 0, corner (0, 7)
        let wt = seededFloats(c.cout * c.cin * 9, seed: 42, scale: 0.3)
        let (scale, shift) = ModelKernelTests.affine(c.cout, seed: 43)
        let res = seededFloats(c.batch * c.h * c.w * c.cout, seed: 44)
        let ref = ModelKernelTests.referenceConv(x, n: c.batch, h: c.h, w: c.w, c: c.cin, weight: wt, out: c.cout, k: 3, stride: 1,
                                                 pad: .symmetric(1), depthwise: false, scale: scale, shift: shift,
                                                 activation: c.activation, residual: res)
        XCTAssertEqual(ref.filter(\.isNaN).count, (9 + 4) * c.cout, "reference: the NaN reaches the 3×3 neighbourhoods")
        for path in paths {
            let conv = SGEMM.withPath(path) {
                Conv2D(weight: wt, out: c.cout, in: c.cin, kernel: 3, stride: 1, padding: .symmetric(1), inputLayout: .nhwc,
                       scale: scale, shift: shift, activation: c.activation)
            }
            let wino = try XCTUnwrap(Winograd3x3(conv, path: path, algorithm: .winograd))
            let y = Self.run(wino, x, c, residual: res, blockTiles: 7)
            let d = Self.compare(y, ref)
            XCTAssertLessThanOrEqual(d, 1e-4 * max(1, Double(ref.filter { !$0.isNaN }.map { abs($0) }.max() ?? 0)),
                                     "NaN pattern or values differ on \(path.rawValue): \(d)")
            let four = try XCTUnwrap(Winograd3x3(conv, path: path, algorithm: .winograd, tile: 4))
            let y4 = Self.run(four, x, c, residual: res, blockTiles: 3)
            XCTAssertEqual(y4.count, ref.count)
            let missed = zip(y4, ref).filter { $1.isNaN && !$0.isNaN }.count
            XCTAssertEqual(missed, 0, "F(4,3) on \(path.rawValue): \(missed) outputs lost their NaN")
        }
    }

    /// Winograd only where it applies: 3×3 stride 1 pad 1 NHWC, an own GEMM path, not switched off.
    func testEligibility() {
        let wt = seededFloats(8 * 4 * 9, seed: 5)
        let (scale, shift) = ModelKernelTests.affine(8, seed: 6)
        func conv(_ k: Int, _ s: Int, _ pad: Padding2D, _ layout: Conv2D.InputLayout = .nhwc) -> Conv2D {
            Conv2D(weight: Array(wt[0..<(8 * 4 * k * k)]), out: 8, in: 4, kernel: k, stride: s, padding: pad, inputLayout: layout,
                   scale: scale, shift: shift, activation: .relu)
        }
        XCTAssertNotNil(Winograd3x3(conv(3, 1, .symmetric(1)), path: .portable, algorithm: .winograd))
        XCTAssertNil(Winograd3x3(conv(3, 2, .symmetric(1)), path: .portable, algorithm: .winograd))
        XCTAssertNil(Winograd3x3(conv(3, 1, .zero), path: .portable, algorithm: .winograd))
        XCTAssertNil(Winograd3x3(conv(1, 1, .zero), path: .portable, algorithm: .winograd))
        XCTAssertNil(Winograd3x3(conv(3, 1, .symmetric(1), .planar), path: .portable, algorithm: .winograd))
        XCTAssertNil(Winograd3x3(conv(3, 1, .symmetric(1)), path: .openblas, algorithm: .winograd))
        XCTAssertNil(Winograd3x3(conv(3, 1, .symmetric(1)), path: .portable, algorithm: .im2col))
        XCTAssertNil(Winograd3x3(conv(3, 1, .symmetric(1)), path: .portable, algorithm: .winograd, tile: 3))
    }

    /// The model reports its choice per layer, and `info --system` names the algorithm.
    func testResNetReportsItsKernelPerLayer() throws {
        let model = try ResNet(depth: .r18, stateDict: ModelFixtures.checkpoint("resnet18_legacy.pth"), threads: 1)
        let lines = model.kernelChoices
        XCTAssertEqual(lines.count, 1 + 8 * 2 + 3)
        let stem = SGEMM.path == .openblas ? "direct SIMD" : "direct (C, \(SGEMM.path.rawValue))"
        XCTAssertEqual(lines.first, "conv1 7×7/2 3→64: \(stem)")
        let winograd = Conv3x3Algorithm.current == .winograd
        let l1 = try XCTUnwrap(lines.first { $0.hasPrefix("layer1.0.conv1 ") })
        XCTAssertEqual(l1.contains("Winograd"), winograd, l1)
        let l2 = try XCTUnwrap(lines.first { $0.hasPrefix("layer2.0.conv1 ") })
        XCTAssertTrue(l2.hasPrefix("layer2.0.conv1 3×3/2 64→128: im2col + "), l2)
        let l2b = try XCTUnwrap(lines.first { $0.hasPrefix("layer2.0.conv2 ") })
        XCTAssertEqual(l2b.contains("Winograd"), winograd, l2b)
        let info = SystemInfo.collect()
        let hot = try XCTUnwrap(info.hotPaths.first { $0.work.hasPrefix("3×3 stride-1") })
        XCTAssertEqual(hot.kernel.hasPrefix("Winograd"), winograd, hot.kernel)
    }

    /// The whole network with Winograd against the same weights with im2col only (both on our
    /// SGEMM): the features agree to float32 accuracy.
    func testResNet18WinogradAgreesWithIm2col() throws {
        guard SGEMM.path != .openblas else { throw XCTSkip("Winograd runs on our own GEMM paths only") }
        let sd = try ModelFixtures.checkpoint("resnet18_legacy.pth")
        let x = seededFloats(3 * 3 * 64 * 64, seed: 7)
        let small = try Conv3x3Algorithm.withAlgorithm(.winograd) { try ResNet(depth: .r18, stateDict: sd, threads: 2, inputSize: 64) }
        XCTAssertEqual(small.blocks.filter { !$0.winograd.isEmpty }.count, 8, "every block has a stride-1 3×3 conv")
        let (f, _) = try small.forward(x, count: 3)
        let reference = try Conv3x3Algorithm.withAlgorithm(.im2col) { try ResNet(depth: .r18, stateDict: sd, threads: 2, inputSize: 64) }
        XCTAssertTrue(reference.blocks.allSatisfy { $0.winograd.isEmpty })
        let (g, _) = try reference.forward(x, count: 3)
        let agreement = RowAgreement(f, g, rows: 3, dim: small.featureDim)
        let scale = max(1, Double(g.map { abs($0) }.max() ?? 0))
        print("resnet18 64×64, Winograd vs im2col: cosine \(agreement.cosine), max |Δ| \(agreement.maxAbs)")
        for r in 0..<3 {
            XCTAssertGreaterThanOrEqual(agreement.cosine[r], 0.99999)
            XCTAssertLessThanOrEqual(agreement.maxAbs[r], 1e-4 * scale)
        }
    }
}
