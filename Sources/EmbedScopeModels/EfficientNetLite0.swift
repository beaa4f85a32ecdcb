import Foundation
import EmbedScopeCore
import EmbedScopeImages

/// EfficientNet-Lite0 (TensorFlow's EfficientNet-Lite as converted by `efficientnet-lite-pytorch`):
/// stem 3×3/2 conv → 16 MBConv blocks → 1×1 conv to 1280 → global average pool (the
/// embedding) → Linear 1280 → classes. Every conv is followed by BatchNorm (eps 1e-3, folded
/// into the conv at load time) and ReLU6, except the project convs (no activation). Padding is
/// TensorFlow "SAME" (asymmetric on stride 2). No squeeze-excite.
///
/// Layout: activations are NHWC (see DepthwiseConv for why). Kernels (on our own GEMM paths,
/// `CKernels/conv.c`, AVX-512 / AVX2 / portable by CPUID): the stem runs direct on the planar
/// input, the depthwise convs direct with ReLU6 fused (their input written by the expand or the
/// stem as planes of padded rows, one image at a time, whose windows need no copy and no
/// clipping: `MBConvBlock.planes`, `bandPlanes`), the 1×1 convs on weights packed once at load with the activations
/// read in place (no per-call packing of A, the epilogue fused), the narrow ones on unpacked
/// weights (`ConvKernels.prefersSmallPointwise`); `EMBEDSCOPE_GEMM=openblas` selects the Swift
/// kernels + OpenBLAS reference instead.
/// Work: the batch is split across `threads` workers, each with its own buffers (images left
/// over, e.g. at batch 1, run with each layer split across the threads). A worker runs the
/// blocks down to 14×14 one image at a time, expand → depthwise → project in bands of rows
/// that stay in L2 (the stem inside the first block's bands), and the 7×7 blocks on groups of
/// `groupSize` images (wider GEMMs; their weights, 0.9 MB per 1×1 conv, are read once per group).
public final class EfficientNetLite0: FeatureExtractor {
    public let name = "efficientnet-lite0"
    /// Side of the square input (the crop; 224 by default). The network is convolutional with a
    /// global average pool, so any side from 32 works: the geometry (TF "SAME" padding, buffer
    /// sizes) is computed from it at load time.
    public let inputSize: Int
    public let featureDim = 1280
    public var classCount: Int { fc.outFeatures }
    public var head: (weights: [Float], bias: [Float]) { (fc.weights, fc.bias) }

    /// Worker threads (default: `CPUBudget.threads`, the CPUs this process may use).
    public let threads: Int

    static let bnEps = 1e-3
    /// Images per group in the low-resolution part of the network.
    static let groupSize = 8
    /// Blocks whose input is at least this many pixels high run one image at a time.
    /// (14×14 blocks in groups of 8 left 8 × 14 × 14 × 672 floats, 4.2 MB, between expand,
    /// depthwise and project, beyond L2: the depthwise ran at a quarter of the FMA peak. One
    /// image at a time, in bands, on Zen 4 at batch 32: depthwise 2.0 → 1.35 CPU ms/image, the
    /// whole forward 4.85 → 4.49 ms/image, median of 8 interleaved runs; 7×7 blocks one at a time
    /// too: no better, their weights then come from L3 for every image.)
    static let perImageMinSize = 14

    /// (repeats, kernel, first stride, in, out, expand ratio) per stage: efficientnet_lite_builder's
    /// 'r1_k3_s11_e1_i32_o16', 'r2_k3_s22_e6_i16_o24', ... (Lite0: no width/depth scaling).
    static let stages: [(repeats: Int, kernel: Int, stride: Int, inC: Int, outC: Int, expand: Int)] = [
        (1, 3, 1, 32, 16, 1), (2, 3, 2, 16, 24, 6), (2, 5, 2, 24, 40, 6), (3, 3, 2, 40, 80, 6),
        (3, 5, 1, 80, 112, 6), (4, 5, 2, 112, 192, 6), (1, 3, 1, 192, 320, 6),
    ]

    let stem: Conv2D
    let blocks: [MBConvBlock]
    let headConv: Pointwise
    let fc: Linear
    private let pool = WorkspacePool(keep: 4)

