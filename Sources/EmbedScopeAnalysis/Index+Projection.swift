import Foundation
import EmbedScopeCore

/// A projection of one space, with the catalog's names: what `embedscope project --json` prints
/// and what the report plots.
public struct ProjectionReport: Sendable, Codable, Equatable {
    public struct Point: Sendable, Codable, Equatable {
        public var row: Int
        public var path: String
        public var `class`: String
        public var coordinates: [Double]
    }

    public struct Direction: Sendable, Codable, Equatable {
        public var set: String
        public var name: String
        /// The prototype's unit weight row expressed in the projection's axes.
        public var coordinates: [Double]
    }

    public var method: Projection.Method
    public var space: String
    public var rows: Int
    public var dim: Int
    public var components: Int
    public var explainedVariance: [Double]
    public var explainedVarianceRatio: [Double]
    public var shrinkage: Double?
    /// LDA on a PCA-reduced space (why, how many components, the variance they keep); nil otherwise.
    public var reducedBy: Projection.Reduction?
    public var definition: String
    public var points: [Point]
    public var prototypes: [Direction]

    /// "PC1 (23.4% of variance)" / "LD1 (61.0% of between-class variance)".
    public func axisLabel(_ c: Int) -> String {
        let pct = String(format: "%.1f%%", 100 * explainedVarianceRatio[c])
        return method == .pca ? "PC\(c + 1) (\(pct) of variance)" : "LD\(c + 1) (\(pct) of discriminant variance)"
    }
}

extension Index {
    /// PCA or LDA of a space (see `Projection`), with every row's coordinates and every
    /// prototype set's directions (or only `prototypeSets`). `recordProjection` puts the
    /// variance ratios in metrics.json.
    /// The number of components `project` computes when none is given: 6, and for LDA at most
    /// classes − 1 (the rank of the between-class scatter).
    public func defaultComponents(method: Projection.Method, space: String? = nil) throws -> Int {
        let s = try self.space(space ?? defaultSpace())
        let most = method == .lda ? min(Set(try catalog.classIds()).count - 1, s.dim) : min(s.rows, s.dim)
        return max(1, min(6, most))
    }

    public func projection(space: String? = nil, method: Projection.Method, components: Int,
                           shrinkage: Double? = nil, reduce: Bool = true, prototypeSets: [String]? = nil,
                           progress: ProgressSink = SilentProgress()) throws -> ProjectionReport {
        let name = try space ?? defaultSpace()
        try requireFinite(space: name)
        for set in self.prototypeSets where set.space == name { try requireFinite(prototypeSet: set.name) }
        let v = try vectors(space: name)
        let x = RowMatrix(v)
        let result: Projection.Result
        switch method {
        case .pca:
            result = try Projection.pca(x, components: components, progress: progress)
        case .lda:
            let labels = try catalog.classIds()
            guard labels.count == v.rows else {
                throw EmbedScopeError(.catalog, "the catalog lists \(labels.count) images but space '\(name)' has \(v.rows) rows",
                                      path: url.path, hint: "the index is damaged; rebuild it")
            }
            result = try Projection.lda(x, labels: labels, components: components, shrinkage: shrinkage, reduce: reduce, progress: progress)
        }
        let k = result.components
        let images = try catalog.allImages()
        let names = try classNames()
        // Under `ulimit -v`, with the catalog's records read: each row's point (its coordinates an
        // array of their own, a malloc chunk of ≥ 80 bytes; its path and class copied) — an abort
        // at a million rows, not an error.
        try AddressSpace.require(estimate: Double(result.rows) * Double(MemoryLayout<ProjectionReport.Point>.stride + 96 + 8 * k + 64),
                                 for: "the \(result.rows) projected points")
        let points = images.map { img in
            ProjectionReport.Point(row: img.row, path: img.path, class: names[img.classId] ?? String(img.classId),
                                   coordinates: Array(result.coordinates[(img.row * k)..<((img.row + 1) * k)]))
        }
        var directions: [ProjectionReport.Direction] = []
        for set in try catalog.prototypeSets() where set.space == name && (prototypeSets?.contains(set.name) ?? true) {
            let (_, records, vectors) = try prototypes(set: set.name)
            for r in records {
                directions.append(.init(set: set.name, name: r.name, coordinates: result.project(direction: vectors.row(r.idx).baseAddress!)))
            }
        }
        let definition = method == .pca
            ? "PCA of the unit rows (mean-centred; covariance with n − 1 in Double; top eigenpairs by LAPACK dsyevr); each axis's largest entry is positive (scikit-learn's svd_flip)"
            : "LDA (scikit-learn solver='eigen'): Sb v = λ Sw v with class priors, vᵀ Sw v = 1 (LAPACK dpotrf, dsygst, dsyevr); coordinates x·V, uncentred; signs arbitrary"
        return ProjectionReport(method: method, space: name, rows: result.rows, dim: result.dim, components: k,
                                explainedVariance: result.explainedVariance, explainedVarianceRatio: result.explainedVarianceRatio,
                                shrinkage: result.shrinkage, reducedBy: result.reduction, definition: definition, points: points, prototypes: directions)
    }
}

extension ProjectionReport {
    /// The coordinates as CSV: `row,path,class,pc1…` (or `ld1…`), fields quoted as RFC 4180 needs,
    /// the numbers exactly as `--json` has them. Written into a buffer whose growth is checked
    /// (a million rows' CSV is ~100 MB: as a `String` it ended by a signal under `ulimit -v`).
    package func csvBytes() throws -> OutputBytes {
        let prefix = method == .pca ? "pc" : "ld"
        let out = OutputBytes(what: "the CSV output")
        try out.append("row,path,class," + (1...components).map { "\(prefix)\($0)" }.joined(separator: ",") + "\n")
        for p in points {
            try out.append("\(p.row),\(CSV.textField(p.path)),\(CSV.textField(p.class))")
            for c in p.coordinates { try out.append(",\(c)") }   // as --json has them (shortest round trip)
            try out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    /// `csvBytes` as a string.
    public func csv() throws -> String {
        try csvBytes().withBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// Writes `csvBytes()`: a regular file atomically, a FIFO or device through (`OutputFile`).
    public func writeCSV(to url: URL) throws {
        try OutputFile.write(try csvBytes(), to: url, what: "the CSV file")
    }
}
