import EmbedScopeCore
import EmbedScopeImages
/// Pooling over NHWC activations.
enum Pooling {
    typealias V = SIMD8<Float>

    /// out[i, c] = mean over the `pixels` rows of image i of x[i, p, c], for the channels in
    /// `columns` (all when nil). x: [images × pixels × C].
    ///
    /// 32 channels at a time carry four independent sums, each still over the pixels in order (the
    /// same result as one sum per vector; a 7×7×1280 map was one dependency chain of 49 adds per
    /// 8 channels, ~10 µs at batch 1 with both cores waiting on it).
    static func globalAverage(_ x: UnsafePointer<Float>, images: Int, pixels: Int, channels c: Int,
                              columns: Range<Int>? = nil, _ out: UnsafeMutablePointer<Float>) {
        let cols = columns ?? 0..<c
        let scale = 1 / Float(pixels)
        let xr = UnsafeRawPointer(x), or = UnsafeMutableRawPointer(out)
        for i in 0..<images {
            let img = i * pixels * c
            var ch = cols.lowerBound
            while ch + 32 <= cols.upperBound {
                var a0 = V(), a1 = V(), a2 = V(), a3 = V()
                for p in 0..<pixels {
                    let o = (img + p * c + ch) * 4
                    a0 += xr.loadUnaligned(fromByteOffset: o, as: V.self)
                    a1 += xr.loadUnaligned(fromByteOffset: o + 32, as: V.self)
                    a2 += xr.loadUnaligned(fromByteOffset: o + 64, as: V.self)
                    a3 += xr.loadUnaligned(fromByteOffset: o + 96, as: V.self)
                }
                let d = (i * c + ch) * 4
                or.storeBytes(of: a0 * scale, toByteOffset: d, as: V.self)
                or.storeBytes(of: a1 * scale, toByteOffset: d + 32, as: V.self)
                or.storeBytes(of: a2 * scale, toByteOffset: d + 64, as: V.self)
                or.storeBytes(of: a3 * scale, toByteOffset: d + 96, as: V.self)
                ch += 32
            }
            while ch + 8 <= cols.upperBound {
                var acc = V()
                for p in 0..<pixels { acc += xr.loadUnaligned(fromByteOffset: (img + p * c + ch) * 4, as: V.self) }
                or.storeBytes(of: acc * scale, toByteOffset: (i * c + ch) * 4, as: V.self)
                ch += 8
            }
            while ch < cols.upperBound {
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
