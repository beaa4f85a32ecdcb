import Foundation
#if canImport(Glibc)
import Glibc
#endif
import EmbedScopeCore

/// Every pair of rows whose cosine is at least a threshold — exact, all pairs.
///
/// The pairs come from the blocked `sgemm` tiles of `NearestNeighbours.forEachTile` (each pair
/// of rows once). A float32 product can be off by a few 1e-7 from the exact inner product of
/// the stored rows, so every pair within `recheckMargin` of the threshold or above is recomputed
/// in Double, and the Double cosine decides: the list equals a brute-force Double all-pairs scan.
/// That cosine is a·b / (‖a‖‖b‖) of the stored float32 rows (whose norms are 1 only to ~1e-8:
/// their plain dot product put identical rows at 0.99999996…1.00000004, so threshold 1 missed
/// half the exact copies and scores above 1 were printed), clamped to [−1, 1]; a pair is in
/// when it is within `doubleSlack` (the computation's rounding, ~2e-15) of the threshold or above.
public enum Duplicates {
    public struct Pair: Sendable, Equatable {
        /// a < b.
        public var a: Int
        public var b: Int
        /// Cosine of the two unit rows, in Double.
        public var score: Double
    }

    public static let recheckMargin: Float = 1e-4
    /// The rounding of the cosine as computed (compensated sums of exact products, two square
    /// roots, a division: a few ulps of 1): identical rows are in at threshold 1, and a pair whose
    /// cosine is below the threshold by more than this is out (it was 1e-12: pairs at exactly 0.5
    /// were listed at threshold 0.5 + 1e-12).
    public static let doubleSlack = 8 * Double.ulpOfOne

    /// Neumaier's compensated summation.
    struct CompensatedSum {
        var sum = 0.0, carry = 0.0
        mutating func add(_ v: Double) {
            let t = sum + v
            carry += abs(sum) >= abs(v) ? (sum - t) + v : (v - t) + sum
            sum = t
        }
        var value: Double { sum + carry }
    }

    package static func pairs(_ x: RowMatrix, threshold: Double, maxPairs: Int = 1_000_000, threads: Int = Scorer.defaultThreads,
                             blockRows: Int = 256, progress: ProgressSink = SilentProgress()) throws -> [Pair] {
        guard threshold.isFinite, threshold > -1, threshold <= 1 else {
            throw EmbedScopeError(.invalidArgument, "the threshold is a cosine in (−1, 1], got \(threshold)")
        }
        guard maxPairs >= 1 else { throw EmbedScopeError(.invalidArgument, "maxPairs must be at least 1") }
        let cut = Float(threshold) - recheckMargin
        struct State { var pairs: [(Int32, Int32)] = []; var overflow = false; var noRoom: EmbedScopeError? }
        let states = try NearestNeighbours.forEachTile(x, threads: threads, blockRows: blockRows, progress: progress,
                                                   label: "duplicates (tiles)", makeState: { State() }) { st, tile in
            if st.overflow || st.noRoom != nil { return }
            let t = tile.scores
            for i in 0..<tile.rowCount {
                let r = tile.rowStart + i, s = t + i * tile.columnCount
                // On a diagonal tile only the columns after the row (each pair once, not itself).
                let j0 = tile.isDiagonal ? i + 1 : 0
                guard j0 < tile.columnCount else { continue }
                for j in j0..<tile.columnCount where s[j] >= cut || s[j].isNaN {
                    if st.pairs.count == st.pairs.capacity {
                        // Before the list grows: room for it and for what the pairs become.
                        do { try requireRoom(pairs: max(1024, 2 * st.pairs.count), threads: threads) } catch {
                            st.noRoom = error as? EmbedScopeError ?? EmbedScopeError(.outOfMemory, "\(error)")
                            return
                        }
                    }
                    st.pairs.append((Int32(r), Int32(tile.columnStart + j)))
                }
            }
            if st.pairs.count > maxPairs { st.overflow = true }
        }
        if let e = states.lazy.compactMap(\.noRoom).first { throw e }
        if states.contains(where: \.overflow) || states.reduce(0, { $0 + $1.pairs.count }) > maxPairs {
            throw EmbedScopeError(.invalidArgument, "more than \(maxPairs) pairs reach cosine \(threshold)",
                                  hint: "raise --threshold (near-duplicates are typically above 0.95)")
        }
        var out: [Pair] = []
        for st in states {
            for (a, b) in st.pairs {
                let ra = x.row(Int(a)), rb = x.row(Int(b))
                // Each product of two float32 values is exact in Double; the sums are compensated
                // (Neumaier), so each is within an ulp or two of exact at any dimension, and the
                // cosine within a few ulps (`doubleSlack`).
                var dot = CompensatedSum(), na = CompensatedSum(), nb = CompensatedSum()
                for t in 0..<x.dim {
                    let p = Double(ra[t]), q = Double(rb[t])
                    dot.add(p * q); na.add(p * p); nb.add(q * q)
                }
                let s = min(1, max(-1, dot.value / (na.value.squareRoot() * nb.value.squareRoot())))
                guard s.isFinite else {
                    throw EmbedScopeError(.nonFinite, "rows \(a) and \(b) give a non-finite cosine: the vectors contain NaN or infinity")
                }
                if s >= threshold - doubleSlack { out.append(Pair(a: Int(a), b: Int(b), score: s)) }
            }
        }
        out.sort { ($0.a, $0.b) < ($1.a, $1.b) }
        return out
    }

