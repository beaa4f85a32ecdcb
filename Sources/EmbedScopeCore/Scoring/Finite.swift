import Dispatch
import Foundation

/// Finding NaN and ±Inf in stored vectors. A damaged row must never reach a result: the scans
/// (query, rank) detect it from their own scores at no extra pass, the analyses (metrics,
/// versus, probe, project, evaluate) run `Index.requireFinite` first — one read of the rows,
/// small next to the O(n²·d) or iterative work that follows — and `verify` scans every file.
package enum Finite {
    /// Rows of `m` holding a NaN or ±Inf: the first `limit` of them (ascending) and how many in all.
    package static func nonFiniteRows(_ m: RowMatrix, limit: Int = 10, threads: Int = Scorer.defaultThreads) -> (rows: [Int], count: Int) {
        let parts = Scorer.partitions(rows: m.rows, threads: threads)
        var found = [[Int]](repeating: [], count: parts.count)
        var counts = [Int](repeating: 0, count: parts.count)
        found.withUnsafeMutableBufferPointer { fp in
            counts.withUnsafeMutableBufferPointer { cp in
                let f = fp, c = cp
                parallelFor(parts.count) { t in
                    var rows: [Int] = [], n = 0
                    for i in parts[t] where !rowIsFinite(m.row(i), count: m.dim) {
                        n += 1
                        if rows.count < limit { rows.append(i) }
                    }
                    f[t] = rows
                    c[t] = n
                }
            }
        }
        return (Array(found.joined().prefix(limit)), counts.reduce(0, +))
    }

    /// True when every one of `count` values is finite: x·0 is 0 for a finite x and NaN for NaN or
    /// ±Inf, so one SIMD accumulator answers for the whole row.
    @inline(__always)
    package static func rowIsFinite(_ p: UnsafePointer<Float>, count: Int) -> Bool {
        var acc = SIMD8<Float>()
        var j = 0
        let raw = UnsafeRawPointer(p)
        while j + 8 <= count {
            acc += raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self) * 0
            j += 8
        }
        var s = acc.sum()
        while j < count { s += p[j] * 0; j += 1 }
        return s == 0
    }

    /// True when every value is finite.
    package static func all(_ v: UnsafeBufferPointer<Float>) -> Bool {
        guard let b = v.baseAddress else { return true }
        return rowIsFinite(b, count: v.count)
    }

    /// The error for damaged rows, naming them and pointing at `verify`.
    package static func damagedRows(_ rows: [Int], count: Int, what: String, path: String?, index: String?) -> EmbedScopeError {
        let list = rows.map(String.init).joined(separator: ", ") + (count > rows.count ? " … (\(count) in all)" : "")
        return EmbedScopeError(.nonFinite, "\(what) \(count == 1 ? "row" : "rows") \(list) \(count == 1 ? "holds" : "hold") NaN or infinity: the stored vectors are damaged",
                               path: path,
                               hint: "run `embedscope verify \(index ?? "INDEX")` to see every damaged file, then rebuild the index")
    }
}

/// Rows that reach a result are unit length. Every stored row of a space is unit length to
/// within `Normalize.unitTolerance` (build, import and growth write them through
/// `Normalize.toUnit`); one whose length is off by more than `tolerance` was damaged after it was
/// written — a zeroed page (length 0), garbage bytes, a flipped exponent bit. The rows a query
/// returns (and its query row) are checked, k of them: O(k · dim), nothing next to the scan.
/// A flipped sign or low mantissa bit keeps the length and is found by `verify`'s CRC only.
package enum UnitRows {
    /// 40 × the writers' bound (4 × 2⁻²⁴): no row they write is near it.
    package static let tolerance = 1e-5

    /// The first of `rows` of `m` (in the order given) whose length is not 1, with its length.
    package static func firstNotUnit(_ m: RowMatrix, rows: some Sequence<Int>) -> (row: Int, length: Double)? {
        for r in rows where r >= 0 && r < m.rows {
            let n = Normalize.norm(UnsafeBufferPointer(start: m.row(r), count: m.dim))
            if !(abs(n - 1) <= tolerance) { return (r, n) }
        }
        return nil
    }

    /// The error for a row of the wrong length, naming it and pointing at `verify`.
    package static func damaged(row: Int, length: Double, what: String, path: String?, index: String?) -> EmbedScopeError {
        EmbedScopeError(.checksumMismatch,
                        "\(what) row \(row) has length \(String(format: "%.6g", length)), not 1 (stored rows are unit length): the stored vectors are damaged",
                        path: path, hint: "run `embedscope verify \(index ?? "INDEX")` to see every damaged file, then rebuild the index")
    }
}

