/// The bound B on |fl(q·x̃) − fl(q·x)| that makes the half-precision scan exact
/// (docs/index-format.md, "Half-precision copies: the bound"). x is a stored float32 row with
/// ‖x‖ ≤ N (`HalfStorage.rowNormBound`, checked when the copy is written), x̃ its half copy,
/// q the float32 query as the scan uses it, d the dimension; both dot products are computed in
/// float32 in any order (SIMD lanes, trees, FMA or not).
///
///   representation:  |q·x̃ − q·x| ≤ Σ|q_i|(u|x_i| + η) ≤ ‖q‖(u·N + η·√d)
///   float32 sums:    |fl(q·y) − q·y| ≤ γ_d·Σ|q_i||y_i| + d·τ ≤ γ_d·‖q‖‖y‖ + d·τ, y = x or x̃,
///                    with ‖x̃‖ ≤ (1 + u)·N + η·√d
///   B = ‖q‖·(u·N + η·√d + γ_d·N + γ_d·((1 + u)·N + η·√d)) + 2·d·τ
///
/// u, η: the half type's unit roundoff and subnormal error (f16: 2^-11, 2^-25; bf16: 2^-8,
/// 2^-134); γ_d = d·ε/(1 − d·ε), ε = 2^-24; τ = 2^-150 (a product that underflows float32 is
/// off by at most half the smallest subnormal; sums of subnormals are exact). ‖q‖ is summed in
/// Double and everything is evaluated in Double, then raised by 2^-40 relative so the Double
/// rounding of this formula cannot make B too small.
package enum HalfBound {
    /// B for a query of norm `queryNorm` (an upper bound of ‖q‖) in dimension `dim`.
    package static func bound(queryNorm: Double, dim: Int, storage: HalfStorage) -> Double {
        let d = Double(dim)
        let eps = 0x1p-24, tau = 0x1p-150
        let de = d * eps
        precondition(de < 0.5, "dimension \(dim) is too large for the bound")
        let gamma = de / (1 - de)
        let u = storage.unitRoundoff, eta = storage.subnormalError, n = HalfStorage.rowNormBound
        let root = d.squareRoot()
        let rep = u * n + eta * root
        let sums = gamma * n + gamma * ((1 + u) * n + eta * root)
        return (queryNorm * (rep + sums) + 2 * d * tau) * (1 + 0x1p-40)
    }

    /// B for the query `q` as scanned (its norm summed in Double, rounded up).
    package static func bound(query q: UnsafeBufferPointer<Float>, storage: HalfStorage) -> Double {
        var s = 0.0
        for x in q { s += Double(x) * Double(x) }
        return bound(queryNorm: s.squareRoot() * (1 + 0x1p-40), dim: q.count, storage: storage)
    }

    package static func bound(query q: [Float], storage: HalfStorage) -> Double {
        q.withUnsafeBufferPointer { bound(query: $0, storage: storage) }
    }

    /// The score a half score must reach to stay a candidate when the k-th best half score is
    /// `kth`: a Float no larger than kth − 2B (exactly: rounded down).
    @inline(__always) static func cut(kth: Float, margin: Double) -> Float {
        guard kth.isFinite else { return -.infinity }
        let c = Float(Double(kth) - margin)
        return c.nextDown
    }
}
