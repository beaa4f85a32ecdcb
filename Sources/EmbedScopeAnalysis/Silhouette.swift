import CBLAS
import Dispatch
import Foundation
import Synchronization
import EmbedScopeCore

/// The exact silhouette, blocked on BLAS.
///
/// For every evaluated row i we need S[i][c] = Σ_{j in class c} ‖x_i − x_j‖ for all classes c
/// (scikit-learn's `_silhouette_reduce`). Rows are taken in class order (positions, see
/// `ClassLayout`) and cut into blocks of `blockRows`; a tile is a pair of blocks, its dot
/// products come from one GEMM, and its distances are summed in Double along each tile row and
/// then added to the per-class sums in fixed point (exact, so independent of which worker ran
/// which tile; see `run`).
/// Exact mode visits each unordered block pair once and adds every distance to both sides (on a
/// diagonal tile, only the pairs j < i are computed: our kernels skip the micro-tiles above the
/// diagonal); sampled mode visits (sample block × every block).
///
/// Precision. On unit rows d² = 2 − 2cos, and computing it as ‖a‖² + ‖b‖² − 2a·b from a
/// float32 dot product cancels badly when a and b are close (tight classes, near-duplicates):
/// the dot product's rounding error (≈ ε₃₂·√dim·‖a‖‖b‖) is then comparable to d² itself.
/// Two measures remove this:
/// 1. Class centering. With a' = a − μ_{c(a)} (μ the class centroid, rounded to Float),
///    d² = ‖a'‖² + ‖b'‖² − 2a'·b' + ‖μ_{c(a)} − μ_{c(b)}‖² + 2Q[a][c(b)] + 2Q[b][c(a)],
///    Q[p][c] = a'_p·(μ_{c(p)} − μ_c). Only a'·b' comes from the GEMM; its error now scales with
///    ‖a'‖‖b'‖ (the class spread), not with 1. Norms, Q and the centroid distances are Double.
/// 2. Refinement. A pair whose computed d² is below `refineBelow`·‖a'‖‖b'‖ — where the GEMM's
///    error could still matter: near-duplicates, and every row with itself — is recomputed as
///    Σ(a_k − b_k)² in Double from the stored rows. In ordinary data this touches only
///    self-pairs and duplicates.
/// The `.float64` kernel runs the same scheme on converted blocks through `dgemm`, as a
/// reference.
///
/// Strassen. In exact mode on our own kernels, a tile of two full blocks (2h rows each, away
/// from the diagonal) is multiplied with one level of Strassen–Winograd (CKernels/strassen.c):
/// 7 products of h × h × d/2 instead of the 8 the plain product amounts to, 12.5 % fewer
/// multiply-adds. Its rounding differs: entry (i, j) also carries that of rows i ± h and j ± h,
/// bounded by a few times ε₃₂·√d·τ_i·τ_j with τ the larger centered norm of each pair; the
/// refinement test there is d² < 4·refineBelow·τ_i·τ_j. Diagonal tiles and the last, partial
/// block use the plain product.
struct SilhouetteEngine {
    let x: RowMatrix
    let layout: ClassLayout
    let moments: ClassMoments
    let options: SilhouetteOptions

    /// On a Strassen tile, a pair is recomputed in Double when d² < this × refineBelow ×
    /// τ_i·τ_j, τ the larger centered norm of a row and its partner (i ± h): the tile's entries
    /// carry the rounding of both rows of each pair, a few times the plain product's (strassen.c).
    static let strassenRefineFactor = 4.0

    /// Per-class distance sums S (rows × K) for the evaluated positions `rowPositions`
    /// (ascending; nil means every position, computed with symmetry), and the number of
    /// distance evaluations (other than a row with itself) that took the exact Double path.
    func classDistanceSums(rowPositions: [Int]?, progress: ProgressSink) -> (sums: [Double], refinedPairs: Int, strassenTiles: Int) {
        switch options.kernel {
        case .float32: return run(Float.self, rowPositions: rowPositions, progress: progress)
        case .float64: return run(Double.self, rowPositions: rowPositions, progress: progress)
        }
    }

