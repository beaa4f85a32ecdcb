import Dispatch
import Foundation
import EmbedScopeCore

/// Multinomial logistic regression with an L2 penalty, the objective of scikit-learn's
/// `LogisticRegression(C=C, solver="lbfgs", fit_intercept=True)` (multinomial):
///
///     minimize  ½/C · ‖W‖²  +  Σᵢ CE(softmax(W xᵢ + b), yᵢ)      (b not penalized)
///
/// We minimize the same function divided by the number of training rows n (what
/// scikit-learn's solver minimizes too; same minimizer) with our own L-BFGS in Double
/// (history 10, strong-Wolfe line search). Logits and gradients come from `sgemm` on the
/// float32 features; softmax, loss and the parameter vector are Double. Stops when the
/// largest gradient entry is ≤ `tolerance`, when the objective stops decreasing (relative
/// change ≤ 1e-12 — float32 rounding), or after `maxIterations`.
public enum LinearProbe {
    public struct Options: Sendable {
        /// Inverse regularization strength (scikit-learn's C).
        public var c: Double = 1.0
        public var maxIterations = 1000
        /// On the largest entry of the gradient of the mean objective (scikit-learn's tol, gtol).
        public var tolerance = 1e-5
        public var memory = 10
        public init() {}
    }

    public struct Step: Sendable {
        public var iteration: Int
        public var loss: Double
        public var gradientMax: Double
    }

    public struct Model: Sendable {
        /// Label values, ascending: row j of `weights` is class `classes[j]`.
        public var classes: [Int32]
        public var dim: Int
        /// classes.count × dim, row-major.
        public var weights: [Float]
        public var bias: [Float]
        /// The mean objective at the end, its gradient's largest entry, iterations run.
        public var loss: Double
        public var gradientMax: Double
        public var iterations: Int
        public var converged: Bool
        public var stopReason: String
    }

