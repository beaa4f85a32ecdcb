import CBLAS
import Foundation
import EmbedScopeCore

/// What `embedscope evaluate --json` prints: a prototype set used as a classifier.
public struct PrototypeEvaluation: Sendable, Codable, Equatable {
    public struct Margin: Sendable, Codable, Equatable {
        public var row: Int
        public var path: String
        public var `class`: String
        public var predicted: String
        /// Own-class logit minus the best other logit (negative: misclassified).
        public var margin: Double
    }

    public var set: String
    public var space: String
    /// The rows scored (`EvaluationSplit`: heldout, val, test, train, all) and what they are.
    public var split: String
    public var splitNote: String
    /// Rows of the index, and those evaluated (in the split, and their class has a prototype).
    public var rows: Int
    public var evaluatedRows: Int
    /// Classes of the index with no prototype of that name; their rows are left out.
    public var classesWithoutPrototype: [String]
    public var excludedRows: Int
    /// Prototypes whose name is no class of the index; they take no part in the argmax.
    public var prototypesWithoutClass: [String]
    public var predictionRule: String
    public var classification: ClassificationReport
    public var meanMargin: Double
    /// Lowest margins first (ties: lower row first): likely mislabels or hard examples.
    public var lowestMargins: [Margin]
}

extension Index {
    /// Logits of `rows` (all when nil) for the prototypes `protos` of a set:
    /// logit = ‖x‖·‖w‖·(x̂·ŵ) + b, i.e. x·w + b as `rank` computes it. rows.count × protos.count,
    /// row-major, in Double; the dot products come from `sgemm` in row chunks.
    public func logitMatrix(set: String, prototypes protos: [Int], rows: [Int]? = nil) throws -> [Double] {
        let p = try prototypes(set: set)
        try requireFinite(space: p.set.space)
        try requireFinite(prototypeSet: set)
        let v = try vectors(space: p.set.space)
        let norms = try self.norms(space: p.set.space).row(0)
        let d = v.dim, c = protos.count
        let rowList = rows ?? Array(0..<v.rows)
        var w = [Float](repeating: 0, count: c * d)
        for (j, pi) in protos.enumerated() {
            let src = p.vectors.row(pi)
            for t in 0..<d { w[j * d + t] = src[t] }
        }
        let wn = protos.map { p.records[$0].norm }, bias = protos.map { p.records[$0].bias }
        var out = [Double](repeating: 0, count: rowList.count * c)
        // OpenBLAS's sgemm, as before the shared helper: the figures stay bit for bit.
        BLASInfo.warnIfGeneric("the prototype evaluation's logits (kept on OpenBLAS so recorded figures do not move)")
        try OpenBLASMemory.reserve(for: "the prototype evaluation")
        RowLogits.forEachBlock(RowMatrix(v), rows: rowList, weights: w, columns: c, path: .openblas) { start, dots in
            for i in 0..<(dots.count / max(c, 1)) {
                let xn = Double(norms[rowList[start + i]])
                for j in 0..<c { out[(start + i) * c + j] = xn * wn[j] * Double(dots[i * c + j]) + bias[j] }
            }
        }
        return out
    }