    /// `planes: false` keeps every depthwise input NHWC (the depthwise copying its windows), for
    /// tests and measurements of `MBConvBlock.planes`.
    package init(stateDict: StateDict, threads: Int? = nil, inputSize: Int = 224, planes: Bool = true) throws {
        guard (32...1024).contains(inputSize) else {
            throw EmbedScopeError(.invalidArgument, "efficientnet-lite0: input size \(inputSize) is out of range (32…1024)")
        }
        self.inputSize = inputSize
        let r = StateDictReader(stateDict, model: "efficientnet-lite0")
        let eps = Self.bnEps
        var size = inputSize
        stem = try Conv2D(r, conv: "_conv_stem", bn: "_bn0", in: 3, out: 32, kernel: 3, stride: 2,
                          padding: .tfSame(height: size, width: size, kernel: 3, stride: 2), inputLayout: .planar,
                          eps: eps, activation: .relu6)
        size = stem.outputSize(height: size, width: size).height
        var blocks: [MBConvBlock] = []
        for st in Self.stages {
            for rep in 0..<st.repeats {
                let inC = rep == 0 ? st.inC : st.outC, s = rep == 0 ? st.stride : 1
                let block = try MBConvBlock(r, index: blocks.count, inC: inC, outC: st.outC, expand: st.expand,
                                            kernel: st.kernel, stride: s, inputSize: size, eps: eps, planes: planes)
                size = block.outputSize
                blocks.append(block)
            }
        }
        self.blocks = blocks
        headConv = try Pointwise(r, conv: "_conv_head", bn: "_bn1", in: 320, out: 1280, eps: eps, activation: .relu6)
        fc = try Linear(r, "_fc", inFeatures: 1280, optional: true)
        try r.requireExactKeys()
        let t = Swift.max(1, threads ?? CPUBudget.threads)
        self.threads = t
        capacities = Self.bufferCapacities(stem: stem, blocks: blocks, inputSize: inputSize, threads: t,
                                           fusesStem: Self.fusesStem(stem: stem, blocks: blocks, inputSize: inputSize))
    }

    public func forward(_ input: [Float], count n: Int) throws -> (features: [Float], logits: [Float]) {
        let r = try run(input, count: n, profile: false)
        return (r.features, r.logits)
    }

    /// `forward`, plus the time spent in each layer type.
    public func profiledForward(_ input: [Float], count n: Int) throws -> (features: [Float], logits: [Float], profile: ForwardProfile) {
        try run(input, count: n, profile: true)
    }

    // MARK: - Execution

    static let kindLabels = Kind.allCases.map(\.label)

    enum Kind: Int, CaseIterable {
        case stem, expand, depthwise, project, headConv, pool, classifier
        var label: String {
            switch self {
            case .stem: return "stem 3×3 conv (direct, in the first block's bands at one image)"
            case .expand: return "expand 1×1 convs (packed or small-shape 1×1 kernel)"
            case .depthwise: return "depthwise convs (direct)"
            case .project: return "project 1×1 convs (packed or small-shape 1×1 kernel)"
            case .headConv: return "head 1×1 conv (1×1 kernel)"
            case .pool: return "global average pool"
            case .classifier: return "classifier (GEMM; one image: dot kernel)"
            }
        }
    }

    /// Buffers: 0, 1 stream ping-pong; 2 expanded (unbanded blocks); 3 depthwise output;
    /// 4 group input (the per-image part's output); 5 head conv output; 6 im2col scratch;
    /// 7 one expanded-rows band per thread (banded blocks); 8 one depthwise-output band per
    /// thread (banded blocks). Computed once, at load.
    private let capacities: [Int]