    /// Bytes a pair takes from the tiles to the report: found (8), kept (24), reported with its two
    /// images' paths and classes (~128).
    static let bytesPerPair = 160

    /// Throws `.outOfMemory` unless `pairs` pairs on each of `threads` threads fit: under an
    /// address-space limit (`AddressSpace.require`), and in any case in this machine's memory. A
    /// list that grew past either ended the process by a signal ("failed to allocate", red team:
    /// 1,414 identical rows under `ulimit -v 300000`; 20,000 with `--max-pairs 300000000` asked
    /// for 25.6 GB on a 23 GB machine after 28 s).
    static func requireRoom(pairs: Int, threads: Int) throws {
        let (bytes, overflow) = pairs.multipliedReportingOverflow(by: bytesPerPair * max(1, threads))
        let need = overflow ? Int.max / 2 : bytes
        try AddressSpace.require(need, for: "keeping \(pairs) near-duplicate pairs")
        let physical = Int(sysconf(Int32(_SC_PHYS_PAGES))) &* Int(sysconf(Int32(_SC_PAGESIZE)))
        if physical > 0, need > physical {
            throw EmbedScopeError(.outOfMemory, "out of memory: keeping \(pairs) near-duplicate pairs needs \(AddressSpace.mebibytes(need)), more than this machine's \(AddressSpace.mebibytes(physical))",
                                  hint: "raise --threshold, or lower --max-pairs")
        }
    }

    /// Connected components of the pair graph (union–find): each group's rows ascending, groups
    /// ordered by their first row. Rows in no pair are in no group.
    package static func groups(_ pairs: [Pair]) -> [[Int]] {
        var parent: [Int: Int] = [:]
        func find(_ v: Int) -> Int {
            var r = v
            while let p = parent[r], p != r { r = p }
            var c = v
            while let p = parent[c], p != r { parent[c] = r; c = p }
            return r
        }
        for p in pairs {
            if parent[p.a] == nil { parent[p.a] = p.a }
            if parent[p.b] == nil { parent[p.b] = p.b }
            let ra = find(p.a), rb = find(p.b)
            if ra != rb { parent[max(ra, rb)] = min(ra, rb) }
        }
        var members: [Int: [Int]] = [:]
        for v in parent.keys { members[find(v), default: []].append(v) }
        return members.values.map { $0.sorted() }.sorted { $0[0] < $1[0] }
    }
}

/// What `embedscope duplicates --json` prints.
public struct DuplicateReport: Sendable, Codable, Equatable {
    public struct Image: Sendable, Codable, Equatable {
        public var row: Int
        public var path: String
        public var `class`: String
        /// The row's split (train / val / test), null when the index records none.
        public var split: String?
    }

    public struct Pair: Sendable, Codable, Equatable {
        public var a: Image
        public var b: Image
        /// Cosine of the two rows.
        public var score: Double
        /// The two rows are in different splits: the same image on both sides of an evaluation.
        public var leakage: Bool
        /// The two rows carry different class labels.
        public var differentClass: Bool
    }

