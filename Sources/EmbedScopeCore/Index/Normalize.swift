import Foundation

/// L2 normalization with the checks every input path needs.
package enum Normalize {
    /// The Euclidean norm accumulated in Double (no overflow or loss for any finite Float row).
    @inline(__always)
    package static func norm(_ v: UnsafeBufferPointer<Float>) -> Double {
        var s = 0.0
        for x in v { s += Double(x) * Double(x) }
        return s.squareRoot()
    }

    /// How far from 1 a norm may be for `toUnit(keepingUnit:)` to leave the vector as it is:
    /// 4 × 2⁻²⁴. Rounding each value of a normalized vector to float32 moves its norm by at most
    /// Σ xᵢ² · 2⁻²⁴ = 2⁻²⁴, so every vector `toUnit` writes is inside, and a vector inside is as
    /// unit as the ones it writes.
    package static let unitTolerance = 4.0 / 16_777_216

    /// Scales `v` in place to unit length and returns the original norm. Throws on NaN/Inf or
    /// a zero vector; `what` names the vector in the message ("row 17 of X.npy").
    /// `storesNorm`: the norm will be stored as a Float, so it must be one (a query's is not
    /// stored: only its direction counts). `keepingUnit`: a vector already unit (within
    /// `unitTolerance`) is left as it is — normalizing it again would move some values by one
    /// ulp, and an exported index imported back would not be the same rows.
    package static func toUnit(_ v: UnsafeMutableBufferPointer<Float>, storesNorm: Bool = true, keepingUnit: Bool = false,
                               what: @autoclosure () -> String) throws -> Double {
        var s = 0.0
        for x in v {
            guard x.isFinite else {
                throw EmbedScopeError(.nonFinite, "\(what()) contains \(x.isNaN ? "NaN" : "infinity")",
                                      hint: "fix or drop that vector; EmbedScope does not guess a replacement")
            }
            s += Double(x) * Double(x)
        }
        let n = s.squareRoot()
        guard n > 0 else {
            throw EmbedScopeError(.zeroVector, "\(what()) is all zeros and has no direction", hint: "drop that vector")
        }
        // The norm is stored as a Float (norms file, prototype norms): it must be one.
        guard !storesNorm || Float(n).isFinite else {
            throw EmbedScopeError(.nonFinite, "\(what()) has norm \(String(format: "%.3g", n)), beyond float32's range (3.4e38): its stored norm would be infinite",
                                  hint: "scale the vectors down (their directions are what is compared)")
        }
        if keepingUnit && abs(n - 1) <= unitTolerance { return n }
        let inv = 1.0 / n
        for i in v.indices { v[i] = Float(Double(v[i]) * inv) }
        return n
    }

    package static func toUnit(_ v: inout [Float], storesNorm: Bool = true, keepingUnit: Bool = false,
                               what: @autoclosure () -> String) throws -> Double {
        try v.withUnsafeMutableBufferPointer { try toUnit($0, storesNorm: storesNorm, keepingUnit: keepingUnit, what: what()) }
    }
}
