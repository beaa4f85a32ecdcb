import Foundation
import EmbedScopeCore
import EmbedScopeImages

/// torchvision's ResNet-18/34 (BasicBlock) and ResNet-50 (Bottleneck, v1.5: the stride on the
/// 3×3 conv), with torchvision's state-dict names (conv1, bn1, layer1.0.conv1, ...,
/// downsample.0/1, fc). BatchNorm eps 1e-5, folded into the convs at load time; ReLU; symmetric
/// padding; maxpool 3×3/2 pad 1; global average pool (the embedding); fc with any number of rows.
///
/// Same execution scheme as EfficientNetLite0: NHWC activations, the batch split across
/// `threads` workers with their own buffers, single-threaded OpenBLAS inside each.
public final class ResNet: FeatureExtractor {
    public enum Depth: Sendable {
        case r18, r34, r50

        var blocksPerStage: [Int] {
            switch self {
            case .r18: return [2, 2, 2, 2]
            case .r34, .r50: return [3, 4, 6, 3]
            }
        }
        var bottleneck: Bool { self == .r50 }
        var name: String {
            switch self {
            case .r18: return "resnet18"
            case .r34: return "resnet34"
            case .r50: return "resnet50"
            }
        }
    }

    public let name: String
    /// Side of the square input (default 224; any side ≥ 32 works: the pool is global).
    public let inputSize: Int
    public let featureDim: Int
    public var classCount: Int { fc.outFeatures }
    public var head: (weights: [Float], bias: [Float]) { (fc.weights, fc.bias) }
    public let depth: Depth
    /// Worker threads (default: `CPUBudget.threads`, the CPUs this process may use).
    public let threads: Int

    static let bnEps = 1e-5
    static let groupSize = 4

    let stem: Conv2D
    let blocks: [ResidualBlock]
    let fc: Linear
    private let pool = WorkspacePool(keep: 4)

