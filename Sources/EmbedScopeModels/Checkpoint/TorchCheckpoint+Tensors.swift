import Foundation
import EmbedScopeCore
import EmbedScopeImages

/// Element types of the storages this reader converts to Float.
enum TorchDType: String, Sendable, CaseIterable, CustomStringConvertible {
    case float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool

    var size: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    /// The legacy typed-storage class that names this dtype in persistent ids (`torch.FloatStorage`).
    var storageClass: String {
        switch self {
        case .float32: return "FloatStorage"
        case .float64: return "DoubleStorage"
        case .float16: return "HalfStorage"
        case .bfloat16: return "BFloat16Storage"
        case .int64: return "LongStorage"
        case .int32: return "IntStorage"
        case .int16: return "ShortStorage"
        case .int8: return "CharStorage"
        case .uint8: return "ByteStorage"
        case .bool: return "BoolStorage"
        }
    }

    var description: String { rawValue }
}

/// A storage named by a persistent id: `count` elements starting `viewOffset` elements into the
/// root storage `key` (legacy storage views; otherwise offset 0 and the whole root).
struct StorageRef: Sendable {
    var key: String
    var dtype: TorchDType
    var viewOffset: Int
    var count: Int
}

/// A tensor as `_rebuild_tensor_v2` describes it: a strided view into a storage. Validated on
/// construction, so materializing it reads only inside the storage's `count` elements.
struct TensorRef: Sendable {
    struct Invalid: Error { let reason: String }

    /// Index into `PickleHeap.storages`.
    let storage: Int
    let offset: Int
    let shape: [Int]
    /// Strides in elements; the stride of a dimension of size 1 is set to 0 (it is never stepped).
    let strides: [Int]
    let count: Int

    static let maxDimensions = 64

    init(storage: Int, offset: Int, shape: [Int], strides: [Int], storageCount: Int) throws {
        guard shape.count == strides.count else { throw Invalid(reason: "has \(shape.count) sizes but \(strides.count) strides") }
        guard shape.count <= Self.maxDimensions else { throw Invalid(reason: "has more than \(Self.maxDimensions) dimensions") }
        guard offset >= 0, shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }) else {
            throw Invalid(reason: "has a negative size, stride or offset")
        }
        var count = 1
        for n in shape {
            let (c, overflow) = count.multipliedReportingOverflow(by: n)
            guard !overflow else { throw Invalid(reason: "has more elements than fit in memory") }
            count = c
        }
        if count > 0 {
            // The last element read is offset + Σ (size-1)·stride; it must lie inside the storage.
            var last = offset
            for (n, s) in zip(shape, strides) {
                let (step, o1) = (n - 1).multipliedReportingOverflow(by: s)
                let (sum, o2) = last.addingReportingOverflow(step)
                guard !o1, !o2 else { throw Invalid(reason: "reaches past the end of its storage") }
                last = sum
            }
            guard last < storageCount else { throw Invalid(reason: "reaches element \(last), past the end of its storage") }
        } else {
            guard offset <= storageCount else { throw Invalid(reason: "starts past the end of its storage") }
        }
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.strides = zip(shape, strides).map { $0 == 1 ? 0 : $1 }
        self.count = count
    }

    var isContiguous: Bool {
        var expected = 1
        for (n, s) in zip(shape, strides).reversed() where n != 1 {
            guard s == expected else { return false }
            expected *= n
        }
        return true
    }

    /// The C-contiguous Float tensor. `elements` holds the storage's elements (at least
    /// `offset + Σ (size-1)·stride + 1` of them, checked on construction against the count the
    /// caller verified the bytes for).
    func materialize(dtype: TorchDType, elements: UnsafeRawBufferPointer) -> Tensor {
        guard count > 0, let base = elements.baseAddress else { return Tensor(shape: shape, data: []) }
        // Every element is written below (memcpy or gather), so the array need not be zeroed first.
        let data = [Float](unsafeUninitializedCapacity: count) { o, initialized in
            switch dtype {
            case .float32:
                #if _endian(little)
                if isContiguous, let dst = o.baseAddress {
                    memcpy(dst, base + offset * 4, count * 4)
                    break
                }
                #endif
                gather(Float32Element.self, base, o)
            case .float64: gather(Float64Element.self, base, o)
            case .float16: gather(Float16Element.self, base, o)
            case .bfloat16: gather(BFloat16Element.self, base, o)
            case .int64: gather(Int64Element.self, base, o)
            case .int32: gather(Int32Element.self, base, o)
            case .int16: gather(Int16Element.self, base, o)
            case .int8: gather(Int8Element.self, base, o)
            case .uint8: gather(UInt8Element.self, base, o)
            case .bool: gather(BoolElement.self, base, o)
            }
            initialized = count
        }
        return Tensor(shape: shape, data: data)
    }

    /// The same element order with fewer dimensions: dimensions of size 1 dropped, and each
    /// dimension merged into the next when it steps over it exactly (stride = next stride × next size).
    var simplified: (shape: [Int], strides: [Int]) {
        var shape: [Int] = [], strides: [Int] = []
        for (n, s) in zip(self.shape, self.strides) where n != 1 {
            if let lastN = shape.last, let lastS = strides.last, lastS == s * n {
                shape[shape.count - 1] = lastN * n
                strides[strides.count - 1] = s
            } else {
                shape.append(n)
                strides.append(s)
            }
        }
        return (shape, strides)
    }

    /// Visits the elements in C order: an odometer over the outer dimensions, a strided run
    /// over the last one.
    private func gather<E: ElementDecoder>(_: E.Type, _ base: UnsafeRawPointer, _ out: UnsafeMutableBufferPointer<Float>) {
        let (shape, strides) = simplified
        guard let last = shape.indices.last else {
            out[0] = E.decode(base + offset * E.size)
            return
        }
        let inner = shape[last], innerStride = strides[last]
        var index = [Int](repeating: 0, count: last)
        var start = offset
        var k = 0
        index.withUnsafeMutableBufferPointer { index in
            while true {
                var s = start
                for j in 0..<inner {
                    out[k + j] = E.decode(base + s * E.size)
                    s += innerStride
                }
                k += inner
                // Advance the odometer over dimensions last-1 … 0.
                var axis = last - 1
                while axis >= 0 {
                    index[axis] += 1
                    start += strides[axis]
                    if index[axis] < shape[axis] { break }
                    start -= strides[axis] * shape[axis]
                    index[axis] = 0
                    axis -= 1
                }
                if axis < 0 { return }
            }
        }
    }
}

