import EmbedScopeCore
import EmbedScopeImages
/// A 1×1 convolution (BatchNorm folded in) over NHWC activations: one GEMM,
/// y[pixels × out] = x[pixels × in] · W + b, followed by the epilogue (residual, activation).
///
/// On our own GEMM paths (`packed` non-nil) the C kernels run it with the epilogue fused:
/// `ConvKernels.pointwise` (weights packed once, A read in place: nothing is packed per call,
/// where sgemm would repack the activations every time) and, for few input or output channels
/// (`usesSmallKernel`), `ConvKernels.pointwiseSmall`.
/// With `EMBEDSCOPE_GEMM=openblas`: the Swift kernel for K ≤ 32, else OpenBLAS in chunks of
/// `chunkRows` pixels, each chunk's GEMM output still in L2 when the epilogue reads it back.
struct Pointwise: Sendable {
    let inChannels: Int
    let outChannels: Int
    /// [in × out] row-major: the transpose of PyTorch's [out, in, 1, 1]. (OpenBLAS runs this
    /// orientation 2–7% faster than a transposed [out × in] operand on the 7×7 and 14×14 layers.)
    let weights: AlignedFloats
    let bias: AlignedFloats
    let activation: Activation
    /// `weights` packed for our GEMM kernel (nil: the OpenBLAS path is selected).
    let packed: PackedMatrix?
    /// On one of our own GEMM paths, this shape runs the C kernel on unpacked W
    /// (`ConvKernels.pointwiseSmall`, fused epilogue, the path's SIMD width) instead of the packed
    /// one: `ConvKernels.prefersSmallPointwise` (few input or output channels).
    let usesSmallKernel: Bool

    /// Rows per GEMM call: large enough for OpenBLAS to run at speed, small enough that the
    /// chunk's output stays in L2 for the epilogue.
    static let chunkRows = 1024

    /// `weight` in PyTorch's layout [out, in] (or [out, in, 1, 1]); `scale`/`shift` from the BatchNorm
    /// that follows (nil: none), `convBias` the conv's own bias if it has one.
    /// `smallKernel` overrides the choice of `usesSmallKernel` (tests run both kernels on every shape).
    init(weight: [Float], out: Int, in inC: Int, scale: [Double]?, shift: [Double]?, convBias: [Float]? = nil, activation: Activation,
         smallKernel: Bool? = nil) {
        precondition(weight.count == out * inC)
        inChannels = inC
        outChannels = out
        var w = [Float](repeating: 0, count: inC * out)
        var b = [Float](repeating: 0, count: out)
        for o in 0..<out {
            let s = scale?[o] ?? 1
            for i in 0..<inC { w[i * out + o] = Float(Double(weight[o * inC + i]) * s) }
            let b0 = Double(convBias?[o] ?? 0)
            b[o] = Float(b0 * s + (shift?[o] ?? 0))
        }
        weights = AlignedFloats(w)
        bias = AlignedFloats(b)
        self.activation = activation
        packed = packedWeights(w, k: inC, n: out)
        usesSmallKernel = packed.map { smallKernel ?? ConvKernels.prefersSmallPointwise(path: $0.path, k: inC, n: out) } ?? false
    }

    /// Reads `prefix.weight` [out, in, 1, 1] and the BatchNorm `bn` from the state dict.
    init(_ reader: StateDictReader, conv: String, bn: String, in inC: Int, out: Int, eps: Double, activation: Activation) throws {
        let w = try reader.tensor(conv + ".weight", shape: [out, inC, 1, 1])
        let (scale, shift) = try reader.batchNorm(bn, channels: out, eps: eps)
        self.init(weight: w.data, out: out, in: inC, scale: scale, shift: shift, activation: activation)
    }