    package init(depth: Depth, stateDict: StateDict, threads: Int? = nil, inputSize: Int = 224) throws {
        guard (32...1024).contains(inputSize) else {
            throw EmbedScopeError(.invalidArgument, "\(depth.name): input size \(inputSize) is out of range (32…1024)")
        }
        self.inputSize = inputSize
        let r = StateDictReader(stateDict, model: depth.name)
        let eps = Self.bnEps
        self.depth = depth
        name = depth.name
        stem = try Conv2D(r, conv: "conv1", bn: "bn1", in: 3, out: 64, kernel: 7, stride: 2, padding: .symmetric(3),
                          inputLayout: .planar, eps: eps, activation: .relu)
        var size = Padding2D.outputSize(stem.outputSize(height: inputSize, width: inputSize).height, before: 1, after: 1, kernel: 3, stride: 2)
        var inC = 64
        var blocks: [ResidualBlock] = []
        for (stage, count) in depth.blocksPerStage.enumerated() {
            let width = 64 << stage
            for i in 0..<count {
                let stride = (stage > 0 && i == 0) ? 2 : 1
                let b = try ResidualBlock(r, prefix: "layer\(stage + 1).\(i)", inC: inC, width: width,
                                          bottleneck: depth.bottleneck, stride: stride, inputSize: size, eps: eps)
                blocks.append(b)
                inC = b.outC
                size = b.outputSize
            }
        }
        self.blocks = blocks
        featureDim = inC
        fc = try Linear(r, "fc", inFeatures: inC, optional: true)
        try r.requireExactKeys()
        let t = Swift.max(1, threads ?? CPUBudget.threads)
        self.threads = t
        capacities = Self.bufferCapacities(stem: stem, blocks: blocks, inputSize: inputSize, threads: t)
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

    enum Kind: Int, CaseIterable {
        case stem, maxpool, conv3x3, conv3x3Winograd, conv1x1, downsample, pool, classifier
        var label: String {
            switch self {
            case .stem: return "stem 7×7 conv (direct SIMD)"
            case .maxpool: return "max pool"
            case .conv3x3: return "3×3 convs (im2col + sgemm)"
            case .conv3x3Winograd: return "3×3 stride-1 convs (Winograd F(2×2,3×3) + sgemm)"
            case .conv1x1: return "1×1 convs (sgemm)"
            case .downsample: return "downsample 1×1 convs (gather + sgemm)"
            case .pool: return "global average pool"
            case .classifier: return "classifier (GEMM; one image: dot kernel)"
            }
        }
    }

    static let kindLabels = Kind.allCases.map(\.label)

    /// Buffers: 0, 1 stream ping-pong (block inputs/outputs); 2, 3 inside a block; 4 downsample
    /// output; 5 im2col scratch. Computed once, at load.
    private let capacities: [Int]

    private static func bufferCapacities(stem: Conv2D, blocks: [ResidualBlock], inputSize: Int, threads: Int) -> [Int] {
        let g = Self.groupSize
        let stemOut = stem.outputSize(height: inputSize, width: inputSize)
        var stream = 0, t1 = g * stemOut.height * stemOut.width * 64, t2 = 0, ds = 0, patch = stem.patchLength, wino = 0
        stream = g * blocks[0].inputSize * blocks[0].inputSize * blocks[0].inC
        for b in blocks {
            stream = Swift.max(stream, g * b.outputSize * b.outputSize * b.outC)
            t1 = Swift.max(t1, g * b.conv1Size * b.conv1Size * b.width)
            t2 = Swift.max(t2, g * b.outputSize * b.outputSize * b.width)
            if b.downsample != nil { ds = Swift.max(ds, g * b.outputSize * b.outputSize * b.outC) }
            for c in b.convs { patch = Swift.max(patch, c.patchLength) }
            for w in b.winograd { wino = Swift.max(wino, threads * w.minimumScratch) }
        }
        return [stream, stream, t1, t2, ds, Swift.max(1 << 20, 128 * patch, wino)]
    }

    private func run(_ input: [Float], count n: Int, profile: Bool) throws -> (features: [Float], logits: [Float], profile: ForwardProfile) {
        let per = 3 * inputSize * inputSize
        return try runBatch(input, count: n, threads: threads, group: Self.groupSize, pool: pool, kinds: Self.kindLabels,
                            capacities: { capacities }, profile: profile) { b, range, ws, team, clock in
            var i = range.lowerBound
            while i < range.upperBound {
                let g = Swift.min(Self.groupSize, range.upperBound - i)
                runGroup(b.input + i * per, images: g, ws, team, b.features + i * featureDim, b.logits + i * classCount, &clock)
                i += g
            }
        }
    }

    private func runGroup(_ input: UnsafePointer<Float>, images g: Int, _ ws: Workspace, _ team: Team,
                          _ features: UnsafeMutablePointer<Float>, _ logits: UnsafeMutablePointer<Float>, _ clock: inout Stopwatch) {
        let s = stem.outputSize(height: inputSize, width: inputSize)
        ResidualBlock.conv(stem, input, images: g, size: inputSize, ws[2], residual: nil, ws, team, Kind.stem.rawValue, &clock)
        Pooling.max(ws[2], images: g, height: s.height, width: s.width, channels: 64, kernel: 3, stride: 2, pad: 1, ws[0])
        clock.lap(Kind.maxpool.rawValue)
        var x = ws[0], y = ws[1]
        for b in blocks {
            b.run(x, images: g, y, ws, team, &clock)
            swap(&x, &y)
        }
        let last = blocks[blocks.count - 1].outputSize
        Pooling.globalAverage(x, images: g, pixels: last * last, channels: featureDim, features)
        clock.lap(Kind.pool.rawValue)
        fc.run(features, rows: g, logits, team: team, kind: Kind.classifier.rawValue, &clock)
    }
}

/// torchvision's BasicBlock (two 3×3 convs) or Bottleneck (1×1, 3×3 with the stride, 1×1 to 4×
/// width), with the identity or a 1×1 strided downsample added before the last ReLU.
struct ResidualBlock: Sendable {
    let inC: Int, width: Int, outC: Int
    let inputSize: Int, outputSize: Int
    /// Output size of conv1 (the stride is on conv1 in BasicBlock, on conv2 in Bottleneck).
    let conv1Size: Int
    let conv1: Conv2D, conv2: Conv2D, conv3: Conv2D?
    let downsample: Conv2D?
    /// conv1 / conv2 as Winograd F(2×2, 3×3) when they are 3×3 stride 1 (nil: im2col).
    let conv1Winograd: Winograd3x3?, conv2Winograd: Winograd3x3?

    var convs: [Conv2D] { [conv1, conv2] + (conv3.map { [$0] } ?? []) + (downsample.map { [$0] } ?? []) }
    var winograd: [Winograd3x3] { [conv1Winograd, conv2Winograd].compactMap { $0 } }

