import CBLAS
import Dispatch
import Foundation
import EmbedScopeCore

/// The k nearest neighbours of every row among the other rows (leave-one-out), by inner
/// product — the cosine for an index's unit rows — exact.
public struct NeighbourLists: Sendable, Equatable {
    public let rows: Int
    public let k: Int
    /// rows × k row numbers, nearest first.
    public let indices: [Int32]

    public init(rows: Int, k: Int, indices: [Int32]) {
        precondition(indices.count == rows * k)
        self.rows = rows; self.k = k; self.indices = indices
    }

    public func neighbours(of row: Int) -> ArraySlice<Int32> { indices[(row * k)..<((row + 1) * k)] }
}

/// All-vs-all k-NN, blocked on `sgemm`, each pair of rows computed once.
///
/// Rows are cut into blocks of `blockRows`; a tile is a pair of blocks (I ≤ J) and its
/// blockRows² dot products come from one `sgemm`. Every score of a tile is offered to the heap
/// of its row (I side) and, off the diagonal, to the heap of its column (J side), so the
/// product is symmetric work done once. The two cores take tiles in turn, each with its own
/// bank of per-row top-k heaps; the banks are merged at the end. Memory: per thread one tile
/// and rows × k heap entries (the size of the result), never rows × rows.
///
/// Ties: a higher score is nearer; at an equal score the lower row number is nearer, so the
/// lists do not depend on the block size, the order tiles are visited or the thread count.
public enum NearestNeighbours {
    /// k neighbours that exclude the row itself need k + 1 rows: the one check (and message) of
    /// every leave-one-out command. `place` says whose rows: "this space has", "split 'val' has".
    package static func requireMoreRows(than k: Int, have n: Int, in place: String) throws {
        guard k >= n else { return }
        throw EmbedScopeError(.invalidArgument, "k = \(k) needs more rows than k (each row's neighbours exclude itself); \(place) \(counted(n, "row"))",
                              hint: n >= 2 ? "use -k \(n - 1) or less" : "this needs at least 2 rows")
    }

    package static func leaveOneOut(_ x: RowMatrix, k: Int, threads: Int = Scorer.defaultThreads, blockRows: Int = 256,
                                   progress: ProgressSink = SilentProgress()) throws -> NeighbourLists {
        let n = x.rows
        guard k >= 1 else { throw EmbedScopeError(.invalidArgument, "k must be at least 1, got \(k)") }
        try requireMoreRows(than: k, have: n, in: "this space has")
        guard blockRows >= 1, threads >= 1 else { throw EmbedScopeError(.invalidArgument, "blockRows and threads must be at least 1") }
        // Float32 tiles find candidates — 2k per row, or every other row — which are then ranked
        // in Double (`refined`): float32 scores of nearly equal pairs collapse to a few values
        // (classes 1e-7 wide: 4 distinct cosines), and the tie rule, not the geometry, picked the
        // neighbours (versus's precision@10 0.65 for sklearn's 0.97).
        let kk = min(n - 1, max(2 * k, k + 8))
        // Room: each worker's heaps, then the candidate lists and the answer (the heaps are merged
        // into the first in place, the others freed as they are merged).
        let bankBytes = Double(n) * Double(kk * 8 + 4)
        let listBytes = Double(n) * Double(kk * 4 + k * 4) + Double(threads) * Double(n) * 4
        var banks = try forEachTile(x, threads: threads, blockRows: blockRows, progress: progress, label: "neighbours (tiles)",
                                    stateBytes: bankBytes, resultBytes: listBytes,
                                    makeState: { HeapBank(rows: n, k: kk) }) { bank, tile in
            let t = tile.scores, r0 = tile.rowStart, rn = tile.rowCount, c0 = tile.columnStart, cn = tile.columnCount
            // Row side: row r0 + i against columns c0 + j.
            for i in 0..<rn {
                let s = t + i * cn, me = r0 + i
                var threshold = bank.threshold(me)
                for j in 0..<cn {
                    let v = s[j]
                    // `>=`: an equal score may still win on the lower row.
                    if v >= threshold && c0 + j != me {
                        bank.push(me, v, Int32(c0 + j))
                        threshold = bank.threshold(me)
                    }
                }
            }
            // Column side (off the diagonal only: there the row side saw both orders).
            if !tile.isDiagonal {
                for j in 0..<cn {
                    let me = c0 + j
                    var threshold = bank.threshold(me)
                    for i in 0..<rn {
                        let v = t[i * cn + j]
                        if v >= threshold {
                            bank.push(me, v, Int32(r0 + i))
                            threshold = bank.threshold(me)
                        }
                    }
                }
            }
        }
        var merged = banks.removeFirst()   // (a copy, with the array still holding it: 260 MB at 1M rows × 32)
        while !banks.isEmpty { merged.merge(banks.removeFirst()) }
        guard let candidates = merged.sortedRows() else {
            throw EmbedScopeError(.nonFinite, "some similarities are NaN: the rows contain NaN or infinity",
                                  hint: "check the vectors (an index built by EmbedScope never holds them)")
        }
        return NeighbourLists(rows: n, k: k, indices: refined(x, k: k, candidates: candidates, perRow: kk, threads: threads))
    }

