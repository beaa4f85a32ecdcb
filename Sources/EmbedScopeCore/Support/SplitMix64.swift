import Foundation

/// SplitMix64 (Steele, Lea, Flood 2014): a small seeded generator whose stream is fixed by
/// the seed on every platform and Swift version. Used wherever the library draws at random
/// (silhouette sampling) and by benchmarks that generate data.
package struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    package init(seed: UInt64) { state = seed }

    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in `0..<bound` (Lemire's multiply-and-reject, unbiased). Spelled out here rather
    /// than `Int.random(in:using:)` so the sequence cannot change with the standard library.
    package mutating func below(_ bound: UInt64) -> UInt64 {
        precondition(bound > 0)
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return m.high
    }

    /// Uniform in [0, 1) with 53 random bits.
    package mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Standard normal (Box–Muller, one value per call).
    package mutating func gaussian() -> Double {
        let u1 = max(unit(), 0x1.0p-60), u2 = unit()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }
}