    /// An upper estimate of the memory `classDistanceSums` allocates (the rows themselves are
    /// mapped already): the packed column blocks, the per-class tables, and each worker's
    /// blocks, tiles and sums. Checked against an address-space limit before the work.
    func estimatedBytes(evaluatedRows: Int) -> Double {
        let n = Double(x.rows), d = Double(x.dim), k = Double(layout.classCount)
        let b = Double(min(max(1, options.blockRows), max(1, x.rows))), t = Double(max(1, options.threads)), rows = Double(evaluatedRows)
        let scalar: Double = options.kernel == .float64 ? 8 : 4
        var total = 2 * n * d * 4                       // column blocks packed once (Strassen's side: twice the rows)
        total += n * k * 8 + 2 * n * 8 + k * k * 8 + 2 * k * d * 8
        total += t * (3 * b * d * scalar + b * b * scalar + (12 * b + 2 * b * k) * 8 + 3 * b * d * 4 + b * b)
        total += 2 * t * rows * k * 8                   // each worker's sums, and their total
        return total + 8 * 1048576                      // tables, tile lists
    }

    private struct Block {
        let start: Int   // offset into the positions array
        let count: Int
    }

    private struct Run {
        let cls: Int
        let lo: Int      // offsets within the block
        let hi: Int
    }

