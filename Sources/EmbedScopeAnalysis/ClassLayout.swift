import Dispatch
import Foundation
import EmbedScopeCore

/// Rows grouped by class. Labels are encoded as scikit-learn's `LabelEncoder` does: the
/// distinct values present, sorted, numbered `0..<K` — so a class id with no rows does not
/// count as a class, and ids need not be contiguous.
///
/// "Positions" are rows sorted by (class, row): `order[p]` is the row at position `p`, and
/// the rows of class `k` are the positions `starts[k]..<starts[k + 1]`.
struct ClassLayout: Sendable {
    /// The K distinct label values, ascending; class `k` has label `ids[k]`.
    let ids: [Int32]
    /// Class (0..<K) of each row.
    let classOfRow: [Int32]
    /// Class (0..<K) at each position.
    let classAt: [Int32]
    let counts: [Int]
    let order: [Int]
    let starts: [Int]

    var classCount: Int { ids.count }
    var rowCount: Int { order.count }

    init(labels: [Int32]) {
        let ids = Array(Set(labels)).sorted()
        var index: [Int32: Int32] = [:]
        for (k, id) in ids.enumerated() { index[id] = Int32(k) }
        let cls = labels.map { index[$0] ?? 0 }
        var counts = [Int](repeating: 0, count: ids.count)
        for c in cls { counts[Int(c)] += 1 }
        var starts = [Int](repeating: 0, count: ids.count + 1)
        for k in 0..<ids.count { starts[k + 1] = starts[k] + counts[k] }
        var next = starts
        var order = [Int](repeating: 0, count: labels.count)
        var classAt = [Int32](repeating: 0, count: labels.count)
        for (row, c) in cls.enumerated() {
            order[next[Int(c)]] = row
            classAt[next[Int(c)]] = c
            next[Int(c)] += 1
        }
        self.ids = ids
        self.classOfRow = cls
        self.classAt = classAt
        self.counts = counts
        self.order = order
        self.starts = starts
    }

    /// The cluster metrics are defined for 2 ≤ K ≤ N − 1 (scikit-learn's
    /// `check_number_of_labels`); anything else throws `.undefined`.
    func requireDefined(_ metric: String) throws {
        let k = classCount, n = rowCount
        guard k >= 2 else {
            throw EmbedScopeError(.undefined, "\(metric) \(metric.hasSuffix("s") ? "are" : "is") not defined for \(k == 0 ? "no rows" : "a single class") (\(n) rows, \(counted(k, "class")))",
                                  hint: "cluster metrics compare classes: the rows need labels from at least 2 classes")
        }
        guard k < n else {
            throw EmbedScopeError(.undefined, "\(metric) is not defined when every row is a class of its own (\(n) rows, \(k) classes)",
                                  hint: n >= 3 ? "cluster metrics need 2 to \(n - 1) classes for \(n) rows" : "cluster metrics need at least 3 rows, one class with 2 or more")
        }
    }
}

/// Per-class statistics in Double: centroids (means) from one pass over the rows, then the
/// distances of the rows to their centroids from a second pass. Both passes split the rows
/// into one contiguous range per thread and merge the partial sums in a fixed order, so the
/// results depend only on the data and the thread count.
struct ClassMoments: Sendable {
    let dim: Int
    /// K × dim centroids, row-major.
    let means: [Double]
    /// Mean of all rows.
    let globalMean: [Double]

