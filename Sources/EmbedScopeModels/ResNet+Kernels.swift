import EmbedScopeCore
import EmbedScopeImages

extension ResNet {
    /// Which kernel each convolution runs, in network order, one line per layer
    /// ("layer1.0.conv1 3×3/1 64→64: Winograd F(2×2,3×3) + sgemm (avx512)"), for
    /// `embedscope-bench extract --profile` and anyone asking why a layer is slow.
    package var kernelChoices: [String] {
        let gemm = SGEMM.path == .openblas ? "OpenBLAS sgemm" : "sgemm (\(SGEMM.path.rawValue))"
        func line(_ name: String, _ c: Conv2D, _ w: Winograd3x3?) -> String {
            let shape = "\(c.kernel)×\(c.kernel)/\(c.stride) \(c.inChannels)→\(c.outChannels)"
            let kernel: String
            if let w { kernel = "Winograd F(2×2,3×3) + sgemm (\(w.path.rawValue))" }
            else if c.usesPlanarKernel, let p = c.packed { kernel = "direct (C, \(p.path.rawValue))" }
            else if c.inputLayout == .planar && c.outChannels % 32 == 0 { kernel = "direct SIMD" }
            else if c.isPointwise { kernel = gemm }
            else { kernel = "im2col + \(gemm)" }
            return "\(name) \(shape): \(kernel)"
        }
        var lines = [line("conv1", stem, nil)]
        var index = 0
        for (stage, count) in depth.blocksPerStage.enumerated() {
            for i in 0..<count where index < blocks.count {
                let b = blocks[index], p = "layer\(stage + 1).\(i)"
                lines.append(line(p + ".conv1", b.conv1, b.conv1Winograd))
                lines.append(line(p + ".conv2", b.conv2, b.conv2Winograd))
                if let c3 = b.conv3 { lines.append(line(p + ".conv3", c3, nil)) }
                if let d = b.downsample { lines.append(line(p + ".downsample", d, nil)) }
                index += 1
            }
        }
        return lines
    }
}
