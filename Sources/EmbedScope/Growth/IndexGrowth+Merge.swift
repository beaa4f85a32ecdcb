import Dispatch
import Foundation
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeModels
import EmbedScopeAnalysis
import EmbedScopeReport

extension IndexGrowth {
    /// `embedscope merge INDEX… --out OUT`: indexes with the same spaces (names, models,
    /// dimensions, preprocessing), the same model and weights and the same prototype sets, and no
    /// path in common (typically the shards of `build --shard i/n`), joined into one new index.
    /// Rows of indexes that `build` wrote are put in build's order (class, then path), so the
    /// shards of a data set merge into exactly the unsharded build; otherwise (imported indexes)
    /// the rows follow the inputs in the order given. Classes are the sorted union. Vectors are
    /// copied bit for bit. `OUT` may not be one of the inputs; an existing index there is
    /// replaced only with `force`.
    public static func merge(_ inputs: [URL], out: URL, force: Bool = false, progress: ProgressSink = SilentProgress()) throws -> GrowthSummary {
        let t0 = DispatchTime.now()
        guard inputs.count >= 2 else {
            throw EmbedScopeError(.invalidArgument, "merge needs at least two indexes", hint: "e.g. embedscope merge Indexes/part1 Indexes/part2 --out Indexes/all")
        }
        let outPath = Growth.canonical(out)
        for i in inputs where Growth.canonical(i) == outPath {
            throw EmbedScopeError(.refused, "--out is one of the indexes being merged", path: out.path, hint: "merge into a new folder; nothing was changed")
        }
        let (builder, prepared) = try prepareMerge(inputs, out: out, force: force, progress: progress)
        var summary = prepared
        try builder.commit()
        summary.seconds = Growth.seconds(since: t0)
        return summary
    }

    /// A space's recipe as merge compares it: an imported space's records the .npy it came
    /// from ("imported from part-2.npy, L2-normalized"), which names a file, not a way of
    /// making vectors — shards imported from part-1.npy and part-2.npy by one model merge
    /// (they were refused), and two files that share a name prove nothing (the model name is
    /// what `import --model` records for that).
    static func recipe(_ preprocessing: String) -> String {
        let prefix = "imported from ", suffix = ", L2-normalized"
        guard preprocessing.hasPrefix(prefix), preprocessing.hasSuffix(suffix) else { return preprocessing }
        return "imported, L2-normalized"
    }

