import Foundation

extension Index {
    /// Queries per pass over the vectors: each pass is one GEMM per row chunk for the whole group,
    /// so the rows are streamed once per group instead of once per query. 256 queries keep a
    /// worker's score buffer (queries × 2,048 rows × 4 B × 2) at 4 MiB.
    public static let batchQueriesPerPass = 256

    /// Top-k for many queries in one space, answered in passes of `batchQueriesPerPass` queries
    /// over the rows (GEMM tiles and a heap per query), not one scan per query.
    ///
    /// Each query is resolved exactly as `search` resolves it (row/path/vector, class filter, the
    /// query's own row excluded unless `includeSelf`), so answers equal `search` one at a time up
    /// to float rounding of the scores (a GEMM sums in another order than the one-row kernel).
    /// `progress` counts queries answered.
    public func searchBatch(_ sources: [QuerySource], options o: SearchOptions,
                            progress: ProgressSink = SilentProgress()) throws -> [[ResultRow]] {
        guard o.k >= 1 else { throw EmbedScopeError(.invalidArgument, "k must be at least 1, got \(o.k)") }
        guard !sources.isEmpty else { return [] }
        let space = try o.space ?? defaultSpace()
        let v = try vectors(space: space)
        // The answers (each result's path and class, then its JSON) and a pass's heaps, before any
        // of it is made: under `ulimit -v` a large k ended by a signal ("failed to allocate").
        let kept = Double(min(o.k, v.rows))
        try AddressSpace.require(estimate: Double(sources.count) * kept * 400
                                     + Double(min(sources.count, Index.batchQueriesPerPass)) * kept * 16 * Double(Scorer.defaultThreads),
                                 for: "\(sources.count) queries of k = \(Int(kept))")
        let classFilter = try self.classFilter(o.className)
        var out: [[ResultRow]] = []
        out.reserveCapacity(sources.count)
        progress.begin("query", total: sources.count)
        defer { progress.end() }
        var start = 0
        while start < sources.count {
            let group = sources[start..<min(start + Index.batchQueriesPerPass, sources.count)]
            var queries: [Float] = []
            queries.reserveCapacity(group.count * v.dim)
            var filters: [RowFilter] = []
            for (i, source) in zip(group.indices, group) {
                // Numbered from 0 as the output's "vector" is, so a bad one in a thousand can be found.
                queries += try queryVector(source, space: space, what: "query vector \(i)")
                var f = classFilter
                if !o.includeSelf, let r = try row(for: source) { f.excluded.insert(r) }
                filters.append(f)
            }
            let hits = try scanBatch(space: space, vectors: v, queries: queries, count: group.count, options: o, filters: filters)
            try requireIntact()  // once a pass, not once an answer (`describe`)
            for h in hits { out.append(try describeUnchecked(h.map { ($0.row, Double($0.score)) })) }
            start += group.count
            progress.update(start)
        }
        return out
    }
}
