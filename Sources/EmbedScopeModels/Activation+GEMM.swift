import EmbedScopeCore

extension Activation {
    /// The same activation as a GEMM epilogue.
    var gemm: GEMMActivation {
        switch self {
        case .none: return .none
        case .relu: return .relu
        case .relu6: return .relu6
        }
    }
}

/// The weights of a convolution packed for our GEMM kernels, or nil when the OpenBLAS path
/// is selected (`EMBEDSCOPE_GEMM=openblas`): [k × n] row-major `weights`, packed once at load.
func packedWeights(_ weights: [Float], k: Int, n: Int) -> PackedMatrix? {
    if SGEMM.path == .openblas {
        BLASInfo.warnIfGeneric("the network's convolutions (EMBEDSCOPE_GEMM=openblas)")
        return nil
    }
    return PackedMatrix.packing(weights, k: k, n: n)
}
