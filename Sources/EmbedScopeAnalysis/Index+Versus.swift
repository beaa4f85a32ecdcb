import Foundation
import EmbedScopeCore

public struct VersusOptions: Sendable {
    public var k = 10
    /// How many of the most-disagreeing images to list.
    public var worst = 10
    /// Spaces to compare; nil: every space of the index.
    public var spaces: [String]? = nil
    /// Only the rows of this split, as a data set of their own (their neighbours from the same split).
    public var split: String? = nil
    public var threads = Scorer.defaultThreads
    public init() {}
}

/// What `embedscope versus --json` prints.
public struct VersusReport: Sendable, Codable, Equatable {
    public struct Disagreement: Sendable, Codable, Equatable {
        public var row: Int
        public var path: String
        public var `class`: String
        public var jaccard: Double
        /// Same-class neighbours in each of the two spaces (out of k).
        public var sameClassA: Int
        public var sameClassB: Int
    }

    public struct Agreement: Sendable, Codable, Equatable {
        public var spaceA: String
        public var spaceB: String
        public var k: Int
        public var meanJaccard: Double
        public var medianJaccard: Double
        /// Rows whose two neighbour lists are identical as sets / share nothing.
        public var identical: Int
        public var disjoint: Int
        /// Lowest Jaccard first (ties: lower row first).
        public var worst: [Disagreement]
    }

    /// The split the rows were taken from, or null for every row.
    public var split: String?
    public var rows: Int
    public var k: Int
    public var similarity: String
    public var tieRule: String
    public var voteRule: String
    public var spaces: [NeighbourQuality.SpaceEntry]
    public var agreement: Agreement?
    /// Why there is no agreement section (fewer than two spaces).
    public var agreementNote: String?
}

extension Index {
    /// Leave-one-out neighbour quality of each space and the agreement of the `embedding` and
    /// `pixel` neighbour lists (or of the first two spaces compared when either is missing).
    public func versus(options o: VersusOptions = VersusOptions(), progress: ProgressSink = SilentProgress()) throws -> VersusReport {
        guard o.k >= 1 else { throw EmbedScopeError(.invalidArgument, "k must be at least 1, got \(o.k)") }
        guard o.worst >= 0 else { throw EmbedScopeError(.invalidArgument, "worst must be ≥ 0, got \(o.worst)") }
        let names = o.spaces ?? spaces.map(\.name)
        guard !names.isEmpty else { throw EmbedScopeError(.catalog, "this index has no spaces", path: url.path) }
        if let twice = names.enumerated().first(where: { names[..<$0.offset].contains($0.element) })?.element {
            throw EmbedScopeError(.invalidArgument, "space '\(twice)' is named twice; versus compares different spaces", hint: "e.g. --spaces embedding,pixel")
        }
        for s in names { _ = try space(s) }
        // The rows scored: every row, or one split's (a list index i stands for row subset[i]).
        let subset: [Int]? = try o.split.map { try rows(inSplit: $0) }
        let count = subset?.count ?? rowCount
        try NearestNeighbours.requireMoreRows(than: o.k, have: count, in: o.split.map { "split '\($0)' has" } ?? "this index has")
        let allLabels = try catalog.classIds()
        let labels = subset.map { $0.map { allLabels[$0] } } ?? allLabels
        func rowOf(_ i: Int) -> Int { subset?[i] ?? i }
        guard Set(labels).count >= 2 else {
            throw EmbedScopeError(.undefined, "neighbour quality needs at least 2 classes; this index has \(Set(labels).count)",
                                  hint: "precision@k and k-NN accuracy are trivially 1 with a single class")
        }
        let classNames = try self.classNames()
        var lists: [String: NeighbourLists] = [:]
        var entries: [NeighbourQuality.SpaceEntry] = []
        for s in names {
            try requireFinite(space: s)
            let v = try vectors(space: s)
            guard v.rows == allLabels.count else {
                throw EmbedScopeError(.catalog, "space '\(s)' has \(v.rows) rows but the catalog lists \(allLabels.count) images", path: url.path)
            }
            let l: NeighbourLists
            if let subset {
                l = try RowMatrix(v).gathering(rows: subset) { x in
                    try NearestNeighbours.leaveOneOut(x, k: o.k, threads: o.threads, progress: progress)
                }
            } else {
                l = try NearestNeighbours.leaveOneOut(RowMatrix(v), k: o.k, threads: o.threads, progress: progress)
            }
            lists[s] = l
            entries.append(try NeighbourQuality.space(l, labels: labels, space: s, dim: v.dim, classNames: classNames))
        }
        var agreement: VersusReport.Agreement?
        var note: String?
        if names.count >= 2 {
            let (a, b) = names.contains("embedding") && names.contains("pixel") ? ("embedding", "pixel") : (names[0], names[1])
            let la = lists[a]!, lb = lists[b]!
            let j = try NeighbourQuality.jaccard(la, lb)
            let order = j.indices.sorted { j[$0] < j[$1] || (j[$0] == j[$1] && $0 < $1) }
            let worstRows = Array(order.prefix(o.worst))
            let recs = try catalog.images(rows: worstRows.map(rowOf))
            let worst = worstRows.map { r in
                let own = labels[r]
                return VersusReport.Disagreement(
                    row: rowOf(r), path: recs[rowOf(r)]?.path ?? "?", class: classNames[Int(own)] ?? "?", jaccard: j[r],
                    sameClassA: la.neighbours(of: r).filter { labels[Int($0)] == own }.count,
                    sameClassB: lb.neighbours(of: r).filter { labels[Int($0)] == own }.count)
            }
            agreement = .init(spaceA: a, spaceB: b, k: o.k, meanJaccard: j.reduce(0, +) / Double(j.count),
                              medianJaccard: NeighbourQuality.median(j), identical: j.filter { $0 == 1 }.count,
                              disjoint: j.filter { $0 == 0 }.count, worst: worst)
        } else {
            note = "only one space (\(names[0])): nothing to compare neighbour lists with"
        }
        return VersusReport(split: o.split, rows: count, k: o.k, similarity: "cosine of unit rows; each row's own entry is excluded",
                            tieRule: "equal cosine: the lower row is nearer",
                            voteRule: "majority class among the k neighbours; tie: the class of the nearest tied neighbour",
                            spaces: entries, agreement: agreement, agreementNote: note)
    }
}