    private func run<T: SilhouetteScalar>(_: T.Type, rowPositions: [Int]?, progress: ProgressSink) -> (sums: [Double], refinedPairs: Int, strassenTiles: Int) {
        let n = x.rows, d = x.dim, k = layout.classCount
        let b = max(1, options.blockRows)
        let threads = max(1, options.threads)
        let symmetric = rowPositions == nil

        // Centroids rounded to Float (what the centered rows are relative to), and in Double.
        let mf = moments.means.map { Float($0) }
        let md = mf.map { Double($0) }
        // ‖μ_a − μ_b‖², K × K, from direct differences.
        var cc = [Double](repeating: 0, count: k * k)
        for i in 0..<k {
            for j in (i + 1)..<max(i + 1, k) {
                var s = 0.0
                for t in 0..<d { let e = md[i * d + t] - md[j * d + t]; s += e * e }
                cc[i * k + j] = s; cc[j * k + i] = s
            }
        }

        let allPositions = Array(0..<n)
        let rowPos = rowPositions ?? allPositions
        let rowBlocks = stride(from: 0, to: rowPos.count, by: b).map { Block(start: $0, count: min(b, rowPos.count - $0)) }
        let colBlocks = stride(from: 0, to: n, by: b).map { Block(start: $0, count: min(b, n - $0)) }
        var tiles: [(Int, Int)] = []
        for i in 0..<rowBlocks.count {
            for j in (symmetric ? i : 0)..<colBlocks.count { tiles.append((i, j)) }
        }
        // What a worker claims at a time: on the symmetric product a run of one row block's tiles
        // (the longest rows first), so that one worker loads and packs the row block for all of
        // them — claimed tile by tile in row order, both workers took tiles of the same row block
        // and each packed it (31 Strassen row packs for 16 row blocks at 10k × 1280). A run holds
        // at most a quarter of a thread's share of the tiles, so that many threads still find
        // work (2 threads at 10k rows: whole rows; 32: single tiles). Otherwise single tiles.
        let runLength = symmetric ? Swift.max(1, tiles.count / (4 * threads)) : 1
        var units: [Range<Int>] = []
        var u = 0
        while u < tiles.count {
            var e = u + 1
            while e < tiles.count, e - u < runLength, tiles[e].0 == tiles[u].0 { e += 1 }
            units.append(u..<e)
            u = e
        }

        // Float32 on our own kernels: every column block's centered rows are packed once into
        // the GEMM's panel layout (in the pass below, from the rows it centers anyway), instead of
        // re-centered and re-packed in every tile that uses them (each block is the B side of up
        // to n / b tiles). Costs one more copy of the rows, so only below `prepackLimitBytes`;
        // above it tiles pack their own B.
        let gemmPath = SGEMM.path
        let prepack = T.self == Float.self && gemmPath != .openblas
            && !n.multipliedReportingOverflow(by: d).overflow
            && n.multipliedReportingOverflow(by: d).partialValue <= options.prepackLimitBytes / 4
        // Strassen–Winograd on the full off-diagonal tiles (exact mode): their column blocks are
        // packed as the product's column side (7/4 of the block) instead, and need twice the
        // rows' bytes under the limit; the last, partial block keeps the plain packing, and a
        // diagonal tile packs its block in place.
        let strassenHalf: Int? = {
            guard prepack, symmetric, b % 2 == 0, b < n else { return nil }
            switch options.strassen {
            case .never: return nil
            case .always: break
            case .automatic:
                let minimumRows = options.strassenMinimumRows ?? SGEMM.strassenMinimumRows(path: gemmPath)
                guard b >= 128, d >= 128, n >= minimumRows else { return nil }
            }
            guard n.multipliedReportingOverflow(by: d).partialValue <= options.prepackLimitBytes / 8 else { return nil }
            return b / 2
        }()
        var packedSlots = [PackedMatrix?](repeating: nil, count: prepack ? colBlocks.count : 0)
        var strassenSlots = [StrassenBlock?](repeating: nil, count: strassenHalf != nil ? colBlocks.count : 0)

        // ‖a'‖² and Q for every position. With few classes the rows go through Double in chunks
        // of 16 (160 KB at dim 1280, in L2) rather than a whole block (5 MB at b = 512, written
        // to memory and read back); with many, a whole block, so that each 32-class slice of the
        // centroids is read once per block (`doubleProductsTransposed`).
        var na = [Double](repeating: 0, count: n)
        var q = [Double](repeating: 0, count: n * k)
        let prepBlocks = colBlocks
        let chunkRows = k <= 32 ? Swift.min(16, b) : b
        mf.withUnsafeBufferPointer { mfp in
        md.withUnsafeBufferPointer { mdp in
        na.withUnsafeMutableBufferPointer { nap in
        q.withUnsafeMutableBufferPointer { qp in
        packedSlots.withUnsafeMutableBufferPointer { slots in
        strassenSlots.withUnsafeMutableBufferPointer { sslots in
            let naBase = nap.baseAddress!, qBase = qp.baseAddress!, slotBase = slots.baseAddress, strassenBase = sslots.baseAddress
            // Blocks are claimed as threads come free, not dealt out in turn: packing a block
            // first-touches its memory (~5 MB under Strassen), and fresh pages cost from 0.7 to
            // 7 GB/s here depending on the host; dealt out, one thread was seen packing alone
            // for the last 50 ms.
            let blockClaims = Claims(prepBlocks.count)
            BLASThreads.single {
                parallelFor(threads) { _ in
                    let buf = UnsafeMutablePointer<T>.allocate(capacity: b * d)
                    let dbuf = UnsafeMutablePointer<Double>.allocate(capacity: chunkRows * d)
                    let pbuf = UnsafeMutablePointer<Double>.allocate(capacity: chunkRows * k)
                    defer { buf.deallocate(); dbuf.deallocate(); pbuf.deallocate() }
                    for blk in blockClaims {
                        let p0 = prepBlocks[blk].start, m = prepBlocks[blk].count
                        for r0 in stride(from: 0, to: m, by: chunkRows) {
                            let rows = Swift.min(chunkRows, m - r0)
                            for r in r0..<(r0 + rows) {
                                let p = p0 + r, c = Int(layout.classAt[p])
                                T.center(x.row(layout.order[p]), mfp.baseAddress! + c * d, mdp.baseAddress! + c * d, d, into: buf + r * d)
                                naBase[p] = convertingSumOfSquares(buf + r * d, d, into: dbuf + (r - r0) * d)
                            }
                            // P = A'·μᵀ (rows × K); Q[p][c] = P[p][c(p)] − P[p][c]. Double dot products
                            // of our own (not dgemm: on OpenBLAS's generic core it was ~14 % of a sampled run).
                            doubleProductsTransposed(dbuf, rows, d, mdp.baseAddress!, k, into: pbuf)
                            for r in 0..<rows {
                                let p = p0 + r0 + r, own = pbuf[r * k + Int(layout.classAt[p])]
                                for c in 0..<k { qBase[p * k + c] = own - pbuf[r * k + c] }
                            }
                        }
                        if let h = strassenHalf, m == b, let strassenBase {
                            // T is Float here: the centered rows, as the columns side of Strassen tiles.
                            let block = StrassenBlock(path: gemmPath, side: .columns)
                            UnsafeRawPointer(buf).withMemoryRebound(to: Float.self, capacity: m * d) { block.pack(h: h, k: d, x: $0, ldx: d) }
                            strassenBase[blk] = block
                        } else if prepack, let slotBase {
                            // T is Float here: the centered rows, as the B operand [d × m].
                            slotBase[blk] = UnsafeRawPointer(buf).withMemoryRebound(to: Float.self, capacity: m * d) {
                                PackedMatrix(k: d, n: m, b: $0, ldb: d, transposed: true, path: gemmPath)
                            }
                        }
                    }
                }
            }
        }}}}}}
        // Every column block packed once, plainly or (full blocks under Strassen) as a column side.
        let packedBlocks: [PackedMatrix?]? = prepack ? packedSlots : nil
        let strassenBlocks = strassenSlots
        let sn = na.map { $0.squareRoot() }

        // Sums in fixed point: every tile's contribution to S[i][c] is rounded to a multiple of
        // quantum = n·bound / 2^62 (bound ≥ any distance here: twice the largest row norm) and
        // added as an Int64. Integer addition is exact and associative, so S does not depend on
        // which worker took which tile: workers claim runs of tiles as they go (no core idles at the end
        // behind a slowed one) and the result is the same on every run, thread count and machine.
        // The rounding error is ≤ quantum/2 per tile contribution, below 10^-17 of any S here,
        // smaller than Double summation's own. Non-finite contributions poison the result (NaN).
        var centroidNorm = [Double](repeating: 0, count: k)
        for c in 0..<k { centroidNorm[c] = (0..<d).reduce(0.0) { $0 + md[c * d + $1] * md[c * d + $1] }.squareRoot() }
        var largestNorm = 0.0
        for p in 0..<n { largestNorm = Swift.max(largestNorm, sn[p] + centroidNorm[Int(layout.classAt[p])]) }
        let fixedRange = 2 * largestNorm * Double(n) * 1.01
        let toFixed = fixedRange > 0 && fixedRange.isFinite ? 0x1p62 / fixedRange : 0

        // Per-worker fixed-point sums (rows of S indexed like rowPos), added up exactly at the end.
        let sRows = rowPos.count
        var partial = [[Int64]](repeating: [], count: threads)
        var poisoned = [Bool](repeating: false, count: threads)
        var refinedPerWorker = [Int](repeating: 0, count: threads)
        let strassenTiles = Atomic<Int>(0)
        let rho = max(0, options.refineBelow)
        let counter = TileCounter(progress: progress, total: tiles.count)
        let unitClaims = Claims(units.count)
        progress.begin("silhouette", total: tiles.count)
        mf.withUnsafeBufferPointer { mfp in
        md.withUnsafeBufferPointer { mdp in
        na.withUnsafeBufferPointer { nap in
        sn.withUnsafeBufferPointer { snp in
        q.withUnsafeBufferPointer { qp in
        cc.withUnsafeBufferPointer { ccp in
        rowPos.withUnsafeBufferPointer { rpp in
        partial.withUnsafeMutableBufferPointer { outp in
        refinedPerWorker.withUnsafeMutableBufferPointer { refp in
        poisoned.withUnsafeMutableBufferPointer { poisonp in
            let outBase = outp.baseAddress!, refinedOut = refp.baseAddress!, poisonOut = poisonp.baseAddress!
            let naAll = nap.baseAddress!, snAll = snp.baseAddress!, qAll = qp.baseAddress!, ccBase = ccp.baseAddress!
            BLASThreads.single {
                parallelFor(threads) { t in
                    var sums = [Int64](repeating: 0, count: sRows * k)
                    var poison = false
                    @inline(__always) func add(_ v: Double, to p: UnsafeMutablePointer<Int64>) {
                        let q = (v * toFixed).rounded()
                        if q.magnitude < 0x1p62 { p.pointee &+= Int64(q) } else { poison = true }   // NaN lands here too
                    }
                    let bufI = UnsafeMutablePointer<T>.allocate(capacity: b * d)
                    let bufJ = UnsafeMutablePointer<T>.allocate(capacity: b * d)
                    let g = UnsafeMutablePointer<T>.allocate(capacity: b * b)
                    let scratch = UnsafeMutablePointer<Double>.allocate(capacity: 12 * b + 2 * b * k)
                    defer { bufI.deallocate(); bufJ.deallocate(); g.deallocate(); scratch.deallocate() }
                    let naI = scratch, snI = scratch + b, naJ = scratch + 2 * b, snJ = scratch + 3 * b
                    let w = scratch + 4 * b, colAcc = scratch + 5 * b, rowScratch = scratch + 6 * b
                    let qI = scratch + 10 * b, qJ = qI + b * k
                    // Strassen tiles: the exactness thresholds of each row from the pair (i, i ± h).
                    let tauI = qJ + b * k, tauJ = tauI + b
                    let strassenI = strassenHalf.map { _ in StrassenBlock(path: gemmPath, side: .rows) }
                    let strassenScratch = UnsafeMutablePointer<Float>.allocate(capacity: strassenHalf.map { $0 * $0 } ?? 1)
                    defer { strassenScratch.deallocate() }
                    var posI = [Int](repeating: 0, count: b), posJ = [Int](repeating: 0, count: b)
                    var runsI: [Run] = [], runsJ: [Run] = []
                    var loadedI = -1, plainFor = -1, strassenFor = -1
                    var refined = 0
                    // With prepacked column blocks, the row block is packed once per block too.
                    let packedI = prepack ? PackedRows(path: gemmPath) : nil

                    func load(_ positions: UnsafePointer<Int>, _ m: Int, into buf: UnsafeMutablePointer<T>?,
                              na naOut: UnsafeMutablePointer<Double>, sn snOut: UnsafeMutablePointer<Double>,
                              q qOut: UnsafeMutablePointer<Double>, pos: inout [Int], runs: inout [Run], scale: Double) {
                        runs.removeAll(keepingCapacity: true)
                        for r in 0..<m {
                            let p = positions[r], c = Int(layout.classAt[p])
                            pos[r] = p
                            if let buf {
                                T.center(x.row(layout.order[p]), mfp.baseAddress! + c * d, mdp.baseAddress! + c * d, d, into: buf + r * d)
                            }
                            naOut[r] = naAll[p]
                            snOut[r] = snAll[p] * scale
                            (qOut + r * k).update(from: qAll + p * k, count: k)
                            if let last = runs.last, last.cls == c { runs[runs.count - 1] = Run(cls: c, lo: last.lo, hi: r + 1) } else {
                                runs.append(Run(cls: c, lo: r, hi: r + 1))
                            }
                        }
                    }

                    sums.withUnsafeMutableBufferPointer { sp in
                        let s = sp.baseAddress!
                        var claimed = unitClaims.makeIterator()
                        var run = 0..<0   // what is left of the run of tiles this worker claimed
                        while true {
                            if run.isEmpty {
                                guard let unit = claimed.next() else { break }
                                run = units[unit]
                            }
                            let tile = run.lowerBound
                            run = (tile + 1)..<run.upperBound
                            let (bi, bj) = tiles[tile]
                            let blockI = rowBlocks[bi], blockJ = colBlocks[bj]
                            let mI = blockI.count, mJ = blockJ.count
                            if loadedI != bi {
                                load(rpp.baseAddress! + blockI.start, mI, into: bufI, na: naI, sn: snI, q: qI, pos: &posI, runs: &runsI, scale: 1)
                                loadedI = bi
                                // Packed as the tiles of this row block need it (plainly, or as the
                                // rows side of Strassen tiles), on first use.
                                plainFor = -1
                                strassenFor = -1
                            }
                            let diagonal = symmetric && bi == bj
                            let jBuf: UnsafeMutablePointer<T>
                            if diagonal {
                                jBuf = bufI
                                for r in 0..<mJ { naJ[r] = naI[r]; snJ[r] = snI[r] * rho; posJ[r] = posI[r] }
                                (qJ).update(from: qI, count: mJ * k)
                                runsJ = runsI
                            } else {
                                allPositions.withUnsafeBufferPointer { ap in
                                    load(ap.baseAddress! + blockJ.start, mJ, into: packedBlocks == nil ? bufJ : nil,
                                         na: naJ, sn: snJ, q: qJ, pos: &posJ, runs: &runsJ, scale: rho)
                                }
                                jBuf = bufJ
                            }
                            var ti = snI, tj = snJ
                            if let strassenI, let h = strassenHalf, !diagonal, mI == b, mJ == b, let columns = strassenBlocks[bj] {
                                // T is Float here. A tile entry now carries the rounding of rows i and
                                // i ± h (and of columns j, j ± h): its exactness test uses the larger
                                // norm of each pair, and `strassenRefineFactor` times the threshold.
                                if strassenFor != bi {
                                    bufI.withMemoryRebound(to: Float.self, capacity: mI * d) { strassenI.pack(h: h, k: d, x: $0, ldx: d) }
                                    strassenFor = bi
                                }
                                g.withMemoryRebound(to: Float.self, capacity: mI * mJ) { c in
                                    strassenI.multiply(by: columns, c: c, ldc: mJ, scratch: strassenScratch)
                                }
                                for r in 0..<h {
                                    let i = Swift.max(snI[r], snI[r + h]) * Self.strassenRefineFactor
                                    tauI[r] = i; tauI[r + h] = i
                                    let j = Swift.max(snJ[r], snJ[r + h])
                                    tauJ[r] = j; tauJ[r + h] = j
                                }
                                ti = tauI; tj = tauJ
                                strassenTiles.add(1, ordering: .relaxed)
                            } else if let packedBlocks, let packedI {
                                // T is Float here (packedBlocks is nil otherwise). A full block under
                                // Strassen is packed only as a column side: its diagonal tile packs it here.
                                if plainFor != bi {
                                    bufI.withMemoryRebound(to: Float.self, capacity: mI * d) { packedI.pack(m: mI, k: d, a: $0, lda: d) }
                                    plainFor = bi
                                }
                                g.withMemoryRebound(to: Float.self, capacity: mI * mJ) { c in
                                    if let plain = packedBlocks[bj] {
                                        packedI.multiply(by: plain, c: c, ldc: mJ, strictlyLower: diagonal)
                                    } else {
                                        precondition(diagonal, "a full column block without plain packing met off the diagonal")
                                        bufI.withMemoryRebound(to: Float.self, capacity: mI * d) {
                                            packedI.multiplyStrictlyLowerBySelf(a: $0, lda: d, c: c, ldc: mJ)
                                        }
                                    }
                                }
                            } else {
                                T.gemm(mI, mJ, d, bufI, jBuf, g)
                            }
                            // A row with itself: force the exact path (which returns 0).
                            let j0 = posJ[0]
                            for i in 0..<mI {
                                let off = posI[i] - j0
                                if off >= 0 && off < mJ && posJ[off] == posI[i] { g[i * mJ + off] = .infinity }
                            }
                            // Symmetric: each pair once, its distance added to both rows' sums; on a
                            // diagonal tile that is the pairs j < i (a row with itself adds 0).
                            let colSide = symmetric
                            let rowBase = s + blockI.start * k
                            let colBase = s + blockJ.start * k
                            for rI in runsI {
                                let ci = rI.cls
                                for rJ in runsJ {
                                    if diagonal && rJ.lo + 1 >= rI.hi { continue }   // no j < i here
                                    let cj = rJ.cls
                                    let c2 = ccBase[ci * k + cj]
                                    for j in rJ.lo..<rJ.hi { w[j] = naJ[j] + 2 * qJ[j * k + ci]; colAcc[j] = 0 }
                                    for i in rI.lo..<rI.hi {
                                        let hi = diagonal ? Swift.min(rJ.hi, i) : rJ.hi
                                        if hi <= rJ.lo { continue }
                                        let u = naI[i] + c2 + 2 * qI[i * k + cj]
                                        let acc = accumulateRow(T.self, g + i * mJ, lo: rJ.lo, hi: hi, u: u, w: w, ti: ti[i], tj: tj,
                                                                r: rowScratch, colAcc: colSide ? colAcc : nil) { j in
                                            let a = layout.order[posI[i]], b = layout.order[posJ[j]]
                                            if a != b { refined += 1 }
                                            return exactSquaredDistance(a, b)
                                        }
                                        add(acc, to: rowBase + i * k + cj)
                                    }
                                    if colSide {
                                        for j in rJ.lo..<rJ.hi { add(colAcc[j], to: colBase + j * k + ci) }
                                    }
                                }
                            }
                            counter.tick()
                        }
                    }
                    outBase[t] = sums
                    poisonOut[t] = poison
                    refinedOut[t] = refined
                }
            }
        }}}}}}}}}}
        progress.end()
        var fixed = partial[0]
        for p in partial.dropFirst() where !p.isEmpty {
            for i in 0..<fixed.count { fixed[i] &+= p[i] }
        }
        let total = poisoned.contains(true) ? [Double](repeating: .nan, count: fixed.count)
            : fixed.map { toFixed > 0 ? Double($0) / toFixed : 0 }
        return (total, refinedPerWorker.reduce(0, +), strassenTiles.load(ordering: .relaxed))
    }

