import CBLAS
import CKernels
import Dispatch
import Foundation

/// Which single-precision GEMM runs the hot paths (model convolutions, silhouette and
/// neighbour tiles, batch queries, the probe). Our packed kernels (CKernels) run at the
/// machine's speed whatever OpenBLAS detects; OpenBLAS stays selectable as the reference.
package enum GEMMPath: String, CaseIterable, Sendable {
    case avx512
    case avx2
    case portable
    case openblas

    package var kernelPath: Int32? {
        switch self {
        case .avx512: return Int32(CK_PATH_AVX512.rawValue)
        case .avx2: return Int32(CK_PATH_AVX2.rawValue)
        case .portable: return Int32(CK_PATH_PORTABLE.rawValue)
        case .openblas: return nil
        }
    }

    /// Whether this CPU can run the path.
    package var isSupported: Bool {
        guard let p = kernelPath else { return true }
        return ck_path_supported(p) != 0
    }
}

/// The activation a GEMM epilogue applies (NaN propagates through all of them).
package enum GEMMActivation: Int32, Sendable {
    case none = 0
    case relu = 1
    case relu6 = 2
}

package enum SGEMM {
    /// The best own kernel this CPU supports.
    package static let bestPath: GEMMPath = {
        switch ck_best_path() {
        case Int32(CK_PATH_AVX512.rawValue): return .avx512
        case Int32(CK_PATH_AVX2.rawValue): return .avx2
        default: return .portable
        }
    }()

    /// The environment variable that forces a path (`avx512`, `avx2`, `portable`, `openblas`).
    package static let environmentVariable = "EMBEDSCOPE_GEMM"

    /// The path chosen by `EMBEDSCOPE_GEMM` when it names a path this CPU supports, else `bestPath`.
    package static let environmentPath: GEMMPath = {
        if let v = ProcessInfo.processInfo.environment[environmentVariable]?.lowercased(),
           let p = GEMMPath(rawValue: v), p.isSupported {
            return p
        }
        return bestPath
    }()

    /// The value of `EMBEDSCOPE_GEMM` when it is set but names no path this CPU runs (for `info --system`).
    package static var environmentRejected: String? {
        guard let v = ProcessInfo.processInfo.environment[environmentVariable], !v.isEmpty else { return nil }
        if let p = GEMMPath(rawValue: v.lowercased()), p.isSupported { return nil }
        return v
    }

    private static let overridePath = Locked<GEMMPath?>(nil)

    /// The CPU family when it is AMD's, else 0 (`ck_cpu_amd_family`): tuning choices that
    /// depend on how wide its FMA units are (Zen 4, family 25, runs AVX-512 on 256-bit units).
    package static let amdFamily = Int(ck_cpu_amd_family())

    /// Rows from which the exact silhouette multiplies its full off-diagonal tiles with one level
    /// of Strassen–Winograd by default (`SilhouetteOptions.strassen`): where that starts to pay.
    /// It saves 1/8 of each such tile's multiply-adds (the tiles grow as rows²) and costs an
    /// amount that grows with the rows only: every column block packed as its 7/4-size column
    /// side, in fresh memory (first-touch page clearing ran at 1–5 GB/s on the VMs measured). The
    /// faster the kernel, the more rows that takes. Measured on exact 10k–100k × 1280 silhouettes,
    /// alternated runs: AMD Zen 5 on AVX-512 (~540 GFLOP/s on two cores) 9 % slower with Strassen
    /// at 10k rows, 1.5 % slower at 20k, 4.5 % faster at 40k; the same CPU limited to AVX2 (half
    /// the rate) 5.6 % faster already at 10k; Zen 4 (AVX-512 on 256-bit units) faster at 10k too.
    /// So from 32,768 rows on AVX-512 from Zen 5 on (AMD family 26), and from the smallest
    /// qualifying block everywhere else, as before (Intel's AVX-512 servers, ~330 GFLOP/s on two
    /// cores, are not re-measured).
    package static func strassenMinimumRows(path: GEMMPath) -> Int {
        path == .avx512 && amdFamily >= 26 ? 32_768 : 0
    }

    /// The path new packed matrices and one-shot products use: an override set by `withPath`
    /// (tests, benchmarks), else `environmentPath`.
    package static var path: GEMMPath {
        overridePath.withLock { $0 } ?? environmentPath
    }

    /// Runs `body` with `path` as the default (for tests and benchmarks; not reentrant across threads).
    package static func withPath<T>(_ path: GEMMPath, _ body: () throws -> T) rethrows -> T {
        let before = overridePath.withLock { current in
            defer { current = path }
            return current
        }
        defer { overridePath.withLock { $0 = before } }
        return try body()
    }

    /// c[m × n] = act(a[m × k] · B + beta · c + bias (+ residual)), B given as `b` with leading
    /// dimension `ldb`: [k × n] when `bTransposed` is false, [n × k] (Bᵀ, one row per output
    /// column) when true; A likewise [m × k], or [k × m] (Aᵀ) when `aTransposed`. Packs B for
    /// this call; for a B used many times, keep a `PackedMatrix`.
    /// Runs on the calling thread (`threads: 1`) or splits the rows over `threads` threads.
    package static func multiply(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, aTransposed: Bool = false,
                                b: UnsafePointer<Float>, ldb: Int, bTransposed: Bool,
                                c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float = 0,
                                bias: UnsafePointer<Float>? = nil, residual: UnsafePointer<Float>? = nil, ldr: Int = 0,
                                activation: GEMMActivation = .none, path: GEMMPath? = nil, threads: Int = 1) {
        guard m > 0, n > 0 else { return }
        let p = path ?? Self.path
        if p == .openblas { BLASInfo.warnIfGeneric() }
        if p == .openblas && threads <= 1 {
            // No copy of B: OpenBLAS reads it where it is, on every core unless a caller's
            // `BLASThreads.single` scope is open (commands keep OpenBLAS on one thread otherwise).
            BLASThreads.allCores {
                OpenBLASMemory.serialized {
                    cblas_sgemm(CblasRowMajor, aTransposed ? CblasTrans : CblasNoTrans, bTransposed ? CblasTrans : CblasNoTrans,
                                Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
                }
            }
            var ep = ck_epilogue(beta: 0, bias: bias, residual: residual, ldr: ldr, activation: activation.rawValue)
            ck_epilogue_apply(m, n, c, ldc, &ep)
            return
        }
        let packed = PackedMatrix(k: k, n: n, b: b, ldb: ldb, transposed: bTransposed, path: p)
        packed.multiply(m: m, a: a, lda: lda, aTransposed: aTransposed, c: c, ldc: ldc, beta: beta, bias: bias,
                        residual: residual, ldr: ldr, activation: activation, threads: threads)
    }
}

/// The B operand of a GEMM ([k × n]: the weights of a layer, a tile of rows, a batch of
/// queries), packed once into the panel layout of one path. Immutable after init.
/// `@unchecked`: the panel storage is a raw allocation written only in `init`, read-only after.
package final class PackedMatrix: @unchecked Sendable {
    package let k: Int
    package let n: Int
    package let path: GEMMPath
    /// Columns per panel; a column range handed to `multiply` starts at a multiple of it.
    package let panelWidth: Int
    fileprivate let storage: UnsafeMutablePointer<Float>
    private let count: Int

    /// `b` is [k × n] with leading dimension `ldb`, or its transpose [n × k] when `transposed`.
    package init(k: Int, n: Int, b: UnsafePointer<Float>, ldb: Int, transposed: Bool, path: GEMMPath? = nil) {
        precondition(k >= 0 && n >= 0)
        self.k = k
        self.n = n
        let p = path ?? SGEMM.path
        self.path = p
        if let kp = p.kernelPath {
            panelWidth = Int(ck_nr(kp))
            count = ck_packed_b_count(kp, k, n)
            storage = Self.allocate(count)
            ck_pack_b(kp, k, n, b, transposed ? 1 : ldb, transposed ? ldb : 1, storage)
        } else {
            // OpenBLAS: a plain row-major [k × n] copy.
            panelWidth = 1
            count = max(1, k * n)
            storage = Self.allocate(count)
            for p in 0..<k {
                for j in 0..<n { storage[p * n + j] = transposed ? b[j * ldb + p] : b[p * ldb + j] }
            }
        }
    }

    /// Packs a Swift array: `b` row-major [k × n] (or [n × k] when `transposed`).
    package static func packing(_ b: [Float], k: Int, n: Int, transposed: Bool = false, path: GEMMPath? = nil) -> PackedMatrix {
        precondition(b.count >= k * n, "B holds \(b.count) values, k × n = \(k * n)")
        let dummy: [Float] = [0]
        let src = b.isEmpty ? dummy : b
        return src.withUnsafeBufferPointer {
            PackedMatrix(k: k, n: n, b: $0.baseAddress!, ldb: transposed ? k : n, transposed: transposed, path: path)
        }
    }

    private static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        LargeBuffer.allocate(Float.self, count: count, for: "a packed matrix")
    }

    deinit { LargeBuffer.deallocate(storage) }

    /// c[m × columns] = act(a[m × k] · B[:, columns] + beta · c + bias (+ residual)), a given as
    /// [k × m] (Aᵀ) when `aTransposed`; `c`, `bias`
    /// and `residual` point at column 0 (the range is applied here). `columns.lowerBound` must be
    /// a multiple of `panelWidth`. Splits rows over `threads` threads (1: the calling thread).
    package func multiply(m: Int, a: UnsafePointer<Float>, lda: Int, aTransposed: Bool = false, c: UnsafeMutablePointer<Float>, ldc: Int,
                         beta: Float = 0, bias: UnsafePointer<Float>? = nil, residual: UnsafePointer<Float>? = nil,
                         ldr: Int = 0, activation: GEMMActivation = .none, columns: Range<Int>? = nil, threads: Int = 1) {
        let cols = columns ?? 0..<n
        guard m > 0, !cols.isEmpty else { return }
        precondition(cols.lowerBound >= 0 && cols.upperBound <= n && cols.lowerBound % panelWidth == 0,
                     "columns \(cols) of \(n) must start on a panel boundary (\(panelWidth))")
        // OpenBLAS threads itself (unless the caller holds it to one thread).
        let parts = path == .openblas ? 1 : max(1, min(threads, m / 16))
        if parts <= 1 {
            run(rows: 0..<m, a: a, lda: lda, aTransposed: aTransposed, c: c, ldc: ldc, beta: beta, bias: bias, residual: residual, ldr: ldr,
                activation: activation, columns: cols)
            return
        }
        parallelFor(parts) { t in
            let rows = RowPartition.range(t, of: parts, count: m)
            run(rows: rows, a: a, lda: lda, aTransposed: aTransposed, c: c, ldc: ldc, beta: beta, bias: bias, residual: residual, ldr: ldr,
                activation: activation, columns: cols)
        }
    }

    private func run(rows: Range<Int>, a: UnsafePointer<Float>, lda: Int, aTransposed: Bool, c: UnsafeMutablePointer<Float>, ldc: Int,
                     beta: Float, bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, ldr: Int,
                     activation: GEMMActivation, columns: Range<Int>) {
        guard !rows.isEmpty else { return }
        let j0 = columns.lowerBound, r0 = rows.lowerBound
        let cp = c + r0 * ldc + j0
        var ep = ck_epilogue(beta: beta, bias: bias.map { $0 + j0 }, residual: residual.map { $0 + r0 * ldr + j0 },
                             ldr: ldr, activation: activation.rawValue)
        if let kp = path.kernelPath {
            let panel = storage + (j0 / panelWidth) * ck_panel_stride(kp, k)
            if aTransposed {
                ck_sgemm_packed_at(kp, rows.count, columns.count, k, a + r0, lda, panel, cp, ldc, &ep)
            } else {
                ck_sgemm_packed(kp, rows.count, columns.count, k, a + r0 * lda, lda, panel, cp, ldc, &ep)
            }
        } else {
            OpenBLASMemory.serialized {
                cblas_sgemm(CblasRowMajor, aTransposed ? CblasTrans : CblasNoTrans, CblasNoTrans, Int32(rows.count), Int32(columns.count), Int32(k),
                            1, aTransposed ? a + r0 : a + r0 * lda, Int32(lda), storage + j0, Int32(max(1, n)), beta, cp, Int32(ldc))
            }
            ep.beta = 0
            ck_epilogue_apply(rows.count, columns.count, cp, ldc, &ep)
        }
    }
}

