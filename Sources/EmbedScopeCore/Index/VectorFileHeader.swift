import Foundation

/// The fixed 64-byte header at the start of every vector file (`*.vec`). Byte layout, all
/// integers little-endian (spec: docs/index-format.md; pinned by `VectorFileHeaderTests`):
///
/// | offset | size | field                                                        |
/// |-------:|-----:|--------------------------------------------------------------|
/// |      0 |    8 | magic `EMBSCVEC`                                             |
/// |      8 |    2 | format major version (readers refuse a higher major)         |
/// |     10 |    2 | format minor version (additive changes only)                 |
/// |     12 |    1 | element type: 1 = float32, 2 = float16, 3 = bfloat16         |
/// |     13 |    1 | flags: bit 0 = rows are unit-normalized, bit 1 = row checks  |
/// |     14 |    2 | reserved, zero                                               |
/// |     16 |    8 | rows                                                         |
/// |     24 |    8 | dim (elements per row that carry data)                       |
/// |     32 |    8 | row stride in bytes: multiple of 64, ≥ dim × element size    |
/// |     40 |    8 | payload offset in bytes (64: the payload follows the header) |
/// |     48 |    8 | payload length in bytes (= rows × stride)                    |
/// |     56 |    4 | CRC-32 of the payload                                        |
/// |     60 |    4 | CRC-32 of header bytes 0..<60                                |
///
/// Rows start 64-byte aligned (the mapping is page-aligned, the payload starts at 64, the
/// stride is a multiple of 64); padding bytes between `dim` and the stride are zero.
///
/// Half-precision copies (element type 2 or 3, minor version 1; `HalfVectorFile`) have a
/// 64-byte header extension at 64 and their payload at 128.
///
/// Row checks (flag bit 1, float32 files, minor version 2): the payload is followed by one
/// UInt32 (little-endian) per row, the CRC-32 of that row's `dim × 4` data bytes, so a single
/// row can be checked without reading the file (the rows a result shows, the query row).
package struct VectorFileHeader: Equatable, Sendable {
    package static let size = 64
    package static let magic: [UInt8] = Array("EMBSCVEC".utf8)
    package static let currentMajor: UInt16 = 1
    package static let currentMinor: UInt16 = 2
    package static let alignment = 64

    package enum ElementType: UInt8, Sendable {
        case float32 = 1
        case float16 = 2
        case bfloat16 = 3
        package var byteSize: Int { self == .float32 ? 4 : 2 }
        /// Where the payload starts: float32 files at 64, half copies after their 64-byte extension.
        package var payloadOffset: Int { self == .float32 ? VectorFileHeader.size : 2 * VectorFileHeader.size }
    }

    package struct Flags: OptionSet, Sendable {
        package let rawValue: UInt8
        package init(rawValue: UInt8) { self.rawValue = rawValue }
        package static let unitRows = Flags(rawValue: 1 << 0)
        /// The payload is followed by each row's CRC-32 (float32 files).
        package static let rowChecks = Flags(rawValue: 1 << 1)
    }

    package var major: UInt16 = currentMajor
    package var minor: UInt16 = currentMinor
    package var elementType: ElementType = .float32
    package var flags: Flags = []
    package var rows: UInt64
    package var dim: UInt64
    package var strideBytes: UInt64
    package var payloadOffset: UInt64 = UInt64(size)
    package var payloadLength: UInt64
    package var payloadCRC: UInt32
    package var headerCRC: UInt32 = 0

    package init(rows: Int, dim: Int, elementType: ElementType = .float32, flags: Flags, payloadCRC: UInt32 = 0) {
        self.elementType = elementType
        self.flags = flags
        self.rows = UInt64(rows)
        self.dim = UInt64(dim)
        self.strideBytes = UInt64(Self.stride(dim: dim, elementType: elementType))
        self.payloadOffset = UInt64(elementType.payloadOffset)
        if elementType != .float32 { self.minor = 1 } else { self.minor = flags.contains(.rowChecks) ? 2 : 0 }
        self.payloadLength = UInt64(rows) * self.strideBytes
        self.payloadCRC = payloadCRC
    }

    /// Bytes of the row checks after the payload (4 a row, when the file has them).
    package var rowChecksLength: UInt64 { flags.contains(.rowChecks) ? rows &* 4 : 0 }
    /// Where the file ends: header (+ extension), payload, row checks.
    package var fileEnd: UInt64 { payloadOffset &+ payloadLength &+ rowChecksLength }

    /// Bytes per row: `dim × element size` rounded up to the 64-byte alignment (at least 64).
    package static func stride(dim: Int, elementType: ElementType) -> Int {
        let raw = max(dim * elementType.byteSize, 1)
        return (raw + alignment - 1) / alignment * alignment
    }

    // Field offsets, named so the layout test can pin them.
    package enum Offset {
        package static let magic = 0, major = 8, minor = 10, elementType = 12, flags = 13, reserved = 14
        package static let rows = 16, dim = 24, stride = 32, payloadOffset = 40, payloadLength = 48
        package static let payloadCRC = 56, headerCRC = 60
    }

    /// The 64 bytes, with the header CRC computed over bytes 0..<60.
    package func encoded() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Self.size)
        func put<T: FixedWidthInteger>(_ v: T, at o: Int) {
            withUnsafeBytes(of: v.littleEndian) { for (i, x) in $0.enumerated() { b[o + i] = x } }
        }
        for (i, x) in Self.magic.enumerated() { b[i] = x }
        put(major, at: Offset.major)
        put(minor, at: Offset.minor)
        b[Offset.elementType] = elementType.rawValue
        b[Offset.flags] = flags.rawValue
        put(rows, at: Offset.rows)
        put(dim, at: Offset.dim)
        put(strideBytes, at: Offset.stride)
        put(payloadOffset, at: Offset.payloadOffset)
        put(payloadLength, at: Offset.payloadLength)
        put(payloadCRC, at: Offset.payloadCRC)
        put(Checksum.crc32(b[0..<Offset.headerCRC].withUnsafeBytes { Array($0) }), at: Offset.headerCRC)
        return b
    }

    /// Parses and validates a header. `fileSize` is checked against the payload it announces.
    /// `accepting`: the element types the caller reads (float32 unless it reads half copies).
    package static func decode(_ raw: UnsafeRawBufferPointer, fileSize: Int, path: String,
                              accepting: [ElementType] = [.float32]) throws -> VectorFileHeader {
        guard raw.count >= size, fileSize >= size else {
            throw EmbedScopeError(.truncated, "file is \(fileSize) bytes, shorter than the \(size)-byte header",
                                  path: path, hint: "the index is damaged; rebuild it")
        }
        func get<T: FixedWidthInteger>(_: T.Type, _ o: Int) -> T {
            T(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: T.self))
        }
        guard Array(raw[0..<8]) == magic else {
            throw EmbedScopeError(.badMagic, "not an EmbedScope vector file (bad magic)", path: path,
                                  hint: "point at an index directory written by `embedscope build` or `embedscope import`")
        }
        let major = get(UInt16.self, Offset.major)
        guard major <= currentMajor else {
            throw EmbedScopeError(.unsupportedVersion,
                                  "written by index format \(major).\(get(UInt16.self, Offset.minor)); this build reads up to \(currentMajor).x",
                                  path: path, hint: "upgrade embedscope, or rebuild the index with this version")
        }
        guard major >= 1 else {
            throw EmbedScopeError(.unsupportedVersion, "format version 0 does not exist", path: path,
                                  hint: "the index is damaged; rebuild it")
        }
        let storedHeaderCRC = get(UInt32.self, Offset.headerCRC)
        let computed = Checksum.crc32(UnsafeRawBufferPointer(rebasing: raw[0..<Offset.headerCRC]))
        guard storedHeaderCRC == computed else {
            throw EmbedScopeError(.checksumMismatch, "header checksum mismatch (stored \(hex(storedHeaderCRC)), computed \(hex(computed)))",
                                  path: path, hint: "the index is damaged; rebuild it")
        }
        guard let elementType = ElementType(rawValue: raw[Offset.elementType]), accepting.contains(elementType) else {
            throw EmbedScopeError(.corruptHeader, "element type \(raw[Offset.elementType]) is not supported here (\(accepting.map { "\($0)" }.joined(separator: ", ")) only)", path: path)
        }
        var h = VectorFileHeader(rows: 0, dim: 0, elementType: elementType, flags: Flags(rawValue: raw[Offset.flags]))
        h.major = major
        h.minor = get(UInt16.self, Offset.minor)
        h.rows = get(UInt64.self, Offset.rows)
        h.dim = get(UInt64.self, Offset.dim)
        h.strideBytes = get(UInt64.self, Offset.stride)
        h.payloadOffset = get(UInt64.self, Offset.payloadOffset)
        h.payloadLength = get(UInt64.self, Offset.payloadLength)
        h.payloadCRC = get(UInt32.self, Offset.payloadCRC)
        h.headerCRC = storedHeaderCRC
        let (len, overflow) = h.rows.multipliedReportingOverflow(by: h.strideBytes)
        guard h.dim >= 1, h.dim < 1 << 24, h.rows < 1 << 40, h.strideBytes < 1 << 32,
              h.strideBytes % UInt64(alignment) == 0, h.strideBytes >= h.dim * UInt64(elementType.byteSize),
              h.payloadOffset == UInt64(elementType.payloadOffset), !overflow, len == h.payloadLength,
              !h.flags.contains(.rowChecks) || elementType == .float32 else {
            throw EmbedScopeError(.corruptHeader, "inconsistent header (rows \(h.rows), dim \(h.dim), stride \(h.strideBytes), payload \(h.payloadOffset)+\(h.payloadLength))",
                                  path: path, hint: "the index is damaged; rebuild it")
        }
        // payloadOffset is 64 and payloadLength = rows × stride < 2^72 was refused above if it
        // overflowed; the sum is checked too, and bounded by the bytes present.
        // The row checks (rows × 4 < 2^42) after it.
        let (body, bodyOverflow) = h.payloadLength.addingReportingOverflow(h.rowChecksLength)
        let (sum, sumOverflow) = h.payloadOffset.addingReportingOverflow(body)
        let end = sum, endOverflow = bodyOverflow || sumOverflow
        guard !endOverflow, UInt64(fileSize) >= end else {
            throw EmbedScopeError(.truncated, "file is \(fileSize) bytes but its header announces \(endOverflow ? "more than 2^64" : String(end))",
                                  path: path, hint: "the index was cut short (disk full or interrupted copy); rebuild it")
        }
        return h
    }
}

package func hex(_ v: UInt32) -> String { String(format: "%08x", v) }

extension VectorFileHeader {
    /// Opening (`VectorFile`, `HalfVectorFile`): the file ends where its payload does. A longer
    /// file had bytes appended or inserted after it was written; an insertion shifts every row
    /// after it, which O(1) cannot tell from an append, so both are refused (`decode` refuses a
    /// shorter one).
    package func requireExactSize(_ fileSize: Int, path: String) throws {
        let end = fileEnd
        guard UInt64(fileSize) == end else {
            throw EmbedScopeError(.checksumMismatch, "file is \(fileSize) bytes but its header announces \(end): \(UInt64(fileSize) &- end) bytes more than were written",
                                  path: path, hint: "the index is damaged (bytes inserted or appended after it was written); rebuild it")
        }
    }
}