    /// Σ_j sqrt(d²_j) over j in lo..<hi of one tile row, where d²_j = u + w[j] − 2·g[j]; pairs
    /// with d²_j < ti·tj[j] are recomputed by `exact`. Adds each distance to colAcc[j] if given.
    /// Written as plain loops over a scratch row `r` so that each one vectorizes (conversion,
    /// compare-and-count, sqrt, column sums); only the row sum keeps a fixed 4-lane order.
    @inline(__always)
    private func accumulateRow<T: SilhouetteScalar>(_: T.Type, _ g: UnsafePointer<T>, lo: Int, hi: Int, u: Double,
                                                    w: UnsafePointer<Double>, ti: Double, tj: UnsafePointer<Double>,
                                                    r: UnsafeMutablePointer<Double>,
                                                    colAcc: UnsafeMutablePointer<Double>?, exact: (Int) -> Double) -> Double {
        if T.self == Float.self {
            // Float32 tiles: two fused passes of our C kernels (eight Double lanes on AVX-512).
            let n = hi - lo
            let low = UnsafeRawPointer(g + lo).withMemoryRebound(to: Float.self, capacity: n) {
                SilhouetteRowKernel.squaredDistances(n, g: $0, u: u, w: w + lo, ti: ti, tj: tj + lo, into: r + lo)
            }
            if low {
                for j in lo..<hi where r[j] < ti * tj[j] { r[j] = exact(j) }
            }
            return SilhouetteRowKernel.distanceSum(n, r + lo, colAcc: colAcc.map { $0 + lo })
        }
        for j in lo..<hi { r[j] = u + w[j] - 2 * T.double(g[j]) }
        // Any r[j] < ti·tj[j]? The sign bits of the differences, OR-ed (a reduction that
        // vectorizes; a NaN may raise a false alarm, which the exact test below ignores).
        var signs: UInt64 = 0
        for j in lo..<hi { signs |= (r[j] - ti * tj[j]).bitPattern }
        if signs >> 63 != 0 {
            for j in lo..<hi where r[j] < ti * tj[j] { r[j] = exact(j) }
        }
        // Every r[j] is ≥ 0 here; saying so lets the compiler drop sqrt's errno path and vectorize.
        for j in lo..<hi { r[j] = (r[j] < 0 ? 0 : r[j]).squareRoot() }
        if let colAcc {
            for j in lo..<hi { colAcc[j] += r[j] }
        }
        var acc4 = SIMD4<Double>()
        var j = lo
        while j + 4 <= hi {
            acc4 += UnsafeRawPointer(r + j).loadUnaligned(as: SIMD4<Double>.self)
            j += 4
        }
        var acc = acc4.sum()
        while j < hi { acc += r[j]; j += 1 }
        return acc
    }