    private static func bufferCapacities(stem: Conv2D, blocks: [MBConvBlock], inputSize: Int, threads: Int, fusesStem: Bool) -> [Int] {
        let g = Self.groupSize
        // The stem's output: one image at a time, or a group when no block runs per image.
        let stemSide = stem.outputSize(height: inputSize, width: inputSize).height
        let stemImages = (blocks.first?.inputSize ?? 0) >= Self.perImageMinSize ? 1 : g
        // (Run in the first block's bands, the stem's output is never held whole.)
        var stream = fusesStem ? 0 : stemImages * stemSide * stemSide * 32, expanded = 0, dw = 0, groupIn = 0, band = 0, dwBand = 0
        for (index, b) in blocks.enumerated() {
            let perImage = b.inputSize >= Self.perImageMinSize, m = perImage ? 1 : g
            stream = Swift.max(stream, m * b.outputSize * b.outputSize * b.outC)
            // A block that runs banded on a worker alone may run whole in a team (`banded(alone:)`).
            let bands = perImage && b.banded(alone: true), whole = !(perImage && b.banded(alone: false))
            if b.expand != nil || (index == 0 && fusesStem) {
                if bands { band = Swift.max(band, b.bandCapacity) }
                if whole { expanded = Swift.max(expanded, m * b.inputSize * b.inputSize * b.hidden, b.planes?.floats ?? 0) }
            }
            if bands { dwBand = Swift.max(dwBand, b.dwBandCapacity) }
            if whole { dw = Swift.max(dw, m * b.outputSize * b.outputSize * b.hidden) }
            if perImage { groupIn = g * b.outputSize * b.outputSize * b.outC }
        }
        let last = blocks[blocks.count - 1].outputSize
        return [stream, stream, expanded, dw, groupIn, g * last * last * 1280, Pointwise.chunkRows * stem.patchLength, threads * band,
                threads * dwBand]
    }

    private func run(_ input: [Float], count n: Int, profile: Bool) throws -> (features: [Float], logits: [Float], profile: ForwardProfile) {
        try runBatch(input, count: n, threads: threads, group: Self.groupSize, pool: pool, kinds: Self.kindLabels,
                     capacities: { capacities }, profile: profile) { b, range, ws, team, clock in
            runImages(b.input, range, ws, team, b.features, b.logits, &clock)
        }
    }

    /// Images `range` of the batch, in groups, on one worker (`team` alone) or on all threads.
    private func runImages(_ input: UnsafePointer<Float>, _ range: Range<Int>, _ ws: Workspace, _ team: Team,
                           _ features: UnsafeMutablePointer<Float>, _ logits: UnsafeMutablePointer<Float>, _ clock: inout Stopwatch) {
        let perImage = 3 * inputSize * inputSize
        let split = blocks.firstIndex { $0.inputSize < Self.perImageMinSize } ?? blocks.count
        var i = range.lowerBound
        while i < range.upperBound {
            let g = Swift.min(Self.groupSize, range.upperBound - i)
            var x: UnsafeMutablePointer<Float>
            if split > 0 {
                // High resolution, one image at a time; the last of these blocks writes into the group buffer.
                let slot = blocks[split - 1].outputSize * blocks[split - 1].outputSize * blocks[split - 1].outC
                for j in 0..<g {
                    let image = input + (i + j) * perImage
                    if fusesStem {
                        x = runBlocks(0..<split, ws[0], images: 1, ws, team, last: ws[4] + j * slot, stemInput: image, &clock)
                    } else {
                        x = runStem(image, images: 1, ws, team, &clock)
                        x = runBlocks(0..<split, x, images: 1, ws, team, last: ws[4] + j * slot, &clock)
                    }
                }
                x = ws[4]
            } else {
                x = runStem(input + i * perImage, images: g, ws, team, &clock)
            }
            x = runBlocks(split..<blocks.count, x, images: g, ws, team, last: nil, &clock)
            // Head: 1×1 conv to 1280 + ReLU6, average pool, classifier.
            let hw = blocks[blocks.count - 1].outputSize * blocks[blocks.count - 1].outputSize
            // Each part of the head's channels is pooled by the thread that computed it, while in its cache.
            let head = ws[5], dim = featureDim, pooled = features + i * featureDim
            headConv.run(x, rows: g * hw, head, team: team, kind: Kind.headConv.rawValue, &clock, then: (Kind.pool.rawValue, { columns in
                Pooling.globalAverage(head, images: g, pixels: hw, channels: dim, columns: columns, pooled)
            }))
            fc.run(features + i * featureDim, rows: g, logits + i * classCount, team: team, kind: Kind.classifier.rawValue, &clock)
            i += g
        }
    }

    private func runStem(_ x: UnsafePointer<Float>, images: Int, _ ws: Workspace, _ team: Team, _ clock: inout Stopwatch) -> UnsafeMutablePointer<Float> {
        let (oh, ow) = stem.outputSize(height: inputSize, width: inputSize)
        let y = ws[0], scratch = ws[6], cap = ws.capacities[6], size = inputSize
        // Split by whole output rows (the im2col scratch is only used by the fallback path).
        team.split(images * oh, Kind.stem.rawValue, &clock) { rows, _, _ in
            stem.run(x, images: images, height: size, width: size, y, scratch: scratch, scratchCapacity: cap,
                     pixels: (rows.lowerBound * ow)..<(rows.upperBound * ow))
        }
        return ws[0]
    }

