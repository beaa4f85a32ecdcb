import Foundation
import EmbedScopeCore

/// How well classes separate: silhouette, Davies–Bouldin and Calinski–Harabasz, with the
/// definitions of scikit-learn's `silhouette_samples` / `silhouette_score` (metric
/// 'euclidean'), `davies_bouldin_score` and `calinski_harabasz_score`, edge cases included.
///
/// Distances are Euclidean on the rows as given. An index stores unit rows, so there
/// d² = 2 − 2·cos: the silhouette ranks pairs exactly as cosine distance does, and
/// DB / CH are computed on the unit vectors (not on the raw embeddings).
///
/// Labels are any `Int32` values, one per row; classes are the distinct values present
/// (as `LabelEncoder` makes them). All three metrics need 2 ≤ classes ≤ rows − 1 and throw
/// `EmbedScopeError.Kind.undefined` otherwise; no result is ever NaN.
public enum ClusterMetrics {
    /// Silhouette of every row (or of a seeded sample of rows, each still measured against all
    /// rows), its mean and the per-class means. O(N²·dim) exact; see `SilhouetteOptions`.
    package static func silhouette(_ x: RowMatrix, labels: [Int32], options: SilhouetteOptions = SilhouetteOptions(),
                                  progress: ProgressSink = SilentProgress()) throws -> SilhouetteResult {
        let layout = try prepare(x, labels, "the silhouette")
        try options.validate()
        let moments = ClassMoments(x, layout: layout, threads: options.threads)
        return try silhouette(x, layout: layout, moments: moments, options: options, progress: progress)
    }

    /// Davies–Bouldin index (lower is better; 0 is the minimum).
    package static func daviesBouldin(_ x: RowMatrix, labels: [Int32], threads: Int = Scorer.defaultThreads) throws -> Double {
        let layout = try prepare(x, labels, "the Davies-Bouldin index")
        let moments = ClassMoments(x, layout: layout, threads: threads)
        return try centroidScores(x, layout: layout, moments: moments, threads: threads).daviesBouldin
    }

    /// Calinski–Harabasz index (variance ratio; higher is better).
    package static func calinskiHarabasz(_ x: RowMatrix, labels: [Int32], threads: Int = Scorer.defaultThreads) throws -> Double {
        let layout = try prepare(x, labels, "the Calinski-Harabasz index")
        let moments = ClassMoments(x, layout: layout, threads: threads)
        return try centroidScores(x, layout: layout, moments: moments, threads: threads).calinskiHarabasz
    }

    /// All three, sharing the centroid pass.
    package static func all(_ x: RowMatrix, labels: [Int32], options: SilhouetteOptions = SilhouetteOptions(),
                           progress: ProgressSink = SilentProgress()) throws -> ClusterScores {
        let layout = try prepare(x, labels, "cluster metrics")
        try options.validate()
        let moments = ClassMoments(x, layout: layout, threads: options.threads)
        let c = try centroidScores(x, layout: layout, moments: moments, threads: options.threads)
        let s = try silhouette(x, layout: layout, moments: moments, options: options, progress: progress)
        return ClusterScores(rows: x.rows, dim: x.dim, classes: layout.classCount, silhouette: s,
                             daviesBouldin: c.daviesBouldin, calinskiHarabasz: c.calinskiHarabasz)
    }

    // MARK: - Implementation

    static func prepare(_ x: RowMatrix, _ labels: [Int32], _ what: String) throws -> ClassLayout {
        guard labels.count == x.rows else {
            throw EmbedScopeError(.shapeMismatch, "\(labels.count) labels for \(x.rows) rows", hint: "give one label per row")
        }
        guard x.dim >= 1 else { throw EmbedScopeError(.invalidArgument, "rows have no dimensions") }
        let layout = ClassLayout(labels: labels)
        try layout.requireDefined(what)
        return layout
    }

    private static var nonFiniteSilhouette: EmbedScopeError {
        EmbedScopeError(.nonFinite, "the silhouette is not finite: the rows contain NaN or infinity",
                        hint: "check the vectors (an index built by EmbedScope never holds them)")
    }

