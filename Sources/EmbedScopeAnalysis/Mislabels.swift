import Foundation
import EmbedScopeCore

public struct MislabelOptions: Sendable {
    /// nil: `embedding` if the index has it, else its first space.
    public var space: String? = nil
    /// Neighbours of the leave-one-out k-NN vote.
    public var k = 10
    /// Folds of the cross-validated probe.
    public var folds = 5
    public var seed: UInt64 = 0
    public var probe = LinearProbe.Options()
    /// List at most this many candidates (nil: all).
    public var limit: Int? = 50
    public init() {}
}

/// What `embedscope mislabels --json` prints: images whose label disagrees with held-out evidence.
public struct MislabelReport: Sendable, Codable, Equatable {
    public struct Candidate: Sendable, Codable, Equatable {
        public var row: Int
        public var path: String
        /// The label the image carries, and the one the evidence suggests.
        public var `class`: String
        public var suggested: String
        /// E(suggested) − E(class), in (0, 1]: how strongly the evidence prefers the suggestion.
        public var score: Double
        /// The cross-validated probe (trained without this image's fold): probability of the
        /// image's own class, of the suggested class, and own logit − best other logit.
        public var probeProbability: Double
        public var probeSuggestedProbability: Double
        /// null when the image's class had no training rows in the other folds.
        public var probeMargin: Double?
        /// Share of the k nearest other images (leave-one-out) that carry the image's own label,
        /// and the suggested one.
        public var knnAgreement: Double
        public var knnSuggested: Double
    }

    public var space: String
    public var rows: Int
    public var k: Int
    public var folds: Int
    public var seed: UInt64
    public var evidence: String
    /// Images whose suggested label differs from their own (all of them, before `limit`).
    public var flagged: Int
    /// Highest score first (ties: lower row).
    public var candidates: [Candidate]
}

/// Likely label errors from two kinds of held-out evidence, each image judged by models that
/// never saw its label: a linear probe trained on the other folds of a stratified seeded k-fold
/// split (softmax probabilities P), and the vote V of its k nearest other images (share of each
/// label). E = ½·P + ½·V per class; an image whose argmax E (ties: the lower class) is not its
/// own label is a candidate, scored E(suggested) − E(own) — the idea of confident learning
/// (Northcutt et al., 2021) with out-of-sample probabilities, plus the neighbourhood vote.
public enum Mislabels {
    /// Fold of every row: within each class (ascending label) the rows are shuffled with
    /// SplitMix64(seed) (Fisher–Yates) and dealt to folds 0, 1, …, folds − 1 in turn.
    package static func stratifiedFolds(labels: [Int32], folds: Int, seed: UInt64) -> [Int] {
        var byClass: [Int32: [Int]] = [:]
        for (r, l) in labels.enumerated() { byClass[l, default: []].append(r) }
        var g = SplitMix64(seed: seed)
        var fold = [Int](repeating: 0, count: labels.count)
        for c in byClass.keys.sorted() {
            var rs = byClass[c]!
            for i in stride(from: rs.count - 1, to: 0, by: -1) { rs.swapAt(i, Int(g.below(UInt64(i + 1)))) }
            for (p, r) in rs.enumerated() { fold[r] = p % folds }
        }
        return fold
    }

    /// Out-of-fold softmax probabilities, rows × classes (class ids 0..<classes), and the
    /// out-of-fold logit margins (own − best other). A class absent from a fold's training rows
    /// gets probability 0 for that fold's rows.
    package static func crossValidatedProbabilities(_ x: RowMatrix, scales: [Float]?, labels: [Int32], classes: Int, folds: Int,
                                                   seed: UInt64, options: LinearProbe.Options,
                                                   progress: ProgressSink = SilentProgress()) throws -> (probabilities: [Double], margins: [Double]) {
        let n = x.rows
        guard folds >= 2, folds <= n else { throw EmbedScopeError(.invalidArgument, "folds must be between 2 and the row count, got \(folds)") }
        let fold = stratifiedFolds(labels: labels, folds: folds, seed: seed)
        var prob = [Double](repeating: 0, count: n * classes)
        var margin = [Double](repeating: 0, count: n)
        progress.begin("mislabels: cross-validated probe", total: folds)
        for f in 0..<folds {
            let test = (0..<n).filter { fold[$0] == f }, train = (0..<n).filter { fold[$0] != f }
            if test.isEmpty { continue }
            let model = try LinearProbe.train(x, scales: scales, labels: labels, rows: train, options: options)
            let k = model.classes.count
            RowLogits.forEachBlock(x, rows: test, scales: scales, weights: model.weights, columns: k) { start, z in
                for i in 0..<(z.count / k) {
                    let r = test[start + i]
                    let logits = (0..<k).map { Double(z[i * k + $0]) + Double(model.bias[$0]) }
                    let mx = logits.max() ?? 0
                    let e = logits.map { Foundation.exp($0 - mx) }
                    let sum = e.reduce(0, +)
                    var own = -Double.infinity, other = -Double.infinity
                    for j in 0..<k {
                        let c = Int(model.classes[j])
                        prob[r * classes + c] = e[j] / sum
                        if model.classes[j] == labels[r] { own = logits[j] } else { other = max(other, logits[j]) }
                    }
                    margin[r] = own - other  // −∞ when the own class was not in training
                }
            }
            progress.update(f + 1)
        }
        progress.end()
        guard prob.allSatisfy(\.isFinite) else { throw EmbedScopeError(.nonFinite, "the probe's probabilities are not finite", hint: "try a smaller --C") }
        return (prob, margin)
    }
}