    private static func prepareMerge(_ urls: [URL], out: URL, force: Bool, progress: ProgressSink) throws -> (IndexBuilder, GrowthSummary) {
        progress.begin("merge: reading the indexes", total: nil)   // (a million rows: seconds before the first count)
        let indexes = try urls.map(Index.open)
        let metas = try indexes.map { try $0.catalog.meta() }
        let first = indexes[0], m0 = metas[0]
        func refuse(_ i: Int, _ why: String) -> EmbedScopeError {
            EmbedScopeError(.refused, "cannot merge \(urls[i].path) with \(urls[0].path): \(why)", path: urls[i].path,
                            hint: "only indexes of one data set made with the same model, weights and spaces merge (e.g. the shards of `build --shard i/n`); nothing was written")
        }
        func describe(_ s: SpaceRecord) -> String { "\(s.name) (\(s.model), dim \(s.dim))" }
        for (i, idx) in indexes.enumerated().dropFirst() {
            let a = first.spaces.map { [$0.name, $0.model, String($0.dim), Self.recipe($0.preprocessing)] }
            let b = idx.spaces.map { [$0.name, $0.model, String($0.dim), Self.recipe($0.preprocessing)] }
            if a != b {
                // Same names, models and dimensions: say which recipe differs, in full.
                if a.count == b.count, let k = a.indices.first(where: { a[$0] != b[$0] }), a[k][0..<3] == b[k][0..<3] {
                    throw refuse(i, "its space '\(a[k][0])' was made as \"\(b[k][3])\", not as \"\(a[k][3])\"")
                }
                throw refuse(i, "its spaces are \(idx.spaces.map(describe).joined(separator: ", ")), not \(first.spaces.map(describe).joined(separator: ", "))")
            }
            if metas[i]["model"] != m0["model"] {
                throw refuse(i, "it was made with model \(metas[i]["model"] ?? "none"), not \(m0["model"] ?? "none")")
            }
            let sameWeights: Bool
            if let h = metas[i]["weightsHash"], let h0 = m0["weightsHash"] { sameWeights = h == h0 } else { sameWeights = metas[i]["weights"] == m0["weights"] }
            if !sameWeights {
                throw refuse(i, "its weights (\(metas[i]["weights"] ?? "none")) are not those of the first (\(m0["weights"] ?? "none"))")
            }
        }
        // Prototype sets (probes aside): the same names and the very same rows everywhere.
        let sets0 = Growth.prototypeSets(of: first, meta: m0)
        for (i, idx) in indexes.enumerated().dropFirst() {
            let sets = Growth.prototypeSets(of: idx, meta: metas[i])
            guard sets.kept == sets0.kept else {
                throw refuse(i, "its prototype sets are [\(sets.kept.joined(separator: ", "))], not [\(sets0.kept.joined(separator: ", "))]")
            }
            for name in sets.kept {
                let a = try first.prototypes(set: name), b = try idx.prototypes(set: name)
                let same = a.records == b.records && a.vectors.dim == b.vectors.dim && a.vectors.rows == b.vectors.rows
                    && (0..<a.vectors.rows).allSatisfy { Array(a.vectors.row($0)) == Array(b.vectors.row($0)) }
                guard same else { throw refuse(i, "its prototype set '\(name)' differs (another head)") }
            }
        }
        // Rows: no path twice.
        let images = try indexes.map { try $0.catalog.allImages() }
        let classLists = try indexes.map { try $0.catalog.classes().map(\.name) }
        var owner: [String: Int] = [:]
        for (i, list) in images.enumerated() {
            for img in list {
                if let j = owner[img.path] {
                    throw refuse(i, "'\(img.path)' is in both \(urls[j].path) and \(urls[i].path)\(j == i ? " (twice)" : "")")
                }
                owner[img.path] = i
            }
        }
        let built = metas.allSatisfy { $0["source"] == "build" }
        let classes = try Growth.unionClasses(classLists, bytewise: built)
        let classId = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        struct Item { var className: String; var record: ImageRecord; var source: RowSource }
        var items: [Item] = []
        for (i, list) in images.enumerated() {
            let names = classLists[i]
            for img in list {
                items.append(Item(className: names.indices.contains(img.classId) ? names[img.classId] : "", record: img, source: .stored(input: i, row: img.row)))
            }
        }
        if built {
            items = items.indices.sorted { a, b in
                Growth.buildOrderLess((items[a].className, items[a].record.path), (items[b].className, items[b].record.path))
            }.map { items[$0] }
        }
        var rows: [ImageRecord] = [], sources: [RowSource] = []
        for item in items {
            var rec = item.record
            rec.row = rows.count
            rec.classId = classId[item.className] ?? 0
            rows.append(rec); sources.append(item.source)
        }
        var notes: [String] = []
        var meta = Growth.carriedMeta(m0)
        meta[Growth.shardKey] = nil
        meta["created"] = isoNow()
        let shards = metas.compactMap { $0[Growth.shardKey].flatMap { try? Shard(parsing: $0) } }
        if shards.count == metas.count, let n = shards.first?.count, shards.allSatisfy({ $0.count == n }) {
            let have = Set(shards.map(\.index))
            if have.count != shards.count { notes.append("warning: the same shard given twice") }
            let missing = (1...n).filter { !have.contains($0) }
            if !missing.isEmpty { notes.append("note: shards \(missing.map { "\($0)/\(n)" }.joined(separator: ", ")) are not in this merge") }
        } else if !shards.isEmpty {
            notes.append("note: only some inputs are shards of one `build --shard i/n` series")
        }
        let roots = Set(metas.compactMap { $0["datasetRoot"] })
        if roots.count > 1 { notes.append("note: the inputs record different data-set roots; the merged index records \(m0["datasetRoot"] ?? "?")") }
        let plan = ComposedGeneration(classes: classes, images: rows, sources: sources, meta: meta, spaces: first.spaces,
                                      prototypeSets: sets0.kept.map { (input: 0, name: $0) })
        let builder = try Growth.write(plan, inputs: indexes, to: out.standardizedFileURL, overwrite: force, lock: nil,
                                       protecting: urls, progress: progress)
        var summary = GrowthSummary(index: out, rowsBefore: 0, rowsAfter: rows.count, paths: [])
        summary.spaces = first.spaces.map { (name: $0.name, dim: $0.dim) }
        summary.droppedPrototypeSets = Array(Set(indexes.enumerated().flatMap { Growth.prototypeSets(of: $1, meta: metas[$0]).dropped })).sorted()
        summary.classes = classes
        summary.notes = notes
        return (builder, summary)
    }
}