    /// Σ v² of a row, in Double, storing the row as Double in `out` on the way; eight
    /// independent lanes (a single running sum was latency-bound).
    @inline(__always)
    private func convertingSumOfSquares<T: SilhouetteScalar>(_ x: UnsafePointer<T>, _ d: Int, into out: UnsafeMutablePointer<Double>) -> Double {
        var acc = SIMD8<Double>()
        var j = 0
        while j + 8 <= d {
            var v = SIMD8<Double>()
            for l in 0..<8 { v[l] = T.double(x[j + l]) }
            UnsafeMutableRawPointer(out + j).storeBytes(of: v, as: SIMD8<Double>.self)
            acc += v * v
            j += 8
        }
        var s = acc.sum()
        while j < d {
            let v = T.double(x[j])
            out[j] = v
            s += v * v
            j += 1
        }
        return s
    }

    /// out[r · k + c] = Σ_j a[r · d + j] · b[c · d + j] (a [m × d], b [k × d], both row-major
    /// Double): four rows against one row of b at a time, eight-lane fused multiply-adds, so a row
    /// of b is read once per four rows of a; b in blocks of 32 rows, which stay in L2 while all
    /// of a passes (many classes).
    private func doubleProductsTransposed(_ a: UnsafePointer<Double>, _ m: Int, _ d: Int, _ b: UnsafePointer<Double>, _ k: Int,
                                          into out: UnsafeMutablePointer<Double>) {
        for c0 in stride(from: 0, to: k, by: 32) {
            doubleProductsTransposed(a, m, d, b, classes: c0..<Swift.min(k, c0 + 32), k, into: out)
        }
    }

