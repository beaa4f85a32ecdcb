import EmbedScope
import Foundation

/// Writes into an index (metrics.json) from any number of requests: one at a time per process.
private let writeLock = NSLock()

extension ServedIndex {
    /// Rows above which the server estimates the silhouette from a seeded sample instead of all pairs.
    static let exactSilhouetteRows = 20_000
    static let silhouetteSample = 5_000

    func writeLocked<T>(_ body: () throws -> T) throws -> T {
        writeLock.lock(); defer { writeLock.unlock() }
        return try body()
    }

    /// Cluster metrics of a space, as `embedscope metrics --json` prints them: exact up to
    /// 20,000 rows, else from 5,000 rows sampled with seed 0 (`--sample 5000 --seed 0`). Computed
    /// once; recorded in metrics.json when the server is writable.
    func clusterReport(space: String) async throws -> ClusterMetricsReport {
        let writable = options.writable
        return try await once("cluster/\(space)") {
            var o = SilhouetteOptions()
            if self.index.rowCount > Self.exactSilhouetteRows { o = SilhouetteOptions(sample: Self.silhouetteSample, seed: 0) }
            let scores = try self.index.clusterScores(space: space, options: o)
            if writable { _ = try? self.writeLocked { try self.index.recordCluster(scores, space: space) } }
            let report = ClusterMetricsReport(scores, space: space, classNames: self.classNames)
            self.rememberCluster(report, space: space)
            return report
        }
    }
}

/// Every row's prediction by a prototype set, as `embedscope evaluate` makes it (prototypes
/// matched to classes by name, the first of a name wins; argmax of the logits, ties to the lower
/// prototype); `score` is the predicted logit minus the own-class logit (0 when correct).
struct Predictions: Sendable {
    var classes: [String]
    var rows: [Int]
    var truth: [Int]
    var predicted: [Int]
    var score: [Double]

    static func compute(_ index: Index, set: String) throws -> Predictions {
        let p = try index.prototypes(set: set)
        let classes = try index.catalog.classes()
        let byName = Dictionary(classes.map { ($0.name, $0.id) }, uniquingKeysWith: { a, _ in a })
        var protoOfClass: [Int: Int] = [:]
        for r in p.records { if let c = byName[r.name], protoOfClass[c] == nil { protoOfClass[c] = r.idx } }
        let evalClasses = classes.filter { protoOfClass[$0.id] != nil }
        guard !evalClasses.isEmpty else { throw EmbedScopeError(.notFound, "no prototype of set '\(set)' is named like a class of this index") }
        let protos = evalClasses.compactMap { protoOfClass[$0.id] }
        let column = Dictionary(uniqueKeysWithValues: evalClasses.enumerated().map { ($1.id, $0) })
        let labels = try index.catalog.classIds()
        let rows = labels.indices.filter { column[Int(labels[$0])] != nil }
        let z = try index.logitMatrix(set: set, prototypes: protos, rows: rows)
        let c = protos.count
        var out = Predictions(classes: evalClasses.map(\.name), rows: rows, truth: [], predicted: [], score: [])
        for (i, r) in rows.enumerated() {
            let own = column[Int(labels[r])] ?? 0
            var best = 0
            for j in 1..<max(1, c) where z[i * c + j] > z[i * c + best] { best = j }
            out.truth.append(own); out.predicted.append(best); out.score.append(z[i * c + best] - z[i * c + own])
        }
        return out
    }
}

/// The first file part of a multipart/form-data body.
enum Multipart {
    static func firstFile(_ body: Data, contentType: String) throws -> Data {
        guard let b = contentType.components(separatedBy: ";").map({ $0.trimmingCharacters(in: .whitespaces) })
            .first(where: { $0.lowercased().hasPrefix("boundary=") })?.dropFirst("boundary=".count) else {
            throw APIError.badRequest("multipart/form-data without a boundary")
        }
        let boundary = Data(("--" + b.trimmingCharacters(in: CharacterSet(charactersIn: "\""))).utf8)
        // The first part that is a file (`filename=` in its headers: a form's text fields before
        // the file were taken for the image, 415); a body with no such part: its first part.
        var from = body.startIndex
        var firstPart: Data?
        while let start = body.range(of: boundary, in: from..<body.endIndex), !body[start.upperBound...].starts(with: Data("--".utf8)) {
            guard let headersEnd = body.range(of: Data("\r\n\r\n".utf8), in: start.upperBound..<body.endIndex) else { break }
            let contentStart = headersEnd.upperBound
            guard let end = body.range(of: Data("\r\n".utf8) + boundary, in: contentStart..<body.endIndex) else {
                throw APIError.badRequest("malformed multipart/form-data body: the part does not end")
            }
            let content = body.subdata(in: contentStart..<end.lowerBound)
            if String(decoding: body[start.upperBound..<headersEnd.lowerBound], as: UTF8.self).lowercased().contains("filename=") { return content }
            if firstPart == nil { firstPart = content }
            from = end.lowerBound + 2
        }
        guard let firstPart else { throw APIError.badRequest("malformed multipart/form-data body: no part found") }
        return firstPart
    }
}
