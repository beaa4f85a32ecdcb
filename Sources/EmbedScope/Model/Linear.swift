/// A fully connected layer y = x · Wᵀ + b: the classifier head. Weights stay in PyTorch's
/// [out × in] layout, which is also the prototype matrix the index stores.
struct Linear: Sendable {
    let inFeatures: Int
    let outFeatures: Int
    let weights: [Float]
    let bias: [Float]

    /// Reads `prefix.weight` [out, inFeatures] (any out ≥ 1) and `prefix.bias` [out].
    init(_ reader: StateDictReader, _ prefix: String, inFeatures: Int) throws {
        let shape = try reader.shape(prefix + ".weight")
        guard shape.count == 2, shape[1] == inFeatures, shape[0] >= 1 else {
            throw EmbedScopeError(.shapeMismatch, reader.notThisModel("\(prefix).weight has shape \(shape), expected [classes, \(inFeatures)]"))
        }
        outFeatures = shape[0]
        weights = try reader.tensor(prefix + ".weight", shape: shape).data
        bias = try reader.tensor(prefix + ".bias", shape: [shape[0]]).data
        self.inFeatures = inFeatures
    }

    /// y[rows × out] = x[rows × in] · Wᵀ + b.
    func run(_ x: UnsafePointer<Float>, rows: Int, _ y: UnsafeMutablePointer<Float>) {
        weights.withUnsafeBufferPointer { w in
            bias.withUnsafeBufferPointer { b in
                GEMM.abt(m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures, b: w.baseAddress!, ldb: inFeatures,
                         c: y, ldc: outFeatures)
                Epilogue.apply(y, rows: rows, cols: outFeatures, bias: b.baseAddress!, residual: nil, activation: .none)
            }
        }
    }
}
