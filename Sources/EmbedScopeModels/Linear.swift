import EmbedScopeCore
import EmbedScopeImages
/// A fully connected layer y = x · Wᵀ + b: the classifier head. Weights stay in PyTorch's
/// [out × in] layout, which is also the prototype matrix the index stores.
struct Linear: Sendable {
    let inFeatures: Int
    let outFeatures: Int
    let weights: [Float]
    let bias: [Float]
    /// Wᵀ packed for our GEMM kernel (nil: the OpenBLAS path is selected); used for batches (one
    /// image runs the dot kernel on W's rows; on the OpenBLAS path, sgemv).
    let packed: PackedMatrix?

    /// Reads `prefix.weight` [out, inFeatures] (any out ≥ 1) and `prefix.bias` [out]. With
    /// `optional`, a checkpoint with neither (a headless backbone) gives a head of 0 outputs:
    /// embeddings only, no prototype set.
    ///
    /// A head fine-tuned as `nn.Sequential(nn.Dropout(p), nn.Linear(…))` (keys `prefix.1.weight`,
    /// `prefix.1.bias`: the common transfer-learning head) is read as its one Linear layer; a
    /// Sequential of more than one layer with weights is refused by name (it is not a linear head,
    /// so its rows are no class prototypes).
    init(_ reader: StateDictReader, _ prefix: String, inFeatures: Int, optional: Bool = false) throws {
        var prefix = prefix
        if optional && !reader.has(prefix + ".weight") && !reader.has(prefix + ".bias") {
            let under = reader.stateDict.keys.filter { $0.hasPrefix(prefix + ".") }
            var layers: [Int: Set<String>] = [:], other: [String] = []
            for key in under {
                let parts = key.dropFirst(prefix.count + 1).split(separator: ".", omittingEmptySubsequences: false)
                if parts.count == 2, let i = Int(parts[0]), i >= 0, String(i) == parts[0] { layers[i, default: []].insert(String(parts[1])) } else { other.append(key) }
            }
            if !under.isEmpty {
                guard other.isEmpty, layers.count == 1, let (i, params) = layers.first, params == ["weight", "bias"] else {
                    throw EmbedScopeError(.checkpoint, reader.notThisModel("its head `\(prefix)` is not one linear layer (keys \(under.sorted().prefix(4).map(\.escapedForDisplay).joined(separator: ", "))\(under.count > 4 ? ", …" : ""))"),
                                          hint: "a Linear head, or nn.Sequential(nn.Dropout, nn.Linear), is read; for embeddings without it, save the state dict without the \(prefix).* keys")
                }
                prefix += ".\(i)"
            }
        }
        if optional && !reader.has(prefix + ".weight") && !reader.has(prefix + ".bias") {
            (outFeatures, weights, bias, self.inFeatures, packed) = (0, [], [], inFeatures, nil)
            return
        }
        let shape = try reader.shape(prefix + ".weight")
        guard shape.count == 2, shape[1] == inFeatures, shape[0] >= 1 else {
            throw EmbedScopeError(.shapeMismatch, reader.notThisModel("\(prefix).weight has shape \(shape), expected [classes, \(inFeatures)]"))
        }
        outFeatures = shape[0]
        weights = try reader.tensor(prefix + ".weight", shape: shape).data
        bias = try reader.tensor(prefix + ".bias", shape: [shape[0]]).data
        self.inFeatures = inFeatures
        packed = SGEMM.path == .openblas ? nil : PackedMatrix.packing(weights, k: inFeatures, n: shape[0], transposed: true)
    }

    /// y[rows × out] = x[rows × in] · Wᵀ + b, for the output features `outputs` (all by default).
    func run(_ x: UnsafePointer<Float>, rows: Int, _ y: UnsafeMutablePointer<Float>, outputs: Range<Int>? = nil) {
        let o = outputs ?? 0..<outFeatures
        guard !o.isEmpty else { return }
        if rows > 1, let packed, o.lowerBound % packed.panelWidth == 0 {
            bias.withUnsafeBufferPointer { b in
                packed.multiply(m: rows, a: x, lda: inFeatures, c: y, ldc: outFeatures, bias: b.baseAddress!, columns: o)
            }
            return
        }
        weights.withUnsafeBufferPointer { w in
            bias.withUnsafeBufferPointer { b in
                if rows == 1, let packed {
                    // One image on our own paths: the scan's dot kernel over W's rows (memory-bound;
                    // the packed panels are for batches).
                    ConvKernels.matrixVector(path: packed.path, m: o.count, k: inFeatures, w.baseAddress! + o.lowerBound * inFeatures,
                                             lda: inFeatures, x, y + o.lowerBound)
                } else if rows == 1 {
                    // One image: a matrix-vector product (sgemm with m = 1 is ~2× slower here).
                    GEMM.av(m: o.count, n: inFeatures, a: w.baseAddress! + o.lowerBound * inFeatures, lda: inFeatures, x: x, y: y + o.lowerBound)
                } else {
                    GEMM.abt(m: rows, n: o.count, k: inFeatures, a: x, lda: inFeatures, b: w.baseAddress! + o.lowerBound * inFeatures,
                             ldb: inFeatures, c: y + o.lowerBound, ldc: outFeatures)
                }
                Epilogue.apply(y + o.lowerBound, rows: rows, cols: o.count, ld: outFeatures, bias: b.baseAddress! + o.lowerBound,
                               residual: nil, activation: .none)
            }
        }
    }

    /// Split by output features across `team` (each thread streams its share of W).
    func run(_ x: UnsafePointer<Float>, rows: Int, _ y: UnsafeMutablePointer<Float>, team: Team, kind: Int, _ clock: inout Stopwatch) {
        guard outFeatures > 0 else { return } // a headless backbone has no head to run
        if rows > 1, let packed {
            // Whole panels per thread.
            let unit = packed.panelWidth, groups = (outFeatures + unit - 1) / unit
            team.split(groups, kind, &clock, minimumPerPart: 2) { g, _, _ in
                run(x, rows: rows, y, outputs: (g.lowerBound * unit)..<min(outFeatures, g.upperBound * unit))
            }
            return
        }
        team.split(outFeatures, kind, &clock, minimumPerPart: 64) { o, _, _ in run(x, rows: rows, y, outputs: o) }
    }
}
