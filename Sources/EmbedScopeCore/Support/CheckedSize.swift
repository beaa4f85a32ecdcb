/// Sizes computed from numbers read out of a file (shapes, counts, dimensions): multiplied
/// with overflow checks, so a crafted header gives nil — an error for the caller to report —
/// instead of a wrapped size. Callers then bound the result by the bytes actually present
/// before allocating anything.
package enum CheckedSize {
    /// The product of `factors` (1 for none), or nil if a factor is negative or it overflows `Int`.
    package static func product(_ factors: some Sequence<Int>) -> Int? {
        var total = 1
        for f in factors {
            guard f >= 0 else { return nil }
            let (p, overflow) = total.multipliedReportingOverflow(by: f)
            guard !overflow else { return nil }
            total = p
        }
        return total
    }

    /// `a + b`, or nil if either is negative or the sum overflows.
    package static func sum(_ a: Int, _ b: Int) -> Int? {
        guard a >= 0, b >= 0 else { return nil }
        let (s, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : s
    }
}