    /// y[rows × out] = act(x[rows × in] · W + b (+ residual)). `residual` has y's layout and may not alias y.
    func run(_ x: UnsafePointer<Float>, rows: Int, _ y: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>? = nil) {
        if let packed, usesSmallKernel {
            weights.withUnsafeBufferPointer { w in
                bias.withUnsafeBufferPointer { b in
                    ConvKernels.pointwiseSmall(path: packed.path, rows: rows, k: inChannels, n: outChannels, x, weights: w.baseAddress!,
                                               bias: b.baseAddress!, residual: residual, activation: activation.gemm, y)
                }
            }
        } else if let packed {
            bias.withUnsafeBufferPointer { b in
                ConvKernels.pointwise(packed, m: rows, x, lda: inChannels, bias: b.baseAddress!, residual: residual, ldr: outChannels,
                                      activation: activation.gemm, y, ldc: outChannels)
            }
        } else if usesKernel {
            weights.withUnsafeBufferPointer { w in
                bias.withUnsafeBufferPointer { b in
                    PointwiseKernel.run(x, rows: rows, k: inChannels, n: outChannels, w.baseAddress!, b.baseAddress!, y,
                                        residual: residual, activation: activation)
                }
            }
        } else {
            runBLAS(x, rows: rows, y, residual: residual)
        }
    }

    /// `run` (no residual) writing `rows` image rows of `layout.imageWidth` pixels into planes at
    /// `planes` (plane 0, row 0), output channels `columns` (all by default; the packed kernel
    /// only): the same values, bit for bit. Our own kernels only.
    func runPlanes(_ x: UnsafePointer<Float>, rows: Int, planes: UnsafeMutablePointer<Float>, layout: ConvKernels.PlaneLayout,
                   columns: Range<Int>? = nil) {
        guard let packed else { preconditionFailure("planes are written by the C kernels") }
        bias.withUnsafeBufferPointer { b in
            if usesSmallKernel {
                precondition(columns == nil || columns == 0..<outChannels)
                weights.withUnsafeBufferPointer { w in
                    ConvKernels.pointwiseSmallPlanes(path: packed.path, rows: rows, k: inChannels, x, weights: w.baseAddress!,
                                                     bias: b.baseAddress!, activation: activation.gemm, planes: planes, layout: layout)
                }
            } else {
                ConvKernels.pointwisePlanes(packed, rows: rows, x, lda: inChannels, bias: b.baseAddress!, activation: activation.gemm,
                                            planes: planes, layout: layout, columns: columns)
            }
        }
    }

    /// Few input channels (the OpenBLAS configuration): the hand-written Swift kernel (fused epilogue, no packing) beats OpenBLAS
    /// + epilogue pass up to K = 32 (EfficientNet-Lite0: 32→16 56 vs 37 GFLOP/s, 16→96 54 vs 36,
    /// 24→144 49 vs 47 on one core) and loses beyond (40→240: 44 vs 58).
    var usesKernel: Bool { inChannels <= 32 && outChannels % 8 == 0 }

    /// Output channels `columns` only (all rows): how a team splits a layer with few rows (the
    /// 14×14 and 7×7 layers of one image), so that each thread packs only its share of W.
    func run(_ x: UnsafePointer<Float>, rows: Int, _ y: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>? = nil,
             columns: Range<Int>) {
        let n = outChannels
        if let packed {
            bias.withUnsafeBufferPointer { b in
                ConvKernels.pointwise(packed, m: rows, x, lda: inChannels, bias: b.baseAddress!, residual: residual, ldr: n,
                                      activation: activation.gemm, y, ldc: n, columns: columns)
            }
            return
        }
        weights.withUnsafeBufferPointer { w in
            bias.withUnsafeBufferPointer { b in
                GEMM.ab(m: rows, n: columns.count, k: inChannels, a: x, lda: inChannels, b: w.baseAddress! + columns.lowerBound, ldb: n,
                        c: y + columns.lowerBound, ldc: n)
                Epilogue.apply(y + columns.lowerBound, rows: rows, cols: columns.count, ld: n, bias: b.baseAddress! + columns.lowerBound,
                               residual: residual.map { $0 + columns.lowerBound }, activation: activation)
            }
        }
    }