    public struct Group: Sendable, Codable, Equatable {
        public var images: [Image]
        /// Highest and lowest cosine among the group's pairs.
        public var maxScore: Double
        public var minScore: Double
        /// Number of pairs above the threshold inside the group.
        public var pairCount: Int
        public var leakage: Bool
        public var differentClass: Bool
    }

    public var space: String
    public var threshold: Double
    public var rows: Int
    public var similarity: String
    public var pairCount: Int
    public var leakagePairs: Int
    public var differentClassPairs: Int
    /// Leakage first, then pairs with different labels, then by score (highest first), then rows.
    public var pairs: [Pair]
    /// Connected components of the pairs: leakage first, then mixed labels, then larger, then by first row.
    public var groups: [Group]
}

extension Index {
    /// Exact near-duplicate pairs of a space (cosine ≥ `threshold`), grouped, with cross-split
    /// pairs (leakage) and pairs of different labels flagged.
    public func duplicates(space: String? = nil, threshold: Double = 0.98, maxPairs: Int = 1_000_000,
                           progress: ProgressSink = SilentProgress()) throws -> DuplicateReport {
        let name = try space ?? defaultSpace()
        let v = try vectors(space: name)
        let images = try catalog.allImages()
        guard images.count == v.rows else {
            throw EmbedScopeError(.catalog, "space '\(name)' has \(v.rows) rows but the catalog lists \(images.count) images", path: url.path,
                                  hint: "the index is damaged; rebuild it")
        }
        try requireFinite(space: name)  // a damaged row (not unit length) would hide or invent pairs
        let raw = try Duplicates.pairs(RowMatrix(v), threshold: threshold, maxPairs: maxPairs, progress: progress)
        let names = try classNames()
        let splits = try rowSplits()
        func image(_ r: Int) -> DuplicateReport.Image {
            .init(row: r, path: images[r].path, class: names[images[r].classId] ?? String(images[r].classId), split: splits[r])
        }
        func leaks(_ a: Int, _ b: Int) -> Bool {
            if let sa = splits[a], let sb = splits[b] { return sa != sb }
            return false
        }
        let pairs = raw.map { p in
            DuplicateReport.Pair(a: image(p.a), b: image(p.b), score: p.score, leakage: leaks(p.a, p.b),
                                 differentClass: images[p.a].classId != images[p.b].classId)
        }.sorted { x, y in
            if x.leakage != y.leakage { return x.leakage }
            if x.differentClass != y.differentClass { return x.differentClass }
            if x.score != y.score { return x.score > y.score }
            return (x.a.row, x.b.row) < (y.a.row, y.b.row)
        }
        let groupRows = Duplicates.groups(raw)
        var groupOf: [Int: Int] = [:]
        for (g, rows) in groupRows.enumerated() { for r in rows { groupOf[r] = g } }
        var stats = [(maxS: Double, minS: Double, count: Int)](repeating: (-.infinity, .infinity, 0), count: groupRows.count)
        for p in raw {
            let g = groupOf[p.a]!
            stats[g] = (max(stats[g].maxS, p.score), min(stats[g].minS, p.score), stats[g].count + 1)
        }
        let groups = groupRows.enumerated().map { g, rows in
            DuplicateReport.Group(images: rows.map(image), maxScore: stats[g].maxS, minScore: stats[g].minS, pairCount: stats[g].count,
                                  leakage: Set(rows.compactMap { splits[$0] }).count > 1,
                                  differentClass: Set(rows.map { images[$0].classId }).count > 1)
        }.sorted { x, y in
            if x.leakage != y.leakage { return x.leakage }
            if x.differentClass != y.differentClass { return x.differentClass }
            if x.images.count != y.images.count { return x.images.count > y.images.count }
            return x.images[0].row < y.images[0].row
        }
        return DuplicateReport(space: name, threshold: threshold, rows: v.rows,
                               similarity: "cosine of the unit rows, exact over all pairs (float32 tiles, pairs near the threshold recomputed in Double)",
                               pairCount: pairs.count, leakagePairs: pairs.filter(\.leakage).count,
                               differentClassPairs: pairs.filter(\.differentClass).count, pairs: pairs, groups: groups)
    }
}
