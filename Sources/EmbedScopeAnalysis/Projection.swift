import CBLAS
import Foundation
import EmbedScopeCore

/// Linear projections of a space's unit rows: PCA (scikit-learn's `PCA(svd_solver=
/// "covariance_eigh")`) and LDA (scikit-learn's `LinearDiscriminantAnalysis(solver="eigen")`).
///
/// Both accumulate a d×d scatter matrix in Double from the mapped Float rows, a block of rows at
/// a time (OpenBLAS `dsyrk`, memory d² + block·d doubles), and solve it with LAPACK
/// (`dsyevr` for the top k eigenpairs; the generalized problem reduced as `dsygvd` does). For the tall inputs this tool sees (n ≫ d: 100,000 × 1,280) that is
/// n·d²/2 multiply-adds once plus an O(d³) eigensolve of 1,280², cheaper than an SVD of the
/// n × d matrix and accurate in Double: the rows are centred before the product, so there is no
/// cancellation between XᵀX and n·μμᵀ.
public enum Projection {
    public enum Method: String, Sendable, Codable, CaseIterable {
        case pca, lda
    }

    public struct Result: Sendable {
        public var method: Method
        public var rows: Int
        public var dim: Int
        /// Components kept.
        public var components: Int
        /// Row-major [components × dim]: PCA's unit principal axes (scikit-learn's
        /// `components_`), or LDA's discriminant directions (the columns of `scalings_`).
        public var axes: [Double]
        /// PCA: the variance along each axis (n − 1 denominator); LDA: the generalized eigenvalues.
        public var explainedVariance: [Double]
        /// Share of the total (PCA: of the summed variances; LDA: of the summed eigenvalues).
        public var explainedVarianceRatio: [Double]
        /// Row-major [rows × components]. PCA: (x − mean)·axes; LDA: x·scalings (uncentred, as scikit-learn).
        public var coordinates: [Double]
        /// PCA: the mean that was subtracted.
        public var mean: [Double]
        /// LDA: the shrinkage applied to the within-class covariance (0 when none was needed).
        public var shrinkage: Double?
        /// LDA: the PCA reduction it ran on (nil: on the space itself). `axes` are then in the
        /// original space (LDA directions composed with the principal axes).
        public var reduction: Reduction? = nil

        /// Coordinates of a direction (a unit prototype row) in this projection: axes · w.
        public func project(direction w: UnsafePointer<Float>) -> [Double] {
            (0..<components).map { c in
                var s = 0.0
                for j in 0..<dim { s += axes[c * dim + j] * Double(w[j]) }
                return s
            }
        }
    }

    /// LDA on a PCA-reduced space: how many principal components, the share of the total variance
    /// they keep, and why.
    public struct Reduction: Sendable, Codable, Equatable {
        public var components: Int
        public var varianceKept: Double
        public var reason: String
    }

    /// Rows per Double block of the scatter accumulation.
    static let blockRows = 1024

    /// Under `ulimit -v`, a clear error before the work: the most d × d Double matrices alive at
    /// once (`matrices`), the Double block, the eigenvectors, the coordinates, LAPACK's work.
    static func requireMemory(_ x: RowMatrix, matrices: Int, components k: Int, for what: String) throws {
        let d = Double(x.dim), n = Double(x.rows)
        let bytes = (Double(matrices) * d * d + Double(blockRows) * d + 2 * d * Double(k) + n * Double(k) + 64 * d) * 8
        try AddressSpace.require(estimate: bytes, for: "\(what) of \(x.rows) × \(x.dim)")
    }

    // MARK: - PCA