/// The A operand of a GEMM packed whole (one block of rows used against many packed Bs, e.g. a
/// row block of an all-pairs scan), in a buffer reused from one block to the next. Our own
/// kernels only (`path` is never `.openblas`). `@unchecked`: one owner at a time (a worker).
package final class PackedRows: @unchecked Sendable {
    package let path: GEMMPath
    package private(set) var m = 0
    package private(set) var k = 0
    private var storage: UnsafeMutablePointer<Float>?
    private var capacity = 0
    /// The same rows packed as a B operand (`multiplyStrictlyLowerBySelf`), kept for reuse.
    private var selfB: UnsafeMutablePointer<Float>?
    private var selfBCapacity = 0

    /// `path` must be one of our kernels (the path of the `PackedMatrix`es it will meet).
    package init(path: GEMMPath) {
        precondition(path.kernelPath != nil, "PackedRows is for our own kernels")
        self.path = path
    }

    deinit { LargeBuffer.deallocate(storage); LargeBuffer.deallocate(selfB) }

    /// Packs `a` [m × k] (row stride `lda`), replacing what was packed before.
    package func pack(m: Int, k: Int, a: UnsafePointer<Float>, lda: Int) {
        guard let kp = path.kernelPath else { return }
        let count = ck_packed_a_count(kp, m, k)
        if count > capacity {
            LargeBuffer.deallocate(storage)
            storage = LargeBuffer.allocate(Float.self, count: count, for: "packed rows")
            capacity = count
        }
        self.m = m
        self.k = k
        if let storage { ck_pack_a(kp, m, k, a, lda, storage) }
    }

    /// c[m × b.n] = (packed rows) · B on the calling thread; the same values, bit for bit, as
    /// `b.multiply(m:a:lda:c:ldc:)` on the rows that were packed.
    ///
    /// `strictlyLower`: B holds the same rows as this A (a diagonal block of an all-pairs product),
    /// and only c[i][j] with j < i is wanted: those are written (the same values), about half of
    /// the tile is computed, and elements with j ≥ i may be left as they were.
    package func multiply(by b: PackedMatrix, c: UnsafeMutablePointer<Float>, ldc: Int, strictlyLower: Bool = false) {
        precondition(b.path == path && b.k == k, "packed operands of different paths or depths")
        precondition(!strictlyLower || b.n == m, "a strictly lower product is of a block with itself")
        guard m > 0, b.n > 0, let kp = path.kernelPath, let storage else { return }
        b.withPanels { panels in
            if strictlyLower {
                ck_sgemm_prepacked_lower(kp, m, b.n, k, storage, panels, c, ldc)
            } else {
                var ep = ck_epilogue(beta: 0, bias: nil, residual: nil, ldr: 0, activation: GEMMActivation.none.rawValue)
                ck_sgemm_prepacked(kp, m, b.n, k, storage, panels, c, ldc, &ep)
            }
        }
    }
}

