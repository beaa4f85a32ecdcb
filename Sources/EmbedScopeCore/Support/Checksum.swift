import CKernels
import Foundation
import CZlib

/// CRC-32 (zlib's, IEEE polynomial) — the payload checksum of vector files and the content hash
/// of images. On x86-64 with PCLMULQDQ the bulk goes through our folding kernel
/// (`ck_crc32_fold`, Sources/CKernels/crc32_fold.c; the same values, tested against zlib on every
/// length and alignment), the rest through zlib's table-driven one, fed in 1 GiB slices because its
/// length argument is 32-bit.
package enum Checksum {
    /// Whether this CPU runs the folding kernel (EMBEDSCOPE_CRC=zlib keeps zlib's, for A/B runs).
    package static let folds: Bool = ck_crc32_fold_supported() != 0 && ProcessInfo.processInfo.environment["EMBEDSCOPE_CRC"] != "zlib"

    /// Buffers of at least this many bytes are checksummed in parallel (`crc32(_:threads:)`).
    static let parallelBytes = 64 << 20

    /// The CRC-32 of a large buffer on `threads` threads: each part's CRC, joined with zlib's
    /// `crc32_combine` — the same value as `crc32(buffer)`. Smaller buffers: one thread.
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
        crc32(buffer, seed: seed, fold: folds)
    }

    /// `fold`: the PCLMULQDQ kernel for all but the last (< 16) bytes of a buffer of 64 or more.
    package static func crc32(_ buffer: UnsafeRawBufferPointer, seed: UInt32, fold: Bool) -> UInt32 {
        var crc = UInt(seed)
        guard var p = buffer.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return seed }
        var remaining = buffer.count
        if fold && remaining >= 64 {
            let body = remaining & ~15
            crc = UInt(~ck_crc32_fold(~seed, p, body))
            p += body
            remaining -= body
        }
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