    private func doubleProductsTransposed(_ a: UnsafePointer<Double>, _ m: Int, _ d: Int, _ b: UnsafePointer<Double>,
                                          classes: Range<Int>, _ k: Int, into out: UnsafeMutablePointer<Double>) {
        typealias V = SIMD8<Double>
        let d8 = d & ~7
        @inline(__always) func load(_ p: UnsafePointer<Double>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        var r = 0
        while r < m {
            let rows = Swift.min(4, m - r)
            let a0 = a + r * d, a1 = a + (r + Swift.min(1, rows - 1)) * d
            let a2 = a + (r + Swift.min(2, rows - 1)) * d, a3 = a + (r + Swift.min(3, rows - 1)) * d
            for c in classes {
                let bc = b + c * d
                var s0 = V(), s1 = V(), s2 = V(), s3 = V()
                var j = 0
                while j < d8 {
                    let w = load(bc + j)
                    s0.addProduct(load(a0 + j), w)
                    s1.addProduct(load(a1 + j), w)
                    s2.addProduct(load(a2 + j), w)
                    s3.addProduct(load(a3 + j), w)
                    j += 8
                }
                var t0 = s0.sum(), t1 = s1.sum(), t2 = s2.sum(), t3 = s3.sum()
                while j < d {
                    let w = bc[j]
                    t0 += a0[j] * w; t1 += a1[j] * w; t2 += a2[j] * w; t3 += a3[j] * w
                    j += 1
                }
                out[r * k + c] = t0
                if rows > 1 { out[(r + 1) * k + c] = t1 }
                if rows > 2 { out[(r + 2) * k + c] = t2 }
                if rows > 3 { out[(r + 3) * k + c] = t3 }
            }
            r += rows
        }
    }

    /// ‖x_a − x_b‖² in Double from the stored rows (0 for a row with itself).
    private func exactSquaredDistance(_ a: Int, _ b: Int) -> Double {
        if a == b { return 0 }
        let pa = x.row(a), pb = x.row(b), d = x.dim
        var s4 = SIMD4<Double>()
        var t = 0
        while t + 4 <= d {
            let e = SIMD4<Double>(Double(pa[t]) - Double(pb[t]), Double(pa[t + 1]) - Double(pb[t + 1]),
                                  Double(pa[t + 2]) - Double(pb[t + 2]), Double(pa[t + 3]) - Double(pb[t + 3]))
            s4 += e * e
            t += 4
        }
        var s = s4.sum()
        while t < d {
            let e = Double(pa[t]) - Double(pb[t])
            s += e * e
            t += 1
        }
        return s
    }
}

/// Counts finished tiles for the progress sink.
private final class TileCounter: Sendable {
    private let done = Atomic<Int>(0)
    private let progress: ProgressSink

