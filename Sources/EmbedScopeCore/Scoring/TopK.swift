/// One search hit: a row and its score (cosine for unit rows).
public struct Hit: Equatable, Sendable {
    public var row: Int
    public var score: Float
    public init(row: Int, score: Float) { self.row = row; self.score = score }
}

/// Keeps the k best (score, row) pairs seen, in a binary min-heap whose root is the worst kept.
/// "Better" is a higher score, and at equal score the lower row: results are deterministic
/// whatever the order rows are visited in (and so whatever the thread split).
struct TopK {
    let k: Int
    private(set) var scores: [Float]
    private(set) var rows: [Int]
    private(set) var count = 0

    init(k: Int) {
        self.k = k
        scores = [Float](repeating: -.infinity, count: max(k, 1))
        rows = [Int](repeating: Int.max, count: max(k, 1))
    }

    /// Score a candidate must beat (ties broken by row) to enter; -inf while not full.
    @inline(__always) var threshold: Float { count < k ? -.infinity : scores[0] }

    @inline(__always) static func better(_ s1: Float, _ r1: Int, than s2: Float, _ r2: Int) -> Bool {
        BoundedHeap.better(s1, r1, than: s2, r2)
    }

    @inline(__always) mutating func push(_ score: Float, _ row: Int) {
        let k = self.k, n = count
        count = scores.withUnsafeMutableBufferPointer { sp in
            rows.withUnsafeMutableBufferPointer { rp in
                BoundedHeap.push(score, row, scores: sp.baseAddress!, rows: rp.baseAddress!, count: n, k: k)
            }
        }
    }

    mutating func merge(_ other: TopK) {
        for i in 0..<other.count { push(other.scores[i], other.rows[i]) }
    }

    /// Best first.
    func sorted() -> [Hit] {
        (0..<count).map { Hit(row: rows[$0], score: scores[$0]) }
            .sorted { Self.better($0.score, $0.row, than: $1.score, $1.row) }
    }
}
