import EmbedScopeCore
import EmbedScopeImages

/// A 3×3, stride-1, pad-1 `Conv2D` (NHWC) computed by Winograd F(2×2, 3×3) (Lavin & Gray 2015):
/// 16 products per 2×2 output tile instead of 36, i.e. 2.25× fewer multiply-adds than im2col.
///
/// At load, the folded weights are transformed once (U = G g Gᵀ, in Double) into 16 matrices
/// [in × out], each packed for our SGEMM. Per block of tiles (sized so the block's transformed
/// inputs and products stay near L2): the input transform V = Bᵀ d B of every 4×4 patch
/// (vectorised over channels), 16 GEMMs M[ξ] = V[ξ] · U[ξ] with the packed kernel, and the
/// output transform Y = Aᵀ M A with bias, residual and activation fused at the store. Partial
/// tiles (odd sizes) compute the whole tile and store only the pixels inside the output.
///
/// The im2col path of `Conv2D` stays the reference and the fallback: stride 2, other kernels,
/// the OpenBLAS GEMM path (`EMBEDSCOPE_GEMM=openblas`) and `EMBEDSCOPE_CONV3X3=im2col`.
struct Winograd3x3: Sendable {
    let inChannels: Int
    let outChannels: Int
    let bias: [Float]
    let activation: Activation
    let path: GEMMPath
    /// U[ξ], ξ = 4·row + col, each [in × out] packed for `path`.
    let transformed: [PackedMatrix]

    /// Tiles of at most this many per block (the GEMMs' m).
    static let maxBlock = 192
    /// Floats a block aims to keep (its V and M): ~2 MB, an L2 of this kind of machine.
    static let blockBudget = 1 << 19
    /// Fewest tiles per block (and per part when a layer is split across threads).
    static let minBlock = 12

    /// nil unless `conv` is 3×3, stride 1, pad 1 on NHWC input and `algorithm` is Winograd on
    /// one of our own GEMM paths.
    init?(_ conv: Conv2D, path: GEMMPath? = nil, algorithm: Conv3x3Algorithm = .selected) {
        let p = path ?? SGEMM.path
        guard algorithm == .winograd, p != .openblas, conv.kernel == 3, conv.stride == 1,
              conv.padding == .symmetric(1), conv.inputLayout == .nhwc else { return nil }
        inChannels = conv.inChannels
        outChannels = conv.outChannels
        bias = conv.bias
        activation = conv.activation
        self.path = p
        let u = WinogradKernels.transformWeights(conv.weights, cin: conv.inChannels, cout: conv.outChannels)
        let plane = conv.inChannels * conv.outChannels
        transformed = (0..<16).map { xi in
            PackedMatrix.packing(Array(u[(xi * plane)..<((xi + 1) * plane)]), k: conv.inChannels, n: conv.outChannels, path: p)
        }
    }

    /// 2×2 output tiles of `images` outputs of height × width (the input's size: stride 1, pad 1).
    static func tiles(images: Int, height: Int, width: Int) -> Int {
        images * ((height + 1) / 2) * ((width + 1) / 2)
    }

    /// Scratch floats per tile of a block (V and M).
    var floatsPerTile: Int { 16 * (inChannels + outChannels) }

    /// Scratch floats a part needs at least (one block of `minBlock` tiles).
    var minimumScratch: Int { Self.minBlock * floatsPerTile }

    /// y = act(conv(x) + bias (+ residual)) for tiles `tiles` (all when nil) of `images` NHWC
    /// inputs of height × width; y and residual are NHWC of the same size with `outChannels`.
    /// `scratch` holds `scratchCapacity` ≥ `floatsPerTile` floats.
    func run(_ x: UnsafePointer<Float>, images: Int, height: Int, width: Int, _ y: UnsafeMutablePointer<Float>,
             residual: UnsafePointer<Float>? = nil, scratch: UnsafeMutablePointer<Float>, scratchCapacity: Int,
             tiles: Range<Int>? = nil) {
        let range = tiles ?? 0..<Self.tiles(images: images, height: height, width: width)
        guard !range.isEmpty else { return }
        let perTile = floatsPerTile
        precondition(scratchCapacity >= perTile, "Winograd scratch holds \(scratchCapacity) floats, a tile needs \(perTile)")
        let limit = Swift.min(Self.maxBlock, scratchCapacity / perTile,
                              Swift.max(Self.minBlock, Self.blockBudget / perTile))
        // Equal blocks (the last one is not a sliver).
        let blocks = (range.count + limit - 1) / limit
        let size = (range.count + blocks - 1) / blocks
        let cin = inChannels, cout = outChannels
        bias.withUnsafeBufferPointer { bb in
            var t0 = range.lowerBound
            while t0 < range.upperBound {
                let count = Swift.min(size, range.upperBound - t0)
                let block = t0..<(t0 + count)
                let v = scratch, m = scratch + 16 * count * cin
                WinogradKernels.input(path: path, x, height: height, width: width, cin: cin, tiles: block, v, ldv: cin)
                for xi in 0..<16 {
                    transformed[xi].multiply(m: count, a: v + xi * count * cin, lda: cin, c: m + xi * count * cout, ldc: cout)
                }
                WinogradKernels.output(path: path, m, ldm: cout, tiles: block, height: height, width: width, cout: cout,
                                       bias: bb.baseAddress, residual: residual, activation: activation.gemm, y)
                t0 += count
            }
        }
    }
}
