/// The one top-k heap: a binary min-heap of at most `k` (score, row) pairs in two parallel
/// buffers, whose root is the worst kept. "Better" is a higher score, and at equal score the
/// lower row, so what is kept does not depend on the order rows are offered in (nor on the
/// thread split). `TopK` (one query) and Analysis's `HeapBank` (one heap per row, in flat
/// arrays) both push through here.
package enum BoundedHeap {
    @inlinable @inline(__always)
    package static func better<Row: Comparable>(_ s1: Float, _ r1: Row, than s2: Float, _ r2: Row) -> Bool {
        s1 > s2 || (s1 == s2 && r1 < r2)
    }

    /// Offers (score, row) to the heap of `count` entries at `s`/`r` (capacity `k`); returns
    /// the new count.
    @inlinable @inline(__always)
    package static func push<Row: Comparable>(_ score: Float, _ row: Row, scores s: UnsafeMutablePointer<Float>,
                                              rows r: UnsafeMutablePointer<Row>, count: Int, k: Int) -> Int {
        guard k > 0 else { return count }
        if count < k {
            var i = count
            // sift up: a parent worse-or-equal stays above
            while i > 0 {
                let p = (i - 1) >> 1
                if better(s[p], r[p], than: score, row) { s[i] = s[p]; r[i] = r[p]; i = p } else { break }
            }
            s[i] = score; r[i] = row
            return count + 1
        }
        if better(score, row, than: s[0], r[0]) {
            var i = 0
            while true {
                let l = 2 * i + 1
                if l >= k { break }
                var c = l
                if l + 1 < k && better(s[l], r[l], than: s[l + 1], r[l + 1]) { c = l + 1 }
                if better(score, row, than: s[c], r[c]) { s[i] = s[c]; r[i] = r[c]; i = c } else { break }
            }
            s[i] = score; r[i] = row
        }
        return count
    }
}
