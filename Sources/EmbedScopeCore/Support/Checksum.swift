import Foundation
import CZlib

/// CRC-32 (zlib's, IEEE polynomial) — the payload checksum of vector files and the content hash
/// of images. zlib's implementation processes several bytes per step; it is fed in 1 GiB slices
/// because its length argument is 32-bit.
package enum Checksum {
    package static func crc32(_ buffer: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        var crc = UInt(seed)
        guard var p = buffer.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return seed }
        var remaining = buffer.count
        while remaining > 0 {
            let n = min(remaining, 1 << 30)
            crc = CZlib.crc32(crc, p, UInt32(n))
            p += n
            remaining -= n
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    package static func crc32<C: ContiguousBytes>(_ bytes: C, seed: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { crc32($0, seed: seed) }
    }
}