    /// Splits this layer over `rows` rows for `team`: by rows when there are many (or few
    /// channels), else by output channels — whichever keeps the busiest thread's share of
    /// kernel tiles smaller (`columnParts`).
    ///
    /// `then` (its time charged to `then.kind`) runs on each range of output channels once all
    /// the rows of those channels are written: inside the same parallel region, by the thread
    /// that computed them, when the layer is split by channels; on the calling thread for all
    /// of them after the layer otherwise.
    func run(_ x: UnsafePointer<Float>, rows: Int, _ y: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>? = nil,
             team: Team, kind: Int, _ clock: inout Stopwatch, then: (kind: Int, body: (Range<Int>) -> Void)? = nil) {
        if let ranges = columnParts(rows: rows, team: team) {
            team.split(ranges.count, kind, &clock) { g, _, clock in
                for i in g {
                    run(x, rows: rows, y, residual: residual, columns: ranges[i])
                    if let then {
                        clock.lap(kind)
                        then.body(ranges[i])
                        clock.lap(then.kind)
                    }
                }
            }
        } else {
            let k = inChannels, n = outChannels
            team.split(rows, kind, &clock, minimumPerPart: Self.minimumRowsPerPart) { r, _, _ in
                run(x + r.lowerBound * k, rows: r.count, y + r.lowerBound * n, residual: residual.map { $0 + r.lowerBound * n })
            }
            if let then {
                then.body(0..<n)
                clock.lap(then.kind)
            }
        }
    }

    /// Rows a team splits by rows at the least (`run(team:)`).
    static let minimumRowsPerPart = 32

    /// The output-channel ranges a team of `team.threads` splits a layer of `rows` rows into, or
    /// nil to split it by rows. Columns only for few rows (< 256) and many channels. On our
    /// kernels the split with the smaller busiest part wins, counted in the kernel's work: a part
    /// of r rows and c columns runs `tileRows(r)` rows of tiles per weight panel, a panel of at
    /// most half the panel width at half the cost. The 14×14 projections to 80 and 112 channels
    /// are why: split by 32-column panels, one thread got 80 of 112 columns; split by rows, 98
    /// and 98 of 196.
    func columnParts(rows: Int, team: Team) -> [Range<Int>]? {
        let n = outChannels
        guard team.threads > 1, rows < 256, n >= 64, !usesKernel, !usesSmallKernel else { return nil }
        guard let packed else {
            // OpenBLAS: by columns in multiples of 8, each thread reading only its share of W.
            let groups = n / 8, parts = team.parts(groups)
            return (0..<parts).map { t in
                let g = RowPartition.range(t, of: parts, count: groups)
                return (g.lowerBound * 8)..<(g.upperBound == groups ? n : g.upperBound * 8)
            }
        }
        let pw = packed.panelWidth, half = Swift.max(1, pw / 2)
        guard let columns = panelParts(team: team) else { return nil }
        func panelCost(_ c: Int) -> Int {   // in half panels
            let tail = c % pw
            return c / pw * 2 + (tail == 0 ? 0 : tail <= half ? 1 : 2)
        }
        let tiles = { Self.tileRows($0, path: packed.path) }
        let byColumns = columns.map { tiles(rows) * panelCost($0.count) }.max() ?? 0
        let rowParts = team.parts(rows, minimumPerPart: Self.minimumRowsPerPart)
        let byRows = (0..<rowParts).map { tiles(RowPartition.range($0, of: rowParts, count: rows).count) * panelCost(n) }.max() ?? 0
        return byColumns < byRows ? columns : nil
    }

