import EmbedScopeCore
import EmbedScopeImages
/// A dense float32 tensor in C (row-major) order: what a checkpoint reader produces and what
/// model code consumes. Checkpoint readers resolve strides, offsets and dtypes into this form.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) does not match \(data.count) values")
        self.shape = shape
        self.data = data
    }

    public var count: Int { data.count }
}

/// Parameter and buffer tensors by their PyTorch state_dict names (e.g. `_blocks.3._bn1.weight`).
public typealias StateDict = [String: Tensor]