extension PackedRows {
    /// `multiply(by:c:ldc:strictlyLower: true)` against the packed rows themselves: `a` is what
    /// was packed (the same m × k rows, row stride `lda`), packed here as B into a buffer kept
    /// from one call to the next (a diagonal tile without a packed copy of its block).
    package func multiplyStrictlyLowerBySelf(a: UnsafePointer<Float>, lda: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, let kp = path.kernelPath, let storage else { return }
        let count = ck_packed_b_count(kp, k, m)
        if count > selfBCapacity {
            LargeBuffer.deallocate(selfB)
            selfB = LargeBuffer.allocate(Float.self, count: count, for: "packed rows")
            selfBCapacity = count
        }
        guard let selfB else { return }
        ck_pack_b(kp, k, m, a, 1, lda, selfB)
        ck_sgemm_prepacked_lower(kp, m, m, k, storage, selfB, c, ldc)
    }
}

extension PackedMatrix {
    /// The packed panels (own kernels' layout) for the duration of `body`.
    func withPanels<T>(_ body: (UnsafePointer<Float>) -> T) -> T { body(storage) }
}

extension PackedMatrix {
    /// `count` rows cut into blocks of `blockRows`, each packed (by `threads` threads, each
    /// taking the next block when it is free) as the B operand [dim × block rows] of an
    /// all-pairs product X_I · X_Jᵀ, for the all-pairs scans that meet every block many times.
    /// `rows(start, count)` gives a block's rows and their row stride.
    package static func rowBlocks(count n: Int, dim d: Int, blockRows: Int, threads: Int,
                                  rows: (_ start: Int, _ count: Int) -> (UnsafePointer<Float>, Int)) -> [PackedMatrix] {
        let b = max(1, blockRows)
        let blocks = (n + b - 1) / b
        var packed = [PackedMatrix?](repeating: nil, count: blocks)
        // Claimed as threads come free: packing first-touches the block's memory, whose cost
        // varies with the host (see the silhouette's prep pass).
        packed.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            parallelClaimed(blocks, threads: threads) { blk in
                let start = blk * b, m = min(b, n - start)
                let (p, stride) = rows(start, m)
                base[blk] = PackedMatrix(k: d, n: m, b: p, ldb: stride, transposed: true)
            }
        }
        return packed.compactMap { $0 }
    }
}