    /// Feature of row i: `scales[i] · x.row(i)` (scales nil: the rows as they are).
    package static func train(_ x: RowMatrix, scales: [Float]? = nil, labels: [Int32], rows: [Int], options o: Options = Options(),
                             onStep: (Step) -> Void = { _ in }) throws -> Model {
        guard labels.count == x.rows else { throw EmbedScopeError(.shapeMismatch, "\(labels.count) labels for \(x.rows) rows") }
        if let scales, scales.count != x.rows { throw EmbedScopeError(.shapeMismatch, "\(scales.count) scales for \(x.rows) rows") }
        // The penalty is 1/C: it must be a number too (C = 1e-310 made it infinite and the fit "diverge").
        guard o.c > 0, o.c.isFinite, (1 / o.c).isFinite else {
            throw EmbedScopeError(.invalidArgument, "C must be a positive number with a finite 1/C (at least 1e-308), got \(o.c)")
        }
        guard o.maxIterations >= 1 else { throw EmbedScopeError(.invalidArgument, "max iterations must be at least 1, got \(o.maxIterations)") }
        guard o.tolerance >= 0, o.memory >= 1 else { throw EmbedScopeError(.invalidArgument, "tolerance must be ≥ 0 and memory ≥ 1") }
        guard rows.allSatisfy({ $0 >= 0 && $0 < x.rows }) else { throw EmbedScopeError(.invalidArgument, "a training row is out of range") }
        let classes = Array(Set(rows.map { labels[$0] })).sorted()
        guard classes.count >= 2 else {
            throw EmbedScopeError(.undefined, "a classifier needs training rows of at least 2 classes; got \(classes.count)",
                                  hint: "the index has a single class, or the split left only one in training")
        }
        let n = rows.count, d = x.dim, k = classes.count
        // Under `ulimit -v`, a clear error before the work: the features' copy, L-BFGS's history,
        // and each part's logits, gradient and packed block of features (the second GEMM's B).
        let parameters = Double(k * d + k), block = Double(Objective.blockRows)
        let bytes = Double(n) * Double(d) * 4 + Double(2 * o.memory + 8) * parameters * 8
            + Double(Objective.parts) * (parameters * 16 + 2 * block * Double(k) * 4 + 1.25 * block * Double(d) * 4)
        try AddressSpace.require(estimate: bytes, for: "the linear probe on \(n) × \(d)")
        let classIndex = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let y = rows.map { classIndex[labels[$0]]! }
        // Contiguous float32 features of the training rows.
        var f = [Float](repeating: 0, count: n * d)
        for (i, r) in rows.enumerated() {
            let s = scales?[r] ?? 1, src = x.row(r)
            for t in 0..<d { f[i * d + t] = s * src[t] }
        }
        guard f.allSatisfy({ $0.isFinite }) else { throw EmbedScopeError(.nonFinite, "the features contain NaN or infinity") }

        // Features far from unit size are scaled by a power of two s (exact in float32) and the
        // problem solved for W' = W / s with C' = C / s² — the same objective at every point
        // (W x = W' x', ‖W‖²/C = ‖W'‖²/C'), the same minimizer. Without it the weights' curvature
        // is s⁻² times the bias's: at norms of 1e5 the line search stalled in float32 rounding at a
        // mean objective of 0.714 where scikit-learn reaches 0.398. The gradient is reported (and
        // the tolerance applied) in the original weights: ∂/∂W = ∂/∂W' / s.
        let scale = Self.featureScale(f, rows: n, c: o.c)
        if scale != 1 { for i in f.indices { f[i] *= scale } }
        let objective = Objective(features: f, y: y, n: n, d: d, k: k, c: o.c / (Double(scale) * Double(scale)))
        let m = k * d + k
        var theta = [Double](repeating: 0, count: m)
        var (loss, grad) = objective.evaluate(theta)
        var sHist: [[Double]] = [], yHist: [[Double]] = [], rhoHist: [Double] = []
        var iterations = 0, converged = false, reason = "reached the iteration limit"
        /// The largest entry of the gradient with respect to the original weights and biases.
        func maxAbs(_ v: [Double]) -> Double {
            var w = 0.0, b = 0.0
            for i in 0..<(k * d) { w = max(w, abs(v[i])) }
            for i in (k * d)..<v.count { b = max(b, abs(v[i])) }
            return max(w / Double(scale), b)
        }
        var gmax = maxAbs(grad)
        onStep(Step(iteration: 0, loss: loss, gradientMax: gmax))
        if gmax <= o.tolerance { converged = true; reason = "gradient below tolerance" }
        while !converged && iterations < o.maxIterations {
            // Two-loop recursion: direction = −H·g.
            var q = grad
            var alphas = [Double](repeating: 0, count: sHist.count)
            for i in stride(from: sHist.count - 1, through: 0, by: -1) {
                alphas[i] = rhoHist[i] * dot(sHist[i], q)
                axpy(-alphas[i], yHist[i], &q)
            }
            var gamma = 1.0
            if let sl = sHist.last, let yl = yHist.last { gamma = dot(sl, yl) / dot(yl, yl) }
            else { gamma = 1 / max(grad.reduce(0) { max($0, abs($1)) }, 1e-12) * 0.1 }
            for i in q.indices { q[i] *= gamma }
            for i in 0..<sHist.count {
                let beta = rhoHist[i] * dot(yHist[i], q)
                axpy(alphas[i] - beta, sHist[i], &q)
            }
            var dir = q.map { -$0 }
            var slope = dot(grad, dir)
            if !(slope < 0) {
                // Not a descent direction (rounding): restart from steepest descent.
                sHist.removeAll(); yHist.removeAll(); rhoHist.removeAll()
                dir = grad.map { -$0 }
                slope = dot(grad, dir)
            }
            guard let step = lineSearch(objective, theta: theta, loss: loss, slope: slope, direction: dir) else {
                reason = "the line search found no decrease (float32 rounding limits further progress)"
                break
            }
            iterations += 1
            let s = dir.map { $0 * step.alpha }
            var yv = step.grad
            axpy(-1, grad, &yv)
            let sy = dot(s, yv)
            if sy > 1e-12 * dot(yv, yv) {
                sHist.append(s); yHist.append(yv); rhoHist.append(1 / sy)
                if sHist.count > o.memory { sHist.removeFirst(); yHist.removeFirst(); rhoHist.removeFirst() }
            }
            let previous = loss
            theta = step.theta; loss = step.loss; grad = step.grad
            gmax = maxAbs(grad)
            onStep(Step(iteration: iterations, loss: loss, gradientMax: gmax))
            if gmax <= o.tolerance { converged = true; reason = "gradient below tolerance"; break }
            if (previous - loss) <= 1e-12 * max(abs(previous), abs(loss), 1) {
                reason = "the objective stopped decreasing (relative change ≤ 1e-12)"
                break
            }
        }
        guard loss.isFinite, theta.allSatisfy({ $0.isFinite }) else {
            throw EmbedScopeError(.nonFinite, "training diverged (the loss is not finite)", hint: "try a smaller --C")
        }
        return Model(classes: classes, dim: d, weights: theta[0..<(k * d)].map { Float($0 * Double(scale)) }, bias: theta[(k * d)...].map { Float($0) },
                     loss: loss, gradientMax: gmax, iterations: iterations, converged: converged, stopReason: reason)
    }