    /// Principal components of `x`'s rows. Signs follow scikit-learn (`svd_flip` with
    /// `u_based_decision=False`): each axis's largest-magnitude entry is positive.
    package static func pca(_ x: RowMatrix, components k: Int, progress: ProgressSink = SilentProgress()) throws -> Result {
        let n = x.rows, d = x.dim
        guard n >= 2 else { throw EmbedScopeError(.undefined, "PCA needs at least 2 rows, the space has \(n)") }
        guard (1...min(n, d)).contains(k) else {
            throw EmbedScopeError(.invalidArgument, "cannot keep \(k) components of \(n) rows × \(d) dimensions",
                                  hint: "choose between 1 and \(min(n, d))")
        }
        try OpenBLASMemory.reserve(for: "PCA")
        try requireMemory(x, matrices: 2, components: k, for: "PCA")   // the covariance and the scatter's accumulator
        progress.begin("PCA", total: 2 * n)
        let mean = columnMeans(x)
        var cov = [Double](repeating: 0, count: d * d)
        scatter(x, into: &cov, centres: mean, which: { _ in 0 }, progress: progress, offset: 0)
        let scale = 1 / Double(n - 1)
        for i in 0..<(d * d) { cov[i] *= scale }
        // The ratio's denominator is the sum of all eigenvalues, i.e. the trace: only the top k
        // eigenpairs are computed (LAPACK dsyevr; 4× faster than all of them at d = 3,072).
        let total = (0..<d).reduce(0.0) { $0 + cov[$1 * d + $1] }
        let (values, vectors) = try topEigen(&cov, d, k)
        var axes = [Double](repeating: 0, count: k * d)
        for c in 0..<k {
            var big = 0.0, sign = 1.0
            for j in 0..<d where abs(vectors[j * k + c]) > big { big = abs(vectors[j * k + c]); sign = vectors[j * k + c] < 0 ? -1 : 1 }
            for j in 0..<d { axes[c * d + j] = sign * vectors[j * k + c] }
        }
        let variance = values.map { max(0, $0) }
        let ratio = variance.map { total > 0 ? $0 / total : 0 }
        let coords = project(x, axes: axes, components: k, center: mean, progress: progress, offset: n)
        progress.end()
        return Result(method: .pca, rows: n, dim: d, components: k, axes: axes, explainedVariance: variance,
                      explainedVarianceRatio: ratio, coordinates: coords, mean: mean, shrinkage: nil)
    }

    // MARK: - LDA

    /// Linear discriminant analysis with scikit-learn's `solver="eigen"` semantics: Sw = Σ_k p_k·Σ_k
    /// (biased class covariances weighted by class priors), Sb = Σ_k p_k (μ_k − μ)(μ_k − μ)ᵀ,
    /// Sb v = λ Sw v with vᵀ Sw v = 1, directions sorted by λ, coordinates x·V (uncentred).
    /// Signs are LAPACK's (compare up to sign). `shrinkage` s replaces each covariance S by
    /// (1 − s)·S + s·tr(S)/d·I, as scikit-learn's `shrinkage=s`; nil = none if Sw is positive
    /// definite, else the smallest of 1e-6, 1e-4, 1e-2, 0.1, 0.5 that makes it so (reported).
    ///
    /// When the within-class scatter is singular (dim > rows − classes: it has rank ≤ rows −
    /// classes), LDA on the space itself only finds directions that collapse every class of these
    /// rows to a point — an artifact, not separation. Unless `reduce` is false or a `shrinkage` is
    /// given, LDA then runs on the top r principal components instead (`reducedLDA`).
    package static func lda(_ x: RowMatrix, labels: [Int32], components k: Int, shrinkage: Double? = nil, reduce: Bool = true,
                           progress: ProgressSink = SilentProgress()) throws -> Result {
        let n = x.rows, d = x.dim
        guard labels.count == n else { throw EmbedScopeError(.shapeMismatch, "\(labels.count) labels for \(n) rows") }
        try OpenBLASMemory.reserve(for: "LDA")
        let layout = ClassLayout(labels: labels)
        let classes = layout.classCount
        guard classes >= 2 else {
            throw EmbedScopeError(.undefined, "LDA needs at least 2 classes, the index has \(classes)")
        }
        // One row per class: no class has a spread to scale by. Said as such (it reached the
        // zero-trace check below, which said "the rows of each class are identical": wrong here).
        if layout.counts.allSatisfy({ $0 == 1 }) {
            throw EmbedScopeError(.undefined, "every class has a single row (\(n) rows, \(classes) classes): there is no within-class spread for LDA to scale by",
                                  hint: "use PCA (--method pca), or an index with two or more rows in some class")
        }
        let maxK = min(classes - 1, d)
        guard (1...maxK).contains(k) else {
            throw EmbedScopeError(.invalidArgument, "LDA gives at most \(maxK) components (classes − 1 = \(classes - 1), dim = \(d)); \(k) asked",
                                  hint: "choose between 1 and \(maxK)")
        }
        if let s = shrinkage, !(0...1).contains(s) { throw EmbedScopeError(.invalidArgument, "shrinkage must be in [0, 1], not \(s)") }
        if reduce && shrinkage == nil && d > n - classes {
            return try reducedLDA(x, labels: labels, classes: classes, components: k, progress: progress)
        }
        // Sw and the scatter's accumulator, then Sw, Sb and the eigenproblem's two copies.
        try requireMemory(x, matrices: 4, components: k, for: "LDA")
        progress.begin("LDA", total: 2 * n)

        // Class means (Double), the overall mean, priors.
        let classOf = layout.classOfRow.map(Int.init)
        let counts = layout.counts
        var means = [Double](repeating: 0, count: classes * d)
        for i in 0..<n {
            let c = classOf[i], r = x.row(i)
            for j in 0..<d { means[c * d + j] += Double(r[j]) }
        }
        for c in 0..<classes { for j in 0..<d { means[c * d + j] /= Double(counts[c]) } }
        var mu = [Double](repeating: 0, count: d)
        for c in 0..<classes { for j in 0..<d { mu[j] += means[c * d + j] * Double(counts[c]) / Double(n) } }

        // Sw = (1/n) Σ (x − μ_y)(x − μ_y)ᵀ, rows centred by their own class mean.
        var sw = [Double](repeating: 0, count: d * d)
        scatter(x, into: &sw, centres: means, which: { classOf[$0] }, progress: progress, offset: 0)
        for i in 0..<(d * d) { sw[i] /= Double(n) }
        // Sb = Σ p_k (μ_k − μ)(μ_k − μ)ᵀ.
        var diffs = [Double](repeating: 0, count: classes * d)
        for c in 0..<classes {
            let w = (Double(counts[c]) / Double(n)).squareRoot()
            for j in 0..<d { diffs[c * d + j] = w * (means[c * d + j] - mu[j]) }
        }
        var sb = [Double](repeating: 0, count: d * d)
        OpenBLASMemory.serialized {
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(d), Int32(classes), 1, diffs, Int32(d), 0, &sb, Int32(d))
        }
        for i in 0..<d { for j in 0..<i { sb[i * d + j] = sb[j * d + i] } }  // dsyrk filled the upper triangle only

