import Foundation
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport

/// Seeded state dicts with the key names and shapes of the real checkpoints, written from the
/// architecture tables independently of the model code (so a wrong table in either shows up).
enum SyntheticWeights {
    struct Builder {
        var g: SeededGenerator
        var sd: StateDict = [:]
        /// Values are cheap constants when false (shape-only tests of big models).
        var random = true

        init(seed: UInt64, random: Bool = true) {
            g = SeededGenerator(seed: seed)
            self.random = random
        }

        mutating func values(_ n: Int, std: Double, mean: Double = 0) -> [Float] {
            guard random else { return [Float](repeating: Float(mean + std * 0.5), count: n) }
            return (0..<n).map { _ in Float(mean + std * g.gaussian()) }
        }

        mutating func conv(_ name: String, _ shape: [Int]) {
            let fanIn = shape.dropFirst().reduce(1, *)
            sd[name + ".weight"] = Tensor(shape: shape, data: values(shape.reduce(1, *), std: (2.0 / Double(fanIn)).squareRoot()))
        }

        mutating func bn(_ name: String, _ c: Int) {
            sd[name + ".weight"] = Tensor(shape: [c], data: values(c, std: 0.1, mean: 1))
            sd[name + ".bias"] = Tensor(shape: [c], data: values(c, std: 0.1))
            sd[name + ".running_mean"] = Tensor(shape: [c], data: values(c, std: 0.1))
            sd[name + ".running_var"] = Tensor(shape: [c], data: values(c, std: 0.2, mean: 1).map { abs($0) })
            sd[name + ".num_batches_tracked"] = Tensor(shape: [], data: [0])
        }

        mutating func linear(_ name: String, out: Int, in inF: Int) {
            sd[name + ".weight"] = Tensor(shape: [out, inF], data: values(out * inF, std: (1.0 / Double(inF)).squareRoot()))
            sd[name + ".bias"] = Tensor(shape: [out], data: values(out, std: 0.1))
        }
    }

    /// efficientnet_lite_pytorch's EfficientNet-Lite0 names and shapes.
    static func efficientNetLite0(classes: Int = 1000, seed: UInt64 = 1) -> StateDict {
        var b = Builder(seed: seed)
        b.conv("_conv_stem", [32, 3, 3, 3]); b.bn("_bn0", 32)
        // (repeats, kernel, in, out, expand)
        let stages = [(1, 3, 32, 16, 1), (2, 3, 16, 24, 6), (2, 5, 24, 40, 6), (3, 3, 40, 80, 6),
                      (3, 5, 80, 112, 6), (4, 5, 112, 192, 6), (1, 3, 192, 320, 6)]
        var i = 0
        for (repeats, k, inC, outC, e) in stages {
            for r in 0..<repeats {
                let cin = r == 0 ? inC : outC, hidden = cin * e, p = "_blocks.\(i)."
                if e != 1 { b.conv(p + "_expand_conv", [hidden, cin, 1, 1]); b.bn(p + "_bn0", hidden) }
                b.conv(p + "_depthwise_conv", [hidden, 1, k, k]); b.bn(p + "_bn1", hidden)
                b.conv(p + "_project_conv", [outC, hidden, 1, 1]); b.bn(p + "_bn2", outC)
                i += 1
            }
        }
        b.conv("_conv_head", [1280, 320, 1, 1]); b.bn("_bn1", 1280)
        b.linear("_fc", out: classes, in: 1280)
        return b.sd
    }

    /// torchvision's resnet18/34/50 names and shapes.
    static func resnet(_ depth: ResNet.Depth, classes: Int, seed: UInt64 = 2, random: Bool = true) -> StateDict {
        var b = Builder(seed: seed, random: random)
        b.conv("conv1", [64, 3, 7, 7]); b.bn("bn1", 64)
        let counts = depth == .r18 ? [2, 2, 2, 2] : [3, 4, 6, 3]
        let bottleneck = depth == .r50
        var inC = 64
        for (s, n) in counts.enumerated() {
            let w = 64 << s, outC = bottleneck ? 4 * w : w
            for i in 0..<n {
                let p = "layer\(s + 1).\(i)."
                if bottleneck {
                    b.conv(p + "conv1", [w, inC, 1, 1]); b.bn(p + "bn1", w)
                    b.conv(p + "conv2", [w, w, 3, 3]); b.bn(p + "bn2", w)
                    b.conv(p + "conv3", [outC, w, 1, 1]); b.bn(p + "bn3", outC)
                } else {
                    b.conv(p + "conv1", [w, inC, 3, 3]); b.bn(p + "bn1", w)
                    b.conv(p + "conv2", [w, w, 3, 3]); b.bn(p + "bn2", w)
                }
                if i == 0 && (s > 0 || inC != outC) {
                    b.conv(p + "downsample.0", [outC, inC, 1, 1]); b.bn(p + "downsample.1", outC)
                }
                inC = outC
            }
        }
        b.linear("fc", out: classes, in: inC)
        return b.sd
    }
}