extension Index {
    public func mislabels(options o: MislabelOptions = MislabelOptions(), progress: ProgressSink = SilentProgress()) throws -> MislabelReport {
        guard o.k >= 1 else { throw EmbedScopeError(.invalidArgument, "k must be at least 1, got \(o.k)") }
        let name = try o.space ?? defaultSpace()
        let (v, norms, labels) = try labelledRows(space: name, purpose: "finding mislabels needs")
        try requireFinite(space: name)
        try NearestNeighbours.requireMoreRows(than: o.k, have: v.rows, in: "this index has")
        let classRecords = try catalog.classes()
        let classes = (classRecords.map(\.id).max() ?? 0) + 1
        let x = RowMatrix(v)
        // The only image of its class has no held-out evidence for its label (no fold trains on the
        // class, no other image carries it): it would always be flagged. Not judged; the evidence says how many.
        var perClass = [Int](repeating: 0, count: classes)
        for l in labels { perClass[Int(l)] += 1 }
        let alone = labels.filter { perClass[Int($0)] == 1 }.count
        let judged = perClass.filter { $0 > 1 }.count
        guard judged >= 2 else {
            throw EmbedScopeError(.undefined, "mislabels needs two classes of at least two images each; this index has \(judged)"
                                  + (alone > 0 ? " (and \(alone) image\(alone == 1 ? " that is the only one of its class" : "s that are the only ones of their classes"))" : ""),
                                  path: url.path)
        }
        let cv = try Mislabels.crossValidatedProbabilities(x, scales: norms, labels: labels, classes: classes, folds: o.folds, seed: o.seed,
                                                           options: o.probe, progress: progress)
        let nn = try NearestNeighbours.leaveOneOut(x, k: o.k, progress: progress)
        let images = try catalog.allImages()
        let names = try classNames()
        var found: [(row: Int, sug: Int, score: Double, vote: [Double])] = []
        for r in 0..<v.rows where perClass[Int(labels[r])] > 1 {
            var count = [Int](repeating: 0, count: classes)
            for nb in nn.neighbours(of: r) { count[Int(labels[Int(nb)])] += 1 }
            let vote = count.map { Double($0) / Double(o.k) }  // 10 of 10 is 1, not a sum of tenths
            var best = 0, bestE = -Double.infinity
            for c in 0..<classes {
                let e = 0.5 * cv.probabilities[r * classes + c] + 0.5 * vote[c]
                if e > bestE { best = c; bestE = e }
            }
            let own = Int(labels[r])
            let ownE = 0.5 * cv.probabilities[r * classes + own] + 0.5 * vote[own]
            // Only a class with strictly more evidence than the label's: on a tie the label is one of
            // the argmax (20 identical vectors labelled a/b alternately flagged every b as "a", score 0).
            if best != own && bestE > ownE { found.append((r, best, bestE - ownE, vote)) }
        }
        found.sort { $0.score != $1.score ? $0.score > $1.score : $0.row < $1.row }
        let listed = o.limit.map { Array(found.prefix($0)) } ?? found
        let candidates = listed.map { f in
            let own = Int(labels[f.row])
            return MislabelReport.Candidate(
                row: f.row, path: images[f.row].path, class: names[own] ?? String(own), suggested: names[f.sug] ?? String(f.sug),
                score: f.score, probeProbability: cv.probabilities[f.row * classes + own],
                probeSuggestedProbability: cv.probabilities[f.row * classes + f.sug],
                probeMargin: cv.margins[f.row].isFinite ? cv.margins[f.row] : nil,
                knnAgreement: f.vote[own], knnSuggested: f.vote[f.sug])
        }
        return MislabelReport(space: name, rows: v.rows, k: o.k, folds: o.folds, seed: o.seed,
                              evidence: "E = ½·P(class | image) from a linear probe trained on the other \(o.folds - 1) of \(o.folds) stratified folds (seed \(o.seed)) + ½·share of the \(o.k) nearest other images with that label; candidate when argmax E is not the image's label; score = E(suggested) − E(label)" + (alone > 0 ? "; \(alone) image\(alone == 1 ? " that is the only one of its class is" : "s that are the only ones of their classes are") not judged (no held-out evidence for their labels)" : ""),
                              flagged: found.count, candidates: candidates)
    }
}
