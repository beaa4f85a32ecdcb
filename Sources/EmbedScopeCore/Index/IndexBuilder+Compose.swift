import Foundation
internal import GRDB

/// Where one row of a composed generation comes from (`IndexBuilder.writeComposed`).
package enum RowSource: Sendable, Equatable {
    /// Row `row` of input index `input`: its stored unit vector and norm are copied bit for bit
    /// in every space (never recomputed).
    case stored(input: Int, row: Int)
    /// Raw vector number `i` of the new rows (`ComposedGeneration.newVectors`), checked and
    /// normalized as a build does.
    case new(Int)
}

/// A generation made from the rows of existing indexes and new raw vectors: what `add`,
/// `remove` and `merge` write (docs/index-format.md, "Rows added, removed, merged").
package struct ComposedGeneration: Sendable {
    /// Class names; a row's `classId` indexes this list.
    package var classes: [String]
    /// The rows, numbered 0…n−1 in this order.
    package var images: [ImageRecord]
    /// One per image: where its vectors come from.
    package var sources: [RowSource]
    /// The whole `meta` table of the new catalog (`contentHash` is recomputed on close).
    package var meta: [String: String]
    /// The spaces to write (name, model, dim, preprocessing; rows and files are set here).
    package var spaces: [SpaceRecord]
    /// Space name → the raw vectors of the `.new` rows, row-major (new count × dim).
    package var newVectors: [String: [Float]]
    /// Space name → one scale per `.new` row, as `import --norms` gives (`SpaceWriter.storedNorm`:
    /// a unit row's stored norm is its scale): a float64 file's rows arrive normalized, with
    /// their norms here. Absent: the norm of the raw vector.
    package var newScales: [String: [Float]] = [:]
    /// Prototype sets copied exactly (unit rows, norms, biases) from an input index.
    package var prototypeSets: [(input: Int, name: String)]

    package init(classes: [String], images: [ImageRecord], sources: [RowSource], meta: [String: String],
                spaces: [SpaceRecord], newVectors: [String: [Float]] = [:], prototypeSets: [(input: Int, name: String)] = []) {
        self.classes = classes; self.images = images; self.sources = sources; self.meta = meta
        self.spaces = spaces; self.newVectors = newVectors; self.prototypeSets = prototypeSets
    }
}