    /// Predicted label of each of `rows` (argmax of logits; ties: the lower class).
    package static func predict(_ model: Model, _ x: RowMatrix, scales: [Float]? = nil, rows: [Int]) -> [Int32] {
        let k = model.classes.count
        var out: [Int32] = []
        out.reserveCapacity(rows.count)
        RowLogits.forEachBlock(x, rows: rows, scales: scales, weights: model.weights, columns: k) { _, z in
            for i in 0..<(z.count / k) {
                var best = 0, bv = Double(z[i * k]) + Double(model.bias[0])
                for j in 1..<k {
                    let v = Double(z[i * k + j]) + Double(model.bias[j])
                    if v > bv { best = j; bv = v }
                }
                out.append(model.classes[best])
            }
        }
        return out
    }

    /// A stratified, seeded split: within each class (ascending label) the rows are shuffled
    /// with SplitMix64(seed) (Fisher–Yates, drawn in that order), and the first
    /// round(fraction · n_c) go to validation — at least 1 and at most n_c − 1 when n_c ≥ 2,
    /// none for a class of one row. Both lists are returned in ascending row order.
    package static func stratifiedSplit(labels: [Int32], validationFraction: Double, seed: UInt64) throws -> (train: [Int], validation: [Int]) {
        guard validationFraction > 0, validationFraction < 1 else {
            throw EmbedScopeError(.invalidArgument, "the validation fraction must be between 0 and 1 (exclusive), got \(validationFraction)")
        }
        var byClass: [Int32: [Int]] = [:]
        for (r, l) in labels.enumerated() { byClass[l, default: []].append(r) }
        var g = SplitMix64(seed: seed)
        var train: [Int] = [], val: [Int] = []
        for c in byClass.keys.sorted() {
            var rs = byClass[c]!
            for i in stride(from: rs.count - 1, to: 0, by: -1) {
                let j = Int(g.below(UInt64(i + 1)))
                rs.swapAt(i, j)
            }
            let nc = rs.count
            let nv = nc < 2 ? 0 : min(nc - 1, max(1, Int((validationFraction * Double(nc)).rounded())))
            val += rs[0..<nv]
            train += rs[nv...]
        }
        return (train.sorted(), val.sorted())
    }

    // MARK: - Implementation

