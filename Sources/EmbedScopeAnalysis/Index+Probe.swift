import Foundation
import EmbedScopeCore

public struct ProbeRequest: Sendable {
    /// nil: `embedding` if the index has it, else its first space.
    public var space: String? = nil
    public var validationFraction = 0.2
    public var seed: UInt64 = 0
    public var options = LinearProbe.Options()
    /// Store the trained head as this prototype set (nil: do not store).
    public var storeAs: String? = "probe"
    public init() {}
}

/// What `embedscope probe --json` prints.
public struct ProbeReport: Sendable, Codable, Equatable {
    public var space: String
    public var features: String
    public var objective: String
    public var c: Double
    public var seed: UInt64
    public var validationFraction: Double
    public var trainRows: Int
    public var validationRows: Int
    public var iterations: Int
    public var converged: Bool
    public var stopReason: String
    /// Mean objective (Σ cross-entropy + ½/C‖W‖²) / n_train at the end, and its gradient's largest entry.
    public var loss: Double
    public var gradientMax: Double
    public var trainAccuracy: Double
    public var validation: ClassificationReport
    /// The prototype set the head was stored as (nil if not stored).
    public var storedAs: String?
    /// Where the training and validation rows came from (catalog splits or a seeded stratified split;
    /// `split` in schema version 1, a name `split` keeps for a row's split everywhere else).
    public var splitPlan: ProbeSplitRecord
}

extension Index {
    /// Trains a linear probe (multinomial logistic regression with L2, see `LinearProbe`) on a
    /// stratified seeded split of a space, reports validation accuracy / confusion / P/R/F1,
    /// and stores the head as a prototype set (atomically, replacing a set of that name).
    /// The features are the original vectors x = ‖x‖·x̂ (unit row times its stored norm), so
    /// the stored set's logits in `rank` / `evaluate` (x·w + b) are the probe's own logits.
    public func probe(_ req: ProbeRequest, onStep: (LinearProbe.Step) -> Void = { _ in }) throws -> ProbeReport {
        let spaceName = try req.space ?? defaultSpace()
        try requireFinite(space: spaceName)
        let (v, norms, labels) = try labelledRows(space: spaceName, purpose: "a probe needs")
        if let name = req.storeAs { try IndexBuilder.validateName(name, what: "prototype set") }
        let split = try probeSplit(labels: labels, validationFraction: req.validationFraction, seed: req.seed)
        guard !split.validation.isEmpty else {
            throw EmbedScopeError(.undefined, "the validation split is empty (every class has a single image)", path: url.path)
        }
        let x = RowMatrix(v)
        let model = try LinearProbe.train(x, scales: norms, labels: labels, rows: split.train, options: req.options, onStep: onStep)
        let names = try classNames()
        let column = Dictionary(uniqueKeysWithValues: model.classes.enumerated().map { ($1, $0) })
        func report(_ rows: [Int]) throws -> ClassificationReport {
            let pred = LinearProbe.predict(model, x, scales: norms, rows: rows)
            // Every class is in training (a stratified split keeps ≥ 1 row of each in train; `probeSplit`
            // refuses catalog splits whose validation rows have a class the train rows lack).
            return try ClassificationReport(truth: rows.map { column[labels[$0]]! }, predicted: pred.map { column[$0]! },
                                            names: model.classes.map { names[Int($0)] ?? "class \($0)" })
        }
        let validation = try report(split.validation)
        let train = try report(split.train)
        if let name = req.storeAs {
            // A prototype is a direction: a class whose trained weights are all zero has none
            // (identical rows, a vanishing C). Said in the probe's terms, not as a bad input vector.
            let d = model.dim
            if let j = model.classes.indices.first(where: { j in model.weights[(j * d)..<((j + 1) * d)].allSatisfy { $0 == 0 } }) {
                let cls = names[Int(model.classes[j])] ?? "class \(model.classes[j])"
                throw EmbedScopeError(.undefined, "the trained head's weights for class '\(cls)' are all zero: the probe found no direction for it, so the head cannot be stored as prototype set '\(name)'",
                                      hint: "the rows may not differ between classes, or C is too small; --no-store reports the validation figures without storing")
            }
            try Index.writePrototypeSet(at: url, name: name, space: spaceName,
                                        source: "embedscope probe (C=\(req.options.c), \(split.record.summary))",
                                        names: model.classes.map { names[Int($0)] ?? "class \($0)" },
                                        weights: model.weights, bias: model.bias, basis: self,
                                        meta: [ProbeSplitRecord.metaKey(name): String(decoding: try JSONEncoder().encode(split.record), as: UTF8.self)])
        }
        return ProbeReport(space: spaceName, features: "x = norm · unit row (the vectors as imported)",
                           objective: "multinomial logistic regression: Σ cross-entropy + ½/C·‖W‖² (bias not penalized)",
                           c: req.options.c, seed: req.seed, validationFraction: req.validationFraction,
                           trainRows: split.train.count, validationRows: split.validation.count, iterations: model.iterations,
                           converged: model.converged, stopReason: model.stopReason, loss: model.loss, gradientMax: model.gradientMax,
                           trainAccuracy: train.accuracy, validation: validation, storedAs: req.storeAs, splitPlan: split.record)
    }
}

extension Index {
    /// A space's unit rows, their original norms and the catalog's class of every row, checked to
    /// agree, with at least 2 classes (`purpose` starts the error, e.g. "a probe needs").
    func labelledRows(space name: String, purpose: String) throws -> (vectors: VectorFile, norms: [Float], labels: [Int32]) {
        let v = try vectors(space: name)
        let norms = Array(try self.norms(space: name).row(0))
        let labels = try catalog.classIds()
        guard labels.count == v.rows else {
            throw EmbedScopeError(.catalog, "space '\(name)' has \(v.rows) rows but the catalog lists \(labels.count) images", path: url.path)
        }
        guard Set(labels).count >= 2 else {
            throw EmbedScopeError(.undefined, "\(purpose) at least 2 classes; this index has \(Set(labels).count)", path: url.path)
        }
        return (v, norms, labels)
    }
}
