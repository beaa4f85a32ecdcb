import EmbedScope
import Foundation
import Hummingbird

/// What the explorer's colour modes and the overview's per-class comparison need beyond the
/// CLI's outputs: every row's top prototype and margin in one set, and per-class silhouette and
/// precision@k beside a comparison row.
extension ServerAPI {
    /// Every row's top prototype of a set and its margin (top-1 − top-2 logit), for colouring the
    /// scatter. `names` are the prototypes that are some row's top one; `predicted[i]` indexes it.
    struct PredictionsJSON: Codable, Sendable {
        var set: String
        var space: String
        var rows: Int
        var names: [String]
        var predicted: [Int]
        var margin: [Double]
    }

    func predictions(_ r: Request, _ c: BasicRequestContext) async throws -> Response {
        let s = try served(c)
        guard let set = try Self.name(r, "set") else { throw APIError.badRequest("give set=NAME (a prototype set of the index)") }
        let info = try s.index.prototypeSet(set)
        let p: PredictionsJSON = try await s.once("top/\(set)") {
            let records = try s.index.catalog.prototypes(inSet: set)
            let protos = Array(0..<info.count)
            let n = s.index.rowCount, cCount = protos.count
            var used: [Int: Int] = [:], names: [String] = []
            var predicted = [Int](repeating: 0, count: n), margin = [Double](repeating: 0, count: n)
            // Row chunks bound the logit matrix (an ImageNet head has 1,000 prototypes).
            let chunk = max(1, 1 << 22 / max(1, cCount))
            var start = 0
            while start < n {
                let rows = Array(start..<min(n, start + chunk))
                let z = try s.index.logitMatrix(set: set, prototypes: protos, rows: rows)
                for (i, row) in rows.enumerated() {
                    var best = 0, second = -1
                    for j in 1..<max(1, cCount) {
                        let v = z[i * cCount + j]
                        if v > z[i * cCount + best] { second = best; best = j } else if second < 0 || v > z[i * cCount + second] { second = j }
                    }
                    if used[best] == nil { used[best] = names.count; names.append(records[best].name) }
                    predicted[row] = used[best] ?? 0
                    margin[row] = second >= 0 ? z[i * cCount + best] - z[i * cCount + second] : 0
                }
                start += chunk
            }
            return PredictionsJSON(set: set, space: info.space, rows: n, names: names, predicted: predicted, margin: margin)
        }
        return try JSONCoding.response(p, cache: true)
    }

    /// One class's entry beside a comparison row: `silhouette` as `metrics --json` reports it
    /// per class, `precisionAtK` as `versus --json` does (same-class neighbours / (rows · k)).
    struct PerClassEntry: Codable, Sendable {
        var id: Int
        var name: String
        var rows: Int
        var silhouette: Double?
        var precisionAtK: Double?
    }

    /// A row of `compare --json` with, on request, its per-class figures.
    struct PerClassFields: Encodable {
        var perClass: [PerClassEntry]?
        var perClassK: Int?
        /// Rows whose neighbours were counted for per-class precision@k (nil: every row).
        var perClassSample: Int?
        /// Why this row has no per-class figures (its space is too small or unlabelled for them,
        /// say); the other rows of the comparison still have theirs.
        var perClassError: String?
    }
    typealias CompareRow = Merged<ComparisonRow, PerClassFields>

    /// Rows above which per-class precision@k counts the neighbours of a seeded sample of rows.
    static let exactNeighbourRows = 20_000
    static let neighbourSample = 5_000

    struct ClassNeighbours: Sendable {
        var k: Int; var sample: Int?; var hits: [Int32: Int]; var rows: [Int32: Int]
        /// Rows whose neighbours' majority class (`NeighbourQuality.vote`, `versus`'s rule) is their own.
        var knnCorrect: Int
    }

    /// The largest k of per-class precision@k: each space's neighbour lists are searched once, at
    /// this depth, and every k up to it is read from them (a request per k, each a search of the
    /// whole space, was a way to keep the server busy for minutes: k = 10000 on 500k rows took 75 s).
    static let maxPerClassK = 100

    /// Every sampled row's nearest other rows (ties: lower row first, as `versus`), at most
    /// `maxPerClassK` deep; computed once per space. The first k of a list are the row's k nearest:
    /// the order (score, then row) is total, so a shorter search would give that same prefix.
    struct NeighbourLists: Sendable {
        var queries: [Int]; var lists: [[Int32]]; var sample: Int?
    }

