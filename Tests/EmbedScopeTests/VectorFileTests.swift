import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport

final class VectorFileHeaderTests: XCTestCase {
    /// Pins the on-disk layout documented in docs/index-format.md. Changing any of these is a
    /// format change and needs a new major version.
    func testHeaderLayoutIsPinned() {
        XCTAssertEqual(VectorFileHeader.size, 64)
        typealias O = VectorFileHeader.Offset
        XCTAssertEqual([O.magic, O.major, O.minor, O.elementType, O.flags, O.reserved, O.rows, O.dim, O.stride,
                        O.payloadOffset, O.payloadLength, O.payloadCRC, O.headerCRC],
                       [0, 8, 10, 12, 13, 14, 16, 24, 32, 40, 48, 56, 60])
        let h = VectorFileHeader(rows: 3, dim: 5, flags: [.unitRows], payloadCRC: 0xDEADBEEF)
        let b = h.encoded()
        XCTAssertEqual(b.count, 64)
        XCTAssertEqual(Array(b[0..<8]), Array("EMBSCVEC".utf8))
        XCTAssertEqual(b[8], 1); XCTAssertEqual(b[9], 0)        // major 1, little-endian
        XCTAssertEqual(b[12], 1)                                  // float32
        XCTAssertEqual(b[13], 1)                                  // unit rows
        XCTAssertEqual(b[16], 3)                                  // rows
        XCTAssertEqual(b[24], 5)                                  // dim
        XCTAssertEqual(b[32], 64)                                 // stride: 5 floats → one 64-byte line
        XCTAssertEqual(b[40], 64)                                 // payload offset
        XCTAssertEqual(b[48], 192)                                // payload length 3 × 64
        XCTAssertEqual(Array(b[56..<60]), [0xEF, 0xBE, 0xAD, 0xDE])
        XCTAssertEqual(VectorFileHeader.stride(dim: 512, elementType: .float32), 2048)
        XCTAssertEqual(VectorFileHeader.stride(dim: 17, elementType: .float32), 128)
    }

    func testRoundTripWithPaddedRows() throws {
        let dir = try temporaryDirectory(self)
        let url = dir.appendingPathComponent("a.vec")
        let rows = (0..<7).map { r in (0..<17).map { Float(r * 100 + $0) } }
        let w = try VectorFileWriter(url: url, dim: 17, flags: [])
        for r in rows { try w.append(r) }
        try w.finish()
        let f = try VectorFile(url: url)
        XCTAssertEqual(f.rows, 7); XCTAssertEqual(f.dim, 17); XCTAssertEqual(f.stride, 32)
        XCTAssertEqual(Int(bitPattern: f.base) % 64, 0, "rows must be 64-byte aligned")
        for i in 0..<7 { XCTAssertEqual(Array(f.row(i)), rows[i]) }
        XCTAssertNoThrow(try f.verify())
        XCTAssertEqual(f.fileSize, 64 + 7 * 128 + 7 * 4, "header, padded rows, one CRC-32 a row")
        for i in 0..<7 { XCTAssertTrue(f.rowMatchesCheck(i)) }
    }

    private func writeSample(_ dir: URL) throws -> URL {
        let url = dir.appendingPathComponent("s.vec")
        let w = try VectorFileWriter(url: url, dim: 16, flags: [.unitRows])
        for i in 0..<10 { try w.append((0..<16).map { Float($0 == i ? 1 : 0) }) }
        try w.finish()
        return url
    }

    private func mutate(_ url: URL, _ body: (inout [UInt8]) -> Void) throws {
        var b = [UInt8](try Data(contentsOf: url))
        body(&b)
        try Data(b).write(to: url)
    }

    func testTruncatedFileIsATypedError() throws {
        let url = try writeSample(try temporaryDirectory(self))
        try mutate(url) { $0.removeLast(100) }
        XCTAssertThrowsKind(.truncated, try VectorFile(url: url))
        try mutate(url) { $0 = Array($0.prefix(20)) }
        XCTAssertThrowsKind(.truncated, try VectorFile(url: url))
    }

    func testBitFlipInPayloadIsCaughtByVerify() throws {
        let url = try writeSample(try temporaryDirectory(self))
        try mutate(url) { $0[64 + 5 * 64 + 3] ^= 0x10 }
        let f = try VectorFile(url: url) // O(1) open does not read the payload
        XCTAssertThrowsKind(.checksumMismatch, try f.verify())
    }

    /// Bytes appended after the payload: the file still opens and reads (they are no row's),
    /// but `verify` says the file is not what was written (it passed).
    /// Bytes after the payload: refused on open (an insertion, which shifts the rows, makes the
    /// file longer the same way), not only by `verify`.
    func testBytesAfterThePayloadAreCaughtOnOpen() throws {
        let url = try writeSample(try temporaryDirectory(self))
        XCTAssertNoThrow(try VectorFile(url: url).verify())
        let h = try FileHandle(forWritingTo: url)
        try h.seekToEnd()
        try h.write(contentsOf: Data(count: 4096))
        try h.close()
        XCTAssertThrowsKind(.checksumMismatch, try VectorFile(url: url))
    }

    func testBitFlipInHeaderIsCaughtOnOpen() throws {
        let url = try writeSample(try temporaryDirectory(self))
        try mutate(url) { $0[17] ^= 0x01 } // rows
        XCTAssertThrowsKind(.checksumMismatch, try VectorFile(url: url))
    }

    func testWrongVersionAndMagic() throws {
        let dir = try temporaryDirectory(self)
        let url = try writeSample(dir)
        // A future major version with a valid header checksum: refused as unsupported, not as damage.
        var h = VectorFileHeader(rows: 10, dim: 16, flags: [.unitRows])
        h.major = 2
        try mutate(url) { b in for (i, x) in h.encoded().enumerated() { b[i] = x } }
        XCTAssertThrowsKind(.unsupportedVersion, try VectorFile(url: url))
        try mutate(url) { $0[0] = UInt8(ascii: "X") }
        XCTAssertThrowsKind(.badMagic, try VectorFile(url: url))
        let empty = dir.appendingPathComponent("empty.vec")
        try Data().write(to: empty)
        XCTAssertThrowsKind(.truncated, try VectorFile(url: empty))
        XCTAssertThrowsKind(.notFound, try VectorFile(url: dir.appendingPathComponent("missing.vec")))
    }
}