    /// The k nearest of each row, exact: its float32 candidates ranked by their Double inner
    /// products (higher, then lower row, first). The candidates are the top `perRow` by float32
    /// score; a row outside them has a float32 score at most the last candidate's, so an exact
    /// score at most that candidate's exact score + 2τ, τ = γ_d = d·2⁻²⁴/(1 − d·2⁻²⁴) bounding a
    /// float32 inner product's error for rows of length ≤ 1 (+ margin). When the k-th exact
    /// score is not above that, the row is scanned again: every row whose float32 score is within
    /// τ of the k-th exact score is ranked in Double.
    static func refined(_ x: RowMatrix, k: Int, candidates: [Int32], perRow kk: Int, threads: Int) -> [Int32] {
        let n = x.rows, d = x.dim
        let u = Double(d) * 0x1p-24
        let tau = u < 0.5 ? 1.01 * u / (1 - u) + 1e-12 : .infinity
        // In Double, eight lanes at a time (a sequential sum was a quarter of versus's time at
        // 10k × 1280); one fixed order, so identical rows score identically.
        func exact(_ a: Int, _ b: Int) -> Double {
            let p = UnsafeRawPointer(x.row(a)), q = UnsafeRawPointer(x.row(b))
            var acc = SIMD8<Double>()
            var i = 0
            while i + 8 <= d {
                acc += SIMD8<Double>(p.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self))
                    * SIMD8<Double>(q.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self))
                i += 8
            }
            var s = acc.sum()
            let pf = x.row(a), qf = x.row(b)
            while i < d { s += Double(pf[i]) * Double(qf[i]); i += 1 }
            return s
        }
        func better(_ a: (Double, Int32), _ b: (Double, Int32)) -> Bool { a.0 != b.0 ? a.0 > b.0 : a.1 < b.1 }
        var out = [Int32](repeating: 0, count: n * k)
        let parts = Scorer.partitions(rows: n, threads: threads)
        out.withUnsafeMutableBufferPointer { o in
            let o = o
            parallelFor(parts.count) { t in
                var scores = [Float](repeating: 0, count: n)
                for r in parts[t] {
                    let mine = candidates[(r * kk)..<((r + 1) * kk)]   // best first by float32 score
                    var ranked = mine.map { (exact(r, Int($0)), $0) }
                    let lastExact = ranked[kk - 1].0                    // the float32-last candidate's
                    ranked.sort(by: better)
                    // Every other row a candidate (kk = n − 1): exact already.
                    if kk < n - 1, !(lastExact + 2 * tau < ranked[k - 1].0) {
                        let kth = ranked[k - 1].0
                        scores.withUnsafeMutableBufferPointer { Kernels.dots(x, rows: 0..<n, query: x.row(r), out: $0.baseAddress!) }
                        ranked = (0..<n).filter { $0 != r && Double(scores[$0]) >= kth - tau }.map { (exact(r, $0), Int32($0)) }.sorted(by: better)
                    }
                    for i in 0..<k { o[r * k + i] = ranked[i].1 }
                }
            }
        }
        return out
    }
}

