/// The one row partitioner: `0..<count` cut into contiguous parts for the threads of a
/// data-parallel loop (scans, GEMM row blocks, class moments, layers split across a team).
///
/// Part `i` of `parts` is `count·i/parts ..< count·(i+1)/parts`, in units of `alignment` rows
/// (the last part ends at `count`): near-equal sizes, every boundary a multiple of
/// `alignment`, and the same ranges whoever asks, so results that depend on the split (sums
/// in Double per part) do not change from one caller to the next.
package enum RowPartition {
    /// Parts for `count` rows on `threads` threads with at least `minimumPerPart` rows each
    /// (at least 1 part).
    @inline(__always)
    package static func parts(_ count: Int, threads: Int, minimumPerPart: Int = 1) -> Int {
        Swift.max(1, Swift.min(threads, count / Swift.max(1, minimumPerPart)))
    }

    /// Part `i` of `parts`.
    @inline(__always)
    package static func range(_ i: Int, of parts: Int, count: Int, alignment: Int = 1) -> Range<Int> {
        let a = Swift.max(1, alignment), p = Swift.max(1, parts)
        let units = (count + a - 1) / a
        let lo = Swift.min(count, units * i / p * a), hi = Swift.min(count, units * (i + 1) / p * a)
        return lo..<Swift.max(lo, hi)
    }

    /// Every non-empty part, in order.
    package static func ranges(_ count: Int, parts: Int, alignment: Int = 1) -> [Range<Int>] {
        let p = Swift.max(1, parts)
        return (0..<p).map { range($0, of: p, count: count, alignment: alignment) }.filter { !$0.isEmpty }
    }
}
