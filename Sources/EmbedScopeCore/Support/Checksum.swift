import Foundation
import CZlib

/// CRC-32 (zlib's, IEEE polynomial) — the payload checksum of vector files and the content hash
/// of images. zlib's implementation processes several bytes per step; it is fed in 1 GiB slices
/// because its length argument is 32-bit.
package enum Checksum {
    /// Buffers of at least this many bytes are checksummed in parallel (`crc32(_:threads:)`).
    static let parallelBytes = 64 << 20

    /// The CRC-32 of a large buffer on `threads` threads: each part's CRC, joined with zlib's
    /// `crc32_combine` — the same value as `crc32(buffer)` (zlib runs ~3 GB/s a core: a 2 GB vector
    /// file is ~0.7 s on one). Smaller buffers: one thread.
    package static func crc32(_ buffer: UnsafeRawBufferPointer, threads: Int) -> UInt32 {
        let t = max(1, min(threads, buffer.count / (parallelBytes / 2)))
        guard t > 1, buffer.count >= parallelBytes, let base = buffer.baseAddress else { return crc32(buffer) }
        let per = buffer.count / t
        var parts = [UInt32](repeating: 0, count: t)
        parts.withUnsafeMutableBufferPointer { out in
            let o = out
            parallelFor(t) { i in
                let start = i * per, end = i == t - 1 ? buffer.count : start + per
                o[i] = crc32(UnsafeRawBufferPointer(start: base + start, count: end - start))
            }
        }
        var crc = UInt(parts[0])
        for i in 1..<t {
            let length = i == t - 1 ? buffer.count - i * per : per
            crc = CZlib.crc32_combine(crc, UInt(parts[i]), off_t(length))
        }
        return UInt32(truncatingIfNeeded: crc)
    }

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