/// Little-endian element decoding to Float, one type per dtype so `gather` is specialized.
/// Conversions are PyTorch's `tensor.float()`: exact for float16/bfloat16 and small integers,
/// round-to-nearest-even for float64 and wide integers.
protocol ElementDecoder {
    static var size: Int { get }
    static func decode(_ p: UnsafeRawPointer) -> Float
}

private enum Float32Element: ElementDecoder {
    static let size = 4
    static func decode(_ p: UnsafeRawPointer) -> Float { Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(as: UInt32.self))) }
}

private enum Float64Element: ElementDecoder {
    static let size = 8
    static func decode(_ p: UnsafeRawPointer) -> Float { Float(Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)))) }
}

private enum Float16Element: ElementDecoder {
    static let size = 2
    static func decode(_ p: UnsafeRawPointer) -> Float { halfToFloat(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self))) }
}

private enum BFloat16Element: ElementDecoder {
    static let size = 2
    static func decode(_ p: UnsafeRawPointer) -> Float { Float(bitPattern: UInt32(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self))) << 16) }
}

private enum Int64Element: ElementDecoder {
    static let size = 8
    static func decode(_ p: UnsafeRawPointer) -> Float { Float(Int64(littleEndian: p.loadUnaligned(as: Int64.self))) }
}

private enum Int32Element: ElementDecoder {
    static let size = 4
    static func decode(_ p: UnsafeRawPointer) -> Float { Float(Int32(littleEndian: p.loadUnaligned(as: Int32.self))) }
}

private enum Int16Element: ElementDecoder {
    static let size = 2
    static func decode(_ p: UnsafeRawPointer) -> Float { Float(Int16(littleEndian: p.loadUnaligned(as: Int16.self))) }
}

private enum Int8Element: ElementDecoder {
    static let size = 1
    static func decode(_ p: UnsafeRawPointer) -> Float { Float(p.load(as: Int8.self)) }
}

private enum UInt8Element: ElementDecoder {
    static let size = 1
    static func decode(_ p: UnsafeRawPointer) -> Float { Float(p.load(as: UInt8.self)) }
}

private enum BoolElement: ElementDecoder {
    static let size = 1
    static func decode(_ p: UnsafeRawPointer) -> Float { p.load(as: UInt8.self) != 0 ? 1 : 0 }
}

/// IEEE half → single, exact (portable: no reliance on the platform's Float16).
func halfToFloat(_ h: UInt16) -> Float {
    let sign: UInt32 = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1F
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0 {
        // Zero or subnormal: mantissa · 2⁻²⁴, exact in Float.
        let magnitude = Float(mantissa) * 0x1p-24
        return sign != 0 ? -magnitude : magnitude
    }
    if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13) } // inf / NaN
    return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
}
