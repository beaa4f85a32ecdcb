import EmbedScopeCore
import EmbedScopeImages

/// A 3×3, stride-1, pad-1 `Conv2D` (NHWC) computed by Winograd F(2×2, 3×3) (Lavin & Gray 2015):
/// 16 products per 2×2 output tile instead of 36, i.e. 2.25× fewer multiply-adds than im2col.
///
/// At load, the folded weights are transformed once (U = G g Gᵀ, in Double) into 16 matrices
/// [in × out], each packed for our SGEMM. Per block of tiles (sized so the block's transformed
/// inputs and products stay near L2): the input transform V = Bᵀ d B of every 4×4 patch
/// (vectorised over channels), 16 GEMMs M[ξ] = V[ξ] · U[ξ] with the packed-weights kernel
/// that reads V in place (`ConvKernels.pointwise`: no per-call packing of A), and the
/// output transform Y = Aᵀ M A with bias, residual and activation fused at the store. Partial
/// tiles (odd sizes) compute the whole tile and store only the pixels inside the output.
///
/// The im2col path of `Conv2D` stays the reference and the fallback: stride 2, other kernels,
/// the OpenBLAS GEMM path (`EMBEDSCOPE_GEMM=openblas`) and `EMBEDSCOPE_CONV3X3=im2col`.
///
/// `tile: 4` gives F(4×4, 3×3) (36 products per 16 outputs, 4× fewer than direct), tested but not
/// used by the models: measured here its transforms cost more than the GEMM time it saves on
/// ResNet's layer1/2 shapes, and its float32 error is 10–20× that of F(2×2) (docs/performance.md).
struct Winograd3x3: Sendable {
    /// Output tile side m (2 or 4); α = m + 2.
    let tile: Int
    let inChannels: Int
    let outChannels: Int
    let bias: [Float]
    let activation: Activation
    let path: GEMMPath
    /// U[ξ], ξ = α·row + col, each [in × out] packed for `path`.
    let transformed: [PackedMatrix]

    /// Tiles of at most this many per block (the GEMMs' m).
    static let maxBlock = 192
    /// Floats a block aims to keep (its V and M): ~2 MB, an L2 of this kind of machine.
    static let blockBudget = 1 << 19
    /// Fewest tiles per block (and per part when a layer is split across threads).
    static let minBlock = 12

    /// nil unless `conv` is 3×3, stride 1, pad 1 on NHWC input and `algorithm` is Winograd on
    /// one of our own GEMM paths.
    init?(_ conv: Conv2D, path: GEMMPath? = nil, algorithm: Conv3x3Algorithm = .selected, tile: Int = 2) {
        let p = path ?? SGEMM.path
        guard algorithm == .winograd, p != .openblas, conv.kernel == 3, conv.stride == 1,
              conv.padding == .symmetric(1), conv.inputLayout == .nhwc, WinogradKernels.tileSizes.contains(tile) else { return nil }
        self.tile = tile
        inChannels = conv.inChannels
        outChannels = conv.outChannels
        bias = Array(conv.bias)
        activation = conv.activation
        self.path = p
        let weights: [Float] = Array(conv.weights)
        let u: [Float] = WinogradKernels.transformWeights(weights, tile: tile, cin: conv.inChannels, cout: conv.outChannels)
        let plane = conv.inChannels * conv.outChannels, points = (tile + 2) * (tile + 2)
        var packed: [PackedMatrix] = []
        for xi in 0..<points {
            let slice: [Float] = Array(u[(xi * plane)..<((xi + 1) * plane)])
            packed.append(PackedMatrix.packing(slice, k: conv.inChannels, n: conv.outChannels, path: p))
        }
        transformed = packed
    }

    /// Output tiles of `images` outputs of height × width (the input's size: stride 1, pad 1).
    func tiles(images: Int, height: Int, width: Int) -> Int {
        images * ((height + tile - 1) / tile) * ((width + tile - 1) / tile)
    }

    /// Products per tile, α².
    var products: Int { (tile + 2) * (tile + 2) }

    /// Scratch floats per tile of a block (V and M).
    var floatsPerTile: Int { products * (inChannels + outChannels) }

    /// Scratch floats a part needs at least (one block of `minBlock` tiles).
    var minimumScratch: Int { Self.minBlock * floatsPerTile }

    /// y = act(conv(x) + bias (+ residual)) for tiles `tiles` (all when nil) of `images` NHWC
    /// inputs of height × width; y and residual are NHWC of the same size with `outChannels`.
    /// `scratch` holds `scratchCapacity` ≥ `floatsPerTile` floats.
    func run(_ x: UnsafePointer<Float>, images: Int, height: Int, width: Int, _ y: UnsafeMutablePointer<Float>,
             residual: UnsafePointer<Float>? = nil, scratch: UnsafeMutablePointer<Float>, scratchCapacity: Int,
             tiles: Range<Int>? = nil) {
        let range = tiles ?? 0..<self.tiles(images: images, height: height, width: width)
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
                let v = scratch, m = scratch + products * count * cin
                WinogradKernels.input(tile: tile, path: path, x, height: height, width: width, cin: cin, tiles: block, v, ldv: cin)
                // A (the block's V[ξ], just written, in L2) is read in place: nothing packed per call.
                for xi in 0..<products {
                    ConvKernels.pointwise(transformed[xi], m: count, v + xi * count * cin, lda: cin, bias: nil, residual: nil, ldr: 0,
                                          activation: .none, m + xi * count * cout, ldc: cout)
                }
                WinogradKernels.output(tile: tile, path: path, m, ldm: cout, tiles: block, height: height, width: width, cout: cout,
                                       bias: bb.baseAddress, residual: residual, activation: activation.gemm, y)
                t0 += count
            }
        }
    }
}
