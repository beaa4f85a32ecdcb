import EmbedScopeCore
/// Antialiased image resizing, numerically Pillow's `Image.resize(size, BILINEAR, reducing_gap=None)`
/// without its uint8 rounding.
package enum ImageResize {
    /// Antialiased resize (separable triangle / bilinear filter whose support scales with the
    /// downscale factor, like Pillow's Image.resize(BILINEAR, reducing_gap=None)) of an RGB image to
    /// w×h; output Float RGB interleaved in [0, 255].
    ///
    /// The algorithm is Pillow's `ImagingResample`: for each axis, output sample `i` is centred at
    /// `(i + 0.5) * scale` in input coordinates, the triangle filter's support is
    /// `max(scale, 1)` input pixels on each side, and the weights are normalised to sum to 1. The
    /// horizontal pass runs first, then the vertical one; an axis whose size does not change is
    /// skipped, so a same-size resize returns the input exactly. Unlike Pillow there is no rounding
    /// to uint8 between or after the passes (Pillow's output is within 1 of this one).
    ///
    /// Returns `[]` if `width` or `height` is not positive, and `width * height * 3` zeros if the
    /// image is empty or not well-formed (`image.isWellFormed`).
    package static func resize(_ image: RGBImage, width: Int, height: Int) -> [Float] {
        guard width > 0, height > 0 else { return [] }
        return resize(image, width: width, height: height, columns: 0..<width, rows: 0..<height)
    }

    /// The window `columns` × `rows` of `resize(image, width:, height:)` (row-major, 3 floats per
    /// pixel), equal to cropping the whole result bit for bit, but computing only the window and
    /// reading only the input rows it needs: a centre crop of 224 from a 341 × 256 resize does
    /// ~40 % less work. Returns `[]` if the size is not positive or the window is empty or not
    /// inside the output; zeros for an empty or ill-formed image.
    package static func resize(_ image: RGBImage, width: Int, height: Int, columns: Range<Int>, rows: Range<Int>) -> [Float] {
        guard width > 0, height > 0, !columns.isEmpty, !rows.isEmpty, columns.lowerBound >= 0, rows.lowerBound >= 0,
              columns.upperBound <= width, rows.upperBound <= height else { return [] }
        guard image.isWellFormed, image.width > 0, image.height > 0 else {
            return [Float](repeating: 0, count: columns.count * rows.count * 3)
        }
        // An axis whose size does not change is copied, not filtered (same-size resize = input).
        // Weights only for the window's rows and columns: a 1 × 1,000,000 image's resize to a
        // short side of 256 is 256 million rows tall, whose weights for every row took gigabytes.
        let vertical = height != image.height ? ResampleWeights(inSize: image.height, outSize: height, outputs: rows) : nil
        var inputRows = rows
        if let v = vertical {
            var lo = Int.max, hi = 0
            for i in 0..<rows.count { lo = min(lo, v.start[i]); hi = max(hi, v.start[i] + v.count[i]) }
            inputRows = min(lo, hi)..<hi
        }
        let horizontal = width != image.width ? ResampleWeights(inSize: image.width, outSize: width, outputs: columns) : nil
        let h = horizontalPass(image, weights: horizontal, rows: inputRows, columns: columns)
        guard let vertical else { return h }
        return verticalPass(h, rowLength: columns.count * 3, weights: vertical, rows: rows, firstInputRow: inputRows.lowerBound)
    }

    /// Resamples every row to `weights.outSize` pixels.
    ///
    /// Each input row is first widened to Float once (a loop that vectorizes). Each output
    /// pixel's red, green and blue are accumulated together in the first three lanes of a
    /// SIMD4, and four output pixels are accumulated side by side, so four independent chains of
    /// multiply-adds hide the add latency that bound the one-pixel loop. Every lane does the
    /// scalar code's arithmetic in the same order (multiply, then add, taps in order); a pixel
    /// with fewer taps than its neighbours adds 0 · (a finite value) for the missing ones, which
    /// leaves its sum unchanged (weights are ≥ 0, so no −0 appears). The result is the same bit
    /// for bit as the plain per-channel loop.
    ///
    /// Only input rows `rows` and output columns `columns` are computed (the result is
    /// rows.count × columns.count pixels); nil weights copy the columns unfiltered (same width).
    static func horizontalPass(_ image: RGBImage, weights: ResampleWeights?, rows: Range<Int>, columns: Range<Int>) -> [Float] {
        let inWidth = image.width, outWidth = columns.count
        let rowLength = inWidth * 3
        guard let weights else {
            var out = [Float](repeating: 0, count: rows.count * outWidth * 3)
            image.pixels.withUnsafeBufferPointer { src in
                for (r, y) in rows.enumerated() {
                    let from = (y * inWidth + columns.lowerBound) * 3
                    for i in 0..<(outWidth * 3) { out[r * outWidth * 3 + i] = Float(src[from + i]) }
                }
            }
            return out
        }
        let taps = weights.taps
        assert(weights.outputs == columns)
        // Zero padding: the padded taps of the last pixels and the 4-lane loads read it.
        var wide = [Float](repeating: 0, count: rowLength + 3 * taps + 1)
        return [Float](unsafeUninitializedCapacity: outWidth * rows.count * 3) { out, count in
            image.pixels.withUnsafeBufferPointer { src in
                wide.withUnsafeMutableBufferPointer { rowF in
                    weights.start.withUnsafeBufferPointer { start in
                        weights.count.withUnsafeBufferPointer { n in
                            weights.weights.withUnsafeBufferPointer { w in
                                guard let f = rowF.baseAddress, let s = src.baseAddress, let o = out.baseAddress,
                                      let wb = w.baseAddress, let sb = start.baseAddress, let nb = n.baseAddress else { return }
                                let raw = UnsafeRawPointer(f)
                                @inline(__always) func load(_ pixel: Int) -> SIMD4<Float> {
                                    raw.loadUnaligned(fromByteOffset: pixel * 12, as: SIMD4<Float>.self)
                                }
                                @inline(__always) func store(_ v: SIMD4<Float>, _ at: UnsafeMutablePointer<Float>) {
                                    at[0] = v[0]; at[1] = v[1]; at[2] = v[2]
                                }
                                for (r, y) in rows.enumerated() {
                                    let row = s + y * rowLength
                                    for i in 0..<rowLength { f[i] = Float(row[i]) }  // widened once per row
                                    let outRow = o + r * outWidth * 3
                                    // Output column x of the window is column firstColumn + x of the resize
                                    // (the weights hold the window's columns only).
                                    var x = 0
                                    while x + 4 <= outWidth {
                                        let kmax = max(max(nb[x], nb[x + 1]), max(nb[x + 2], nb[x + 3]))
                                        var a0 = SIMD4<Float>(), a1 = SIMD4<Float>(), a2 = SIMD4<Float>(), a3 = SIMD4<Float>()
                                        // Byte offsets of each pixel's first tap (wrapping arithmetic: all
                                        // are inside the padded row, so no overflow check in the loop).
                                        var q0 = sb[x] &* 12, q1 = sb[x + 1] &* 12, q2 = sb[x + 2] &* 12, q3 = sb[x + 3] &* 12
                                        var w0 = wb + x * taps
                                        let w1 = taps, w2 = 2 &* taps, w3 = 3 &* taps
                                        for _ in 0..<kmax {
                                            a0 += SIMD4(repeating: w0[0]) * raw.loadUnaligned(fromByteOffset: q0, as: SIMD4<Float>.self)
                                            a1 += SIMD4(repeating: w0[w1]) * raw.loadUnaligned(fromByteOffset: q1, as: SIMD4<Float>.self)
                                            a2 += SIMD4(repeating: w0[w2]) * raw.loadUnaligned(fromByteOffset: q2, as: SIMD4<Float>.self)
                                            a3 += SIMD4(repeating: w0[w3]) * raw.loadUnaligned(fromByteOffset: q3, as: SIMD4<Float>.self)
                                            q0 = q0 &+ 12; q1 = q1 &+ 12; q2 = q2 &+ 12; q3 = q3 &+ 12
                                            w0 += 1
                                        }
                                        store(a0, outRow + 3 * x); store(a1, outRow + 3 * x + 3)
                                        store(a2, outRow + 3 * x + 6); store(a3, outRow + 3 * x + 9)
                                        x += 4
                                    }
                                    while x < outWidth {
                                        var acc = SIMD4<Float>()
                                        let p = sb[x], wx = wb + x * taps
                                        for k in 0..<nb[x] { acc += SIMD4(repeating: wx[k]) * load(p + k) }
                                        store(acc, outRow + 3 * x)
                                        x += 1
                                    }
                                }
                            }
                        }
                    }
                }
            }
            count = outWidth * rows.count * 3
        }
    }

    /// Resamples every column to the output rows `rows` (of `weights.outSize`): each output row is
    /// a weighted sum of input rows; `input` holds input rows from `firstInputRow` on.
    static func verticalPass<Sample: ResampleSample>(_ input: [Sample], rowLength: Int, weights: ResampleWeights,
                                                     rows: Range<Int>, firstInputRow: Int) -> [Float] {
        let taps = weights.taps
        return [Float](unsafeUninitializedCapacity: rows.count * rowLength) { out, count in
            out.initialize(repeating: 0)
            count = rows.count * rowLength
            input.withUnsafeBufferPointer { src in
                guard let outBase = out.baseAddress, let srcBase = src.baseAddress else { return }
                assert(weights.outputs == rows)
                for r in 0..<rows.count {
                    let dst = outBase + r * rowLength
                    for k in 0..<weights.count[r] {
                        let wk = weights.weights[r * taps + k]
                        let srcRow = srcBase + (weights.start[r] + k - firstInputRow) * rowLength
                        for i in 0..<rowLength {
                            dst[i] += wk * srcRow[i].floatValue
                        }
                    }
                }
            }
        }
    }
}