/// The silhouette's per-row epilogue on our kernels' path (CKernels/silhouette.c): the same
/// values on every path.
package enum SilhouetteRowKernel {
    /// The SIMD path of the epilogue: the GEMM's, or the best one when the GEMM is OpenBLAS.
    package static let path: Int32 = SGEMM.path.kernelPath ?? ck_best_path()

    /// r[j] = (u + w[j]) − 2·g[j] for j < n; true when some r[j] < ti·tj[j].
    @inline(__always)
    package static func squaredDistances(_ n: Int, g: UnsafePointer<Float>, u: Double, w: UnsafePointer<Double>, ti: Double,
                                         tj: UnsafePointer<Double>, into r: UnsafeMutablePointer<Double>, path: Int32 = path) -> Bool {
        ck_sil_row_d2(path, n, g, u, w, ti, tj, r) != 0
    }

    /// r[j] = sqrt(max(r[j], 0)) (NaN kept), colAcc[j] += r[j] if given; returns Σ r[j] in a fixed order.
    @inline(__always)
    package static func distanceSum(_ n: Int, _ r: UnsafeMutablePointer<Double>, colAcc: UnsafeMutablePointer<Double>?,
                                    path: Int32 = path) -> Double {
        ck_sil_row_sum(path, n, r, colAcc)
    }
}