    /// Rows of work the packed 1×1 kernel spends on `rows` rows (`gp_drive` in conv_simd.h): row
    /// blocks of 8 tiles of MR (12 on AVX-512, 6 on AVX2); a block's last tile runs a third, two
    /// thirds or all of MR rows; on AVX-512 one or two rows past a whole tile join it (a tile
    /// of 13 or 14), a block stretching by them to the end; on AVX2 a block's last 7 to 13 rows run
    /// in tiles of 4 and 5 (7, 8: 4 + 4; 9: 5 + 4; 10: 5 + 5; 13: 5 + 4 + 4), a block stretching by
    /// up to 6 rows to the end.
    static func tileRows(_ rows: Int, path: GEMMPath) -> Int {
        let mr = path == .avx512 ? 12 : 6, mb = 8 * mr
        let joins = path == .avx512, tail5 = path == .avx2
        let stretch = joins ? 2 : tail5 ? mr : 0
        var i0 = 0, work = 0
        while i0 < rows {
            let ie = rows - i0 <= mb + stretch ? rows : Swift.min(rows, i0 + mb)
            var i = i0
            while i < ie {
                let left = ie - i
                if joins && left > mr && left <= mr + 2 { work += left; break }
                var h = Swift.min(mr, left)
                if tail5 && (left == 7 || left == 8) { h = 4 } else if tail5 && (left == 9 || left == 10 || left == 13) { h = 5 }
                work += tail5 && h == mr - 1 ? h : h > 2 * (mr / 3) ? mr : h > mr / 3 ? 2 * (mr / 3) : mr / 3
                i += h
            }
            i0 = ie
        }
        return work
    }

    /// The output channels cut into `team.threads` contiguous parts on weight-panel boundaries
    /// (half panels on AVX-512: where a packed column range may start), balanced in half panels
    /// (a panel of at most half the width costs the kernel half); nil off our kernels or when
    /// there is one part.
    func panelParts(team: Team) -> [Range<Int>]? {
        guard let packed, team.threads > 1, !usesSmallKernel else { return nil }
        let n = outChannels, half = Swift.max(1, packed.panelWidth / 2)
        let halves = (n + half - 1) / half
        let parts = team.parts((halves + 1) / 2)
        // On AVX-512 parts may start on half panels (`ConvKernels.startAlignment`): 480 and 672
        // channels (15 and 21 panels of 32) split 240 / 240 and 336 / 336, not 224 / 256 and
        // 320 / 352 — one thread had 7–14 % more of the 14×14 blocks' expand and depthwise and the
        // other waited for it, every image (batch 1 on Zen 5, in-process A/B: −0.5 %). Not on
        // AVX2: its 16-column panels already split those evenly, and half starts only moved the
        // 14×14 projections from row to column splits, 2–3 % slower there.
        let alignment = packed.path == .avx512 ? ConvKernels.startAlignment(packed) / half : 2
        let columns = (0..<parts).map { t in
            let h = RowPartition.range(t, of: parts, count: halves, alignment: alignment)
            return (h.lowerBound * half)..<Swift.min(n, h.upperBound * half)
        }.filter { !$0.isEmpty }
        return columns.count > 1 ? columns : nil
    }

    /// The OpenBLAS path: chunked sgemm, then the epilogue on each chunk while it is in cache.
    func runBLAS(_ x: UnsafePointer<Float>, rows: Int, _ y: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>? = nil) {
        weights.withUnsafeBufferPointer { w in
            bias.withUnsafeBufferPointer { b in
                var r = 0
                while r < rows {
                    let m = min(Self.chunkRows, rows - r)
                    let yc = y + r * outChannels
                    GEMM.ab(m: m, n: outChannels, k: inChannels, a: x + r * inChannels, lda: inChannels,
                            b: w.baseAddress!, ldb: outChannels, c: yc, ldc: outChannels)
                    Epilogue.apply(yc, rows: m, cols: outChannels, bias: b.baseAddress!,
                                   residual: residual.map { $0 + r * outChannels }, activation: activation)
                    r += m
                }
            }
        }
    }
}