    init(_ r: StateDictReader, prefix p: String, inC: Int, width: Int, bottleneck: Bool, stride: Int, inputSize: Int, eps: Double) throws {
        self.inC = inC
        self.width = width
        self.inputSize = inputSize
        outC = bottleneck ? width * 4 : width
        if bottleneck {
            conv1 = try Conv2D(r, conv: p + ".conv1", bn: p + ".bn1", in: inC, out: width, kernel: 1, stride: 1, padding: .zero, eps: eps, activation: .relu)
            conv2 = try Conv2D(r, conv: p + ".conv2", bn: p + ".bn2", in: width, out: width, kernel: 3, stride: stride, padding: .symmetric(1), eps: eps, activation: .relu)
            conv3 = try Conv2D(r, conv: p + ".conv3", bn: p + ".bn3", in: width, out: outC, kernel: 1, stride: 1, padding: .zero, eps: eps, activation: .relu)
            conv1Size = inputSize
        } else {
            conv1 = try Conv2D(r, conv: p + ".conv1", bn: p + ".bn1", in: inC, out: width, kernel: 3, stride: stride, padding: .symmetric(1), eps: eps, activation: .relu)
            conv2 = try Conv2D(r, conv: p + ".conv2", bn: p + ".bn2", in: width, out: width, kernel: 3, stride: 1, padding: .symmetric(1), eps: eps, activation: .relu)
            conv3 = nil
            conv1Size = conv1.outputSize(height: inputSize, width: inputSize).height
        }
        outputSize = (inputSize + 2 - 3) / stride + 1
        if stride != 1 || inC != outC {
            downsample = try Conv2D(r, conv: p + ".downsample.0", bn: p + ".downsample.1", in: inC, out: outC, kernel: 1, stride: stride,
                                    padding: .zero, eps: eps, activation: .none)
        } else {
            downsample = nil
        }
        conv1Winograd = Winograd3x3(conv1)
        conv2Winograd = Winograd3x3(conv2)
    }

    /// x (buffer 0 or 1) → y (the other one), using buffers 2–5 of `ws`.
    func run(_ x: UnsafeMutablePointer<Float>, images g: Int, _ y: UnsafeMutablePointer<Float>, _ ws: Workspace, _ team: Team,
             _ clock: inout Stopwatch) {
        typealias Kind = ResNet.Kind
        var identity = UnsafePointer(x)
        if let downsample {
            Self.conv(downsample, x, images: g, size: inputSize, ws[4], residual: nil, ws, team, Kind.downsample.rawValue, &clock)
            identity = UnsafePointer(ws[4])
        }
        func kind(_ c: Conv2D) -> Int { c.kernel == 1 ? Kind.conv1x1.rawValue : Kind.conv3x3.rawValue }
        Self.conv(conv1, x, images: g, size: inputSize, ws[2], residual: nil, ws, team, kind(conv1), &clock, winograd: conv1Winograd)
        if let conv3 {
            Self.conv(conv2, ws[2], images: g, size: conv1Size, ws[3], residual: nil, ws, team, kind(conv2), &clock, winograd: conv2Winograd)
            Self.conv(conv3, ws[3], images: g, size: outputSize, y, residual: identity, ws, team, kind(conv3), &clock)
        } else {
            Self.conv(conv2, ws[2], images: g, size: conv1Size, y, residual: identity, ws, team, kind(conv2), &clock, winograd: conv2Winograd)
        }
    }

    /// One convolution over `images` inputs of size×size, its output pixels split across the
    /// team; each part gets its own share of the im2col scratch (buffer 5). With `winograd`,
    /// its 2×2 output tiles are split instead, and the scratch holds the blocks' transforms.
    static func conv(_ c: Conv2D, _ x: UnsafePointer<Float>, images: Int, size: Int, _ y: UnsafeMutablePointer<Float>,
                     residual: UnsafePointer<Float>?, _ ws: Workspace, _ team: Team, _ kind: Int, _ clock: inout Stopwatch,
                     winograd: Winograd3x3? = nil) {
        if let w = winograd {
            let tiles = w.tiles(images: images, height: size, width: size)
            let share = ws.capacities[5] / team.parts(tiles, minimumPerPart: Winograd3x3.minBlock), scratch = ws[5]
            team.split(tiles, ResNet.Kind.conv3x3Winograd.rawValue, &clock, minimumPerPart: Winograd3x3.minBlock) { r, part, _ in
                w.run(x, images: images, height: size, width: size, y, residual: residual,
                      scratch: scratch + part * share, scratchCapacity: share, tiles: r)
            }
            return
        }
        let (oh, ow) = c.outputSize(height: size, width: size)
        let pixels = images * oh * ow
        let share = ws.capacities[5] / team.parts(pixels, minimumPerPart: 64), scratch = ws[5]
        team.split(pixels, kind, &clock, minimumPerPart: 64) { r, part, _ in
            c.run(x, images: images, height: size, width: size, y, residual: residual,
                  scratch: scratch + part * share, scratchCapacity: share, pixels: r)
        }
    }
}
