import CKernels

/// The convolution kernels of the NHWC CNNs that are not GEMMs (`CKernels/conv.c`): the
/// depthwise k×k convolution and the 1×1 convolution with few input channels, each with the
/// epilogue fused (bias, optional residual, activation; NaN kept). One copy per SIMD width of
/// our GEMM paths (AVX-512F, AVX2 + FMA, portable C), chosen by the `path` passed in.
package enum ConvKernels {
    /// The SIMD width a GEMM path's convolutions run at (portable C for OpenBLAS, which has none).
    static func simdPath(_ p: GEMMPath) -> Int32 {
        guard let kp = p.kernelPath, p.isSupported else { return Int32(CK_PATH_PORTABLE.rawValue) }
        return kp
    }

    /// Depthwise k×k convolution, stride `stride`, over NHWC `x` (height × width × channels per
    /// image; with `firstRow` > 0, x holds one image's rows from `firstRow` on); output rows
    /// `rows` (indices over images × outHeight), row r at `y + (r − outFirstRow) · outWidth · channels`.
    /// `weights` [k·k][channels] (tap-major), `bias` [channels]. With `only`, just those channels
    /// of each output pixel are computed (the same values, bit for bit; the rest of y is untouched).
    package static func depthwise(path: GEMMPath, kernel: Int, stride: Int, _ x: UnsafePointer<Float>, height: Int, width: Int,
                                  channels: Int, firstRow: Int, padTop: Int, padLeft: Int, outHeight: Int, outWidth: Int,
                                  weights: UnsafePointer<Float>, bias: UnsafePointer<Float>, activation: GEMMActivation,
                                  _ y: UnsafeMutablePointer<Float>, outFirstRow: Int = 0, rows: Range<Int>, only: Range<Int>? = nil) {
        guard !rows.isEmpty else { return }
        precondition(outFirstRow <= rows.lowerBound, "y starts after the first row written")
        let ch = only ?? 0..<channels
        ck_depthwise_channels(simdPath(path), Int32(kernel), Int32(stride), x, height, width, channels, firstRow, padTop, padLeft,
                              outHeight, outWidth, weights, bias, activation.rawValue, y, outFirstRow, rows.lowerBound, rows.upperBound,
                              ch.lowerBound, ch.upperBound)
    }

    /// Whether a 1×1 convolution of k input and n output channels runs `pointwiseSmall` (unpacked
    /// W; AVX-512 tiles of 8 pixels × 48 channels) rather than `pointwise` (packed W, 12 × 32
    /// tiles) on `path`. Measured one thread per layer shape of EfficientNet-Lite0 (C harness,
    /// AMD Zen 5, 2026-12-03): on AVX-512 the small kernel is 7–15 % faster wherever k or n ≤ 48
    /// (the 112²–28² layers: 16→96, 24→144, 40→240 and the projections to 24 and 40 channels,
    /// which fill 24 or 40 of the packed kernel's 32-column panels), even beyond 80 it ties; the
    /// portable C loops are faster packed throughout. On AVX2 (6 × 16 packed tiles against the
    /// small kernel's 3 × 24 or 4 × 16; C harness, one thread, Zen 4 with its 256-bit path,
    /// 2026-12-06) the small kernel is faster where k ≤ 32 (16 → 96 111 against 87 GFLOP/s,
    /// 24 → 144 111 against 98; 32 → 16 110 against 108) and for the projections to 24 channels
    /// (96 and 144 → 24: 109–110 against 88–91, the packed kernel's second 16-column panel half
    /// empty); to 40 channels it ties or loses (101 / 97 against 101 / 102), as with k = 40.
    package static func prefersSmallPointwise(path: GEMMPath, k: Int, n: Int) -> Bool {
        switch path {
        case .avx512: return k <= 48 || n <= 48
        case .avx2: return k <= 32 || n <= 24
        case .portable, .openblas: return false
        }
    }

    /// `prefersSmallPointwise` in words, for `info --system`.
    package static func smallPointwiseRule(path: GEMMPath) -> String {
        switch path {
        case .avx512:
            return "unpacked small-shape kernel where K or N ≤ 48"
                + (ck_avx512_half_rate() != 0 ? ", N = 24 and 40 on 8-lane vectors (512-bit multiply-adds run at half rate here)" : "")
        case .avx2: return "unpacked small-shape kernel where K ≤ 32 or N ≤ 24"
        case .portable, .openblas: return "packed throughout"
        }
    }

    /// y[p, :] = act(x[p, :] · W + bias (+ residual[p, :])) for `rows` pixels: x [rows × k],
    /// W [k × n] row-major (unpacked), y and residual [rows × n]; residual may not alias y.
    package static func pointwiseSmall(path: GEMMPath, rows: Int, k: Int, n: Int, _ x: UnsafePointer<Float>,
                                       weights: UnsafePointer<Float>, bias: UnsafePointer<Float>, residual: UnsafePointer<Float>?,
                                       activation: GEMMActivation, _ y: UnsafeMutablePointer<Float>) {
        guard rows > 0, n > 0 else { return }
        ck_pointwise_small(simdPath(path), rows, k, n, x, weights, bias, residual, activation.rawValue, y)
    }

    /// c[m × columns] = act(a[m × k] · B[:, columns] + bias (+ residual)) for weights `b` packed
    /// for one of our paths, with A read in place (row stride `lda`; nothing packed per call).
    /// `c`, `bias`, `residual` point at column 0; `columns.lowerBound` is a multiple of
    /// `startAlignment(b)`: a panel boundary, or on the SIMD paths half of one too.
    package static func pointwise(_ b: PackedMatrix, m: Int, _ a: UnsafePointer<Float>, lda: Int, bias: UnsafePointer<Float>?,
                                  residual: UnsafePointer<Float>?, ldr: Int, activation: GEMMActivation,
                                  _ c: UnsafeMutablePointer<Float>, ldc: Int, columns: Range<Int>? = nil) {
        let cols = columns ?? 0..<b.n
        guard m > 0, !cols.isEmpty, let kp = b.path.kernelPath else { return }
        let align = startAlignment(b)
        precondition(cols.lowerBound >= 0 && cols.upperBound <= b.n && cols.lowerBound % align == 0,
                     "columns \(cols) of \(b.n) must start on a multiple of \(align) (panels of \(b.panelWidth))")
        let pw = b.panelWidth, stride = ck_panel_stride(kp, b.k)
        b.withPanels { panels in
            var j0 = cols.lowerBound
            if j0 % pw != 0 {
                // The right half of a panel: the one-vector tile reads the panel's second vector of
                // each depth (same stride), so it multiplies those columns alone, in the same order
                // as a whole panel would (the same result bit for bit).
                let half = pw / 2, n = Swift.min(half, cols.upperBound - j0)
                ck_pointwise_packed(kp, m, n, b.k, a, lda, panels + (j0 / pw) * stride + half,
                                    bias.map { $0 + j0 }, residual.map { $0 + j0 }, ldr, activation.rawValue, c + j0, ldc)
                j0 += n
                guard j0 < cols.upperBound else { return }
            }
            ck_pointwise_packed(kp, m, cols.upperBound - j0, b.k, a, lda, panels + (j0 / pw) * stride,
                                bias.map { $0 + j0 }, residual.map { $0 + j0 }, ldr, activation.rawValue, c + j0, ldc)
        }
    }

    /// How a depthwise layer's input is laid out as planes (`ck_plane_width` in ckconv.h): channels
    /// in planes of `width` (two SIMD vectors), each plane `rows` rows of `rowFloats` floats (the
    /// image row zero-padded to `paddedWidth` pixels, `padLeft` of them on the left), planes
    /// `planeStride` floats apart. The 1×1 expand or the stem writes it (`pointwisePlanes`,
    /// `convPlanarPlanes`), the depthwise reads its windows from it without copying or clipping
    /// them (`depthwisePlanes`).
    package struct PlaneLayout: Sendable, Equatable {
        package let width: Int, imageWidth: Int, kernel: Int, stride: Int, padLeft: Int, rows: Int, channels: Int
        /// Pixels in a padded row: (ceil(imageWidth / stride) − 1)·stride + kernel (TF "SAME").
        package let paddedWidth: Int
        package var rowFloats: Int { paddedWidth * width }
        package var planeStride: Int { rows * rowFloats }
        package var count: Int { (channels + width - 1) / width }
        /// Floats the planes take.
        package var floats: Int { count * planeStride }
        /// The depthwise output's width.
        package var outputWidth: Int { (imageWidth + stride - 1) / stride }

        /// Planes for `channels` channels of `rows` rows of a layer k×k, stride 1 or 2, over rows
        /// `imageWidth` wide, on `path`; nil where that layer does not read planes
        /// (`ck_depthwise_planes_fit`: its padded rows would not fit L1, or no SIMD path).
        package init?(path: GEMMPath, kernel: Int, stride: Int, imageWidth: Int, padLeft: Int, rows: Int, channels: Int) {
            let p = ConvKernels.simdPath(path)
            let w = ck_plane_width(p)
            guard path.kernelPath != nil, w > 0, ck_depthwise_planes_fit(p, Int32(kernel), Int32(stride), imageWidth) != 0,
                  rows > 0, channels > 0 else { return nil }
            let padded = ck_plane_padded_width(Int32(kernel), Int32(stride), imageWidth)
            guard padLeft >= 0, padLeft + imageWidth <= padded else { return nil }
            (width, self.imageWidth, self.kernel, self.stride, self.padLeft, self.rows, self.channels) =
                (w, imageWidth, kernel, stride, padLeft, rows, channels)
            paddedWidth = padded
        }
    }

    /// `pointwise` (no residual) writing `rows` image rows of `layout.imageWidth` pixels (A's
    /// rows) into planes at `planes` (plane 0, row 0), output columns `columns` only: the same
    /// values, bit for bit. Also zeroes those channels' pad columns in these rows.
    package static func pointwisePlanes(_ b: PackedMatrix, rows: Int, _ a: UnsafePointer<Float>, lda: Int, bias: UnsafePointer<Float>?,
                                        activation: GEMMActivation, planes: UnsafeMutablePointer<Float>, layout: PlaneLayout,
                                        columns: Range<Int>? = nil) {
        let cols = columns ?? 0..<b.n
        guard rows > 0, !cols.isEmpty, let kp = b.path.kernelPath else { return }
        let pw = layout.width
        precondition(b.panelWidth == pw && b.n == layout.channels && rows <= layout.rows, "planes of \(pw) for panels of \(b.panelWidth)")
        let align = startAlignment(b)
        precondition(cols.lowerBound >= 0 && cols.upperBound <= b.n && cols.lowerBound % align == 0)
        let stride = ck_panel_stride(kp, b.k), w = layout.imageWidth
        let at = { (j: Int) in planes + (j / pw) * layout.planeStride + layout.padLeft * pw + j % pw }
        b.withPanels { panels in
            var j0 = cols.lowerBound
            if j0 % pw != 0 {
                let half = pw / 2, n = Swift.min(half, cols.upperBound - j0)
                ck_pointwise_packed_planes(kp, rows, w, n, b.k, a, lda, panels + (j0 / pw) * stride + half, bias.map { $0 + j0 },
                                           activation.rawValue, at(j0), layout.planeStride, layout.rowFloats)
                j0 += n
            }
            if j0 < cols.upperBound {
                ck_pointwise_packed_planes(kp, rows, w, cols.upperBound - j0, b.k, a, lda, panels + (j0 / pw) * stride,
                                           bias.map { $0 + j0 }, activation.rawValue, at(j0), layout.planeStride, layout.rowFloats)
            }
        }
        ck_planes_clear(kp, planes, layout.planeStride, layout.rowFloats, rows, w, layout.paddedWidth, layout.padLeft,
                        cols.lowerBound, cols.upperBound, layout.channels)
    }

    /// `depthwise` (stride `layout.stride`, channels `only`) reading its input from planes
    /// (`layout`; rows `firstRow` ..< `firstRow + layout.rows` of an image of `height` rows
    /// present; output rows `rows` of `outHeight`): the same output, bit for bit.
    package static func depthwisePlanes(path: GEMMPath, kernel: Int, _ planes: UnsafePointer<Float>, layout: PlaneLayout, height: Int,
                                        firstRow: Int, padTop: Int, outHeight: Int, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                        activation: GEMMActivation, _ y: UnsafeMutablePointer<Float>, outFirstRow: Int = 0,
                                        rows: Range<Int>, only: Range<Int>) {
        guard !rows.isEmpty, !only.isEmpty else { return }
        precondition(outFirstRow <= rows.lowerBound && only.lowerBound % (layout.width / 2) == 0 && kernel == layout.kernel
                     && (kernel == 3 || kernel == 5) && layout.rowFloats <= Int(CK_PLANE_ROW_MAX))
        let w = layout.imageWidth
        ck_depthwise_planes(simdPath(path), Int32(kernel), Int32(layout.stride), planes, layout.planeStride, layout.rowFloats, height, w,
                            layout.channels, firstRow, padTop, layout.padLeft, outHeight, layout.outputWidth, weights, bias,
                            activation.rawValue, y, outFirstRow, rows.lowerBound, rows.upperBound, only.lowerBound, only.upperBound)
    }

    /// `pointwiseSmall` (no residual) writing `rows` image rows (x's rows) into planes at `planes`
    /// (plane 0, row 0): the same values, bit for bit; those rows' pad columns zeroed.
    package static func pointwiseSmallPlanes(path: GEMMPath, rows: Int, k: Int, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                                             bias: UnsafePointer<Float>, activation: GEMMActivation, planes: UnsafeMutablePointer<Float>,
                                             layout: PlaneLayout) {
        guard rows > 0 else { return }
        precondition(rows <= layout.rows)
        let p = simdPath(path), w = layout.imageWidth
        ck_pointwise_small_planes(p, rows, w, k, layout.channels, x, weights, bias, activation.rawValue,
                                  planes + layout.padLeft * layout.width, layout.planeStride, layout.rowFloats)
        ck_planes_clear(p, planes, layout.planeStride, layout.rowFloats, rows, w, layout.paddedWidth, layout.padLeft, 0,
                        layout.channels, layout.channels)
    }

    /// `convPlanar` writing whole output rows — pixels `pixels`, from the first pixel of a row — into
    /// planes at `planes` (plane 0, the row of `pixels.lowerBound`): the same values, bit for bit;
    /// those rows' pad columns zeroed.
    package static func convPlanarPlanes(path: GEMMPath, _ x: UnsafePointer<Float>, height: Int, width: Int, inChannels: Int, kernel: Int,
                                         stride: Int, padTop: Int, padLeft: Int, outHeight: Int, outWidth: Int,
                                         weights: UnsafePointer<Float>, bias: UnsafePointer<Float>, activation: GEMMActivation,
                                         planes: UnsafeMutablePointer<Float>, layout: PlaneLayout, pixels: Range<Int>) {
        guard !pixels.isEmpty else { return }
        let rows = pixels.count / outWidth
        precondition(outWidth == layout.imageWidth && pixels.lowerBound % outWidth == 0 && pixels.count % outWidth == 0
                     && rows <= layout.rows && inChannels * kernel * kernel <= planarMaxTaps)
        let p = simdPath(path)
        ck_conv_planar_planes(p, x, height, width, inChannels, Int32(kernel), Int32(stride), padTop, padLeft, outHeight, outWidth,
                              weights, layout.channels, bias, activation.rawValue, planes + layout.padLeft * layout.width,
                              pixels.lowerBound, pixels.lowerBound, pixels.upperBound, layout.planeStride, layout.rowFloats)
        ck_planes_clear(p, planes, layout.planeStride, layout.rowFloats, rows, outWidth, layout.paddedWidth, layout.padLeft, 0,
                        layout.channels, layout.channels)
    }

    /// Where a column range of `pointwise` may start: every half panel on the SIMD paths (a panel
    /// is two vectors; the one-vector tile runs either), every panel on the portable one.
    package static func startAlignment(_ b: PackedMatrix) -> Int {
        b.path == .avx512 || b.path == .avx2 ? b.panelWidth / 2 : b.panelWidth
    }

    /// y[i] = a[i, :] · x for i < m: a matrix-vector product (a [m × k], row stride `lda`) on the
    /// one-query scan's dot kernel (`ck_scan_dots`: rows in order, each reduced alone with four
    /// vector accumulators, prefetched ahead) — the classifier head of one image, memory-bound on
    /// its weights.
    package static func matrixVector(path: GEMMPath, m: Int, k: Int, _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>,
                                     _ y: UnsafeMutablePointer<Float>) {
        guard m > 0 else { return }
        ck_scan_dots(simdPath(path), m, k, a, lda, x, y)
    }

    /// Taps (cin · k · k) up to which `convPlanar` runs SIMD tiles (beyond: plain loops).
    package static let planarMaxTaps = Int(CK_CONV_PLANAR_MAX_TAPS)

    /// Dense k×k convolution, stride `stride`, of planar (CHW per image) input into NHWC output:
    /// output pixels `pixels` (over images × outHeight × outWidth), weights [(c·k + kh)·k + kw][out].
    package static func convPlanar(path: GEMMPath, _ x: UnsafePointer<Float>, height: Int, width: Int, inChannels: Int, kernel: Int,
                                   stride: Int, padTop: Int, padLeft: Int, outHeight: Int, outWidth: Int, weights: UnsafePointer<Float>,
                                   outChannels: Int, bias: UnsafePointer<Float>, activation: GEMMActivation,
                                   _ y: UnsafeMutablePointer<Float>, outputOrigin: Int = 0, pixels: Range<Int>) {
        guard !pixels.isEmpty else { return }
        precondition(outputOrigin <= pixels.lowerBound)
        ck_conv_planar(simdPath(path), x, height, width, inChannels, Int32(kernel), Int32(stride), padTop, padLeft, outHeight, outWidth,
                       weights, outChannels, bias, activation.rawValue, y, outputOrigin, pixels.lowerBound, pixels.upperBound)
    }
}
