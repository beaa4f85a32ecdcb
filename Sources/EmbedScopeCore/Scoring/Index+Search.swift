import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What to search with.
public enum QuerySource: Sendable {
    /// A row already in the index.
    case row(Int)
    /// An image in the index, by its catalog path.
    case path(String)
    /// A raw vector of the space's dimension (normalized here).
    case vector([Float])
}

public struct SearchOptions: Sendable {
    /// nil: `embedding` if the index has it, else its only (or first) space.
    public var space: String? = nil
    public var k = 10
    public var farthest = false
    public var includeSelf = false
    /// Only return images of this class.
    public var className: String? = nil
    public var kernel: ScoreKernel = .simd
    /// Scan the space's half-precision copy when it has one (re-scored exactly: the same answer).
    public var halfCopy = true
    public init() {}
}

/// One result line: what `embedscope query --json` prints.
public struct ResultRow: Codable, Sendable, Equatable {
    public var rank: Int
    public var row: Int
    public var path: String
    public var `class`: String
    public var score: Double
}

extension Index {
    /// The space used when none is named: `embedding` if present, else the first by name.
    public func defaultSpace() throws -> String {
        if spaces.contains(where: { $0.name == "embedding" }) { return "embedding" }
        guard let first = spaces.first else { throw EmbedScopeError(.catalog, "this index has no spaces", path: url.path) }
        return first.name
    }

    /// Resolves a row or path query to its row number.
    public func row(for source: QuerySource) throws -> Int? {
        switch source {
        case .row(let r):
            guard r >= 0 && r < rowCount else {
                throw EmbedScopeError(.notFound, "row \(r) is out of range (the index has rows 0…\(rowCount - 1))", path: url.path)
            }
            return r
        case .path(let p):
            var rec = try catalog.image(path: p)
            // Also accept a file-system path into the data set the index was built from.
            if rec == nil, let root = try catalog.meta()["datasetRoot"] {
                let abs = URL(fileURLWithPath: p).standardizedFileURL.path
                if abs.hasPrefix(root + "/") { rec = try catalog.image(path: String(abs.dropFirst(root.count + 1))) }
                // The root spelled another way (through a link to it, or its link resolved): the
                // longest leading part of the path that resolves to the root or below it, and the
                // rest as written (a link inside the data set stays a name, as the catalog has it).
                if rec == nil, let realRoot = RealPath.of(root) {
                    let parts = abs.split(separator: "/").map(String.init)
                    for i in stride(from: parts.count - 1, through: 1, by: -1) {
                        guard let real = RealPath.of("/" + parts[0..<i].joined(separator: "/")), RealPath.isInside(real, realRoot) else { continue }
                        let inside = (real == realRoot ? [] : [String(real.dropFirst(realRoot.count + 1))]) + parts[i...]
                        rec = try catalog.image(path: inside.joined(separator: "/"))
                        break
                    }
                }
            }
            guard let rec else {
                throw EmbedScopeError(.notFound, "no image with path '\(p)' in this index", path: url.path,
                                      hint: "paths are relative to the data set root, as `embedscope query --json` prints them")
            }
            return rec.row
        case .vector:
            return nil
        }
    }

    /// The unit query vector for a source in a space.
    public func queryVector(_ source: QuerySource, space: String) throws -> [Float] {
        try queryVector(source, space: space, what: "query vector")
    }

    /// As `queryVector(_:space:)`; `what` names the vector in errors ("query vector 437" of a batch).
    package func queryVector(_ source: QuerySource, space: String, what: String) throws -> [Float] {
        let v = try vectors(space: space)
        if case .vector(var q) = source {
            guard q.count == v.dim else {
                throw EmbedScopeError(.shapeMismatch, "\(what) has \(q.count) values, space '\(space)' has dim \(v.dim)")
            }
            _ = try Normalize.toUnit(&q, storesNorm: false, what: what)
            return q
        }
        let r = try row(for: source)!
        let q = Array(v.row(r))
        guard q.withUnsafeBufferPointer(Finite.all) else {
            throw Finite.damagedRows([r], count: 1, what: "space '\(space)': query", path: v.url.path, index: url.path)
        }
        try requireUnit(rows: [r], of: v, what: "space '\(space)': query")
        return q
    }

    /// Rows allowed by a class filter, or nil for all.
    public func classFilter(_ className: String?) throws -> RowFilter {
        guard let className else { return RowFilter() }
        let classes = try catalog.classes()
        guard let c = classes.first(where: { $0.name == className }) else {
            throw EmbedScopeError(.notFound, "no class '\(className)' (classes: \(classes.map(\.name).joined(separator: ", ")))", path: url.path)
        }
        let ids = try catalog.classIds()
        return RowFilter.allowing(rows: ids.indices.filter { ids[$0] == c.id }, total: ids.count)
    }

    /// Nearest (highest cosine) or farthest (lowest cosine) images to a query.
    public func search(_ source: QuerySource, options o: SearchOptions) throws -> [ResultRow] {
        guard o.k >= 1 else { throw EmbedScopeError(.invalidArgument, "k must be at least 1, got \(o.k)") }
        let space = try o.space ?? defaultSpace()
        let v = try vectors(space: space)
        let q = try queryVector(source, space: space)
        var filter = try classFilter(o.className)
        if !o.includeSelf, let r = try row(for: source) { filter.excluded.insert(r) }
        let hits = try scan(space: space, vectors: v, query: q, options: o, filter: filter)
        return try describe(hits.map { ($0.row, Double($0.score)) })
    }

    /// Attaches path and class to (row, score) pairs, ranks from 1. Every answer of search and
    /// rank comes through here (batch search checks once a pass): the vector files are checked
    /// first (`requireIntact`), so no answer read from a file cut short under the scan is returned.
    public func describe(_ hits: [(row: Int, score: Double)]) throws -> [ResultRow] {
        try requireIntact()
        return try describeUnchecked(hits)
    }

    /// `describe` without the check of the vector files (a stat each): for a caller that makes it
    /// once for many answers (`searchBatch`).
    func describeUnchecked(_ hits: [(row: Int, score: Double)]) throws -> [ResultRow] {
        let recs = try catalog.images(rows: hits.map(\.row))
        let names = try classNames()
        return hits.enumerated().map { i, h in
            let rec = recs[h.row]
            return ResultRow(rank: i + 1, row: h.row, path: rec?.path ?? "?", class: rec.flatMap { names[$0.classId] } ?? "?", score: h.score)
        }
    }
}
