import EmbedScopeCore

/// Floats in one 64-byte-aligned allocation, immutable once built: the weights and biases of the
/// layers whose C kernels read them as whole SIMD vectors (depthwise, the small-shape 1×1 kernel,
/// the stem).
///
/// An `Array`'s elements are only 16-byte aligned (its header, then `malloc`'s alignment: 0, 16, 32
/// or 48 bytes past a cache line, by size), so with 64-byte vectors (AVX-512) most weight loads span
/// two lines and cost two. `embedscope-bench gemm --depthwise`, Zen 5, the depthwise layers of
/// EfficientNet-Lite0 with their weights 16 bytes off a line: 0.107–0.110 ms against 0.099 ms aligned
/// (AVX-512; AVX2 within 1 %); in the whole network the difference is within the noise.
final class AlignedFloats: RandomAccessCollection, @unchecked Sendable {
    // @unchecked: written once in init, never after; freed in deinit.
    private let base: UnsafeMutablePointer<Float>
    let count: Int

    init(_ values: [Float]) {
        count = values.count
        base = LargeBuffer.allocate(Float.self, count: Swift.max(1, values.count), for: "layer weights")
        values.withUnsafeBufferPointer { v in
            if let src = v.baseAddress { base.initialize(from: src, count: v.count) }
        }
    }

    deinit { LargeBuffer.deallocate(base) }

    var startIndex: Int { 0 }
    var endIndex: Int { count }
    subscript(i: Int) -> Float {
        precondition(i >= 0 && i < count, "index \(i) out of 0..<\(count)")
        return base[i]
    }

    /// The floats, 64-byte aligned (the pointer stays valid while `self` lives).
    func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(UnsafeBufferPointer(start: base, count: count)) }
    }
}
