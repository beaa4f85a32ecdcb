import Foundation
import EmbedScopeCore

/// Which rows an evaluation scores. `heldout` (the default) is every row the classifier did not
/// train on: for a probe, the rows outside its recorded training split; for another set, the
/// rows outside the catalog's `train` split (or all rows, with a note, when the index has no
/// splits: who trained that head on what is unknown).
public enum EvaluationSplit: String, Sendable, Codable, CaseIterable {
    case heldout, val, test, train, all
}

/// How a probe split its rows: recorded in the catalog's meta (`probeSplit.<set>`) with the
/// stored head, and in metrics.json, so that `evaluate` can leave the training rows out.
public struct ProbeSplitRecord: Sendable, Codable, Equatable {
    /// `catalog` (the rows' recorded splits: train on `train`, validate on `val`, or on `test`
    /// when there is no `val`) or `stratified` (seeded per-class split of all rows).
    public var source: String
    /// For `stratified`: the seed and validation fraction that reproduce the split.
    public var seed: UInt64?
    public var validationFraction: Double?
    /// For `catalog`: the split the probe was validated on (`val` or `test`).
    public var validationSplit: String?
    public var trainRows: Int
    public var validationRows: Int

    public var summary: String {
        source == "catalog"
            ? "the catalog's splits: train on train, validate on \(validationSplit ?? "val")"
            : "stratified per class, seed \(seed ?? 0), validation fraction \(validationFraction ?? 0)"
    }

    static func metaKey(_ set: String) -> String { "probeSplit.\(set)" }
}

extension Index {
    /// Each row's split as recorded in the catalog (`validation` read as `val`), in row order;
    /// nil where none was recorded.
    public func rowSplits() throws -> [String?] {
        try catalog.allImages().map { img in
            img.split.map { $0.lowercased() == "validation" ? "val" : $0.lowercased() }
        }
    }

    /// The rows a probe trains and validates on: the catalog's splits when the index has them
    /// (train = `train`; validation = `val`, or `test` when there is no `val`), else a seeded
    /// stratified split (`LinearProbe.stratifiedSplit`).
    public func probeSplit(labels: [Int32], validationFraction: Double, seed: UInt64) throws
        -> (train: [Int], validation: [Int], record: ProbeSplitRecord) {
        let splits = try rowSplits()
        if splits.contains(where: { $0 != nil }) {
            let train = splits.indices.filter { splits[$0] == "train" }
            var vname = "val"
            var val = splits.indices.filter { splits[$0] == "val" }
            if val.isEmpty { vname = "test"; val = splits.indices.filter { splits[$0] == "test" } }
            guard !train.isEmpty, !val.isEmpty else {
                throw EmbedScopeError(.undefined, "the index records splits but has no \(train.isEmpty ? "train" : "val or test") rows",
                                      path: url.path, hint: "lay the data set out as root/{train,val,test}/<class>/… (or give the manifest a split column with train and val rows)")
            }
            let trained = Set(train.map { labels[$0] })
            if let missing = val.first(where: { !trained.contains(labels[$0]) }) {
                let name = (try? classNames()[Int(labels[missing])]) ?? nil
                throw EmbedScopeError(.undefined, "class '\(name ?? String(labels[missing]))' has \(vname) rows but no train rows", path: url.path,
                                      hint: "give every class some train images, or drop that class from the \(vname) split")
            }
            return (train, val, ProbeSplitRecord(source: "catalog", seed: nil, validationFraction: nil, validationSplit: vname,
                                                 trainRows: train.count, validationRows: val.count))
        }
        let s = try LinearProbe.stratifiedSplit(labels: labels, validationFraction: validationFraction, seed: seed)
        return (s.train, s.validation, ProbeSplitRecord(source: "stratified", seed: seed, validationFraction: validationFraction,
                                                        validationSplit: nil, trainRows: s.train.count, validationRows: s.validation.count))
    }

    /// The split a stored probe recorded, or nil (not a probe, or stored before splits were recorded).
    public func recordedProbeSplit(set: String) throws -> ProbeSplitRecord? {
        guard let text = try catalog.meta()[ProbeSplitRecord.metaKey(set)] else { return nil }
        do { return try JSONDecoder().decode(ProbeSplitRecord.self, from: Data(text.utf8)) } catch {
            throw EmbedScopeError(.catalog, "the recorded split of prototype set '\(set)' is damaged", path: url.path,
                                  hint: "train the probe again: embedscope probe \(url.path) --set \(set)", underlying: error)
        }
    }

    /// The rows `split` names for prototype set `set`, with a note saying what they are.
    public func evaluationRows(set: String, split: EvaluationSplit) throws -> (rows: [Int], note: String) {
        let labels = try catalog.classIds()
        let splits = try rowSplits()
        let hasSplits = splits.contains { $0 != nil }
        let all = Array(labels.indices)
        func catalogRows(_ name: String) throws -> [Int] {
            let r = all.filter { splits[$0] == name }
            guard !r.isEmpty else {
                throw EmbedScopeError(.notFound, hasSplits ? "the index has no \(name) rows" : "the index records no splits, so there is no \(name) split",
                                      path: url.path, hint: hasSplits ? "choose another --split" : "use --split heldout (the probe's held-out rows), val (for a probe), or all")
            }
            return r
        }
        if let rec = try recordedProbeSplit(set: set) {
            let (train, val): ([Int], [Int])
            if rec.source == "catalog" {
                train = all.filter { splits[$0] == "train" }
                val = all.filter { splits[$0] == (rec.validationSplit ?? "val") }
            } else {
                let s = try LinearProbe.stratifiedSplit(labels: labels, validationFraction: rec.validationFraction ?? 0.2, seed: rec.seed ?? 0)
                (train, val) = (s.train, s.validation)
            }
            guard train.count == rec.trainRows, val.count == rec.validationRows else {
                throw EmbedScopeError(.catalog, "probe '\(set)' recorded \(rec.trainRows) training and \(rec.validationRows) validation rows; the index now gives \(train.count) and \(val.count)",
                                      path: url.path, hint: "train the probe again: embedscope probe \(url.path) --set \(set)")
            }
            switch split {
            case .train: return (train, "the probe's training rows (\(rec.summary)): not a fair estimate")
            case .val: return (val, "the probe's validation rows (\(rec.summary))")
            case .test: return (try catalogRows("test"), "the catalog's test rows")
            case .all: return (all, "all rows, the probe's \(train.count) training rows included")
            case .heldout:
                let t = Set(train)
                return (all.filter { !t.contains($0) }, "held out: every row but the probe's \(train.count) training rows (\(rec.summary))")
            }
        }
        switch split {
        case .train: return (try catalogRows("train"), "the catalog's train rows")
        case .val: return (try catalogRows("val"), "the catalog's val rows")
        case .test: return (try catalogRows("test"), "the catalog's test rows")
        case .all: return (all, "all rows")
        case .heldout:
            if hasSplits {
                let r = all.filter { splits[$0] != "train" }
                guard !r.isEmpty else { throw EmbedScopeError(.notFound, "every row of the index is in the train split", path: url.path, hint: "use --split all") }
                return (r, "held out: every row outside the catalog's train split (what set '\(set)' was trained on is not recorded)")
            }
            return (all, "all rows: set '\(set)' records no training split, so its training rows cannot be left out")
        }
    }
}
