import CBLAS
import Foundation

/// Linear projections of a space's unit rows: PCA (scikit-learn's `PCA(svd_solver=
/// "covariance_eigh")`) and LDA (scikit-learn's `LinearDiscriminantAnalysis(solver="eigen")`).
///
/// Both accumulate a d×d scatter matrix in Double from the mapped Float rows, a block of rows at
/// a time (OpenBLAS `dsyrk`, memory d² + block·d doubles), and solve it with LAPACK
/// (`dsyevd`, `dsygvd`). For the tall inputs this tool sees (n ≫ d: 100,000 × 1,280) that is
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

        /// Coordinates of a direction (a unit prototype row) in this projection: axes · w.
        public func project(direction w: UnsafePointer<Float>) -> [Double] {
            (0..<components).map { c in
                var s = 0.0
                for j in 0..<dim { s += axes[c * dim + j] * Double(w[j]) }
                return s
            }
        }
    }

    /// Rows per Double block of the scatter accumulation.
    static let blockRows = 1024

    // MARK: - PCA

    /// Principal components of `x`'s rows. Signs follow scikit-learn (`svd_flip` with
    /// `u_based_decision=False`): each axis's largest-magnitude entry is positive.
    public static func pca(_ x: RowMatrix, components k: Int, progress: ProgressSink = SilentProgress()) throws -> Result {
        let n = x.rows, d = x.dim
        guard n >= 2 else { throw EmbedScopeError(.undefined, "PCA needs at least 2 rows, the space has \(n)") }
        guard (1...min(n, d)).contains(k) else {
            throw EmbedScopeError(.invalidArgument, "cannot keep \(k) components of \(n) rows × \(d) dimensions",
                                  hint: "choose between 1 and \(min(n, d))")
        }
        progress.begin("PCA", total: 2 * n)
        let mean = columnMeans(x)
        var cov = [Double](repeating: 0, count: d * d)
        scatter(x, into: &cov, centres: mean, which: { _ in 0 }, progress: progress, offset: 0)
        let scale = 1 / Double(n - 1)
        for i in 0..<(d * d) { cov[i] *= scale }
        let values = try symmetricEigen(&cov, d)  // ascending; eigenvectors in the columns of cov

        var axes = [Double](repeating: 0, count: k * d)
        var variance = [Double](repeating: 0, count: k)
        for c in 0..<k {
            let col = d - 1 - c
            variance[c] = max(0, values[col])
            var big = 0.0, sign = 1.0
            for j in 0..<d where abs(cov[j * d + col]) > big { big = abs(cov[j * d + col]); sign = cov[j * d + col] < 0 ? -1 : 1 }
            for j in 0..<d { axes[c * d + j] = sign * cov[j * d + col] }
        }
        let total = values.reduce(0) { $0 + max(0, $1) }
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
    public static func lda(_ x: RowMatrix, labels: [Int32], components k: Int, shrinkage: Double? = nil,
                           progress: ProgressSink = SilentProgress()) throws -> Result {
        let n = x.rows, d = x.dim
        guard labels.count == n else { throw EmbedScopeError(.shapeMismatch, "\(labels.count) labels for \(n) rows") }
        let layout = ClassLayout(labels: labels)
        let classes = layout.classCount
        guard classes >= 2 else {
            throw EmbedScopeError(.undefined, "LDA needs at least 2 classes, the index has \(classes)")
        }
        let maxK = min(classes - 1, d)
        guard (1...maxK).contains(k) else {
            throw EmbedScopeError(.invalidArgument, "LDA gives at most \(maxK) components (classes − 1 = \(classes - 1), dim = \(d)); \(k) asked",
                                  hint: "choose between 1 and \(maxK)")
        }
        if let s = shrinkage, !(0...1).contains(s) { throw EmbedScopeError(.invalidArgument, "shrinkage must be in [0, 1], not \(s)") }
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
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(d), Int32(classes), 1, diffs, Int32(d), 0, &sb, Int32(d))

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
        var solved: (values: [Double], vectors: [Double], shrinkage: Double)?
        for s in tries {
            var a = shrunk(sb, s), b = shrunk(sw, s)
            if let values = try? generalizedSymmetricEigen(&a, &b, d) {
                solved = (values, a, s)
                break
            }
        }
        guard let solved else {
            throw EmbedScopeError(.undefined, "the within-class covariance is singular" + (shrinkage.map { " even with shrinkage \($0)" } ?? " even with shrinkage 0.5"),
                                  hint: "pass --shrinkage closer to 1, or project a space with more rows than dimensions")
        }
        var axes = [Double](repeating: 0, count: k * d)
        var values = [Double](repeating: 0, count: k)
        for c in 0..<k {
            let col = d - 1 - c
            values[c] = solved.values[col]
            for j in 0..<d { axes[c * d + j] = solved.vectors[j * d + col] }
        }
        let total = solved.values.reduce(0, +)
        let ratio = values.map { total != 0 ? $0 / total : 0 }
        let coords = project(x, axes: axes, components: k, center: nil, progress: progress, offset: n)
        progress.end()
        return Result(method: .lda, rows: n, dim: d, components: k, axes: axes, explainedVariance: values,
                      explainedVarianceRatio: ratio, coordinates: coords, mean: mu, shrinkage: solved.shrinkage)
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
    /// a time in Double (`dsyrk`). Row i's centre c_i is row `which(i)` of `centres` (row-major, d wide).
    static func scatter(_ x: RowMatrix, into s: inout [Double], centres: [Double], which: (Int) -> Int,
                        progress: ProgressSink, offset: Int) {
        let d = x.dim
        var block = [Double](repeating: 0, count: blockRows * d)
        var start = 0
        while start < x.rows {
            let m = min(blockRows, x.rows - start)
            for r in 0..<m {
                let row = x.row(start + r), c = which(start + r) * d
                for j in 0..<d { block[r * d + j] = Double(row[j]) - centres[c + j] }
            }
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(d), Int32(m), 1, block, Int32(d), 1, &s, Int32(d))
            start += m
            progress.update(offset + start)
        }
        for i in 0..<d { for j in 0..<i { s[i * d + j] = s[j * d + i] } }
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
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(k), Int32(d), 1,
                            block, Int32(d), axes, Int32(d), 0, o.baseAddress! + start * k, Int32(k))
            }
            start += m
            progress.update(offset + start)
        }
        return out
    }

    /// Eigenvalues (ascending) of the symmetric d×d `a`; its columns become the eigenvectors.
    static func symmetricEigen(_ a: inout [Double], _ d: Int) throws -> [Double] {
        var w = [Double](repeating: 0, count: d)
        let info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "U")), Int32(d), &a, Int32(d), &w)
        guard info == 0 else {
            throw EmbedScopeError(.undefined, "the eigensolver (LAPACK dsyevd) did not converge (info \(info))")
        }
        return w
    }

    /// Generalized eigenproblem a·v = λ·b·v (b symmetric positive definite): eigenvalues ascending,
    /// `a`'s columns become the eigenvectors with vᵀ b v = 1. Throws when b is not positive definite.
    static func generalizedSymmetricEigen(_ a: inout [Double], _ b: inout [Double], _ d: Int) throws -> [Double] {
        var w = [Double](repeating: 0, count: d)
        let info = LAPACKE_dsygvd(LAPACK_ROW_MAJOR, 1, Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "U")), Int32(d),
                                  &a, Int32(d), &b, Int32(d), &w)
        guard info == 0 else {
            throw EmbedScopeError(.undefined, info > d ? "the within-class covariance is not positive definite"
                                                       : "the eigensolver (LAPACK dsygvd) did not converge (info \(info))")
        }
        return w
    }
}