    init(progress: ProgressSink, total: Int) { self.progress = progress }

    func tick() {
        progress.update(done.add(1, ordering: .relaxed).newValue)
    }
}

/// The element type of the GEMM in the silhouette: float32 (sgemm) or float64 (dgemm).
protocol SilhouetteScalar: BinaryFloatingPoint {
    /// C[m × n] = A[m × k] · B[n × k]ᵀ, all packed row-major, single-threaded BLAS.
    static func gemm(_ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Self>, _ b: UnsafePointer<Self>, _ c: UnsafeMutablePointer<Self>)
    /// out = x − μ (μ given in Float and in Double).
    static func center(_ x: UnsafePointer<Float>, _ mf: UnsafePointer<Float>, _ md: UnsafePointer<Double>, _ d: Int,
                       into out: UnsafeMutablePointer<Self>)
    static func double(_ v: Self) -> Double
}

extension Float: SilhouetteScalar {
    @inline(__always)
    static func gemm(_ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>) {
        SGEMM.multiply(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, bTransposed: true, c: c, ldc: n)
    }

    @inline(__always)
    static func center(_ x: UnsafePointer<Float>, _ mf: UnsafePointer<Float>, _ md: UnsafePointer<Double>, _ d: Int,
                       into out: UnsafeMutablePointer<Float>) {
        for j in 0..<d { out[j] = x[j] - mf[j] }
    }

    @inline(__always) static func double(_ v: Float) -> Double { Double(v) }
}

extension Double: SilhouetteScalar {
    @inline(__always)
    static func gemm(_ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ c: UnsafeMutablePointer<Double>) {
        OpenBLASMemory.serialized {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(k), 0, c, Int32(n))
        }
    }

    @inline(__always)
    static func center(_ x: UnsafePointer<Float>, _ mf: UnsafePointer<Float>, _ md: UnsafePointer<Double>, _ d: Int,
                       into out: UnsafeMutablePointer<Double>) {
        for j in 0..<d { out[j] = Double(x[j]) - md[j] }
    }

    @inline(__always) static func double(_ v: Double) -> Double { v }
}
