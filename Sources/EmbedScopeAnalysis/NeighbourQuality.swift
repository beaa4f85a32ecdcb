import Foundation
import EmbedScopeCore

/// Leave-one-out neighbour quality from k-NN lists and labels, and the agreement of two
/// spaces' lists. Pure functions of integers: the results are exact.
///
/// - precision@k of a row: the fraction of its k neighbours (itself excluded) that share its
///   class. Per class and overall it is computed as hits / (rows · k) — the mean of the
///   per-row values, as one division.
/// - k-NN classification: the majority class among the k neighbours. Tie rule: among the
///   classes with the most votes, the one whose first member appears earliest in the list
///   (the class of the nearest tied neighbour). Accuracy = correct / rows.
/// - Jaccard@k of a row between two spaces: |A ∩ B| / |A ∪ B| of its two neighbour sets.
public enum NeighbourQuality {
    /// The majority class of a neighbour list (tie: the class reached first in the list).
    package static func vote(_ neighbours: ArraySlice<Int32>, labels: [Int32]) -> Int32 {
        var counts: [Int32: Int] = [:]
        var best: Int32 = labels[Int(neighbours.first!)], bestCount = 0
        for r in neighbours { counts[labels[Int(r)], default: 0] += 1 }
        // Walk in list order: the first class to show the maximal count wins ties.
        for r in neighbours {
            let c = labels[Int(r)]
            let n = counts[c]!
            if n > bestCount { best = c; bestCount = n }
        }
        return best
    }

    public struct ClassEntry: Sendable, Codable, Equatable {
        /// Catalog class id (label value).
        public var id: Int
        public var name: String
        public var rows: Int
        /// Same-class neighbours over all rows of the class (out of rows · k).
        public var sameClassNeighbours: Int
        public var precisionAtK: Double
        /// Rows of the class whose k-NN vote is their class.
        public var knnCorrect: Int
        /// knnCorrect / rows: the per-class recall of the k-NN classifier.
        public var knnAccuracy: Double
    }

    public struct SpaceEntry: Sendable, Codable, Equatable {
        public var space: String
        public var rows: Int
        public var dim: Int
        public var k: Int
        public var sameClassNeighbours: Int
        public var precisionAtK: Double
        public var knnCorrect: Int
        public var knnAccuracy: Double
        public var perClass: [ClassEntry]
    }

    /// precision@k and k-NN accuracy, overall and per class (ascending label value).
    package static func space(_ lists: NeighbourLists, labels: [Int32], space: String = "", dim: Int = 0,
                             classNames: [Int: String] = [:]) throws -> SpaceEntry {
        guard labels.count == lists.rows else {
            throw EmbedScopeError(.shapeMismatch, "\(labels.count) labels for \(lists.rows) rows")
        }
        let k = lists.k
        var hits: [Int32: Int] = [:], correct: [Int32: Int] = [:], rows: [Int32: Int] = [:]
        for i in 0..<lists.rows {
            let own = labels[i]
            let nb = lists.neighbours(of: i)
            var h = 0
            for r in nb where labels[Int(r)] == own { h += 1 }
            hits[own, default: 0] += h
            rows[own, default: 0] += 1
            if vote(nb, labels: labels) == own { correct[own, default: 0] += 1 }
        }
        let ids = rows.keys.sorted()
        let perClass = ids.map { c in
            ClassEntry(id: Int(c), name: classNames[Int(c)] ?? "class \(c)", rows: rows[c]!, sameClassNeighbours: hits[c] ?? 0,
                       precisionAtK: Double(hits[c] ?? 0) / Double(rows[c]! * k), knnCorrect: correct[c] ?? 0,
                       knnAccuracy: Double(correct[c] ?? 0) / Double(rows[c]!))
        }
        let totalHits = hits.values.reduce(0, +), totalCorrect = correct.values.reduce(0, +)
        return SpaceEntry(space: space, rows: lists.rows, dim: dim, k: k, sameClassNeighbours: totalHits,
                          precisionAtK: Double(totalHits) / Double(lists.rows * k), knnCorrect: totalCorrect,
                          knnAccuracy: Double(totalCorrect) / Double(lists.rows), perClass: perClass)
    }

    /// Jaccard@k of every row between two neighbour lists of the same rows and k.
    package static func jaccard(_ a: NeighbourLists, _ b: NeighbourLists) throws -> [Double] {
        guard a.rows == b.rows, a.k == b.k else {
            throw EmbedScopeError(.shapeMismatch, "neighbour lists disagree: \(a.rows) rows × k \(a.k) vs \(b.rows) rows × k \(b.k)")
        }
        let k = a.k
        return (0..<a.rows).map { i in
            let sa = Set(a.neighbours(of: i)), sb = b.neighbours(of: i)
            var common = 0
            for r in sb where sa.contains(r) { common += 1 }
            return Double(common) / Double(2 * k - common)
        }
    }

    /// numpy's median: the middle value, or the mean of the two middle values.
    package static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let s = values.sorted(), m = s.count / 2
        return s.count % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2
    }
}
