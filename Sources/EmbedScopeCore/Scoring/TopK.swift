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
        s1 > s2 || (s1 == s2 && r1 < r2)
    }

    @inline(__always) mutating func push(_ score: Float, _ row: Int) {
        guard k > 0 else { return }
        if count < k {
            var i = count
            count += 1
            // sift up: parent worse-or-equal stays above
            while i > 0 {
                let p = (i - 1) >> 1
                if Self.better(scores[p], rows[p], than: score, row) {
                    scores[i] = scores[p]; rows[i] = rows[p]; i = p
                } else { break }
            }
            scores[i] = score; rows[i] = row
        } else if Self.better(score, row, than: scores[0], rows[0]) {
            var i = 0
            while true {
                let l = 2 * i + 1
                if l >= k { break }
                var c = l
                let r = l + 1
                if r < k && Self.better(scores[l], rows[l], than: scores[r], rows[r]) { c = r }
                if Self.better(score, row, than: scores[c], rows[c]) {
                    scores[i] = scores[c]; rows[i] = rows[c]; i = c
                } else { break }
            }
            scores[i] = score; rows[i] = row
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
