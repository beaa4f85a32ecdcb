import EmbedScopeCore
import EmbedScopeImages
/// Zero padding of a 2-D convolution or pooling window, in pixels on each side.
struct Padding2D: Sendable, Equatable {
    var top: Int, bottom: Int, left: Int, right: Int

    static let zero = Padding2D(top: 0, bottom: 0, left: 0, right: 0)

    /// PyTorch's `padding=p`: p on every side.
    static func symmetric(_ p: Int) -> Padding2D { Padding2D(top: p, bottom: p, left: p, right: p) }

    /// TensorFlow's "SAME" for an input of `height`×`width`: the output is ceil(n / stride) and
    /// the total padding max((ceil(n/s) − 1)·s + k − n, 0) is split total/2 before, the rest
    /// after — asymmetric for stride 2 (3×3: 0 before, 1 after; 5×5: 1 before, 2 after).
    static func tfSame(height: Int, width: Int, kernel k: Int, stride s: Int) -> Padding2D {
        func split(_ n: Int) -> (Int, Int) {
            let out = (n + s - 1) / s
            let total = max((out - 1) * s + k - n, 0)
            return (total / 2, total - total / 2)
        }
        let (t, b) = split(height), (l, r) = split(width)
        return Padding2D(top: t, bottom: b, left: l, right: r)
    }

    /// Output size of a k×k window with stride s over n input pixels padded by `before + after`.
    static func outputSize(_ n: Int, before: Int, after: Int, kernel k: Int, stride s: Int) -> Int {
        (n + before + after - k) / s + 1
    }
}