/// Thrown by `Scorer` when a scan scored a NaN or ±Inf: the rows (first few, ascending) and
/// how many. `Index` turns it into an `EmbedScopeError` naming the file.
public struct NonFiniteScores: Error, Sendable {
    public var rows: [Int]
    public var count: Int
}

extension Index {
    /// Throws `.nonFinite` naming the damaged rows if a space's rows or norms hold NaN or ±Inf.
    public func requireFinite(space name: String) throws {
        let v = try vectors(space: name)
        let bad = Finite.nonFiniteRows(RowMatrix(v))
        if bad.count > 0 {
            throw Finite.damagedRows(bad.rows, count: bad.count, what: "space '\(name)':", path: v.url.path, index: url.path)
        }
        try requireFiniteNorms(space: name)
    }

    /// The norms half of `requireFinite(space:)` (one value a row): for a caller that detects
    /// non-finite rows another way and scans them only to name them.
    package func requireFiniteNorms(space name: String) throws {
        let n = try norms(space: name)
        let norms = n.row(0)
        if !Finite.all(norms) {
            let rows = norms.indices.filter { !norms[$0].isFinite }
            throw Finite.damagedRows(Array(rows.prefix(10)), count: rows.count, what: "norms of space '\(name)':", path: n.url.path, index: url.path)
        }
    }

    /// Throws `.nonFinite` if a prototype set's vectors, norms or biases hold NaN or ±Inf.
    public func requireFinite(prototypeSet name: String) throws {
        let p = try prototypes(set: name)
        let bad = Finite.nonFiniteRows(RowMatrix(p.vectors))
        if bad.count > 0 {
            throw Finite.damagedRows(bad.rows, count: bad.count, what: "prototype set '\(name)':", path: p.vectors.url.path, index: url.path)
        }
        let badRecords = p.records.filter { !$0.bias.isFinite || !$0.norm.isFinite }.map(\.idx)
        if !badRecords.isEmpty {
            throw Finite.damagedRows(Array(badRecords.prefix(10)), count: badRecords.count, what: "bias or norm of prototype set '\(name)':",
                                     path: directory.appendingPathComponent(Catalog.fileName).path, index: url.path)
        }
    }

    /// Throws `.checksumMismatch` naming the first of `rows` of `v` that is not unit length
    /// (`UnitRows`): the rows a result is about to show. `what` names the file's rows in the
    /// message ("space 'embedding':", "prototype set 'head':").
    package func requireUnit(rows: some Sequence<Int>, of v: VectorFile, what: String) throws {
        if let bad = UnitRows.firstNotUnit(RowMatrix(v), rows: rows) {
            try requireIntact()  // a file cut short under the scan reads zero rows: say that instead
            throw UnitRows.damaged(row: bad.row, length: bad.length, what: what, path: v.url.path, index: url.path)
        }
    }

    /// `requireUnit(rows:of:what:)` for rows of a space.
    package func requireUnit(rows: some Sequence<Int>, space: String, file v: VectorFile) throws {
        try requireUnit(rows: rows, of: v, what: "space '\(space)':")
    }

    /// Re-throws a scan's `NonFiniteScores` as an `EmbedScopeError` naming the file.
    func rethrowingNonFinite<T>(space: String, file: VectorFile, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let e as NonFiniteScores {
            try requireIntact()
            throw Finite.damagedRows(e.rows, count: e.count, what: "space '\(space)':", path: file.url.path, index: url.path)
        }
    }
}
