import Foundation

extension Index {
    /// Finds a prototype by name, in `set` or — when nil — in the only set that has it.
    public func findPrototype(_ name: String, set: String?) throws -> (set: String, index: Int) {
        let candidates = set.map { [$0] } ?? prototypeSets.map(\.name)
        guard set == nil || prototypeSets.contains(where: { $0.name == set }) else { _ = try prototypeSet(set!); return ("", 0) }
        var found: [(String, Int)] = []
        for s in candidates {
            for p in try catalog.prototypes(inSet: s) where p.name == name { found.append((s, p.idx)) }
        }
        guard !found.isEmpty else {
            if prototypeSets.isEmpty {
                throw EmbedScopeError(.notFound, "this index has no prototype sets", path: url.path,
                                      hint: "import a classifier head with `embedscope import --head W.npy --bias b.npy`")
            }
            let sample = try candidates.flatMap { try catalog.prototypes(inSet: $0).prefix(12).map(\.name) }
            throw EmbedScopeError(.notFound, "no prototype named '\(name)' in \(set.map { "set '\($0)'" } ?? "any set") (e.g. \(sample.joined(separator: ", ")))",
                                  path: url.path)
        }
        guard found.count == 1 else {
            throw EmbedScopeError(.invalidArgument, "prototype '\(name)' is in several sets (\(found.map(\.0).joined(separator: ", "))); pass --set")
        }
        return found[0]
    }

    /// The classifier's logit for one prototype on every row:
    /// logit_i = ‖x_i‖ · ‖w‖ · (x̂_i · ŵ) + b, which equals x_i · w + b.
    public func logits(set: String, prototype: Int) throws -> [Float] {
        try logits(set: set, prototype: prototype, of: prototypes(set: set))
    }

    /// `logits(set:prototype:)` with the set `p` already read.
    private func logits(set: String, prototype: Int,
                        of p: (set: PrototypeSetRecord, records: [PrototypeRecord], vectors: VectorFile)) throws -> [Float] {
        let space = p.set.space
        let v = try vectors(space: space)
        let norms = try self.norms(space: space)
        try requireFiniteNorms(space: space)   // a zeroed norm would rank its row by the bias alone
        try p.vectors.verify()                 // the prototype is every score's query: its file's checksum (small)
        guard prototype >= 0, prototype < p.records.count, p.records[prototype].idx == prototype else {
            throw EmbedScopeError(.catalog, "prototype \(prototype) is not in set '\(set)' (it has \(p.records.count))", path: url.path,
                                  hint: "run `embedscope verify \(url.path)`")
        }
        let rec = p.records[prototype]
        guard Finite.all(p.vectors.row(prototype)), rec.norm.isFinite, rec.bias.isFinite else {
            throw Finite.damagedRows([prototype], count: 1, what: "prototype set '\(set)':", path: p.vectors.url.path, index: url.path)
        }
        var dots = [Float](repeating: 0, count: v.rows)
        let m = RowMatrix(v)
        let parts = Scorer.partitions(rows: v.rows, threads: Scorer.defaultThreads)
        dots.withUnsafeMutableBufferPointer { out in
            let o = out
            parallelFor(parts.count) { t in
                Kernels.dots(m, rows: parts[t], query: p.vectors.row(prototype).baseAddress!, out: o.baseAddress! + parts[t].lowerBound)
            }
        }
        let n = norms.row(0)
        let wn = rec.norm, b = rec.bias
        var logits = [Float](repeating: 0, count: v.rows)
        var bad = DamagedRows()
        logits.withUnsafeMutableBufferPointer { l in
            var sum: Float = 0
            for i in l.indices {
                l[i] = Float(Double(n[i]) * wn * Double(dots[i]) + b)
                sum += l[i] * 0
            }
            if !sum.isFinite || sum != 0 { bad.note(l.baseAddress!, count: l.count, firstRow: 0) }
        }
        if bad.count > 0 {
            // A finite row and norm whose logit is beyond float32 is the head's doing, not damage.
            if let r = bad.rows.first(where: { n[$0].isFinite && dots[$0].isFinite }) {
                throw EmbedScopeError(.nonFinite, "the logit of row \(r) for prototype '\(rec.name)' of set '\(set)' is \(String(format: "%.3g", Double(n[r]) * wn * Double(dots[r]) + b)), beyond float32's range",
                                      path: url.path, hint: "the classifier head's weights (norm \(String(format: "%.3g", wn))) or bias are too large to rank by")
            }
            // A row that scored NaN holds NaN or ±Inf, or the scan found it not unit length.
            let badRows = bad.rows.filter { !dots[$0].isFinite }
            if !badRows.isEmpty {
                try requireIntact()
                throw UnitRows.scanDamage(badRows, count: badRows.count, what: "space '\(space)':", path: v.url.path, index: url.path) {
                    Normalize.norm(v.row($0))
                }
            }
            throw Finite.damagedRows(bad.rows, count: bad.count, what: "norms of space '\(space)':", path: norms.url.path, index: url.path)
        }
        try requireIntact()
        return logits
    }

    /// Images ordered by a prototype's logit: highest first, or lowest with `least`.
    public func rank(prototype name: String, set: String?, least: Bool, k: Int, className: String? = nil) throws -> [ResultRow] {
        guard k >= 1 else { throw EmbedScopeError(.invalidArgument, "k must be at least 1, got \(k)") }
        let (s, idx) = try findPrototype(name, set: set)
        let p = try prototypes(set: s)
        let logits = try self.logits(set: s, prototype: idx, of: p)
        let filter = try classFilter(className)
        var heap = TopK(k: min(k, filter.eligible(total: logits.count)))
        let sign: Float = least ? -1 : 1
        for (i, l) in logits.enumerated() where filter.accepts(i) { heap.push(sign * l, i) }
        let ranked = heap.sorted()
        // The rows shown, and the prototype's own row, are unit length (`UnitRows`).
        try requireUnit(rows: ranked.lazy.map(\.row), space: p.set.space, file: try vectors(space: p.set.space))
        try requireUnit(rows: [idx], of: p.vectors, what: "prototype set '\(s)':")
        return try describe(ranked.map { ($0.row, Double(sign * $0.score)) })
    }
}