extension NearestNeighbours {
    /// One tile of the all-pairs product: rows `rowStart ..< rowStart + rowCount` against columns
    /// `columnStart ..< columnStart + columnCount`, `scores` row-major (columnCount wide). On a
    /// diagonal tile (`isDiagonal`) the columns are the rows themselves, so each unordered pair
    /// appears twice there (and every row meets itself); off the diagonal each pair appears once.
    public struct Tile {
        public let rowStart: Int, rowCount: Int, columnStart: Int, columnCount: Int
        public let scores: UnsafePointer<Float>
        public var isDiagonal: Bool { rowStart == columnStart }
    }

    /// The tile machinery of `leaveOneOut`, for any all-pairs scan: rows cut into blocks of
    /// `blockRows`, every pair of blocks (I ≤ J) one `sgemm` tile of inner products, the tiles
    /// shared out to `threads` workers, each with its own `State` (from `makeState`) that `body`
    /// updates. Returns the workers' states (at least one). Memory: one tile per worker.
    package static func forEachTile<State>(_ x: RowMatrix, threads: Int = Scorer.defaultThreads, blockRows: Int = 256,
                                          progress: ProgressSink = SilentProgress(), label: String = "all pairs (tiles)",
                                          stateBytes: Double = 0, resultBytes: Double = 0, makeState: () -> State,
                                          body: (inout State, Tile) -> Void) throws -> [State] {
        let n = x.rows, d = x.dim
        let b = max(1, blockRows)
        let blocks = (n + b - 1) / b
        var tiles: [(Int, Int)] = []
        tiles.reserveCapacity(blocks * (blocks + 1) / 2)
        for i in 0..<blocks { for j in i..<blocks { tiles.append((i, j)) } }
        let workers = max(1, min(max(1, threads), tiles.count))
        // On our own kernels each block is packed once as a B operand here (one more copy of the
        // rows, so only up to `prepackLimitBytes`), not once for every tile it is the column side of.
        let bytes = n.multipliedReportingOverflow(by: d)
        let prepack = SGEMM.path != .openblas && !bytes.overflow && bytes.partialValue <= prepackLimitBytes / 4
        // Under `ulimit -v`: a clear error before the work, not a trap in the middle of it. The
        // packed copy (panels padded: at most 9/8 of the rows), and each worker's tile and row block.
        let perWorker = Double(b) * Double(b) * 4 + 2 * Double(b) * Double(d) * 4
        // `stateBytes`: each worker's state (a top-k heap per row: a million rows × 2k candidates
        // was 128 MB a worker, left out, and aborted the process); `resultBytes`: what the caller
        // builds from the states afterwards.
        let need = (prepack ? Double(n) * Double(d) * 4.5 : 0) + Double(workers) * (perWorker + stateBytes) + resultBytes
        try AddressSpace.require(estimate: need, for: "\(label) over \(n) rows")
        let packed: [PackedMatrix]? = prepack
            ? PackedMatrix.rowBlocks(count: n, dim: d, blockRows: b, threads: workers) { start, _ in (x.row(start), x.stride) }
            : nil
        var states = (0..<workers).map { _ in makeState() }
        let lock = NSLock()
        var nextTile = 0
        progress.begin(label, total: tiles.count)
        withoutActuallyEscaping(body) { body in
            BLASThreads.single {
                states.withUnsafeMutableBufferPointer { sp in
                    let out = sp
                    parallelFor(workers) { w in
                        var tile = [Float](repeating: 0, count: b * b)
                        // Tiles are taken in row-block order, so a worker meets the same row block
                        // several times running: it is packed once for all of them.
                        let packedRows = packed.flatMap { $0.first.map { PackedRows(path: $0.path) } }
                        var packedRowBlock = -1
                        tile.withUnsafeMutableBufferPointer { tp in
                            let t = tp.baseAddress!
                            while true {
                                lock.lock()
                                let ti = nextTile
                                nextTile += 1
                                lock.unlock()
                                if ti >= tiles.count { break }
                                if ti & 15 == 0 { progress.update(ti) }
                                let (bi, bj) = tiles[ti]
                                let r0 = bi * b, rn = min(b, n - r0), c0 = bj * b, cn = min(b, n - c0)
                                if let packed, let packedRows {
                                    if packedRowBlock != bi {
                                        packedRows.pack(m: rn, k: d, a: x.row(r0), lda: x.stride)
                                        packedRowBlock = bi
                                    }
                                    packedRows.multiply(by: packed[bj], c: t, ldc: cn)
                                } else {
                                    SGEMM.multiply(m: rn, n: cn, k: d, a: x.row(r0), lda: x.stride, b: x.row(c0), ldb: x.stride,
                                                   bTransposed: true, c: t, ldc: cn)
                                }
                                body(&out[w], Tile(rowStart: r0, rowCount: rn, columnStart: c0, columnCount: cn, scores: UnsafePointer(t)))
                            }
                        }
                    }
                }
            }
        }
        progress.end()
        return states
    }