    func neighbourLists(_ s: ServedIndex, space: String, matrix: RowMatrix) async throws -> NeighbourLists {
        try await s.once("neighbours/\(space)") {
            // Damaged rows (non-finite, not unit length) are an error; checked once, with the answer cached.
            try s.index.requireFinite(space: space)
            let depth = min(Self.maxPerClassK, matrix.rows - 1)
            var queries = Array(0..<matrix.rows)
            var sample: Int? = nil
            if matrix.rows > Self.exactNeighbourRows {
                var g = SplitMix64(seed: 0)
                queries.shuffle(using: &g)
                queries = Array(queries.prefix(Self.neighbourSample)).sorted()
                sample = queries.count
            }
            var lists: [[Int32]] = []
            lists.reserveCapacity(queries.count)
            let d = matrix.dim, batch = 128
            var start = 0
            while start < queries.count {
                let part = Array(queries[start..<min(queries.count, start + batch)])
                var q = [Float](); q.reserveCapacity(part.count * d)
                for r in part { q += UnsafeBufferPointer(start: matrix.row(r), count: d) }
                let found = try Scorer.searchBatch(matrix, queries: q, count: part.count, k: depth,
                                                   filters: part.map { RowFilter(excluded: [$0]) })
                lists += found.map { $0.map { Int32($0.row) } }
                start += batch
            }
            return NeighbourLists(queries: queries, lists: lists, sample: sample)
        }
    }

    /// Leave-one-out same-class neighbour counts per class: every row's k nearest other rows
    /// (ties: lower row first, as `versus`), from a seeded sample of 5,000 rows above 20,000;
    /// read from `neighbourLists`.
    func classNeighbours(_ s: ServedIndex, space: String, k: Int) async throws -> ClassNeighbours {
        let matrix = try RowMatrix(s.index.vectors(space: space))
        let labels = s.classIds
        guard labels.count == matrix.rows, matrix.rows > k else {
            throw APIError.badRequest("per-class precision@\(k) needs more than \(k) rows with labels; space '\(space)' has \(matrix.rows)")
        }
        let nl = try await neighbourLists(s, space: space, matrix: matrix)
        var hits: [Int32: Int] = [:], rows: [Int32: Int] = [:], correct = 0
        for (r, list) in zip(nl.queries, nl.lists) {
            let own = labels[r], first = list.prefix(k)
            rows[own, default: 0] += 1
            hits[own, default: 0] += first.filter { labels[Int($0)] == own }.count
            if !first.isEmpty && NeighbourQuality.vote(first, labels: labels) == own { correct += 1 }
        }
        return ClassNeighbours(k: k, sample: nl.sample, hits: hits, rows: rows, knnCorrect: correct)
    }

    /// `compare --json`'s rows; with `perClass=true`, each row also carries per-class silhouette
    /// and precision@k (k = `k`, default 10).
    func compareRows(_ r: Request, names: [String], rows: [ComparisonRow]) async throws -> [CompareRow] {
        // k is read (and a k that is no number refused) with or without perClass.
        let k = try Self.int(r, "k", default: 10, in: 1...Self.maxPerClassK)
        guard try Self.bool(r, "perClass") else { return rows.map { CompareRow($0, PerClassFields()) } }
        var out: [CompareRow] = []
        for row in rows {
            do {
                out.append(try await perClassRow(row, k: k))
            } catch {
                // A row whose data cannot give per-class figures (a 4xx answer on its own) keeps its
                // place with the reason; anything else (a damaged file, say) fails the request.
                let e = APIError.from(error)
                guard (400..<500).contains(e.status.code) else { throw error }
                out.append(CompareRow(row, PerClassFields(perClassK: k, perClassError: e.message)))
            }
        }
        return out
    }

    private func perClassRow(_ row: ComparisonRow, k: Int) async throws -> CompareRow {
        var row = row
        let s = try library.index(row.index)
        let cluster = try await s.clusterReport(space: row.space)
        // Cluster metrics just computed fill the row as /api/indexes does.
        row.fill(from: cluster)
        let nb = try await classNeighbours(s, space: row.space, k: k)
        if row.precisionAtK == nil && nb.sample == nil {
            let rowsCounted = nb.rows.values.reduce(0, +)
            row.precisionAtK = Double(nb.hits.values.reduce(0, +)) / Double(max(1, rowsCounted * k))
            // The same neighbour lists give the leave-one-out k-NN accuracy (`versus`'s majority vote).
            row.knnAccuracy = Double(nb.knnCorrect) / Double(max(1, rowsCounted))
            row.k = k
        }
        var per: [PerClassEntry] = []
        for (id, name) in s.classNames.sorted(by: { $0.key < $1.key }) {
            let sil = cluster.perClass.first { $0.id == id }
            let n = nb.rows[Int32(id)] ?? 0
            per.append(PerClassEntry(id: id, name: name, rows: sil?.rows ?? n, silhouette: sil?.silhouette,
                                     precisionAtK: n > 0 ? Double(nb.hits[Int32(id)] ?? 0) / Double(n * k) : nil))
        }
        return CompareRow(row, PerClassFields(perClass: per, perClassK: k, perClassSample: nb.sample))
    }
}
