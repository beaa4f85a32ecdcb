import Foundation
import EmbedScopeCore

/// The chunk structure of a PNG held in memory, found by walking chunk headers only
/// (no CRC check, no decompression: libpng does those).
///
/// It answers two questions before libpng sees the data:
/// * is the file complete? A PNG ends with an IEND chunk; data that stops inside a chunk, or
///   before any IDAT, is truncated. Data that stops at a chunk's end after the IDAT chunks, with
///   only the IEND missing, is read as if it were there (`missingEnd`): Pillow reads such a file,
///   and libpng still refuses it if the compressed rows stop early (`Not enough image data`).
///   Bytes after IEND are ignored, as every decoder does.
/// * where are the gAMA chunks? See `ImageDecoder.decodePNG` for why they are removed;
/// * is the image 16-bit and interlaced (IHDR), and where are its sRGB and iCCP chunks? Such an
///   image is decoded another way (`ImageDecoder.decodePNG`).
struct PNGChunkLayout {
    enum Problem: Error {
        case truncated(String)
        case corrupt(String)
    }

    /// Byte ranges of the whole gAMA chunks (length, type, data, CRC).
    var gammaChunks: [Range<Int>] = []
    /// Byte ranges of the whole sRGB and iCCP chunks.
    var colorSpaceChunks: [Range<Int>] = []
    /// From IHDR (0 / false when the first chunk is not a 13-byte IHDR: libpng refuses such a file).
    var bitDepth = 0
    var interlaced = false
    /// From an IHDR whose CRC holds (0 otherwise).
    var width = 0
    var height = 0
    /// Offset one past the IEND chunk (or the data's end when `missingEnd`).
    var end = 0
    /// The data stops at a chunk's end after IDAT, without an IEND chunk.
    var missingEnd = false
    /// An IEND chunk (length 0, type, CRC), for `missingEnd`.
    static let iend: [UInt8] = [0, 0, 0, 0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82]

    /// Walks `bytes`, which must start with the 8-byte PNG signature.
    init(_ bytes: UnsafeRawBufferPointer) throws {
        let count = bytes.count
        var offset = ImageFormat.pngSignature.count
        func u32(_ at: Int) -> Int {
            Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
        }
        var sawData = false
        while true {
            if offset == count {
                guard sawData else { throw Problem.truncated("the data ends at byte \(count), before any image data (IDAT)") }
                end = count
                missingEnd = true
                return
            }
            guard offset + 8 <= count else {
                throw Problem.truncated("the data ends at byte \(count), inside the header of the chunk at byte \(offset)")
            }
            let length = u32(offset)
            let typeBytes = (4..<8).map { bytes[offset + $0] }
            let type = String(decoding: typeBytes, as: UTF8.self)
            guard length <= 0x7FFF_FFFF else {
                throw Problem.corrupt("chunk \"\(type)\" at byte \(offset) declares an impossible length \(length)")
            }
            guard typeBytes.allSatisfy({ (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }) else {
                throw Problem.corrupt("invalid chunk type at byte \(offset) (bytes \(typeBytes.map { String(format: "%02x", $0) }.joined(separator: " ")))")
            }
            let chunkEnd = offset + 12 + length
            guard chunkEnd <= count else {
                throw Problem.truncated("chunk \(type) at byte \(offset) needs \(12 + length) bytes but only \(count - offset) remain")
            }
            if type == "IDAT" { sawData = true }
            if type == "gAMA" { gammaChunks.append(offset..<chunkEnd) }
            if type == "sRGB" || type == "iCCP" { colorSpaceChunks.append(offset..<chunkEnd) }
            if type == "IHDR" && length == 13 && offset == ImageFormat.pngSignature.count {
                bitDepth = Int(bytes[offset + 8 + 8])
                // The size only from an IHDR whose CRC holds and within the PNG limit (2³¹ − 1):
                // a damaged header is libpng's to call corrupt.
                let crc = Checksum.crc32(UnsafeRawBufferPointer(rebasing: bytes[(offset + 4)..<(offset + 8 + 13)]))
                if crc == UInt32(u32(offset + 8 + 13)), u32(offset + 8) <= 0x7FFF_FFFF, u32(offset + 12) <= 0x7FFF_FFFF {
                    width = u32(offset + 8)
                    height = u32(offset + 12)
                }
                interlaced = bytes[offset + 8 + 12] != 0
            }
            if type == "IEND" {
                end = chunkEnd
                return
            }
            offset = chunkEnd
        }
    }
}