    /// Above this many bytes of rows, `forEachTile` packs each tile's column block itself.
    static let prepackLimitBytes = 2 << 30
}

/// `rows` top-k heaps in flat arrays (one min-heap of k (score, row) pairs per row; the root is
/// the worst kept). The order is `TopK`'s: higher score, then lower row, is better.
struct HeapBank {
    let k: Int
    var scores: [Float]
    var rowsOf: [Int32]
    var counts: [Int32]

    init(rows: Int, k: Int) {
        self.k = k
        scores = [Float](repeating: -.infinity, count: rows * k)
        rowsOf = [Int32](repeating: .max, count: rows * k)
        counts = [Int32](repeating: 0, count: rows)
    }

    @inline(__always) static func better(_ s1: Float, _ r1: Int32, than s2: Float, _ r2: Int32) -> Bool {
        BoundedHeap.better(s1, r1, than: s2, r2)
    }

    @inline(__always) func threshold(_ h: Int) -> Float { Int(counts[h]) < k ? -.infinity : scores[h * k] }

    @inline(__always) mutating func push(_ h: Int, _ score: Float, _ row: Int32) {
        let base = h * k, k = self.k, count = Int(counts[h])
        let n = scores.withUnsafeMutableBufferPointer { sp in
            rowsOf.withUnsafeMutableBufferPointer { rp in
                BoundedHeap.push(score, row, scores: sp.baseAddress! + base, rows: rp.baseAddress! + base, count: count, k: k)
            }
        }
        counts[h] = Int32(n)
    }

    mutating func merge(_ other: HeapBank) {
        for h in 0..<counts.count {
            for e in 0..<Int(other.counts[h]) { push(h, other.scores[h * k + e], other.rowsOf[h * k + e]) }
        }
    }

    /// Each row's entries, best first, row-major; nil if some heap is not full (NaN scores).
    func sortedRows() -> [Int32]? {
        var out = [Int32](repeating: 0, count: rowsOf.count)
        for h in 0..<counts.count {
            guard Int(counts[h]) == k else { return nil }
            let e = (0..<k).map { (scores[h * k + $0], rowsOf[h * k + $0]) }
                .sorted { Self.better($0.0, $0.1, than: $1.0, $1.1) }
            for (i, v) in e.enumerated() { out[h * k + i] = v.1 }
        }
        return out
    }
}
