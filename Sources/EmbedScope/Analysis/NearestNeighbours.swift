import CBLAS
import Dispatch
import Foundation

/// The k nearest neighbours of every row among the other rows (leave-one-out), by cosine
/// similarity of unit rows (inner product), exact.
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

/// All-vs-all k-NN, blocked on `sgemm`.
///
/// Query rows are cut into blocks of `blockRows`; the two cores take blocks in turn. For a
/// block, the candidate rows are visited in chunks of `chunkRows`: one `sgemm` gives
/// blockRows × chunkRows dot products, and each query keeps its k best in a `TopK` heap
/// (the row itself is skipped). Memory: per thread one blockRows × chunkRows tile plus
/// blockRows heaps, never rows × rows.
///
/// Ties: a higher cosine is nearer; at equal cosine the lower row number is nearer (`TopK`),
/// so the lists do not depend on the block sizes or the thread count.
public enum NearestNeighbours {
    public static func leaveOneOut(_ x: RowMatrix, k: Int, threads: Int = Scorer.defaultThreads, blockRows: Int = 256,
                                   chunkRows: Int = 2048, progress: ProgressSink = SilentProgress()) throws -> NeighbourLists {
        let n = x.rows, d = x.dim
        guard k >= 1 else { throw EmbedScopeError(.invalidArgument, "k must be at least 1, got \(k)") }
        guard k < n else {
            throw EmbedScopeError(.invalidArgument, "k = \(k) needs at least \(k + 1) rows (each row's neighbours exclude itself); this space has \(n)",
                                  hint: "use -k \(max(1, n - 1)) or less")
        }
        guard blockRows >= 1, chunkRows >= 1, threads >= 1 else {
            throw EmbedScopeError(.invalidArgument, "blockRows, chunkRows and threads must be at least 1")
        }
        let b = blockRows, chunk = chunkRows
        let blocks = (n + b - 1) / b
        var out = [Int32](repeating: 0, count: n * k)
        let lock = NSLock()
        var nextBlock = 0, doneRows = 0, incomplete = false
        progress.begin("neighbours", total: n)
        BLASThreads.single {
            out.withUnsafeMutableBufferPointer { op in
                let o = op
                DispatchQueue.concurrentPerform(iterations: min(threads, blocks)) { _ in
                    var tile = [Float](repeating: 0, count: b * min(chunk, n))
                    var heaps = [TopK](repeating: TopK(k: k), count: b)
                    tile.withUnsafeMutableBufferPointer { tp in
                        let t = tp.baseAddress!
                        while true {
                            lock.lock()
                            let blk = nextBlock
                            nextBlock += 1
                            lock.unlock()
                            if blk >= blocks { break }
                            let q0 = blk * b, qn = min(b, n - q0)
                            for i in 0..<qn { heaps[i] = TopK(k: k) }
                            var c0 = 0
                            while c0 < n {
                                let cn = min(chunk, n - c0)
                                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(qn), Int32(cn), Int32(d), 1,
                                            x.row(q0), Int32(x.stride), x.row(c0), Int32(x.stride), 0, t, Int32(cn))
                                for i in 0..<qn {
                                    let s = t + i * cn
                                    let me = q0 + i
                                    var threshold = heaps[i].threshold
                                    for j in 0..<cn {
                                        let v = s[j]
                                        // `>=`: an equal score may still win on the lower row.
                                        if v >= threshold && c0 + j != me {
                                            heaps[i].push(v, c0 + j)
                                            threshold = heaps[i].threshold
                                        }
                                    }
                                }
                                c0 += cn
                            }
                            for i in 0..<qn {
                                let hits = heaps[i].sorted()
                                if hits.count < k { lock.lock(); incomplete = true; lock.unlock() }
                                for (r, h) in hits.enumerated() { o[(q0 + i) * k + r] = Int32(h.row) }
                            }
                            lock.lock()
                            doneRows += qn
                            let done = doneRows
                            lock.unlock()
                            progress.update(done)
                        }
                    }
                }
            }
        }
        progress.end()
        guard !incomplete else {
            throw EmbedScopeError(.nonFinite, "some similarities are NaN: the rows contain NaN or infinity",
                                  hint: "check the vectors (an index built by EmbedScope never holds them)")
        }
        return NeighbourLists(rows: n, k: k, indices: out)
    }
}
