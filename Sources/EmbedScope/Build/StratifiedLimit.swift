import Foundation
import EmbedScopeCore

/// `--limit N` over a labelled list: N spread over the classes in proportion to their sizes,
/// seeded, so a limited build or data set looks like the whole one (not the first N in sorted
/// order, which is the first few classes).
///
/// Quotas: class c gets ⌊N·n_c/n⌋, and the rows left over go one each to the classes with the
/// largest remainders (ties: the lower class); a class is never asked for more rows than it has.
/// Within a class the rows are shuffled by Fisher–Yates with SplitMix64(seed), classes in
/// ascending order, and the first quota kept. The kept positions are returned ascending, so the
/// limited list keeps the original (sorted) order.
package enum StratifiedLimit {
    package static func select(labels: [Int], limit: Int, seed: UInt64) -> [Int] {
        let n = labels.count
        guard limit < n else { return Array(0..<n) }
        guard limit > 0 else { return [] }
        var byClass: [Int: [Int]] = [:]
        for (i, l) in labels.enumerated() { byClass[l, default: []].append(i) }
        let classes = byClass.keys.sorted()
        var quota = classes.map { limit * byClass[$0]!.count / n }
        var left = limit - quota.reduce(0, +)
        // Largest remainder first (ties: lower class); never more than a class has.
        let order = classes.indices.sorted { a, b in
            let ra = limit * byClass[classes[a]]!.count % n, rb = limit * byClass[classes[b]]!.count % n
            return ra != rb ? ra > rb : a < b
        }
        while left > 0 {
            var gave = false
            for c in order where left > 0 && quota[c] < byClass[classes[c]]!.count {
                quota[c] += 1; left -= 1; gave = true
            }
            if !gave { break }
        }
        var g = SplitMix64(seed: seed)
        var kept: [Int] = []
        kept.reserveCapacity(limit)
        for (ci, c) in classes.enumerated() {
            var rs = byClass[c]!
            for i in stride(from: rs.count - 1, to: 0, by: -1) {
                let j = Int(g.below(UInt64(i + 1)))
                rs.swapAt(i, j)
            }
            kept += rs.prefix(quota[ci])
        }
        return kept.sorted()
    }
}