/// One side of a one-level Strassen–Winograd tile product (CKernels/strassen.c): a block of 2h
/// rows packed as the seven half-depth operands of the rows of C (`.rows`) or of its columns
/// (`.columns`). Two sides packed for the same path, h and depth multiply into the 2h × 2h tile
/// X · Yᵀ with 7/8 of the plain product's multiply-adds. Our own kernels only. `@unchecked`:
/// one owner at a time, or read-only after `pack`.
package final class StrassenBlock: @unchecked Sendable {
    package enum Side { case rows, columns }

    package let path: GEMMPath
    package let side: Side
    package private(set) var h = 0
    package private(set) var k = 0
    private var storage: UnsafeMutablePointer<Float>?
    private var capacity = 0

    package init(path: GEMMPath, side: Side) {
        precondition(path.kernelPath != nil, "StrassenBlock is for our own kernels")
        self.path = path
        self.side = side
    }

    deinit { LargeBuffer.deallocate(storage) }

    private var sideCode: Int32 { Int32(side == .rows ? CK_STRASSEN_ROWS : CK_STRASSEN_COLUMNS) }

    /// Packs rows `x[0 ..< 2h]` (row stride `ldx`, depth `k`), replacing what was packed before.
    package func pack(h: Int, k: Int, x: UnsafePointer<Float>, ldx: Int) {
        guard let kp = path.kernelPath else { return }
        let count = ck_strassen_count(kp, h, k, sideCode)
        if count > capacity {
            LargeBuffer.deallocate(storage)
            storage = LargeBuffer.allocate(Float.self, count: count, for: "a Strassen block")
            capacity = count
        }
        self.h = h
        self.k = k
        if let storage, ck_strassen_pack(kp, h, k, x, ldx, sideCode, storage) != 0 {
            InterruptCleanup.fail(LargeBuffer.outOfMemoryMessage(count: 2 * h * k, stride: 4, for: "packing a Strassen block"))
        }
    }

    /// c[2h × 2h] (row stride `ldc`) = (these rows) · (`columns`' rows)ᵀ on the calling thread;
    /// `scratch` holds h × h floats.
    package func multiply(by columns: StrassenBlock, c: UnsafeMutablePointer<Float>, ldc: Int, scratch: UnsafeMutablePointer<Float>) {
        precondition(side == .rows && columns.side == .columns, "a Strassen product is rows × columns")
        precondition(columns.path == path && columns.h == h && columns.k == k, "Strassen operands of different paths or shapes")
        guard h > 0, k > 0, let kp = path.kernelPath, let a = storage, let b = columns.storage else { return }
        ck_sgemm_strassen(kp, h, k, a, b, c, ldc, scratch)
    }
}
