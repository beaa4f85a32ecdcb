/// A read-only view of row-major Float rows with a stride (in elements): a mapped vector
/// file or an in-memory array. The owner keeps the memory alive while the view is used.
/// `@unchecked`: a raw pointer is not Sendable, but the rows are never written through a
/// `RowMatrix`, so sharing the view between threads is a read of immutable memory.
public struct RowMatrix: @unchecked Sendable {
    public let base: UnsafePointer<Float>
    public let rows: Int
    public let dim: Int
    public let stride: Int

    public init(base: UnsafePointer<Float>, rows: Int, dim: Int, stride: Int) {
        precondition(stride >= dim && rows >= 0)
        self.base = base; self.rows = rows; self.dim = dim; self.stride = stride
    }

    public init(_ file: VectorFile) {
        self.init(base: file.base, rows: file.rows, dim: file.dim, stride: file.stride)
    }

    @inline(__always) public func row(_ i: Int) -> UnsafePointer<Float> { base + i * stride }
}