    /// A prototype set as a classifier of the index's classes. Prototypes are matched to
    /// classes by name; the prediction is the argmax of the matched prototypes' logits (ties:
    /// the lower prototype index). Rows whose class has no prototype are excluded (and counted).
    /// `split` chooses the rows (`evaluationRows`); the default leaves out a probe's training rows.
    public func evaluate(set name: String, space: String? = nil, lowest: Int = 20, split: EvaluationSplit = .heldout) throws -> PrototypeEvaluation {
        guard lowest >= 0 else { throw EmbedScopeError(.invalidArgument, "lowest must be ≥ 0, got \(lowest)") }
        let p = try prototypes(set: name)
        if let space, space != p.set.space {
            _ = try self.space(space)
            throw EmbedScopeError(.invalidArgument, "prototype set '\(name)' belongs to space '\(p.set.space)', not '\(space)'",
                                  hint: "leave out --space or pass --space \(p.set.space)")
        }
        let classes = try catalog.classes()
        let classByName = Dictionary(classes.map { ($0.name, $0.id) }, uniquingKeysWith: { a, _ in a })
        // Matched prototypes, in prototype order; the first prototype of a name wins.
        var protoOfClass: [Int: Int] = [:]
        var unmatched: [String] = []
        for r in p.records {
            if let cid = classByName[r.name] {
                if protoOfClass[cid] == nil { protoOfClass[cid] = r.idx }
            } else {
                unmatched.append(r.name)
            }
        }
        guard !protoOfClass.isEmpty else {
            throw EmbedScopeError(.notFound, "no prototype of set '\(name)' is named like a class of this index (prototypes: \(p.records.prefix(8).map(\.name).joined(separator: ", "))…; classes: \(classes.prefix(8).map(\.name).joined(separator: ", ")))",
                                  path: url.path, hint: "evaluate needs a head trained on these classes, e.g. `embedscope probe` (set 'probe'), or import the head with --head-classes naming them")
        }
        // One matched prototype is a classifier of one class: always right, every margin 0 — which
        // read as a perfect head (red team: head [a, zzz] on classes a, b gave accuracy 1).
        guard protoOfClass.count >= 2 else {
            let only = classes.first { protoOfClass[$0.id] != nil }?.name ?? "?"
            throw EmbedScopeError(.undefined, "only one prototype of set '\(name)' is named like a class of this index ('\(only)'): a classifier of one class is always right and has no margin",
                                  path: url.path, hint: "evaluate needs prototypes for at least two of the index's classes (prototypes not named like a class are left out\(unmatched.isEmpty ? "" : ": \(unmatched.prefix(5).joined(separator: ", "))"))")
        }
        // Evaluated classes in class-id order; column j of the logits is prototype protos[j].
        let evalClasses = classes.filter { protoOfClass[$0.id] != nil }
        let protos = evalClasses.map { protoOfClass[$0.id]! }
        let column = Dictionary(uniqueKeysWithValues: evalClasses.enumerated().map { ($1.id, $0) })
        let labels = try catalog.classIds()
        let (splitRows, splitNote) = try evaluationRows(set: name, split: split)
        let rows = splitRows.filter { column[Int(labels[$0])] != nil }
        guard !rows.isEmpty else { throw EmbedScopeError(.undefined, "no image of the \(split.rawValue) rows belongs to a class that has a prototype", path: url.path) }
        let z = try logitMatrix(set: name, prototypes: protos, rows: rows)
        let c = protos.count
        var truth = [Int](), pred = [Int](), margins = [Double]()
        truth.reserveCapacity(rows.count); pred.reserveCapacity(rows.count); margins.reserveCapacity(rows.count)
        for (i, _) in rows.enumerated() {
            let own = column[Int(labels[rows[i]])]!
            var best = 0
            // Columns are in class order; a tie goes to the lower prototype index, as documented.
            for j in 1..<max(1, c) where z[i * c + j] > z[i * c + best] || (z[i * c + j] == z[i * c + best] && protos[j] < protos[best]) { best = j }
            var other = -Double.infinity
            for j in 0..<c where j != own { other = max(other, z[i * c + j]) }
            let m = c > 1 ? z[i * c + own] - other : 0
            guard m.isFinite else { throw EmbedScopeError(.nonFinite, "a logit is not finite (row \(rows[i]))", path: url.path) }
            truth.append(own); pred.append(best); margins.append(m)
        }
        let names = evalClasses.map(\.name)
        let report = try ClassificationReport(truth: truth, predicted: pred, names: names)
        let order = margins.indices.sorted { margins[$0] < margins[$1] || (margins[$0] == margins[$1] && rows[$0] < rows[$1]) }
        let pick = Array(order.prefix(lowest))
        let recs = try catalog.images(rows: pick.map { rows[$0] })
        let lowestList = pick.map { i in
            PrototypeEvaluation.Margin(row: rows[i], path: recs[rows[i]]?.path ?? "?", class: names[truth[i]], predicted: names[pred[i]], margin: margins[i])
        }
        let excluded = classes.filter { protoOfClass[$0.id] == nil }
        return PrototypeEvaluation(set: name, space: p.set.space, split: split.rawValue, splitNote: splitNote,
                                   rows: labels.count, evaluatedRows: rows.count,
                                   classesWithoutPrototype: excluded.map(\.name), excludedRows: splitRows.count - rows.count,
                                   prototypesWithoutClass: unmatched,
                                   predictionRule: "argmax over the matched prototypes of logit = x·w + b; tie: the lower prototype index",
                                   classification: report, meanMargin: margins.reduce(0, +) / Double(margins.count),
                                   lowestMargins: lowestList)
    }
}
