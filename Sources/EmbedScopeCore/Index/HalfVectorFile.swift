import CKernels
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The half-precision copy a space may carry beside its float32 `.vec` (`--storage f16|bf16`):
/// queries scan it (half the bytes) and re-score the candidates that can still be in the top k
/// against the float32 rows, so answers equal the float32 search exactly (docs/index-format.md,
/// "Half-precision copies").
public enum HalfStorage: String, CaseIterable, Sendable, Codable {
    /// IEEE 754 binary16: 11 significant bits, normal range from 2^-14.
    case f16
    /// bfloat16: the upper half of a float32 (8 significant bits, float32's range).
    case bf16

    package var elementType: VectorFileHeader.ElementType { self == .f16 ? .float16 : .bfloat16 }
    var kernelType: Int32 { self == .f16 ? Int32(CK_HALF_F16.rawValue) : Int32(CK_HALF_BF16.rawValue) }

    /// Unit roundoff of round-to-nearest into this type: |x̃ − x| ≤ u·|x| in the normal range.
    package var unitRoundoff: Double { self == .f16 ? 0x1p-11 : 0x1p-8 }
    /// Absolute error bound below the normal range (half the spacing of the subnormals).
    package var subnormalError: Double { self == .f16 ? 0x1p-25 : 0x1p-134 }

    /// The copy's file name beside `<space>.vec`.
    package func fileName(space: String) -> String { "\(space).\(rawValue).vec" }

    /// The `meta` key that records a space's half copy (value: `f16` or `bf16`).
    package static func metaKey(space: String) -> String { "storage.\(space)" }

    /// The storage a space has according to `meta` (nil: float32 only). An unknown value is an error.
    package static func recorded(in meta: [String: String], space: String, path: String) throws -> HalfStorage? {
        guard let v = meta[metaKey(space: space)] else { return nil }
        guard let s = HalfStorage(rawValue: v) else {
            throw EmbedScopeError(.catalog, "meta key \(metaKey(space: space)) is '\(v)', not f16 or bf16", path: path,
                                  hint: "written by a newer embedscope, or damaged; rebuild the index with this version")
        }
        return s
    }

    /// Rows are unit vectors; a writer refuses a row whose norm (in Double) exceeds this, so the
    /// bound of `HalfBound` may use it.
    package static let rowNormBound = 1 + 0x1p-12
}

/// The 64-byte extension after the header of a half copy (bytes 64..<128, little-endian):
///
/// | offset | size | field                                                          |
/// |-------:|-----:|----------------------------------------------------------------|
/// |     64 |    4 | CRC-32 of the payload of the float32 `.vec` this was made from |
/// |     68 |   56 | reserved, zero                                                 |
/// |    124 |    4 | CRC-32 of bytes 64..<124                                       |
package struct HalfExtension: Equatable, Sendable {
    package static let offset = 64
    package static let sourceCRCOffset = 64, crcOffset = 124
    package var sourcePayloadCRC: UInt32

    package func encoded() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 64)
        withUnsafeBytes(of: sourcePayloadCRC.littleEndian) { for (i, x) in $0.enumerated() { b[i] = x } }
        let crc = b[0..<60].withUnsafeBytes { Checksum.crc32($0) }
        withUnsafeBytes(of: crc.littleEndian) { for (i, x) in $0.enumerated() { b[60 + i] = x } }
        return b
    }

    /// `raw` is the 64 bytes at file offset 64.
    package static func decode(_ raw: UnsafeRawBufferPointer, path: String) throws -> HalfExtension {
        precondition(raw.count >= 64)
        let stored = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 60, as: UInt32.self))
        let computed = Checksum.crc32(UnsafeRawBufferPointer(rebasing: raw[0..<60]))
        guard stored == computed else {
            throw EmbedScopeError(.checksumMismatch, "half-copy header extension checksum mismatch (stored \(hex(stored)), computed \(hex(computed)))",
                                  path: path, hint: "the index is damaged; rebuild it")
        }
        guard raw[4..<60].allSatisfy({ $0 == 0 }) else {
            throw EmbedScopeError(.corruptHeader, "reserved bytes of the half-copy header extension are not zero", path: path,
                                  hint: "written by a newer embedscope, or damaged; rebuild the index with this version")
        }
        return HalfExtension(sourcePayloadCRC: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
    }
}

