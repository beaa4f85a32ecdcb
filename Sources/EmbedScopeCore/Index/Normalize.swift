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

    /// Scales `v` in place to unit length and returns the original norm. Throws on NaN/Inf or
    /// a zero vector; `what` names the vector in the message ("row 17 of X.npy").
    /// `storesNorm`: the norm will be stored as a Float, so it must be one (a query's is not
    /// stored: only its direction counts).
    package static func toUnit(_ v: UnsafeMutableBufferPointer<Float>, storesNorm: Bool = true, what: @autoclosure () -> String) throws -> Double {
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
        let inv = 1.0 / n
        for i in v.indices { v[i] = Float(Double(v[i]) * inv) }
        return n
    }

    package static func toUnit(_ v: inout [Float], storesNorm: Bool = true, what: @autoclosure () -> String) throws -> Double {
        try v.withUnsafeMutableBufferPointer { try toUnit($0, storesNorm: storesNorm, what: what()) }
    }
}