    /// The stem runs inside the first block's bands (`MBConvBlock.runBanded(stem:)`): one image
    /// at a time, a first block without an expand or residual, and a stem that needs no scratch.
    private var fusesStem: Bool { Self.fusesStem(stem: stem, blocks: blocks, inputSize: inputSize) }

    private static func fusesStem(stem: Conv2D, blocks: [MBConvBlock], inputSize: Int) -> Bool {
        guard let first = blocks.first else { return false }
        return first.banded(alone: false) && first.expand == nil && !first.residual && stem.runsWithoutScratch
            && stem.outputSize(height: inputSize, width: inputSize).height == first.inputSize
    }

    /// Runs `range` of the blocks on `x` (in buffer 0 or 1, or the group buffer); returns where
    /// the output is. With `stemInput` (the planar image; `fusesStem`) the first block computes
    /// its input rows from it, band by band, and `x` is not read.
    private func runBlocks(_ range: Range<Int>, _ x0: UnsafeMutablePointer<Float>, images: Int, _ ws: Workspace, _ team: Team,
                           last: UnsafeMutablePointer<Float>?, stemInput: UnsafePointer<Float>? = nil,
                           _ clock: inout Stopwatch) -> UnsafeMutablePointer<Float> {
        var x = x0
        for bi in range {
            let y: UnsafeMutablePointer<Float> = (bi == range.upperBound - 1 && last != nil) ? last! : (x == ws[0] ? ws[1] : ws[0])
            if let stemInput, bi == range.lowerBound {
                blocks[bi].runBanded(x, y, bands: ws[7], depthwiseBands: ws[8], team, &clock,
                                     stem: (stem, stemInput, inputSize, EfficientNetLite0.Kind.stem.rawValue))
            } else if images == 1 && blocks[bi].banded(alone: team.threads == 1) {
                blocks[bi].runBanded(x, y, bands: ws[7], depthwiseBands: ws[8], team, &clock)
            } else {
                blocks[bi].run(x, images: images, y, expanded: ws[2], depthwise: ws[3], team, &clock)
            }
            x = y
        }
        return x
    }
}

/// One MBConv block: [1×1 expand + ReLU6] → k×k depthwise + ReLU6 → 1×1 project (no activation)
/// [+ input, when stride 1 and in == out].
struct MBConvBlock: Sendable {
    let inC: Int, hidden: Int, outC: Int
    let inputSize: Int, outputSize: Int
    let expand: Pointwise?
    let depthwise: DepthwiseConv
    let project: Pointwise
    let residual: Bool
    /// How the expanded input is laid out as planes for the depthwise (`ConvKernels.PlaneLayout`)
    /// when a block runs whole (`run`: one image's map split by channels across a team, or a
    /// worker alone on parts of the channels, image by image): a layer of stride 1
    /// or 2 whose padded rows fit L1, after an expand on the packed kernel. nil: NHWC, the
    /// depthwise copying (stride 1) or clipping (stride 2) its windows.
    let planes: ConvKernels.PlaneLayout?
    /// The band's expanded rows as planes (`runBanded`): a layer of stride 1 or 2 whose padded
    /// rows fit L1, its input rows computed by the expand (or the stem) straight into them. nil:
    /// NHWC rows.
    let bandPlanes: ConvKernels.PlaneLayout?
    /// Output rows per band in `runBanded`, and the band buffers (floats) that needs: the
    /// expanded input rows, the depthwise output rows.
    let bandRows: Int
    let bandCapacity: Int
    var dwBandCapacity: Int { bandRows * outputSize * hidden }
    /// Whether this block runs expand → depthwise → project band by band, one image at a time
    /// (`runBanded`): from 28×28 up always; a 14×14 block only on a worker alone. A team splits
    /// a band's output rows, and each thread expands the input rows its rows read: at 14×14 the
    /// 5×5 windows' halo rows would expand 11 of 14 rows on each of two threads, where the
    /// whole-image path (`run`) splits expand and depthwise by channels without overlap.
    func banded(alone: Bool) -> Bool { inputSize >= 28 || (alone && inputSize >= 14) }