    static func silhouette(_ x: RowMatrix, layout: ClassLayout, moments: ClassMoments, options: SilhouetteOptions,
                           progress: ProgressSink) throws -> SilhouetteResult {
        let n = x.rows, k = layout.classCount
        // Rows to evaluate: all, or a seeded uniform sample without replacement.
        var sampledRows: [Int]? = nil
        if let m = options.sample, m < n {
            var g = SplitMix64(seed: options.seed)
            var pool = Array(0..<n)
            for i in 0..<m {
                let j = i + Int(g.below(UInt64(n - i)))
                pool.swapAt(i, j)
            }
            sampledRows = Array(pool[0..<m]).sorted()
        }
        // Evaluated positions, ascending (so grouped by class).
        var rowPositions: [Int]? = nil
        if let rows = sampledRows {
            var positionOfRow = [Int](repeating: 0, count: n)
            for (p, r) in layout.order.enumerated() { positionOfRow[r] = p }
            rowPositions = rows.map { positionOfRow[$0] }.sorted()
        }
        let engine = SilhouetteEngine(x: x, layout: layout, moments: moments, options: options)
        // Under `ulimit -v`: a clear error before the work, not a trap in the middle of it.
        try AddressSpace.require(estimate: engine.estimatedBytes(evaluatedRows: rowPositions?.count ?? n),
                                 for: "the silhouette of \(rowPositions?.count ?? n) × \(n) rows")
        if options.kernel == .float64 || SGEMM.path == .openblas { try OpenBLASMemory.reserve(for: "the silhouette") }
        let (sums, refinedPairs, strassenTiles) = engine.classDistanceSums(rowPositions: rowPositions, progress: progress)
        // A non-finite row makes every sum NaN (the engine's fixed-point sums cannot hold it);
        // the reduction below would turn NaN into 0 (max / min skip NaN), so it is caught here.
        guard sums.allSatisfy({ $0.isFinite }) else { throw Self.nonFiniteSilhouette }

        // scikit-learn's reduction: a = S[own] / (n_own − 1), b = min over other classes of
        // S[c] / n_c, s = (b − a) / max(a, b); 0 for a class of one row and for a = b = 0.
        let positions = rowPositions ?? Array(0..<n)
        var valueAtRow: [(row: Int, value: Double)] = []
        valueAtRow.reserveCapacity(positions.count)
        for (r, p) in positions.enumerated() {
            let own = Int(layout.classAt[p])
            let s = sums.withUnsafeBufferPointer { $0.baseAddress! + r * k }
            var v = 0.0
            if layout.counts[own] > 1 {
                let a = s[own] / Double(layout.counts[own] - 1)
                var b = Double.infinity
                for c in 0..<k where c != own { b = min(b, s[c] / Double(layout.counts[c])) }
                let m = max(a, b)
                v = m > 0 ? (b - a) / m : 0
            }
            valueAtRow.append((layout.order[p], v))
        }
        valueAtRow.sort { $0.row < $1.row }
        let rows = valueAtRow.map(\.row), values = valueAtRow.map(\.value)
        guard values.allSatisfy({ $0.isFinite }) else { throw Self.nonFiniteSilhouette }

        let mean = values.reduce(0, +) / Double(values.count)
        var perClassSum = [Double](repeating: 0, count: k), perClassN = [Int](repeating: 0, count: k)
        for (row, v) in zip(rows, values) {
            let c = Int(layout.classOfRow[row])
            perClassSum[c] += v
            perClassN[c] += 1
        }
        let perClass = (0..<k).map { c in
            ClassSilhouette(classId: Int(layout.ids[c]), rows: layout.counts[c], evaluated: perClassN[c],
                            mean: perClassN[c] > 0 ? perClassSum[c] / Double(perClassN[c]) : nil)
        }
        var standardError: Double? = nil
        if sampledRows != nil {
            // Sampling without replacement from the N per-row values: SE = s/√m · √(1 − m/N).
            let m = Double(values.count)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (m - 1)
            standardError = (variance / m * (1 - m / Double(n))).squareRoot()
        }
        return SilhouetteResult(mean: mean, rows: rows, values: values, perClass: perClass,
                                sample: sampledRows.map(\.count), seed: sampledRows == nil ? nil : options.seed,
                                standardError: standardError, refinedPairs: refinedPairs, strassenTiles: strassenTiles)
    }