/// Which half kernels run (conversions and the scan): AVX-512F, AVX2 + FMA + F16C, or portable C.
package enum HalfPath: String, CaseIterable, Sendable {
    case avx512, avx2, portable

    var kernelPath: Int32 {
        switch self {
        case .avx512: return Int32(CK_PATH_AVX512.rawValue)
        case .avx2: return Int32(CK_PATH_AVX2.rawValue)
        case .portable: return Int32(CK_PATH_PORTABLE.rawValue)
        }
    }

    package var isSupported: Bool { ck_half_path_supported(kernelPath) != 0 }

    /// The best path this CPU runs.
    package static let best: HalfPath = {
        switch ck_half_best_path() {
        case Int32(CK_PATH_AVX512.rawValue): return .avx512
        case Int32(CK_PATH_AVX2.rawValue): return .avx2
        default: return .portable
        }
    }()

    private static let override = Locked<HalfPath?>(nil)

    /// The path in use: an override set by `withPath` (tests, benchmarks), else `best`.
    package static var current: HalfPath { override.withLock { $0 } ?? best }

    /// Runs `body` with `path` in use (tests and benchmarks; not reentrant across threads).
    package static func withPath<T>(_ path: HalfPath, _ body: () throws -> T) rethrows -> T {
        precondition(path.isSupported, "half path \(path) does not run on this CPU")
        let before = override.withLock { current in
            defer { current = path }
            return current
        }
        defer { override.withLock { $0 = before } }
        return try body()
    }
}

/// Conversions between float32 and a half type (round to nearest, ties to even; exact back).
package enum HalfConvert {
    package static func toHalf(_ src: UnsafeBufferPointer<Float>, _ dst: UnsafeMutableBufferPointer<UInt16>, storage: HalfStorage,
                              path: HalfPath = HalfPath.current) {
        precondition(dst.count >= src.count)
        guard let s = src.baseAddress, let d = dst.baseAddress else { return }
        ck_float_to_half(path.kernelPath, storage.kernelType, s, d, src.count)
    }

    package static func toFloat(_ src: UnsafeBufferPointer<UInt16>, _ dst: UnsafeMutableBufferPointer<Float>, storage: HalfStorage,
                               path: HalfPath = HalfPath.current) {
        precondition(dst.count >= src.count)
        guard let s = src.baseAddress, let d = dst.baseAddress else { return }
        ck_half_to_float(path.kernelPath, storage.kernelType, s, d, src.count)
    }

    package static func toHalf(_ v: [Float], storage: HalfStorage, path: HalfPath = HalfPath.current) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: v.count)
        v.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { toHalf(s, $0, storage: storage, path: path) } }
        return out
    }

    package static func toFloat(_ v: [UInt16], storage: HalfStorage, path: HalfPath = HalfPath.current) -> [Float] {
        var out = [Float](repeating: 0, count: v.count)
        v.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { toFloat(s, $0, storage: storage, path: path) } }
        return out
    }

    /// True when `h` is a finite value of the type (not ±Inf, not NaN).
    @inline(__always) static func isFinite(_ h: UInt16, storage: HalfStorage) -> Bool {
        storage == .f16 ? (h & 0x7c00) != 0x7c00 : (h & 0x7f80) != 0x7f80
    }
}