    /// 1, or the power of two that brings the training rows' root-mean-square norm near 1 when it
    /// is outside [1/64, 64] (and C / s² keeps a finite 1/C').
    static func featureScale(_ f: [Float], rows n: Int, c: Double) -> Float {
        guard n > 0 else { return 1 }
        var sum = 0.0
        for v in f { sum += Double(v) * Double(v) }
        let rms = (sum / Double(n)).squareRoot()
        guard rms > 0, rms.isFinite, rms > 64 || rms < 1.0 / 64 else { return 1 }
        let exponent = -Int(log2(rms).rounded())
        guard abs(exponent) < 120 else { return 1 }
        let s = Float(sign: .plus, exponent: exponent, significand: 1)
        let cScaled = c / (Double(s) * Double(s))
        guard cScaled > 0, cScaled.isFinite, (1 / cScaled).isFinite else { return 1 }
        return s
    }

    static func dot(_ a: [Double], _ b: [Double]) -> Double {
        var s = 0.0
        for i in a.indices { s += a[i] * b[i] }
        return s
    }

    static func axpy(_ alpha: Double, _ x: [Double], _ y: inout [Double]) {
        for i in y.indices { y[i] += alpha * x[i] }
    }

    /// The mean objective and its gradient; θ = (W row-major k × d, b k).
    ///
    /// One pass over the features per evaluation: rows in blocks of `blockRows` (a block stays in
    /// cache between its two GEMMs): Z_b = F_b·Wᵀ, softmax, then G += (P − Y)_bᵀ·F_b. The rows are
    /// cut into a fixed number of parts (`parts`, run concurrently, single-threaded BLAS each)
    /// whose partial sums are added in order, so the result does not depend on the machine's
    /// core count.
    struct Objective {
        let features: [Float]
        let y: [Int]
        let n: Int, d: Int, k: Int
        let c: Double
        static let parts = 2
        static let blockRows = 256

        func evaluate(_ theta: [Double]) -> (Double, [Double]) {
            let w = theta[0..<(k * d)].map { Float($0) }
            let bias = Array(theta[(k * d)...])
            let (n, d, k, y) = (self.n, self.d, self.k, self.y)
            let p = min(Self.parts, max(1, n))
            let ranges = (0..<p).map { t in (n * t / p)..<(n * (t + 1) / p) }
            var partial = [(loss: Double, g: [Float], gb: [Double])](repeating: (0, [], []), count: p)
            BLASThreads.single {
                features.withUnsafeBufferPointer { fp in
                    let f = fp.baseAddress!
                    partial.withUnsafeMutableBufferPointer { out in
                        let o = out
                        parallelFor(p) { t in
                            let b = Self.blockRows
                            var z = [Float](repeating: 0, count: b * k), r = [Float](repeating: 0, count: b * k)
                            var g = [Float](repeating: 0, count: k * d), gb = [Double](repeating: 0, count: k)
                            var e = [Double](repeating: 0, count: k)
                            var loss = 0.0
                            var start = ranges[t].lowerBound
                            while start < ranges[t].upperBound {
                                let nb = min(b, ranges[t].upperBound - start)
                                let xb = f + start * d
                                SGEMM.multiply(m: nb, n: k, k: d, a: xb, lda: d, b: w, ldb: d, bTransposed: true, c: &z, ldc: k)
                                for i in 0..<nb {
                                    let yi = y[start + i]
                                    var mx = -Double.infinity
                                    for j in 0..<k { e[j] = Double(z[i * k + j]) + bias[j]; mx = max(mx, e[j]) }
                                    let zy = e[yi]
                                    var sum = 0.0
                                    for j in 0..<k { e[j] = Foundation.exp(e[j] - mx); sum += e[j] }
                                    loss += mx + Foundation.log(sum) - zy
                                    for j in 0..<k {
                                        var v = e[j] / sum
                                        if j == yi { v -= 1 }
                                        r[i * k + j] = Float(v)
                                        gb[j] += v
                                    }
                                }
                                // g[k × d] += Rᵀ · X_block (R given as [nb × k], i.e. A transposed).
                                SGEMM.multiply(m: k, n: d, k: nb, a: r, lda: k, aTransposed: true, b: xb, ldb: d, bTransposed: false,
                                               c: &g, ldc: d, beta: 1)
                                start += nb
                            }
                            o[t] = (loss, g, gb)
                        }
                    }
                }
            }
            var loss = 0.0
            var grad = [Double](repeating: 0, count: k * d + k)
            for part in partial {
                loss += part.loss
                for t in 0..<(k * d) { grad[t] += Double(part.g[t]) }
                for j in 0..<k { grad[k * d + j] += part.gb[j] }
            }
            var penalty = 0.0
            let invN = 1 / Double(n)
            for t in 0..<(k * d) {
                penalty += theta[t] * theta[t]
                grad[t] = (grad[t] + theta[t] / c) * invN
            }
            for j in 0..<k { grad[k * d + j] *= invN }
            return ((loss + 0.5 / c * penalty) * invN, grad)
        }
    }

