import EmbedScope
import Foundation

/// Coalesces concurrent queries on one space into one pass over its vectors.
///
/// The first query that finds the batcher idle schedules a pass `window` seconds later; every
/// query that arrives before the pass starts, or while one is running, joins the next pass. A
/// pass takes all waiting queries, groups them by direction (nearest / farthest), and scores
/// each group with one scan (`ServedIndex` gives the index's own: the space's half-precision
/// copy, re-scored exactly, when it has one; one GEMM per row chunk for the whole group; a group
/// of one goes through the same SIMD kernel as `embedscope query`). Each query keeps its own k
/// and row filter; the group is searched at the largest k and each list cut to its own k, which
/// gives the same list because results are ordered by score, then row.
final class QueryBatcher: @unchecked Sendable {
    /// Scores one group: queries [count × dim] row-major, the largest k, the direction, one filter per query.
    typealias Scan = @Sendable (_ queries: [Float], _ count: Int, _ k: Int, _ farthest: Bool, _ filters: [RowFilter]) throws -> [[Hit]]

    struct Request {
        var query: [Float]
        var k: Int
        var farthest: Bool
        var filter: RowFilter
        var done: CheckedContinuation<[Hit], Error>
    }

    let dim: Int
    let window: Double
    /// Whether passes scan a half-precision copy (for tests and the log).
    let halfCopy: Bool
    private let scan: Scan
    private let lock = NSLock()
    private var waiting: [Request] = []
    private var scheduled = false
    private let queue: DispatchQueue
    /// Statistics: passes run and queries answered (for tests and the log).
    private(set) var passes = 0
    private(set) var answered = 0
    private(set) var largestBatch = 0

    init(dim: Int, window: Double, halfCopy: Bool = false, scan: @escaping Scan) {
        self.dim = dim
        self.window = window
        self.halfCopy = halfCopy
        self.scan = scan
        queue = DispatchQueue(label: "embedscope.batcher", qos: .userInitiated)
    }

    /// Scans `matrix` (float32, the SIMD kernel for one query, the own GEMM for more).
    convenience init(matrix: RowMatrix, window: Double) {
        self.init(dim: matrix.dim, window: window) { q, count, k, farthest, filters in
            try Scorer.searchBatch(matrix, queries: q, count: count, k: k, farthest: farthest, filters: filters, kernel: .simd)
        }
    }

    func search(_ query: [Float], k: Int, farthest: Bool, filter: RowFilter) async throws -> [Hit] {
        precondition(query.count == dim)
        return try await withCheckedThrowingContinuation { c in
            lock.lock()
            waiting.append(Request(query: query, k: k, farthest: farthest, filter: filter, done: c))
            let start = !scheduled
            scheduled = true
            lock.unlock()
            if start { queue.asyncAfter(deadline: .now() + window) { self.drain() } }
        }
    }

    /// Runs passes until no query is waiting.
    private func drain() {
        while true {
            lock.lock()
            let batch = waiting
            waiting = []
            if batch.isEmpty { scheduled = false; lock.unlock(); return }
            passes += 1; answered += batch.count; largestBatch = max(largestBatch, batch.count)
            lock.unlock()
            for farthest in [false, true] {
                let group = batch.filter { $0.farthest == farthest }
                guard !group.isEmpty else { continue }
                let k = group.map(\.k).max() ?? 1
                var q = [Float]()
                q.reserveCapacity(group.count * dim)
                for r in group { q += r.query }
                do {
                    let hits = try scan(q, group.count, k, farthest, group.map(\.filter))
                    for (r, h) in zip(group, hits) { r.done.resume(returning: Array(h.prefix(r.k))) }
                } catch {
                    // Damaged (non-finite) rows: every query of the pass gets the error, none a result.
                    for r in group { r.done.resume(throwing: error) }
                }
            }
        }
    }

    var stats: (passes: Int, answered: Int, largestBatch: Int) {
        lock.lock(); defer { lock.unlock() }
        return (passes, answered, largestBatch)
    }
}