    static func centroidScores(_ x: RowMatrix, layout: ClassLayout, moments: ClassMoments,
                               threads: Int) throws -> (daviesBouldin: Double, calinskiHarabasz: Double) {
        let k = layout.classCount, n = x.rows, d = x.dim
        let dev = moments.deviations(x, layout: layout, threads: threads)

        // Calinski–Harabasz: between / within dispersion, each over its degrees of freedom;
        // 1.0 when the within dispersion is 0 (scikit-learn's convention).
        var extra = 0.0, intra = 0.0
        for c in 0..<k {
            var s = 0.0
            for j in 0..<d { let e = moments.means[c * d + j] - moments.globalMean[j]; s += e * e }
            extra += Double(layout.counts[c]) * s
            intra += dev.squared[c]
        }
        let ch = intra == 0 ? 1.0 : extra * Double(n - k) / (intra * Double(k - 1))

        // Davies–Bouldin: mean over classes of max_j (σ_i + σ_j) / ‖μ_i − μ_j‖, σ the mean distance
        // to the centroid; a pair of coincident centroids counts 0; 0 if every σ or every
        // centroid distance is ~0 (|x| ≤ 1e-8, numpy.isclose's atol).
        let sigma = (0..<k).map { dev.distance[$0] / Double(layout.counts[$0]) }
        var centroidDistance = [Double](repeating: 0, count: k * k)
        for i in 0..<k {
            for j in (i + 1)..<max(i + 1, k) {
                var s = 0.0
                for t in 0..<d { let e = moments.means[i * d + t] - moments.means[j * d + t]; s += e * e }
                centroidDistance[i * k + j] = s.squareRoot(); centroidDistance[j * k + i] = s.squareRoot()
            }
        }
        var db = 0.0
        let tiny = 1e-8
        if !(sigma.allSatisfy { abs($0) <= tiny } || centroidDistance.allSatisfy { abs($0) <= tiny }) {
            for i in 0..<k {
                var worst = 0.0
                for j in 0..<k where centroidDistance[i * k + j] != 0 {
                    worst = max(worst, (sigma[i] + sigma[j]) / centroidDistance[i * k + j])
                }
                db += worst
            }
            db /= Double(k)
        }
        guard db.isFinite, ch.isFinite else {
            throw EmbedScopeError(.nonFinite, "Davies-Bouldin or Calinski-Harabasz is not finite: the rows contain NaN or infinity")
        }
        return (db, ch)
    }
}

/// Options of the silhouette.
public struct SilhouetteOptions: Sendable {
    /// Evaluate this many rows, drawn uniformly without replacement (seeded), each against all
    /// rows — an unbiased estimate of the exact mean, reported with its standard error. nil, or
    /// a value ≥ the row count, means exact over all rows. (scikit-learn's `sample_size`
    /// instead computes the silhouette of the sub-sample on its own, which is biased for small
    /// samples.)
    public var sample: Int?
    public var seed: UInt64
    /// `.float32` (sgemm, class-centered, refined; the default) or `.float64` (dgemm on
    /// converted blocks; the reference, about 2× slower).
    public var kernel: SilhouetteKernel
    /// Pairs whose computed d² is below this fraction of ‖a − μ_a‖·‖b − μ_b‖ are recomputed
    /// exactly in Double (near-duplicates; every row with itself). 0 recomputes only pairs whose
    /// d² came out negative.
    public var refineBelow: Double
    /// Rows per block; a tile is blockRows² GEMM outputs. Memory: per thread 2·blockRows·dim +
    /// blockRows² GEMM elements and rows × classes Doubles of sums, plus one shared
    /// rows × classes Doubles table — never rows × rows. (576: halves of 288 rows, whole 12-row
    /// slivers and 32-column panels of the AVX-512 kernel, 6 and 16 of the AVX2 one.)
    public var blockRows: Int
    public var threads: Int
    /// Up to this many bytes of rows, the float32 kernel packs every column block once (one more
    /// copy of the rows) instead of once per tile; above it, each tile packs its own.
    var prepackLimitBytes = 2 << 30
    /// Whether the exact float32 silhouette multiplies its full off-diagonal tiles with one level
    /// of Strassen–Winograd (7 half-size products instead of 8; `SilhouetteEngine`).
    /// `.automatic`: on our own kernels, with prepacked blocks, for blocks of at least 128 rows
    /// (an even count), rows of at least 128 dimensions and at least `strassenMinimumRows` rows.
    package var strassen: StrassenUse = .automatic
    /// Rows from which `.automatic` uses Strassen tiles; nil: `SGEMM.strassenMinimumRows` for the
    /// GEMM path and CPU.
    package var strassenMinimumRows: Int? = nil

