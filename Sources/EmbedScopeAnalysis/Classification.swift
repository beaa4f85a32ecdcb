import Foundation
import EmbedScopeCore

/// Accuracy, confusion matrix and per-class precision / recall / F1 with scikit-learn's
/// definitions (`confusion_matrix`, `precision_recall_fscore_support(average=None,
/// zero_division=0)`): for class c with tp true positives, `predicted` rows predicted c and
/// `support` rows truly c — precision = tp / predicted, recall = tp / support,
/// F1 = 2·tp / (support + predicted), each 0 when its denominator is 0.
public struct ClassificationReport: Sendable, Codable, Equatable {
    public struct ClassEntry: Sendable, Codable, Equatable {
        public var name: String
        /// Rows truly of this class.
        public var support: Int
        /// Rows predicted as this class (`predicted` in schema version 1).
        public var predictedCount: Int
        public var truePositives: Int
        public var precision: Double
        public var recall: Double
        public var f1: Double
    }

    /// Class names, the order of the confusion matrix's rows and columns.
    public var labels: [String]
    public var total: Int
    public var correct: Int
    public var accuracy: Double
    /// confusion[true][predicted].
    public var confusion: [[Int]]
    public var perClass: [ClassEntry]
    /// Unweighted means over the classes present — in the truth or the predictions, as
    /// scikit-learn's `average='macro'` takes its labels (a class with no rows and no predictions,
    /// e.g. one only in the training split, added an F1 of 0: macro F1 0.67 at accuracy 1).
    public var macroPrecision: Double
    public var macroRecall: Double
    public var macroF1: Double

    /// `truth` and `predicted` hold class indices 0..<names.count.
    public init(truth: [Int], predicted: [Int], names: [String]) throws {
        guard truth.count == predicted.count else {
            throw EmbedScopeError(.shapeMismatch, "\(truth.count) true labels but \(predicted.count) predictions")
        }
        guard !truth.isEmpty else { throw EmbedScopeError(.undefined, "no rows to evaluate") }
        let c = names.count
        guard (truth + predicted).allSatisfy({ $0 >= 0 && $0 < c }) else {
            throw EmbedScopeError(.invalidArgument, "a label is outside 0..<\(c)")
        }
        var m = [[Int]](repeating: [Int](repeating: 0, count: c), count: c)
        for (t, p) in zip(truth, predicted) { m[t][p] += 1 }
        labels = names
        total = truth.count
        correct = (0..<c).reduce(0) { $0 + m[$1][$1] }
        accuracy = Double(correct) / Double(total)
        confusion = m
        perClass = (0..<c).map { k in
            let tp = m[k][k], support = m[k].reduce(0, +), pred = (0..<c).reduce(0) { $0 + m[$1][k] }
            func div(_ a: Int, _ b: Int) -> Double { b == 0 ? 0 : Double(a) / Double(b) }
            return ClassEntry(name: names[k], support: support, predictedCount: pred, truePositives: tp,
                              precision: div(tp, pred), recall: div(tp, support), f1: div(2 * tp, support + pred))
        }
        let present = perClass.filter { $0.support > 0 || $0.predictedCount > 0 }   // never empty: truth has a row
        macroPrecision = present.map(\.precision).reduce(0, +) / Double(present.count)
        macroRecall = present.map(\.recall).reduce(0, +) / Double(present.count)
        macroF1 = present.map(\.f1).reduce(0, +) / Double(present.count)
    }
}