/// An input sample type of the vertical pass: uint8 pixels, or the horizontal pass's floats.
protocol ResampleSample {
    var floatValue: Float { get }
}

extension UInt8: ResampleSample {
    @inline(__always) var floatValue: Float { Float(self) }
}

extension Float: ResampleSample {
    @inline(__always) var floatValue: Float { self }
}

/// The filter weights of one axis for the output samples `outputs` (Pillow's `precompute_coeffs`
/// with the bilinear filter, support 1): output sample `outputs.lowerBound + i` is
/// `sum(weights[i * taps + k] * input[start[i] + k] for k in 0..<count[i])`.
struct ResampleWeights {
    let outSize: Int
    let outputs: Range<Int>
    /// Row stride of `weights`: the largest possible tap count, `2 * ceil(support) + 1`.
    let taps: Int
    var start: [Int]
    var count: [Int]
    var weights: [Float]

    init(inSize: Int, outSize: Int, outputs: Range<Int>) {
        self.outSize = outSize
        self.outputs = outputs
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1.0)
        let support = 1.0 * filterScale
        let taps = Int(support.rounded(.up)) * 2 + 1
        self.taps = taps
        start = [Int](repeating: 0, count: outputs.count)
        count = [Int](repeating: 0, count: outputs.count)
        weights = [Float](repeating: 0, count: outputs.count * taps)
        let inverseScale = 1.0 / filterScale
        var w = [Double](repeating: 0, count: taps)
        for i in 0..<outputs.count {
            let center = (Double(outputs.lowerBound + i) + 0.5) * scale
            // Pillow: xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
            // C's truncation equals floor here because negative values are clamped to 0 anyway.
            let lo = max(Int((center - support + 0.5).rounded(.down)), 0)
            let hi = min(Int((center + support + 0.5).rounded(.down)), inSize)
            let n = min(max(hi - lo, 0), taps)
            var total = 0.0
            for k in 0..<n {
                let t = abs((Double(lo + k) - center + 0.5) * inverseScale)
                w[k] = t < 1 ? 1 - t : 0
                total += w[k]
            }
            for k in 0..<n {
                weights[i * taps + k] = Float(total != 0 ? w[k] / total : 0)
            }
            start[i] = lo
            count[i] = n
        }
    }
}