    /// Expanded rows per band are sized to this: half of one core's L2, at most 512 KB (the band's
    /// depthwise output takes about as much again). (Measured on the 2-core machines, 1 MB L2:
    /// 128 KB 14.4, 256 KB 13.4, 512 KB 13.3, 768 KB 13.4 CPU ms/img; unbanded 13.9. A 512 KB L2
    /// — Zen 2 and 3 — gets 256 KB bands.)
    static var bandBytes: Int { Swift.min(512 * 1024, CacheSizes.l2Bytes / 2) }

    init(_ r: StateDictReader, index: Int, inC: Int, outC: Int, expand ratio: Int, kernel: Int, stride: Int,
         inputSize: Int, eps: Double, planes usePlanes: Bool = true) throws {
        let p = "_blocks.\(index)."
        self.inC = inC
        self.outC = outC
        hidden = inC * ratio
        self.inputSize = inputSize
        expand = ratio == 1 ? nil
            : try Pointwise(r, conv: p + "_expand_conv", bn: p + "_bn0", in: inC, out: hidden, eps: eps, activation: .relu6)
        let dwWeight = try r.tensor(p + "_depthwise_conv.weight", shape: [hidden, 1, kernel, kernel])
        let (scale, shift) = try r.batchNorm(p + "_bn1", channels: hidden, eps: eps)
        depthwise = DepthwiseConv(weight: dwWeight.data, channels: hidden, kernel: kernel, stride: stride,
                                  padding: .tfSame(height: inputSize, width: inputSize, kernel: kernel, stride: stride),
                                  scale: scale, shift: shift, activation: .relu6)
        outputSize = depthwise.outputSize(height: inputSize, width: inputSize).height
        project = try Pointwise(r, conv: p + "_project_conv", bn: p + "_bn2", in: hidden, out: outC, eps: eps, activation: .none)
        residual = stride == 1 && inC == outC
        if usePlanes, let expand, let packed = expand.packed, !expand.usesSmallKernel {
            planes = ConvKernels.PlaneLayout(path: packed.path, kernel: kernel, stride: stride, imageWidth: inputSize,
                                             padLeft: depthwise.padding.left, rows: inputSize, channels: hidden)
                .flatMap { $0.width == packed.panelWidth ? $0 : nil }
        } else {
            planes = nil
        }
        let rowFloats = inputSize * hidden
        let inputRows = Swift.max(kernel, Self.bandBytes / (rowFloats * 4))
        bandRows = Swift.max(1, (inputRows - kernel) / stride + 1)
        let bandInputRows = (bandRows - 1) * stride + kernel
        let ex = expand
        let layout = ConvKernels.PlaneLayout(path: ex?.packed?.path ?? SGEMM.path, kernel: kernel, stride: stride, imageWidth: inputSize,
                                             padLeft: depthwise.padding.left, rows: bandInputRows, channels: hidden)
        // The expand's packed panels must be the planes' width (the small-shape kernel writes any).
        bandPlanes = usePlanes ? layout.flatMap { p in ex.map { $0.usesSmallKernel || $0.packed?.panelWidth == p.width } ?? true ? p : nil } : nil
        bandCapacity = Swift.max(bandInputRows * rowFloats, bandPlanes?.floats ?? 0)
    }