        // Shrinkage as scikit-learn applies it: to every covariance it estimates, Sw and the total
        // St alike, so Sb = St − Sw is shrunk too: (1 − s)·S + s·tr(S)/d·I for S = Sw, Sb.
        func shrunk(_ m: [Double], _ s: Double) -> [Double] {
            guard s > 0 else { return m }
            let mu = (0..<d).reduce(0.0) { $0 + m[$1 * d + $1] } / Double(d)
            var out = m.map { $0 * (1 - s) }
            for j in 0..<d { out[j * d + j] += s * mu }
            return out
        }
        let tries: [Double] = shrinkage.map { [$0] } ?? [0, 1e-6, 1e-4, 1e-2, 0.1, 0.5]
        var solved: (values: [Double], vectors: [Double], total: Double, shrinkage: Double)?
        for s in tries {
            var a = shrunk(sb, s), b = shrunk(sw, s)
            if let r = try generalizedTopEigen(&a, &b, d, k) {
                solved = (r.values, r.vectors, r.total, s)
                break
            }
            // Singular although dim ≤ rows − classes (rows that repeat one another within a class):
            // like a singular scatter by count, LDA runs on the leading principal components — a
            // small shrinkage would let the null direction's rounding dominate (99.99 %).
            if s == 0, shrinkage == nil, reduce {
                progress.end()
                return try reducedLDA(x, labels: labels, classes: classes, components: k, progress: progress,
                                      why: "the within-class scatter is singular (its rows are linearly dependent within classes)")
            }
        }
        guard let solved else {
            // Shrinkage adds tr(Sw)/d to the diagonal: with no within-class spread at all (every
            // class one point) nothing can make it definite.
            var trace = 0.0
            for j in 0..<d { trace += sw[j * d + j] }
            if !(trace > 0) {
                throw EmbedScopeError(.undefined, "the rows of each class are identical: there is no within-class spread for LDA to scale by",
                                      hint: "use PCA (--method pca), or an index whose classes vary")
            }
            throw EmbedScopeError(.undefined, "the within-class covariance is singular" + (shrinkage.map { " even with shrinkage \($0)" } ?? " even with shrinkage 0.5"),
                                  hint: "pass --shrinkage closer to 1, or project a space with more rows than dimensions")
        }
        var axes = [Double](repeating: 0, count: k * d)
        for c in 0..<k { for j in 0..<d { axes[c * d + j] = solved.vectors[j * k + c] } }
        let values = solved.values
        let ratio = values.map { solved.total != 0 ? $0 / solved.total : 0 }
        let coords = project(x, axes: axes, components: k, center: nil, progress: progress, offset: n)
        progress.end()
        return Result(method: .lda, rows: n, dim: d, components: k, axes: axes, explainedVariance: values,
                      explainedVarianceRatio: ratio, coordinates: coords, mean: mu, shrinkage: solved.shrinkage)
    }

    /// The share of variance the PCA before a reduced LDA keeps, and the most rows per kept
    /// dimension's worth of degrees of freedom: r ≤ (rows − classes) / 2.
    public static let reductionVariance = 0.95

    /// LDA on the top r principal components, r = the fewest components keeping 95% of the
    /// variance, at most ⌊(rows − classes)/2⌋ (so the within-class scatter has at least twice as
    /// many degrees of freedom as dimensions) and at least the components asked for.
    static func reducedLDA(_ x: RowMatrix, labels: [Int32], classes: Int, components k: Int, progress: ProgressSink,
                           why: String? = nil) throws -> Result {
        let n = x.rows, d = x.dim
        let cap = min(min(n, d), max(k, (n - classes) / 2))
        let p = try pca(x, components: cap, progress: progress)
        var r = cap, kept = 0.0
        for (i, v) in p.explainedVarianceRatio.enumerated() {
            kept += v
            if kept >= reductionVariance { r = i + 1; break }
        }
        r = max(r, min(cap, max(k, classes - 1)))
        let keptShare = p.explainedVarianceRatio.prefix(r).reduce(0, +)
        var z = [Float](repeating: 0, count: n * r)
        for i in 0..<n { for t in 0..<r { z[i * r + t] = Float(p.coordinates[i * cap + t]) } }
        let inner = try z.withUnsafeBufferPointer { zb in
            try lda(RowMatrix(base: zb.baseAddress!, rows: n, dim: r, stride: r), labels: labels, components: k, reduce: false, progress: progress)
        }
        // Directions in the original space: LDA axis (in PC coordinates) · principal axes.
        var axes = [Double](repeating: 0, count: k * d)
        for c in 0..<k { for t in 0..<r {
            let a = inner.axes[c * r + t]
            for j in 0..<d { axes[c * d + j] += a * p.axes[t * d + j] }
        } }
        let reason = (why ?? "the within-class scatter is singular (dim \(d) > rows − classes = \(n - classes))") + "; LDA ran on the top \(r) principal components, which keep \(String(format: "%.1f%%", 100 * keptShare)) of the variance"
        return Result(method: .lda, rows: n, dim: d, components: k, axes: axes, explainedVariance: inner.explainedVariance,
                      explainedVarianceRatio: inner.explainedVarianceRatio, coordinates: inner.coordinates, mean: p.mean,
                      shrinkage: inner.shrinkage, reduction: Reduction(components: r, varianceKept: keptShare, reason: reason))
    }

    // MARK: - Pieces

    static func columnMeans(_ x: RowMatrix) -> [Double] {
        var mean = [Double](repeating: 0, count: x.dim)
        for i in 0..<x.rows {
            let r = x.row(i)
            for j in 0..<x.dim { mean[j] += Double(r[j]) }
        }
        return mean.map { $0 / Double(max(1, x.rows)) }
    }

    /// Adds Σ (x_i − c_i)(x_i − c_i)ᵀ to the upper triangle of `s` and mirrors it, blocks of rows at
    /// a time in Double (`dsyrk` / `dgemm`). Row i's centre c_i is row `which(i)` of `centres`
    /// (row-major, d wide).
    ///
    /// Each block of rows is centred by all threads (a share of its rows each), then its product
    /// is cut by rows of the output: slice [a, b) of the upper triangle takes a `dsyrk` on its
    /// diagonal square and a `dgemm` right of it, single-threaded, claimed by the threads. Every
    /// element is summed over the blocks in block order by a call whose shape depends on the
    /// dimension only (`scatterSlices`), so the scatter — and every axis and coordinate after it —
    /// is the same bits on any number of threads (split by thread with a d × d sum each, PCA's
    /// last digits moved with the count), and no thread needs a d × d sum of its own.
    /// Split here rather than by OpenBLAS's own threads, whose barriers stall whenever another
    /// process holds a core: a 10k × 1280 PCA took 2–16 s beside a compile with OpenBLAS on two
    /// threads, 0.9 s on one (split here: 0.8 s).
    static func scatter(_ x: RowMatrix, into s: inout [Double], centres: [Double], which: (Int) -> Int,
                        progress: ProgressSink, offset: Int, threads: Int = Scorer.defaultThreads) {
        let d = x.dim
        BLASInfo.warnIfGeneric("the PCA / LDA scatter (Double products, OpenBLAS dsyrk)")
        let slices = scatterSlices(d)
        let workers = max(1, min(threads, slices.count))
        var upper = [Double](repeating: 0, count: d * d)
        var block = [Double](repeating: 0, count: blockRows * d)
        BLASThreads.single {
            upper.withUnsafeMutableBufferPointer { up in
            block.withUnsafeMutableBufferPointer { bp in
                let c = up.baseAddress!, a = bp.baseAddress!
                var start = 0
                while start < x.rows {
                    let m = min(blockRows, x.rows - start)
                    parallelFor(workers) { t in
                        for r in RowPartition.range(t, of: workers, count: m) {
                            let row = x.row(start + r), centre = which(start + r) * d
                            for j in 0..<d { a[r * d + j] = Double(row[j]) - centres[centre + j] }
                        }
                    }
                    parallelClaimed(slices.count, threads: workers) { i in
                        let lo = slices[i].lowerBound, n = slices[i].count
                        OpenBLASMemory.serialized {
                            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(n), Int32(m), 1, a + lo, Int32(d),
                                        1, c + lo * d + lo, Int32(d))
                            let right = lo + n
                            if right < d {
                                cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(n), Int32(d - right), Int32(m), 1,
                                            a + lo, Int32(d), a + right, Int32(d), 1, c + lo * d + right, Int32(d))
                            }
                        }
                    }
                    start += m
                    progress.update(offset + start)
                }
            }}
        }
        for i in 0..<d { for j in i..<d { s[i * d + j] += upper[i * d + j] } }
        for i in 0..<d { for j in 0..<i { s[i * d + j] = s[j * d + i] } }
        progress.update(offset + x.rows)
    }

    /// Rows of the scatter's output cut into slices of about equal work (row i of the upper
    /// triangle has d − i entries): up to 4, at least 32 rows each. Depends on d only. (So at most
    /// 4 threads share a scatter. More, smaller calls cost more than they split: a 10k × 1280
    /// PCA on 2 threads took 1.2 % longer than with one d × d sum per thread with 4 slices, 3.5 %
    /// with 8 and 12 % with 16 — 12 alternated pairs each.)
    static func scatterSlices(_ d: Int) -> [Range<Int>] {
        guard d > 0 else { return [] }
        let count = max(1, min(4, d / 32))
        let total = Double(d) * Double(d + 1) / 2
        var out = [Range<Int>](), lo = 0
        for k in 1...count {
            // Smallest hi with Σ_{i<hi} (d − i) ≥ k/count of the triangle.
            let target = total * Double(k) / Double(count)
            var hi = k == count ? d : lo
            while hi < d, Double(hi) * (Double(d) - Double(hi - 1) / 2) < target { hi += 1 }
            if hi > lo { out.append(lo..<hi); lo = hi }
        }
        if lo < d { out.append(lo..<d) }
        return out
    }

    /// Row-major [rows × k] = (x − center)·axesᵀ, in Double, a block at a time (`dgemm`).
    static func project(_ x: RowMatrix, axes: [Double], components k: Int, center: [Double]?,
                        progress: ProgressSink, offset: Int) -> [Double] {
        let d = x.dim
        var out = [Double](repeating: 0, count: x.rows * k)
        var block = [Double](repeating: 0, count: blockRows * d)
        var start = 0
        while start < x.rows {
            let m = min(blockRows, x.rows - start)
            for r in 0..<m {
                let row = x.row(start + r)
                if let center {
                    for j in 0..<d { block[r * d + j] = Double(row[j]) - center[j] }
                } else {
                    for j in 0..<d { block[r * d + j] = Double(row[j]) }
                }
            }
            out.withUnsafeMutableBufferPointer { o in
                OpenBLASMemory.serialized {
                    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(k), Int32(d), 1,
                                block, Int32(d), axes, Int32(d), 0, o.baseAddress! + start * k, Int32(k))
                }
            }
            start += m
            progress.update(offset + start)
        }
        return out
    }

    /// The k largest eigenvalues of the symmetric d×d `a` (descending) and their eigenvectors as
    /// the columns of a row-major d×k matrix (LAPACK dsyevr, index range). `a` is destroyed.
    static func topEigen(_ a: inout [Double], _ d: Int, _ k: Int) throws -> (values: [Double], vectors: [Double]) {
        var found: Int32 = 0
        var w = [Double](repeating: 0, count: d)
        var z = [Double](repeating: 0, count: d * k)
        var support = [Int32](repeating: 0, count: 2 * max(1, k))
        let info = OpenBLASMemory.serialized {
            LAPACKE_dsyevr(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "I")), Int8(UInt8(ascii: "U")),
                           Int32(d), &a, Int32(d), 0, 0, Int32(d - k + 1), Int32(d), 0, &found, &w, &z, Int32(k), &support)
        }
        guard info == 0, found == Int32(k) else {
            throw EmbedScopeError(.undefined, "the eigensolver (LAPACK dsyevr) did not converge (info \(info))")
        }
        // Ascending → descending.
        var vectors = [Double](repeating: 0, count: d * k)
        for c in 0..<k { for j in 0..<d { vectors[j * k + c] = z[j * k + (k - 1 - c)] } }
        return ((0..<k).map { w[k - 1 - $0] }, vectors)
    }

    /// The k largest eigenpairs of a·v = λ·b·v with b symmetric positive definite, normalized to
    /// vᵀ b v = 1, as LAPACK's dsygvd would give them: b = L·Lᵀ (dpotrf), C = L⁻¹·a·L⁻ᵀ (dsygst),
    /// the top k eigenpairs of C (dsyevr), v = L⁻ᵀ·y (dtrsm). `total` is the sum of all
    /// eigenvalues, trace(C). nil when b is not positive definite. `a` and `b` are destroyed.
    static func generalizedTopEigen(_ a: inout [Double], _ b: inout [Double], _ d: Int, _ k: Int) throws
        -> (values: [Double], vectors: [Double], total: Double)? {
        let lower = Int8(UInt8(ascii: "L"))
        let chol = OpenBLASMemory.serialized { LAPACKE_dpotrf(LAPACK_ROW_MAJOR, lower, Int32(d), &b, Int32(d)) }
        if chol > 0 { return nil }
        // Singular in all but rounding (a row twice the other of its class: rank d − 1, condition
        // 5e16) passes Cholesky with a pivot at rounding level, and the "direction" it gives is that
        // rounding (an eigenvalue of 1e17, 100 %). A condition above ~1e12 by the pivots counts as
        // singular: the caller shrinks, as for a failed factorization.
        var lo = Double.infinity, hi = 0.0
        for i in 0..<d { let p = b[i * d + i] * b[i * d + i]; lo = min(lo, p); hi = max(hi, p) }
        if chol == 0, !(lo > hi * 1e-12) { return nil }
        guard chol == 0, OpenBLASMemory.serialized({ LAPACKE_dsygst(LAPACK_ROW_MAJOR, 1, lower, Int32(d), &a, Int32(d), b, Int32(d)) }) == 0 else {
            throw EmbedScopeError(.undefined, "LAPACK could not reduce the generalized eigenproblem")
        }
        // dsygst filled the lower triangle; dsyevr reads the same one.
        let total = (0..<d).reduce(0.0) { $0 + a[$1 * d + $1] }
        for i in 0..<d { for j in 0..<i { a[j * d + i] = a[i * d + j] } }
        let (values, v) = try topEigen(&a, d, k)
        var vectors = v
        OpenBLASMemory.serialized {
            cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, Int32(d), Int32(k), 1, b, Int32(d), &vectors, Int32(k))
        }
        return (values, vectors, total)
    }
}
