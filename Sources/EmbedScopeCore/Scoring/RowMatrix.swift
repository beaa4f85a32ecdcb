/// A read-only view of row-major Float rows with a stride (in elements): a mapped vector
/// file or an in-memory array. The owner keeps the memory alive while the view is used.
/// `@unchecked`: a raw pointer is not Sendable, but the rows are never written through a
/// `RowMatrix`, so sharing the view between threads is a read of immutable memory.
public struct RowMatrix: @unchecked Sendable {
    public let base: UnsafePointer<Float>
    public let rows: Int
    public let dim: Int
    public let stride: Int
    /// Every row was stored unit length (a vector file flagged `unitRows`): the scans check each
    /// row they read on the way and report one that is not as damaged (`UnitRows`).
    public let unitRows: Bool

    public init(base: UnsafePointer<Float>, rows: Int, dim: Int, stride: Int, unitRows: Bool = false) {
        precondition(stride >= dim && rows >= 0)
        self.base = base; self.rows = rows; self.dim = dim; self.stride = stride; self.unitRows = unitRows
    }

    public init(_ file: VectorFile) {
        self.init(base: file.base, rows: file.rows, dim: file.dim, stride: file.stride,
                  unitRows: file.header.flags.contains(.unitRows))
    }

    @inline(__always) public func row(_ i: Int) -> UnsafePointer<Float> { base + i * stride }

    /// Runs `body` on a contiguous copy of the given rows, in the given order (row i of the copy
    /// is `rows[i]` here): a subset (one split) scored as a data set of its own.
    public func gathering<T>(rows: [Int], _ body: (RowMatrix) throws -> T) rethrows -> T {
        var x = [Float](repeating: 0, count: rows.count * dim)
        for (i, r) in rows.enumerated() {
            let p = row(r)
            for t in 0..<dim { x[i * dim + t] = p[t] }
        }
        return try x.withUnsafeBufferPointer { xp in
            try body(RowMatrix(base: xp.baseAddress!, rows: rows.count, dim: dim, stride: dim, unitRows: unitRows))
        }
    }
}