    /// One image, expand → depthwise → project fused over bands of output rows (without an
    /// expand, depthwise → project): each band's
    /// expanded input rows are computed right before the depthwise reads them (rows shared
    /// with the previous band are kept), and its depthwise output is projected right away, so
    /// the wide tensors never leave L2. The output rows are split across the team; each part
    /// has its own band buffers in `bands` and `depthwiseBands`: the depthwise output rows of a
    /// band go to a small buffer reused band after band, not to a whole-map buffer (1.2–1.8 MB
    /// at 56×56) whose lines are cold at every band (batch 1, in-process A/B: +0.4–0.8 %).
    ///
    /// `stem` (a block without expand or residual: the first): the block's input rows are the
    /// output rows of that convolution of the planar image `input` (`size` square), computed
    /// into the band as an expand's would be (`kind` profiles them), and `x` is not read — the
    /// stem's 112×112×32 output (1.6 MB) is never written out whole, and the stem needs no
    /// join of its own.
    func runBanded(_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, bands: UnsafeMutablePointer<Float>,
                   depthwiseBands: UnsafeMutablePointer<Float>, _ team: Team, _ clock: inout Stopwatch,
                   stem: (conv: Conv2D, input: UnsafePointer<Float>, size: Int, kind: Int)? = nil) {
        typealias Kind = EfficientNetLite0.Kind
        precondition(stem == nil || (expand == nil && !residual))
        let xc = UnsafePointer(x)
        let s = depthwise.stride, k = depthwise.kernel, pt = depthwise.padding.top
        let w = inputSize
        // The band's rows as planes (`bandPlanes`) where the expand or the stem can write them;
        // else NHWC rows, one "plane" of rowLen floats a row.
        let planes = bandPlanes.flatMap { expand != nil || stem?.conv.usesPlanarKernel == true ? $0 : nil }
        let rowLen = planes?.rowFloats ?? w * hidden, planeCount = planes?.count ?? 1, planeStride = planes?.planeStride ?? 0
        team.split(outputSize, Kind.depthwise.rawValue, &clock, minimumPerPart: 2) { rows, part, clock in
            let band = bands + part * bandCapacity, dwOut = depthwiseBands + part * dwBandCapacity
            var lo = 0, hi = 0                       // input rows (expanded, or the stem's) held in `band`: [lo, hi)
            var r0 = rows.lowerBound
            while r0 < rows.upperBound {
                let r1 = Swift.min(r0 + bandRows, rows.upperBound)
                // The depthwise reads the band, or (no expand, no stem: the first block, whose
                // 112×112×32 depthwise output is 1.6 MB whole) the block's input directly.
                var dwIn = xc, firstRow = 0
                if expand != nil || stem != nil {
                    let needLo = Swift.max(0, r0 * s - pt), needHi = Swift.min(inputSize, (r1 - 1) * s - pt + k)
                    var from = needLo
                    if needLo >= lo && needLo < hi {
                        if needLo > lo {
                            for q in 0..<planeCount {
                                let p = band + q * planeStride
                                memmove(p, p + (needLo - lo) * rowLen, (hi - needLo) * rowLen * 4)
                            }
                        }
                        from = hi
                    }
                    if from < needHi {
                        let at = band + (from - needLo) * rowLen, pixels = (from * w)..<(needHi * w)
                        switch (expand, stem, planes) {
                        case let (expand?, _, planes?):
                            expand.runPlanes(xc + from * w * inC, rows: needHi - from, planes: at, layout: planes)
                        case let (expand?, _, nil):
                            expand.run(xc + from * w * inC, rows: pixels.count, at)
                        case let (nil, stem?, planes?):
                            stem.conv.runPlanes(stem.input, height: stem.size, width: stem.size, planes: at, layout: planes, pixels: pixels)
                        case let (nil, stem?, nil):
                            stem.conv.run(stem.input, images: 1, height: stem.size, width: stem.size, at, scratch: band, scratchCapacity: 0,
                                          pixels: pixels, outputOrigin: from * w)
                        case (nil, nil, _):
                            break
                        }
                    }
                    lo = needLo
                    hi = needHi
                    clock.lap(stem?.kind ?? Kind.expand.rawValue)
                    dwIn = UnsafePointer(band)
                    firstRow = needLo
                }
                if let planes {
                    depthwise.runPlanes(dwIn, layout: planes, height: inputSize, firstRow: firstRow, dwOut, outFirstRow: r0, rows: r0..<r1,
                                        channels: 0..<hidden)
                } else {
                    depthwise.run(dwIn, height: inputSize, width: inputSize, dwOut, rows: r0..<r1, firstRow: firstRow, outFirstRow: r0)
                }
                clock.lap(Kind.depthwise.rawValue)
                let p0 = r0 * outputSize, pixels = (r1 - r0) * outputSize
                project.run(dwOut, rows: pixels, y + p0 * outC, residual: residual ? xc + p0 * outC : nil)
                clock.lap(Kind.project.rawValue)
                r0 = r1
            }
        }
    }