    init(_ x: RowMatrix, layout: ClassLayout, threads: Int) {
        let d = x.dim, k = layout.classCount, n = x.rows
        let parts = ClassMoments.parts(n, doublesPerPart: k * d)
        var partial = [[Double]](repeating: [], count: parts.count)
        partial.withUnsafeMutableBufferPointer { out in
            let outBase = out.baseAddress!
            parallelClaimed(parts.count, threads: threads) { t in
                var sums = [Double](repeating: 0, count: k * d)
                sums.withUnsafeMutableBufferPointer { s in
                    for r in parts[t] {
                        let row = x.row(r), acc = s.baseAddress! + Int(layout.classOfRow[r]) * d
                        for j in 0..<d { acc[j] += Double(row[j]) }
                    }
                }
                outBase[t] = sums
            }
        }
        var sums = partial[0]
        for p in partial.dropFirst() { for i in 0..<sums.count { sums[i] += p[i] } }
        var global = [Double](repeating: 0, count: d)
        for c in 0..<k {
            for j in 0..<d { global[j] += sums[c * d + j] }
            // Divided, not multiplied by 1/count: the mean of identical rows is then that row
            // exactly (a class of one point has within-class dispersion 0, not rounding noise
            // that Calinski–Harabasz divides by), as numpy's mean gives.
            let count = Double(layout.counts[c])
            for j in 0..<d { sums[c * d + j] /= count }
        }
        for j in 0..<d { global[j] /= Double(n) }
        dim = d
        means = sums
        globalMean = global
    }

    /// For each class: Σ‖x − μ_k‖ and Σ‖x − μ_k‖² over its rows (differences taken directly in
    /// Double, no ‖x‖² − 2x·μ + ‖μ‖² cancellation).
    func deviations(_ x: RowMatrix, layout: ClassLayout, threads: Int) -> (distance: [Double], squared: [Double]) {
        let d = dim, k = layout.classCount
        let parts = ClassMoments.parts(x.rows, doublesPerPart: 2 * k)
        var partial = [([Double], [Double])](repeating: ([], []), count: parts.count)
        means.withUnsafeBufferPointer { mp in
            partial.withUnsafeMutableBufferPointer { out in
                let outBase = out.baseAddress!, m = mp.baseAddress!
                parallelClaimed(parts.count, threads: threads) { t in
                    var dist = [Double](repeating: 0, count: k), sq = [Double](repeating: 0, count: k)
                    for r in parts[t] {
                        let c = Int(layout.classOfRow[r])
                        let s = squaredDistance(x.row(r), m + c * d, d)
                        dist[c] += s.squareRoot()
                        sq[c] += s
                    }
                    outBase[t] = (dist, sq)
                }
            }
        }
        var dist = partial[0].0, sq = partial[0].1
        for p in partial.dropFirst() {
            for c in 0..<k { dist[c] += p.0[c]; sq[c] += p.1[c] }
        }
        return (dist, sq)
    }

    /// ‖x − μ‖² in Double, differences taken directly; eight independent lanes (one serial
    /// Double sum over a 1280-wide row was latency-bound: ~4 cycles an element).
    @inline(__always)
    private func squaredDistance(_ x: UnsafePointer<Float>, _ mu: UnsafePointer<Double>, _ d: Int) -> Double {
        var acc = SIMD8<Double>()
        var j = 0
        while j + 8 <= d {
            let xv = SIMD8<Double>(UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self))
            let e = xv - UnsafeRawPointer(mu + j).loadUnaligned(as: SIMD8<Double>.self)
            acc += e * e
            j += 8
        }
        var s = acc.sum()
        while j < d {
            let e = Double(x[j]) - mu[j]
            s += e * e
            j += 1
        }
        return s
    }

    /// The rows cut into parts that depend on the shape only, never on the thread count: each
    /// part is summed on its own and the parts added in order, so the moments — and the scores
    /// built on them — are the same bits on any number of threads (split by thread, Davies–Bouldin
    /// and Calinski–Harabasz moved in their last digits with it). Up to 16 parts of at least ~1,024
    /// rows, fewer when 16 sets of partial sums (`doublesPerPart` each) would pass 64 MB.
    static func parts(_ n: Int, doublesPerPart: Int) -> [Range<Int>] {
        var p = Swift.max(1, Swift.min(16, n / 1024 + 1))
        let perPart = Swift.max(1, doublesPerPart).multipliedReportingOverflow(by: 8)
        let limit = 64 << 20
        if perPart.overflow { p = 1 } else { while p > 1 && perPart.partialValue > limit / p { p -= 1 } }
        return (0..<p).map { RowPartition.range($0, of: p, count: n) }
    }
}
