import Dispatch
import Foundation

/// Finding damaged rows in stored vectors: NaN or ±Inf, and rows of a unit-row file that are no
/// longer unit length (`UnitRows`). A damaged row must never reach a result, nor leave one
/// silently: the scans (query, rank, batch queries, half copies) detect it from their own scores
/// at no extra pass (a non-finite row scores NaN, and the scan kernels score NaN a row they find
/// not unit length); the analyses (metrics, versus, probe, project, evaluate, duplicates,
/// mislabels, uniqueness, representativeness) run `Index.requireFinite` first — one read of the
/// rows, small next to the O(n²·d) or iterative work that follows — and `verify` scans every file.
package enum Finite {
    /// Rows of `m` holding a NaN or ±Inf — or, when `m` is a unit-row matrix, not unit length
    /// (`UnitRows.scanTolerance`): the first `limit` of them (ascending) and how many in all. One
    /// read of the rows by the scan's own kernel against a zero query (a row's score is 0, or NaN
    /// when it is damaged: x·0 is NaN for NaN or ±Inf, and the unit check scores NaN).
    package static func damagedRows(_ m: RowMatrix, limit: Int = 10, threads: Int = Scorer.defaultThreads) -> (rows: [Int], count: Int) {
        let parts = Scorer.partitions(rows: m.rows, threads: threads)
        var found = [[Int]](repeating: [], count: parts.count)
        var counts = [Int](repeating: 0, count: parts.count)
        let zero = [Float](repeating: 0, count: max(1, m.dim))
        found.withUnsafeMutableBufferPointer { fp in
            counts.withUnsafeMutableBufferPointer { cp in
                let f = fp, c = cp
                zero.withUnsafeBufferPointer { zp in
                    parallelFor(parts.count) { t in
                        var rows: [Int] = [], n = 0
                        var scores = [Float](repeating: 0, count: Scorer.chunkRows)
                        var start = parts[t].lowerBound
                        while start < parts[t].upperBound {
                            let h = min(Scorer.chunkRows, parts[t].upperBound - start)
                            scores.withUnsafeMutableBufferPointer { Kernels.dots(m, rows: start..<(start + h), query: zp.baseAddress!, out: $0.baseAddress!) }
                            for i in 0..<h where scores[i] != 0 {
                                n += 1
                                if rows.count < limit { rows.append(start + i) }
                            }
                            start += h
                        }
                        f[t] = rows
                        c[t] = n
                    }
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
                               hint: "run `embedscope verify \(index ?? "INDEX")` to see every damaged file, then rebuild the index").storedDamage()
    }
}

/// Stored rows are unit length. Every stored row of a space is unit length to within
/// `Normalize.unitTolerance` (build, import and growth write them through `Normalize.toUnit`);
/// one whose length is off by more than `tolerance` was damaged after it was written — a zeroed
/// page (length 0), garbage bytes, a flipped exponent bit. The scans check every row they read
/// (`scanTolerance`, in the kernel, from the loads the dot products make: a damaged row is an
/// error even when it would have fallen out of the answer), and the rows a result shows are
/// checked again in Double (`firstNotUnit`). A flipped sign, a low mantissa bit, or one unit
/// row copied over another keep the length: the payload CRC finds them, which `verify` and every
/// copy of the rows (`add`, `remove`, `merge`, `export`: `IndexBuilder.requireUndamaged`) recompute.
package enum UnitRows {
    /// 40 × the writers' bound (4 × 2⁻²⁴): no row they write is near it.
    package static let tolerance = 1e-5

    /// The tolerance on a row's sum of squares s, summed in float32 by a scan (`ck_scan_dots_unit`,
    /// `ck_mark_not_unit`, `ck_half_dots`: |s − 1| > this is a damaged row). A row of length within
    /// `tolerance` of 1 has ‖x‖² within 2·tolerance + tolerance² of 1; a half copy x̃ of it (unit
    /// roundoff u, subnormal error η a value, d values) has (1 − tolerance)(1 − u) − η√d ≤ ‖x̃‖ ≤
    /// (1 + tolerance)(1 + u) + η√d; and float32 sums of d products in any order (lanes, trees, FMA
    /// or not) are off by at most γ_d·s, γ_d = d·2⁻²⁴/(1 − d·2⁻²⁴) (Higham, Thm 3.1). The
    /// tolerance is the largest deviation those allow, plus 2γ_d·s and 2⁻²⁰ for the comparison's
    /// own rounding — so no row written unit length (or its half copy) is ever flagged, and a
    /// flagged float32 row has a length off by more than `tolerance`. (dim 512: float32 1.3e-4,
    /// f16 1.2e-3, bf16 7.9e-3; a zeroed, scaled or garbage row is far outside.)
    package static func scanTolerance(dim: Int, roundoff u: Double = 0, subnormal eta: Double = 0) -> Float {
        let d = Double(max(dim, 1))
        let de = d * 0x1p-24
        let gamma = de / (1 - min(de, 0.5))
        let high = (1 + tolerance) * (1 + u) + eta * d.squareRoot()
        let low = max(0, (1 - tolerance) * (1 - u) - eta * d.squareRoot())
        let deviation = max(high * high - 1, 1 - low * low)
        return Float(deviation + 2 * gamma * high * high + 0x1p-20)
    }

    /// `scanTolerance` for a half copy of unit rows.
    package static func scanTolerance(dim: Int, storage: HalfStorage) -> Float {
        scanTolerance(dim: dim, roundoff: storage.unitRoundoff, subnormal: storage.subnormalError)
    }

    /// The first of `rows` of `m` (in the order given) whose length is not 1, with its length.
    package static func firstNotUnit(_ m: RowMatrix, rows: some Sequence<Int>) -> (row: Int, length: Double)? {
        for r in rows where r >= 0 && r < m.rows {
            let n = Normalize.norm(UnsafeBufferPointer(start: m.row(r), count: m.dim))
            if !(abs(n - 1) <= tolerance) { return (r, n) }
        }
        return nil
    }

    /// The error for rows a scan scored NaN (`rows`: the first few, ascending; `count` in all):
    /// they hold NaN or ±Inf, or the scan's check found the first not unit length (`length(r)`,
    /// NaN when the row is not finite).
    package static func scanDamage(_ rows: [Int], count: Int, what: String, path: String?, index: String?,
                                   length: (Int) -> Double) -> EmbedScopeError {
        guard let first = rows.first else { return Finite.damagedRows(rows, count: count, what: what, path: path, index: index) }
        let n = length(first)
        guard n.isFinite else { return Finite.damagedRows(rows, count: count, what: what, path: path, index: index) }
        let list = rows.map(String.init).joined(separator: ", ") + (count > rows.count ? " … (\(count) in all)" : "")
        return damaged(row: first, length: n, what: what, path: path, index: index, others: count > 1 ? " (rows \(list))" : "")
    }

    /// The error for a row of the wrong length, naming it and pointing at `verify`.
    /// `others` follows "the stored vectors are damaged" (the other rows a scan found).
    package static func damaged(row: Int, length: Double, what: String, path: String?, index: String?, others: String = "") -> EmbedScopeError {
        EmbedScopeError(.checksumMismatch,
                        "\(what) row \(row) has length \(String(format: "%.6g", length)), not 1 (stored rows are unit length): the stored vectors are damaged\(others)",
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
    /// Throws `.nonFinite` naming the damaged rows if a space's rows or norms hold NaN or ±Inf,
    /// `.checksumMismatch` if a row is not unit length (`UnitRows.scanDamage`) or, with
    /// `checksum`, if the rows are not the bytes written (the payload CRC, once per opened file):
    /// every analysis that reads a whole space calls this first. Damage that keeps a row's length —
    /// a flipped sign — passed the unit check, and `metrics`, `versus`, `probe` (which stored a head
    /// trained on it), `project` and the server's metrics answered from it with exit 0 (red team).
    /// The CRC costs one more read of the rows (`Checksum`: 10–15 GB/s a core with PCLMULQDQ).
    public func requireFinite(space name: String, checksum: Bool = true) throws {
        let v = try vectors(space: name)
        let bad = Finite.damagedRows(RowMatrix(v))
        if bad.count > 0 {
            try requireIntact()  // rows read as zeros past a cut: say that instead
            throw UnitRows.scanDamage(bad.rows, count: bad.count, what: "space '\(name)':", path: v.url.path, index: url.path) {
                Normalize.norm(v.row($0))
            }
        }
        if checksum { try IndexBuilder.requireUndamaged(v, of: self, refusal: "no answer is computed from it", once: true) }
        try requireFiniteNorms(space: name)
    }

    /// The norms half of `requireFinite(space:)` (one value a row, read in full): every stored
    /// norm is finite and positive (build, import and growth refuse zero vectors) — a zeroed norm
    /// is damage, which would make a row's logit its bias alone (`rank`, `evaluate`).
    package func requireFiniteNorms(space name: String) throws {
        let n = try norms(space: name)
        let norms = n.row(0)
        var sound = true
        for x in norms where !(x > 0 && x.isFinite) { sound = false; break }
        if sound {
            // Read whole anyway: its checksum too (a norm changed in place but still positive
            // changes every logit of that row; 4 bytes a row, ~1 ms for 1M rows).
            return try n.verify()
        }
        try requireIntact()
        let what = "norms of space '\(name)':"
        let nonFinite = norms.indices.filter { !norms[$0].isFinite }
        if !nonFinite.isEmpty {
            throw Finite.damagedRows(Array(nonFinite.prefix(10)), count: nonFinite.count, what: what, path: n.url.path, index: url.path)
        }
        let rows = norms.indices.filter { !(norms[$0] > 0) }
        let list = rows.prefix(10).map(String.init).joined(separator: ", ") + (rows.count > 10 ? " … (\(rows.count) in all)" : "")
        throw EmbedScopeError(.checksumMismatch,
                              "\(what) row \(rows[0]) has norm \(norms[rows[0]]), not a positive one (stored vectors are never zero): the stored norms are damaged\(rows.count > 1 ? " (rows \(list))" : "")",
                              path: n.url.path, hint: "run `embedscope verify \(url.path)` to see every damaged file, then rebuild the index")
    }

    /// Throws `.nonFinite` if a prototype set's vectors, norms or biases hold NaN or ±Inf.
    public func requireFinite(prototypeSet name: String) throws {
        let p = try prototypes(set: name)
        try p.vectors.verify()  // small (classes × dim), read whole here anyway
        let bad = Finite.damagedRows(RowMatrix(p.vectors))
        if bad.count > 0 {
            try requireIntact()
            throw UnitRows.scanDamage(bad.rows, count: bad.count, what: "prototype set '\(name)':", path: p.vectors.url.path, index: url.path) {
                Normalize.norm(p.vectors.row($0))
            }
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
    /// In a file with row checks (`VectorFile.rowChecks`) each of the rows is also compared with
    /// its CRC-32: damage that keeps a row's length — a sign flipped, a low bit, a row copied
    /// over another — is refused where it would be shown.
    package func requireUnit(rows: some Sequence<Int>, of v: VectorFile, what: String) throws {
        if let bad = UnitRows.firstNotUnit(RowMatrix(v), rows: rows) {
            try requireIntact()  // a file cut short under the scan reads zero rows: say that instead
            throw UnitRows.damaged(row: bad.row, length: bad.length, what: what, path: v.url.path, index: url.path)
        }
        if v.rowChecks != nil, let bad = rows.first(where: { $0 >= 0 && $0 < v.rows && !v.rowMatchesCheck($0) }) {
            try requireIntact()
            throw EmbedScopeError(.checksumMismatch, "\(what) row \(bad) does not match its check: a stored value changed after the index was written",
                                  path: v.url.path, hint: "run `embedscope verify \(url.path)` to see every damaged file, then rebuild the index")
        }
    }

    /// `requireUnit(rows:of:what:)` for rows of a space.
    package func requireUnit(rows: some Sequence<Int>, space: String, file v: VectorFile) throws {
        try requireUnit(rows: rows, of: v, what: "space '\(space)':")
    }

    /// Re-throws a scan's `NonFiniteScores` as an `EmbedScopeError` naming the file: the rows
    /// scored NaN or ±Inf because they hold one, or (unit-row files) because the scan found them
    /// not unit length (`UnitRows.scanDamage`).
    func rethrowingNonFinite<T>(space: String, file: VectorFile, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let e as NonFiniteScores {
            try requireIntact()
            throw UnitRows.scanDamage(e.rows, count: e.count, what: "space '\(space)':", path: file.url.path, index: url.path) { r in
                r < file.rows ? Normalize.norm(file.row(r)) : .nan
            }
        }
    }
}
