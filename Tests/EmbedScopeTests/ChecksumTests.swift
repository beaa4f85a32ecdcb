import CKernels
import CZlib
import Foundation
import XCTest
@testable import EmbedScopeCore

/// Our CRC-32 (the PCLMULQDQ folding kernel where the CPU has it) against zlib's, which wrote every
/// checksum stored in indexes so far: the same value on every length, alignment and seed.
final class ChecksumTests: XCTestCase {
    func zlib(_ bytes: UnsafeRawBufferPointer, seed: UInt32) -> UInt32 {
        UInt32(truncatingIfNeeded: CZlib.crc32(UInt(seed), bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt32(bytes.count)))
    }

    func testFoldingKernelMatchesZlibOnEveryLengthAlignmentAndSeed() throws {
        #if arch(x86_64)
        XCTAssertEqual(ck_crc32_fold_supported(), 1, "every CPU this x86-64-v3 build runs on has PCLMULQDQ")
        #endif
        var rng = SplitMix64(seed: 7)
        let bytes = (0..<(4096 + 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let seeds: [UInt32] = [0, 0xFFFF_FFFF, 0x1234_5678, 0xCBF4_3926]
        bytes.withUnsafeBytes { all in
            for offset in 0..<16 {
                for length in Array(0...300) + [1023, 1024, 1025, 4000, 4096] {
                    let b = UnsafeRawBufferPointer(rebasing: all[offset..<(offset + length)])
                    for seed in seeds {
                        let want = zlib(b, seed: seed)
                        XCTAssertEqual(Checksum.crc32(b, seed: seed, fold: true), want, "offset \(offset) length \(length) seed \(seed)")
                        XCTAssertEqual(Checksum.crc32(b, seed: seed, fold: false), want)
                    }
                }
            }
        }
        // The check value of the polynomial (CRC-32 of "123456789"), zeros, and a large buffer on threads.
        XCTAssertEqual(Checksum.crc32(Array("123456789".utf8)), 0xCBF4_3926)
        let zeros = [UInt8](repeating: 0, count: 100_000)
        XCTAssertEqual(zeros.withUnsafeBytes { Checksum.crc32($0, seed: 0, fold: true) }, zeros.withUnsafeBytes { zlib($0, seed: 0) })
        let big = (0..<(Checksum.parallelBytes + 12_345)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
        big.withUnsafeBytes { b in
            XCTAssertEqual(Checksum.crc32(b, threads: 3), zlib(b, seed: 0))
        }
    }
}