    struct LineStep {
        var alpha: Double
        var theta: [Double]
        var loss: Double
        var grad: [Double]
        /// φ'(α) = ∇f(θ + αp) · p.
        var slope: Double
    }

    /// Strong-Wolfe line search (Nocedal & Wright, algorithms 3.5 and 3.6; c1 = 1e-4, c2 = 0.9),
    /// starting at α = 1, expanding by 2, zooming by safeguarded quadratic interpolation.
    static func lineSearch(_ f: Objective, theta: [Double], loss f0: Double, slope d0: Double, direction p: [Double]) -> LineStep? {
        let c1 = 1e-4, c2 = 0.9
        func phi(_ a: Double) -> LineStep {
            var t = theta
            axpy(a, p, &t)
            let (l, g) = f.evaluate(t)
            return LineStep(alpha: a, theta: t, loss: l, grad: g, slope: dot(g, p))
        }
        func zoom(_ lo0: LineStep, _ hi0: LineStep) -> LineStep? {
            var lo = lo0, hi = hi0
            for _ in 0..<30 {
                let dlo = lo.slope
                // Minimizer of the quadratic through (lo, φ(lo), φ'(lo)) and (hi, φ(hi)), kept inside.
                let w = hi.alpha - lo.alpha
                let denom = 2 * (hi.loss - lo.loss - dlo * w)
                var a = denom > 0 ? lo.alpha - dlo * w * w / denom : lo.alpha + w / 2
                let lower = min(lo.alpha, hi.alpha) + 0.1 * abs(w), upper = max(lo.alpha, hi.alpha) - 0.1 * abs(w)
                if !(a >= lower && a <= upper) { a = lo.alpha + w / 2 }
                let s = phi(a)
                if !s.loss.isFinite || s.loss > f0 + c1 * a * d0 || s.loss >= lo.loss {
                    hi = s
                } else {
                    let ds = s.slope
                    if abs(ds) <= -c2 * d0 { return s }
                    if ds * (hi.alpha - lo.alpha) >= 0 { hi = lo }
                    lo = s
                }
                if abs(hi.alpha - lo.alpha) < 1e-16 * max(1, lo.alpha) { break }
            }
            return lo.alpha > 0 && lo.loss < f0 ? lo : nil
        }
        var prev = LineStep(alpha: 0, theta: theta, loss: f0, grad: [], slope: d0)
        var a = 1.0
        for i in 0..<40 {
            let s = phi(a)
            if !s.loss.isFinite || s.loss > f0 + c1 * a * d0 || (i > 0 && s.loss >= prev.loss) { return zoom(prev, s) }
            if abs(s.slope) <= -c2 * d0 { return s }
            if s.slope >= 0 { return zoom(s, prev) }
            prev = s
            a *= 2
        }
        return prev.alpha > 0 ? prev : nil
    }

}
