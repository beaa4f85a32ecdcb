import EmbedScopeCore
import EmbedScopeImages
/// Pooling over NHWC activations.
enum Pooling {
    typealias V = SIMD8<Float>

    /// out[i, c] = mean over the `pixels` rows of image i of x[i, p, c]. x: [images × pixels × C].
    static func globalAverage(_ x: UnsafePointer<Float>, images: Int, pixels: Int, channels c: Int, _ out: UnsafeMutablePointer<Float>) {
        let c8 = c & ~7
        let scale = 1 / Float(pixels)
        let xr = UnsafeRawPointer(x), or = UnsafeMutableRawPointer(out)
        for i in 0..<images {
            let img = i * pixels * c
            var ch = 0
            while ch < c8 {
                var acc = V()
                for p in 0..<pixels { acc += xr.loadUnaligned(fromByteOffset: (img + p * c + ch) * 4, as: V.self) }
                or.storeBytes(of: acc * scale, toByteOffset: (i * c + ch) * 4, as: V.self)
                ch += 8
            }
            while ch < c {
                var acc: Float = 0
                for p in 0..<pixels { acc += x[img + p * c + ch] }
                out[i * c + ch] = acc * scale
                ch += 1
            }
        }
    }

    /// Max pooling, k×k window, stride s, `pad` pixels on every side that never win (PyTorch's
    /// MaxPool2d(k, s, pad)). x: [images × h × w × C] → y: [images × oh × ow × C].
    static func max(_ x: UnsafePointer<Float>, images: Int, height h: Int, width w: Int, channels c: Int,
                    kernel k: Int, stride s: Int, pad: Int, _ y: UnsafeMutablePointer<Float>) {
        let oh = Padding2D.outputSize(h, before: pad, after: pad, kernel: k, stride: s)
        let ow = Padding2D.outputSize(w, before: pad, after: pad, kernel: k, stride: s)
        let c8 = c & ~7
        let xr = UnsafeRawPointer(x), yr = UnsafeMutableRawPointer(y)
        for i in 0..<images {
            for oy in 0..<oh {
                let y0 = Swift.max(0, oy * s - pad), y1 = Swift.min(h, oy * s - pad + k)
                for ox in 0..<ow {
                    let x0 = Swift.max(0, ox * s - pad), x1 = Swift.min(w, ox * s - pad + k)
                    let outOff = ((i * oh + oy) * ow + ox) * c
                    var ch = 0
                    while ch < c8 {
                        var m = V(repeating: -.infinity)
                        for iy in y0..<y1 {
                            for ix in x0..<x1 {
                                let v = xr.loadUnaligned(fromByteOffset: (((i * h + iy) * w + ix) * c + ch) * 4, as: V.self)
                                m.replace(with: v, where: v .> m)
                            }
                        }
                        yr.storeBytes(of: m, toByteOffset: (outOff + ch) * 4, as: V.self)
                        ch += 8
                    }
                    while ch < c {
                        var m = -Float.infinity
                        for iy in y0..<y1 {
                            for ix in x0..<x1 { m = Swift.max(m, x[((i * h + iy) * w + ix) * c + ch]) }
                        }
                        y[outOff + ch] = m
                        ch += 1
                    }
                }
            }
        }
    }
}
