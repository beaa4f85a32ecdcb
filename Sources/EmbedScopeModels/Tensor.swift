import EmbedScopeCore
import EmbedScopeImages
/// A dense float32 tensor in C (row-major) order: what a checkpoint reader produces and what
/// model code consumes. Checkpoint readers resolve strides, offsets and dtypes into this form.
package struct Tensor: Sendable, Equatable {
    package var shape: [Int]
    package var data: [Float]

    package init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) does not match \(data.count) values")
        self.shape = shape
        self.data = data
    }

    package var count: Int { data.count }
}

/// Parameter and buffer tensors by their PyTorch state_dict names (e.g. `_blocks.3._bn1.weight`).
package typealias StateDict = [String: Tensor]