/// A read-only, memory-mapped half copy (`<space>.f16.vec` / `.bf16.vec`): the vector-file
/// header (element type 2 or 3, payload at 128) and the extension naming its float32 source.
/// `@unchecked`: as `VectorFile`, an immutable read-only mapping (`ReadOnlyMapping`).
package final class HalfVectorFile: @unchecked Sendable {
    package let url: URL
    package let header: VectorFileHeader
    package let ext: HalfExtension
    package let storage: HalfStorage
    private let mapping: ReadOnlyMapping

    package var rows: Int { Int(header.rows) }
    package var dim: Int { Int(header.dim) }
    /// Row stride in 16-bit elements (a multiple of 32).
    package var stride: Int { Int(header.strideBytes) / 2 }
    package var fileSize: Int { mapping.length }

    package var base: UnsafePointer<UInt16> {
        (mapping.base + Int(header.payloadOffset)).assumingMemoryBound(to: UInt16.self)
    }

    package init(url: URL) throws {
        self.url = url
        let m = try ReadOnlyMapping(path: url.path, minimumSize: 2 * VectorFileHeader.size, header: "header of a half copy")
        let h = try VectorFileHeader.decode(m.prefix(VectorFileHeader.size), fileSize: m.length, path: url.path,
                                            accepting: [.float16, .bfloat16])
        // As `VectorFile`: a half row shifted inside its padded stride keeps its length over the
        // padded width the scan checks (a fuzzed copy with 14 bytes inserted answered, exit 0).
        try h.requireExactSize(m.length, path: url.path)
        header = h
        storage = h.elementType == .float16 ? .f16 : .bf16
        ext = try HalfExtension.decode(UnsafeRawBufferPointer(rebasing: m.prefix(2 * VectorFileHeader.size)[HalfExtension.offset...]), path: url.path)
        mapping = m
    }

    @inline(__always) package func row(_ i: Int) -> UnsafeBufferPointer<UInt16> {
        UnsafeBufferPointer(start: base + i * stride, count: dim)
    }

    /// As `VectorFile.requireIntact()`.
    package func requireIntact() throws { try mapping.requireIntact() }

    /// Recomputes the payload CRC-32 and compares it with the header's. Reads the whole file.
    /// (The file's size was checked on open, against the mapping this reads.)
    package func verify() throws {
        let crc = Checksum.crc32(UnsafeRawBufferPointer(start: UnsafeRawPointer(base), count: Int(header.payloadLength)),
                                 threads: CPUBudget.threads)
        guard crc == header.payloadCRC else {
            try mapping.requireIntact()  // cut short while it was read: say that instead
            throw EmbedScopeError(.checksumMismatch, "payload checksum mismatch (stored \(hex(header.payloadCRC)), computed \(hex(crc)))",
                                  path: url.path, hint: "the index is damaged; rebuild it")
        }
    }

    /// Checks that this copy is `source` rounded: same shape, made from that payload (CRC), and
    /// every value within one rounding of its float32 value, |x̃ − x| ≤ u·|x| + η (the
    /// assumption of `HalfBound`). Returns the first offending (row, column), or nil. Reads both files.
    package func mismatch(against source: VectorFile) -> (row: Int, column: Int)? {
        guard rows == source.rows, dim == source.dim, ext.sourcePayloadCRC == source.header.payloadCRC else { return (-1, -1) }
        let u = storage.unitRoundoff, eta = storage.subnormalError
        var f = [Float](repeating: 0, count: dim)
        for r in 0..<rows {
            let h = row(r), x = source.row(r)
            f.withUnsafeMutableBufferPointer { HalfConvert.toFloat(h, $0, storage: storage) }
            for j in 0..<dim {
                let a = Double(x[j]), b = Double(f[j])
                // NaN fails the comparison.
                if !(abs(b - a) <= u * abs(a) + eta) { return (r, j) }
            }
            // The padding must be zero: the scan reads it.
            let pad = UnsafeBufferPointer(start: base + r * stride + dim, count: stride - dim)
            if let k = pad.firstIndex(where: { $0 != 0 }) { return (r, dim + k) }
        }
        return nil
    }

    /// Writes the half copy of `source` (unit rows) to `url` (a new file; fsynced). Refuses, before
    /// the file is complete, a non-finite value, a value the type cannot hold (overflow) and a
    /// row whose norm exceeds `HalfStorage.rowNormBound`.
    package static func write(from source: VectorFile, storage: HalfStorage, to url: URL, what: String) throws {
        let dim = source.dim
        var header = VectorFileHeader(rows: source.rows, dim: dim, elementType: storage.elementType,
                                       flags: source.header.flags.subtracting(.rowChecks))  // (float32 files only)
        let strideBytes = Int(header.strideBytes)
        let strideElems = strideBytes / 2
        if unlink(url.path) != 0 && errno != ENOENT {
            throw EmbedScopeError(.io, "cannot replace: \(String(cString: strerror(errno)))", path: url.path)
        }
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EmbedScopeError(.io, "cannot create: \(String(cString: strerror(errno)))", path: url.path) }
        defer { close(fd) }
        func writeAll(_ p: UnsafeRawPointer, _ count: Int, at offset: Int) throws {
            var done = 0
            while done < count {
                let n = pwrite(fd, p + done, count - done, off_t(offset + done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw EmbedScopeError(.io, "write failed: \(String(cString: strerror(errno)))", path: url.path) }
                done += n
            }
        }
        let rowsPerBuffer = max(1, (1 << 22) / strideBytes)
        var buffer = [UInt16](repeating: 0, count: rowsPerBuffer * strideElems)
        var crc: UInt32 = 0
        var offset = 2 * VectorFileHeader.size
        var r = 0
        let path = HalfPath.current
        while r < source.rows {
            let n = min(rowsPerBuffer, source.rows - r)
            try buffer.withUnsafeMutableBufferPointer { b in
                for t in 0..<n {
                    let x = source.row(r + t)
                    let dst = UnsafeMutableBufferPointer(rebasing: b[(t * strideElems)..<((t + 1) * strideElems)])
                    HalfConvert.toHalf(x, UnsafeMutableBufferPointer(rebasing: dst[0..<dim]), storage: storage, path: path)
                    for j in dim..<strideElems { dst[j] = 0 }
                    var norm2 = 0.0
                    for j in 0..<dim {
                        let v = x[j]
                        guard v.isFinite, HalfConvert.isFinite(dst[j], storage: storage) else {
                            throw EmbedScopeError(.nonFinite, "\(what): row \(r + t) value \(j) is \(v), which \(v.isFinite ? "overflows \(storage.rawValue)" : "is not finite")",
                                                  path: source.url.path, hint: "run `embedscope verify`; rows are unit vectors, so this means damage")
                        }
                        norm2 += Double(v) * Double(v)
                    }
                    guard norm2.squareRoot() <= HalfStorage.rowNormBound else {
                        throw EmbedScopeError(.invalidArgument, "\(what): row \(r + t) has norm \(norm2.squareRoot()), not a unit row",
                                              path: source.url.path, hint: "a half copy is only made of unit-normalized rows")
                    }
                }
                let bytes = UnsafeRawBufferPointer(start: b.baseAddress!, count: n * strideBytes)
                crc = Checksum.crc32(bytes, seed: crc)
                try writeAll(bytes.baseAddress!, bytes.count, at: offset)
            }
            offset += n * strideBytes
            r += n
        }
        header.payloadCRC = crc
        let head = header.encoded() + HalfExtension(sourcePayloadCRC: source.header.payloadCRC).encoded()
        try head.withUnsafeBytes { try writeAll($0.baseAddress!, $0.count, at: 0) }
        guard fsync(fd) == 0 else { throw EmbedScopeError(.io, "fsync failed: \(String(cString: strerror(errno)))", path: url.path) }
    }
}