    package enum StrassenUse: Sendable {
        case automatic, always, never
    }

    public init(sample: Int? = nil, seed: UInt64 = 0, kernel: SilhouetteKernel = .float32, refineBelow: Double = 0.05,
                blockRows: Int = 576, threads: Int = Scorer.defaultThreads) {
        self.sample = sample; self.seed = seed; self.kernel = kernel; self.refineBelow = refineBelow
        self.blockRows = blockRows; self.threads = threads
    }

    func validate() throws {
        if let s = sample, s < 2 {
            throw EmbedScopeError(.invalidArgument, "a silhouette sample needs at least 2 rows, got \(s)", hint: "use --sample 2 or more, or leave it out for the exact value")
        }
        guard blockRows >= 1, threads >= 1 else {
            throw EmbedScopeError(.invalidArgument, "blockRows and threads must be at least 1 (got \(blockRows), \(threads))")
        }
        guard refineBelow >= 0, refineBelow.isFinite else {
            throw EmbedScopeError(.invalidArgument, "refineBelow must be a finite value ≥ 0, got \(refineBelow)")
        }
    }
}

public enum SilhouetteKernel: String, CaseIterable, Sendable, Codable {
    case float32, float64
}

public struct ClassSilhouette: Sendable, Codable, Equatable {
    /// The label value (a class id of the catalog).
    public var classId: Int
    /// Rows of the class.
    public var rows: Int
    /// Rows whose silhouette entered `mean` (all of them unless sampling).
    public var evaluated: Int
    /// Mean silhouette of the evaluated rows; nil only when a sample drew none of them.
    public var mean: Double?
}

public struct SilhouetteResult: Sendable {
    /// Mean silhouette of the evaluated rows (of all rows when exact).
    public var mean: Double
    /// Evaluated rows, ascending (0..<N when exact), and their silhouettes.
    public var rows: [Int]
    public var values: [Double]
    /// Per class, ascending class id.
    public var perClass: [ClassSilhouette]
    /// Number of sampled rows; nil when exact.
    public var sample: Int?
    public var seed: UInt64?
    /// Standard error of `mean` as an estimate of the exact mean; nil when exact.
    public var standardError: Double?
    /// Distance evaluations recomputed exactly in Double because the pair is a near-duplicate
    /// (see `SilhouetteOptions.refineBelow`; a row with itself is not counted). A diagnostic.
    public var refinedPairs: Int
    /// Tiles of the all-pairs product multiplied with one level of Strassen–Winograd
    /// (`SilhouetteOptions.strassen`); 0 when every tile was a plain product. A diagnostic.
    public var strassenTiles = 0

    public var isExact: Bool { sample == nil }
}

public struct ClusterScores: Sendable {
    public var rows: Int
    public var dim: Int
    public var classes: Int
    public var silhouette: SilhouetteResult
    public var daviesBouldin: Double
    public var calinskiHarabasz: Double
}