    /// A worker alone runs the planes path (`run`) on parts of this many hidden channels at most
    /// (whole planes): a part's expand weights (192 × 256 floats, 196 KB, at 7×7) and planes
    /// (124 KB) stay in L2 while the part goes through a group's images. (Zen 4, one thread,
    /// batch 32, CPU ms an image over three alternated rounds: 128 channels 7.79–7.93, 256
    /// 7.64–7.97, 512 7.64–8.07, all 1,152 7.68–7.93 — the same within the noise.)
    static let planeChunkChannels = 256

    /// `hidden` channels in parts of `planeChunkChannels` (a multiple of the plane width).
    static func planeChunks(_ hidden: Int, width: Int) -> [Range<Int>] {
        let step = Swift.max(width, planeChunkChannels / width * width)
        return stride(from: 0, to: hidden, by: step).map { $0..<Swift.min(hidden, $0 + step) }
    }

    /// x: [images × in × in × inC] → y: [images × out × out × outC]; y must not alias x.
    func run(_ x: UnsafeMutablePointer<Float>, images: Int, _ y: UnsafeMutablePointer<Float>,
             expanded: UnsafeMutablePointer<Float>, depthwise dwOut: UnsafeMutablePointer<Float>, _ team: Team, _ clock: inout Stopwatch) {
        typealias Kind = EfficientNetLite0.Kind
        var h = UnsafePointer(x)
        let xc = UnsafePointer(x)
        let rows = images * inputSize * inputSize, size = inputSize
        if let expand, let planes, depthwise.splitsByChannels,
           let parts = team.threads == 1 ? Self.planeChunks(hidden, width: planes.width)
                                         : rows < 256 ? expand.panelParts(team: team) : nil {
            // The expand writes planes and the depthwise reads its windows there (no copy), one
            // part of the hidden channels at a time, image by image: each thread on its own
            // channels (a team: no join between the two), or a worker alone on parts small
            // enough that the part's weights and planes stay in L2 across a group's images. (A
            // group's whole expanded tensor, 8 × 7 × 7 × 1152 floats, is 1.8 MB: written NHWC,
            // the depthwise read it back from L3 and copied its windows.)
            let e = UnsafePointer(expanded), inPer = size * size * inC, outPer = outputSize * outputSize * hidden
            team.split(parts.count, Kind.expand.rawValue, &clock) { g, _, clock in
                for i in g {
                    for j in 0..<images {
                        expand.runPlanes(xc + j * inPer, rows: size, planes: expanded, layout: planes, columns: parts[i])
                        clock.lap(Kind.expand.rawValue)
                        depthwise.runPlanes(e, layout: planes, height: size, dwOut + j * outPer, rows: 0..<outputSize, channels: parts[i])
                        clock.lap(Kind.depthwise.rawValue)
                    }
                }
            }
            project.run(dwOut, rows: images * outputSize * outputSize, y, residual: residual ? xc : nil,
                        team: team, kind: Kind.project.rawValue, &clock)
            return
        }
        if let expand, rows < 256, depthwise.splitsByChannels, let parts = expand.panelParts(team: team) {
            // Few rows (one image's 14×14 and 7×7 blocks, split across the team) without planes:
            // expand and depthwise in one parallel region, each thread on its own hidden channels
            // — the depthwise of a channel reads only that channel, so no join between the two.
            let e = UnsafePointer(expanded)
            team.split(parts.count, Kind.expand.rawValue, &clock) { g, _, clock in
                for i in g {
                    expand.run(xc, rows: rows, expanded, columns: parts[i])
                    clock.lap(Kind.expand.rawValue)
                    depthwise.run(e, height: size, width: size, dwOut, rows: 0..<(images * outputSize), channels: parts[i])
                    clock.lap(Kind.depthwise.rawValue)
                }
            }
            project.run(dwOut, rows: images * outputSize * outputSize, y, residual: residual ? xc : nil,
                        team: team, kind: Kind.project.rawValue, &clock)
            return
        }
        if let expand {
            expand.run(xc, rows: rows, expanded, team: team, kind: Kind.expand.rawValue, &clock)
            h = UnsafePointer(expanded)
        }
        let dwIn = h
        team.split(images * outputSize, Kind.depthwise.rawValue, &clock) { r, _, _ in
            depthwise.run(dwIn, height: size, width: size, dwOut, rows: r)
        }
        project.run(dwOut, rows: images * outputSize * outputSize, y, residual: residual ? xc : nil,
                    team: team, kind: Kind.project.rawValue, &clock)
    }
}