extension IndexBuilder {
    /// Writes a composed generation into this (fresh) builder: the catalog rows and meta, every
    /// space (stored rows copied with their norms, new rows normalized), and the prototype sets
    /// copied from their inputs. Nothing of an input is modified; `commit()` makes it current.
    /// Every reference is checked first (input, row, space and dimension), so a bad plan is an
    /// error before anything is written.
    package func writeComposed(_ g: ComposedGeneration, inputs: [Index], progress: ProgressSink = SilentProgress()) throws {
        let n = g.images.count
        guard g.sources.count == n else {
            throw EmbedScopeError(.invalidArgument, "composed generation: \(n) images but \(g.sources.count) row sources")
        }
        guard n > 0 else {
            throw EmbedScopeError(.dataset, "the result would have no rows", hint: "an index needs at least one image; nothing was changed")
        }
        guard !g.spaces.isEmpty else { throw EmbedScopeError(.invalidArgument, "composed generation: no spaces") }
        var newCount = 0
        for (i, img) in g.images.enumerated() {
            guard img.row == i else { throw EmbedScopeError(.invalidArgument, "composed generation: image \(i) has row \(img.row)") }
            guard g.classes.indices.contains(img.classId) else {
                throw EmbedScopeError(.invalidArgument, "composed generation: row \(i) has class id \(img.classId) of \(g.classes.count)")
            }
            switch g.sources[i] {
            case .stored(let input, let row):
                guard inputs.indices.contains(input), (0..<inputs[input].rowCount).contains(row) else {
                    throw EmbedScopeError(.invalidArgument, "composed generation: row \(i) refers to row \(row) of input \(input), which does not exist")
                }
            case .new(let j):
                guard j >= 0 else { throw EmbedScopeError(.invalidArgument, "composed generation: negative new row") }
                newCount = max(newCount, j + 1)
            }
        }
        // Every space is in every input a stored row comes from, with the same dimension.
        let usedInputs = Set(g.sources.compactMap { if case .stored(let i, _) = $0 { return i } else { return nil } })
        var stored: [String: [Int: (vectors: VectorFile, norms: VectorFile)]] = [:]
        // The catalogs the rows and names come from: a damaged one is not copied under new checks.
        progress.begin("checking the catalog", total: nil)
        for i in usedInputs.union(g.prototypeSets.map(\.input)).sorted() where inputs.indices.contains(i) {
            do {
                try inputs[i].catalog.requireContentIntact(refusal: "its rows are not copied into a new generation, whose new checksums would hide the damage")
            } catch let e as EmbedScopeError where e.kind == .checksumMismatch {
                throw EmbedScopeError(.checksumMismatch, e.message, path: e.path,
                                      hint: "run `embedscope verify \(inputs[i].url.path)` and rebuild that index; nothing was changed")
            }
        }
        progress.end()
        for s in g.spaces {
            try Self.validateName(s.name, what: "space")
            var files: [Int: (vectors: VectorFile, norms: VectorFile)] = [:]
            for (i, idx) in inputs.enumerated() where usedInputs.contains(i) {
                let rec = try idx.space(s.name)
                guard rec.dim == s.dim else {
                    throw EmbedScopeError(.shapeMismatch, "space '\(s.name)' has dim \(rec.dim) in \(idx.url.path) but \(s.dim) here",
                                          path: idx.url.path, hint: "only indexes with the same spaces and dimensions can be combined")
                }
                let f = (vectors: try idx.vectors(space: s.name), norms: try idx.norms(space: s.name))
                try Self.requireUndamaged(f.vectors, of: idx)
                try Self.requireUndamaged(f.norms, of: idx)
                files[i] = f
            }
            stored[s.name] = files
            let raw = g.newVectors[s.name] ?? []
            let (need, overflow) = newCount.multipliedReportingOverflow(by: s.dim)
            guard !overflow, raw.count == need else {
                throw EmbedScopeError(.shapeMismatch, "space '\(s.name)': \(raw.count) new values for \(newCount) new rows of dim \(s.dim)")
            }
        }
        try write { db in
            try Stored<ImageRecord>.deleteAll(db)
            try Stored<ClassRecord>.deleteAll(db)
            try db.execute(sql: "DELETE FROM meta")
            for (i, c) in g.classes.enumerated() { try Stored(ClassRecord(id: i, name: c)).insert(db) }
            progress.begin("catalog rows", total: n)
            for (i, img) in g.images.enumerated() {
                try Stored(img).insert(db)
                if i & 8191 == 0 { progress.update(i) }
            }
            progress.end()
            for (k, v) in g.meta where k != Catalog.contentHashKey {
                try RowCheck.putMeta(db, k, v)
            }
        }
        for s in g.spaces {
            let record = SpaceRecord(name: s.name, model: s.model, dim: s.dim, rows: n, preprocessing: s.preprocessing)
            let files = stored[s.name] ?? [:]
            let raw = g.newVectors[s.name] ?? []
            let writer = try VectorFileWriter(url: temporary.appendingPathComponent(record.file), dim: s.dim, flags: [.unitRows])
            var norms = [Float](); norms.reserveCapacity(n)
            var scratch = [Float](repeating: 0, count: s.dim)
            progress.begin("write \(s.name)", total: n)
            for (i, src) in g.sources.enumerated() {
                switch src {
                case .stored(let input, let row):
                    guard let f = files[input] else { throw EmbedScopeError(.invalidArgument, "composed generation: input \(input) not opened") }
                    let v = f.vectors.row(row)
                    let norm = f.norms.row(0)[row]
                    guard norm.isFinite, norm > 0, v.allSatisfy(\.isFinite) else {
                        throw EmbedScopeError(.nonFinite, "row \(row) of space '\(s.name)' is damaged (non-finite value or norm)",
                                              path: inputs[input].url.path, hint: "run `embedscope verify \(inputs[input].url.path)`; nothing was changed")
                    }
                    try writer.append(v)
                    norms.append(norm)
                case .new(let j):
                    for k in 0..<s.dim { scratch[k] = raw[j * s.dim + k] }
                    // As a build or an import stores a row: one already unit is kept as it is.
                    let what = "the \(s.name) vector of \(g.images[i].path)"
                    let nn = try Normalize.toUnit(&scratch, keepingUnit: true, what: what)
                    try writer.append(scratch)
                    norms.append(try SpaceWriter.storedNorm(nn, scale: g.newScales[s.name]?[j], what: what))
                }
                if i & 4095 == 0 { progress.update(i) }
            }
            progress.end()
            try writer.finish()
            let nw = try VectorFileWriter(url: temporary.appendingPathComponent(record.normsFile), dim: n, flags: [])
            try nw.append(norms)
            try nw.finish()
            try write { db in
                try Stored<SpaceRecord>.deleteOne(db, key: record.name)
                try Stored(record).insert(db)
            }
            // A space with a half copy (`storage.<space>` in meta) gets one of its new rows.
            try writeRecordedHalfCopy(space: record.name, meta: g.meta)
        }
        for (input, name) in g.prototypeSets {
            guard inputs.indices.contains(input) else { throw EmbedScopeError(.invalidArgument, "composed generation: no input \(input)") }
            let p = try inputs[input].prototypes(set: name)
            try Self.requireUndamaged(p.vectors, of: inputs[input])
            guard let space = g.spaces.first(where: { $0.name == p.set.space }), space.dim == p.vectors.dim else {
                throw EmbedScopeError(.shapeMismatch, "prototype set '\(name)' belongs to space '\(p.set.space)', which is not written with its dimension",
                                      path: inputs[input].url.path)
            }
            let record = PrototypeSetRecord(name: p.set.name, space: p.set.space, source: p.set.source, count: p.set.count)
            let writer = try VectorFileWriter(url: temporary.appendingPathComponent(record.file), dim: p.vectors.dim, flags: [.unitRows])
            for i in 0..<p.set.count { try writer.append(p.vectors.row(i)) }
            try writer.finish()
            try write { db in
                try Stored<PrototypeSetRecord>.deleteOne(db, key: record.name)
                try Stored(record).insert(db)
                for r in p.records { try Stored(r).insert(db) }
            }
        }
    }

    /// The rows of an input are copied into the new generation under a new checksum: a file whose
    /// payload no longer matches its own checksum is refused first (one read of it, CRC-32 on every
    /// core), or the damage would pass `verify` from then on. `refusal` ends the message (what is
    /// not done with the rows).
    package static func requireUndamaged(_ f: VectorFile, of index: Index,
                                         refusal: String = "its rows are not copied into a new generation, whose new checksum would hide the damage",
                                         once: Bool = false) throws {
        do {
            if once { try f.verifyOnce() } else { try f.verify() }
        } catch let e as EmbedScopeError where e.kind == .checksumMismatch {
            throw EmbedScopeError(.checksumMismatch, "\(e.message): \(refusal)", path: e.path,
                                  hint: "run `embedscope verify \(index.url.path)` and rebuild that index; nothing was changed")
        }
    }
}
