import Dispatch
import Foundation
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeModels
import EmbedScopeAnalysis
import EmbedScopeReport

/// `embedscope add INDEX DATASET_OR_IMAGES`: the images of the index's data set that are not in
/// it yet, embedded with the index's own recipe (pixel size, model, weights, preprocessing),
/// become new rows; existing rows are copied, never recomputed.
public struct AddImagesRequest: Sendable {
    public var index: URL
    /// The index's data-set root, or folders / image files inside it (only the images below them
    /// are considered).
    public var images: [URL]
    /// When given, must be the index's model (`build --model`); a mismatch is refused.
    public var model: String? = nil
    /// When given, must be the weights the index was built with (same bytes); needed when the
    /// recorded weights file has moved.
    public var weights: URL? = nil
    /// When given, must be the index's pixel size.
    public var pixelSize: Int? = nil
    public var batchSize = 32
    /// Fail on an image that cannot be decoded instead of skipping it (as `build --strict`).
    public var strict = false
    public init(index: URL, images: [URL]) { self.index = index; self.images = images }
}

/// `embedscope add INDEX --vectors X.npy --manifest rows.csv`: rows for an imported index.
public struct AddVectorsRequest: Sendable {
    public var index: URL
    public var vectors: URL
    public var manifest: URL
    /// The space the vectors belong to; its dimension must match.
    public var space = "embedding"
    /// Folder the manifest's relative paths start from for the pixel space (default: the index's data-set root).
    public var root: URL? = nil
    public init(index: URL, vectors: URL, manifest: URL) { self.index = index; self.vectors = vectors; self.manifest = manifest }
}

public enum IndexGrowth {}

extension IndexGrowth {
    /// The recipe that made each space of an index, checked to be reproducible here.
    struct Recipe {
        var pixelSize: Int?
        var model: LoadedModel?
        /// Space name → how to compute it: "pixel" or "model".
        var producers: [String: String]
    }

    static func recipe(of index: Index, meta: [String: String], request r: AddImagesRequest) throws -> Recipe {
        var producers: [String: String] = [:]
        var pixelSize: Int?
        var modelSpace: SpaceRecord?
        for s in index.spaces {
            if s.model == "pixels" {
                let side = Int((Double(s.dim) / 3).squareRoot().rounded())
                guard side >= 1, 3 * side * side == s.dim, s.preprocessing == PixelSpace.describe(size: side) else {
                    throw EmbedScopeError(.refused, "space '\(s.name)' records a pixel recipe this build does not make (\(s.preprocessing))", path: index.url.path,
                                          hint: "rebuild the index with `embedscope build`; nothing was changed")
                }
                if let p = r.pixelSize, p != side {
                    throw EmbedScopeError(.refused, "the index's pixel space is \(side)×\(side), not --pixel-size \(p)", path: index.url.path,
                                          hint: "leave --pixel-size out: add uses the index's own recipe")
                }
                pixelSize = side
                producers[s.name] = "pixel"
            } else if let m = meta["model"], s.model == m {
                modelSpace = s
                producers[s.name] = "model"
            } else {
                throw EmbedScopeError(.refused, "space '\(s.name)' (model '\(s.model)') was imported; EmbedScope cannot compute it for new images",
                                      path: index.url.path,
                                      hint: "embed the new images with that model and run `embedscope add \(index.url.path) --vectors X.npy --manifest rows.csv --space \(s.name)`")
            }
        }
        if let want = r.model, want != "none", want != meta["model"] {
            throw EmbedScopeError(.refused, "the index was built with \(meta["model"].map { "model '\($0)'" } ?? "no model (pixels only)"), not '\(want)'",
                                  path: index.url.path, hint: "add uses the index's own model; build a new index for another one. Nothing was changed")
        }
        var model: LoadedModel?
        if let space = modelSpace, let name = meta["model"] {
            let weights = try index.buildWeights(given: r.weights, meta: meta, changed: "nothing was changed")
            let loaded = try ModelRegistry.load(name, weights: weights, datasetClasses: try index.catalog.classes().map(\.name),
                                                options: CheckpointMeta.options(meta))  // the recorded prefix and preprocessing (--resize, --crop, --mean, --std)
            guard loaded.extractor.featureDim == space.dim, FolderBuilder.embeddingPreprocessing(loaded) == space.preprocessing else {
                throw EmbedScopeError(.refused, "model '\(name)' now gives dim \(loaded.extractor.featureDim) with '\(FolderBuilder.embeddingPreprocessing(loaded))'; the index has dim \(space.dim) with '\(space.preprocessing)'",
                                      path: index.url.path, hint: "rebuild the index with this build of embedscope; nothing was changed")
            }
            model = loaded
        }
        return Recipe(pixelSize: pixelSize, model: model, producers: producers)
    }

    /// `crc32:` + hex of a file's bytes (recorded as meta `weightsHash` by `build`).
    package static func fileHash(_ url: URL) throws -> String {
        try MappedInput.read(url) { "crc32:" + hex(Checksum.crc32($0)) }
    }

    struct Embedded { var pixel: [Float]; var input: [Float]; var width: Int; var height: Int; var bytes: Int; var hash: String }

    /// Decodes and embeds `files` (in batches, decode once per image) as `build` does.
    static func embed(_ files: [URL], recipe: Recipe, batchSize: Int, progress: ProgressSink?) throws
        -> [(Result<Embedded, Error>, features: [Float])] {
        var out: [(Result<Embedded, Error>, features: [Float])] = []
        let batch = recipe.model == nil ? 256 : max(1, batchSize)
        var start = 0
        while start < files.count {
            let end = min(files.count, start + batch)
            let results = parallelResults(end - start) { j -> Embedded in
                let url = files[start + j]
                let data = try ImageDecoder.read(url)   // (refused above its size limit before reading)
                let img = try ImageDecoder.decode(data: data, path: url.path)
                let v = recipe.pixelSize.map { PixelSpace.vector(of: img, size: $0) } ?? []
                if recipe.pixelSize != nil, !v.contains(where: { $0 != 0 }) {
                    throw ImageError(kind: .unsupported, path: url.path, reason: "all-black image: its pixel vector has no direction")
                }
                return Embedded(pixel: v, input: recipe.model?.preprocessing.apply(img) ?? [], width: img.width, height: img.height,
                                bytes: data.count, hash: hex(Checksum.crc32(data)))
            }
            let good = results.compactMap { try? $0.get() }
            var features: [Float] = []
            if let model = recipe.model, !good.isEmpty {
                features = try model.extractor.forward(good.flatMap(\.input), count: good.count).features
            }
            let d = recipe.model?.extractor.featureDim ?? 0
            var g = 0
            for (j, r) in results.enumerated() {
                if case .success = r {
                    let f = d > 0 ? Array(features[(g * d)..<((g + 1) * d)]) : []
                    g += 1
                    if d > 0, let reason = try FeatureRowCheck.skipReason(f, path: files[start + j].path, unchanged: "nothing was changed") {
                        out.append((.failure(ImageError(kind: .unsupported, path: files[start + j].path, reason: reason)), []))   // skipped, as `build` skips it
                        continue
                    }
                    out.append((r, f))
                } else {
                    out.append((r, []))
                }
            }
            start = end
            progress?.update(end)
        }
        return out
    }

    /// Maps the given folders / files to path prefixes relative to `root` ("" = everything).
    ///
    /// A path is inside the root when one of its leading parts resolves (symlinks followed) to the
    /// root or below it; the rest is kept as written. So a folder or file reached through a link in
    /// the data set — which `build` follows, as torchvision's ImageFolder does — is named through
    /// the link, as the catalog names it, even though the link's target is elsewhere.
    static func prefixes(_ given: [URL], root: URL) throws -> [String] {
        let r = Growth.canonical(root)
        let base = r.hasSuffix("/") ? r : r + "/"
        return try given.map { url in
            let parts = url.standardizedFileURL.path.split(separator: "/").map(String.init)
            for i in stride(from: parts.count, through: 0, by: -1) {
                let p = Growth.canonical(URL(fileURLWithPath: "/" + parts[0..<i].joined(separator: "/")))
                guard p == r || p.hasPrefix(base) else { continue }
                let inside = (p == r ? [] : [String(p.dropFirst(base.count))]) + parts[i...]
                return inside.joined(separator: "/")
            }
            throw EmbedScopeError(.refused, "\(url.path) is not inside the index's data set (\(root.path))", path: url.path,
                                  hint: "image paths in an index are relative to its data-set root: put the new images under \(root.path)/<class>/ and add from there")
        }
    }

    /// Adds the images under `request.images` that are not in the index yet (see `AddImagesRequest`).
    public static func addImages(_ request: AddImagesRequest, progress: ProgressSink = SilentProgress()) throws -> GrowthSummary {
        let t0 = DispatchTime.now()
        let lock = try IndexWriterLock.acquire(request.index, create: false)
        defer { lock.release() }
        let (builder, prepared) = try prepareAdd(request, lock: lock, progress: progress)
        var summary = prepared
        try builder.commit()
        summary.seconds = Growth.seconds(since: t0)
        return summary
    }

    private static func prepareAdd(_ r: AddImagesRequest, lock: IndexWriterLock, progress: ProgressSink) throws -> (IndexBuilder, GrowthSummary) {
        progress.begin("add: reading the index", total: nil)   // (a million rows: seconds before the first count)
        let index = try Index.open(r.index) // the generation current under the lock
        let meta = try index.catalog.meta()
        guard let rootPath = meta["datasetRoot"] else {
            throw EmbedScopeError(.refused, "the index records no data-set root", path: r.index.path, hint: "rebuild it with `embedscope build`")
        }
        let root = URL(fileURLWithPath: rootPath)
        guard FileManager.default.fileExists(atPath: root.path) else {
            throw EmbedScopeError(.notFound, "the index's data-set root is gone", path: root.path,
                                  hint: "its image paths are relative to that folder: put the data set back there (or rebuild the index from where it is now); nothing was changed")
        }
        let recipe = try recipe(of: index, meta: meta, request: r)
        let folder = try DatasetFolder.scan(root)
        let wanted = try prefixes(r.images.isEmpty ? [root] : r.images, root: root)
        let old = try index.catalog.allImages()
        let oldClasses = try index.catalog.classes().map(\.name)
        let known = Set(old.map(\.path))
        let under = folder.entries.filter { e in
            wanted.contains { $0.isEmpty || e.path == $0 || e.path.hasPrefix($0 + "/") }
        }
        if under.isEmpty {
            throw EmbedScopeError(.notFound, "no images of the data set under \(r.images.map(\.path).joined(separator: ", "))", path: root.path,
                                  hint: "give the data-set root or a folder / image inside it")
        }
        let fresh = under.filter { !known.contains($0.path) }
        var summary = GrowthSummary(index: r.index, rowsBefore: old.count, rowsAfter: old.count, paths: [])
        summary.alreadyIndexed = under.count - fresh.count
        guard !fresh.isEmpty else {
            throw EmbedScopeError(.alreadyExists, "every one of the \(under.count) images is already in the index", path: r.index.path,
                                  hint: "nothing to add; nothing was changed")
        }
        // Reproducibility: the recipe must give the vectors the index holds for one of its own
        // images (the first whose file is still there).
        if let probe = old.first(where: { FileManager.default.fileExists(atPath: root.appendingPathComponent($0.path).path) }) {
            let e = try embed([root.appendingPathComponent(probe.path)], recipe: recipe, batchSize: 1, progress: nil)
            if let first = e.first, case .success(let got) = first.0 {
                for (name, how) in recipe.producers {
                    let stored = try index.vectors(space: name).row(probe.row)
                    var v = how == "pixel" ? got.pixel : first.features
                    _ = try Normalize.toUnit(&v, what: "the \(name) vector of \(probe.path)")
                    var worst = 0.0
                    for (a, b) in zip(v, stored) { let d = Double(abs(a - b)); if !(d <= worst) { worst = d } }
                    guard v.count == stored.count, worst <= 1e-4 else {
                        throw EmbedScopeError(.refused, "the index's recipe no longer reproduces its own vectors: space '\(name)' of \(probe.path) differs by \(worst) (> 1e-4)",
                                              path: r.index.path, hint: "the image, the weights or this build of embedscope changed; rebuild the index. Nothing was changed")
                    }
                }
            }
        }
        progress.begin(recipe.model.map { "add (\($0.extractor.name))" } ?? "add", total: fresh.count)
        let results = try embed(fresh.map { root.appendingPathComponent($0.path) }, recipe: recipe, batchSize: r.batchSize, progress: progress)
        progress.end()
        // New rows, in the scan's order; skipped images as `build` skips them.
        var newEntries: [(entry: DatasetFolder.Entry, e: Embedded, features: [Float])] = []
        for (entry, res) in zip(fresh, results) {
            switch res.0 {
            case .success(let e): newEntries.append((entry, e, res.features))
            case .failure(let err):
                // Out of descriptors or memory: the process's limit, not the file's fault.
                if EmbedScopeError.isResourceShortage(err) { throw err }
                if r.strict {
                    throw EmbedScopeError(.dataset, "cannot use \(entry.path): \(err)", path: root.path,
                                          hint: "remove or fix the file, or add without --strict to skip such files; nothing was changed")
                }
                summary.skipped.append((entry.path, (err as? ImageError)?.reason ?? String(describing: err)))
            }
        }
        guard !newEntries.isEmpty else {
            throw FolderBuilder.noneDecoded("none of the \(fresh.count) new images could be decoded", skipped: summary.skipped, path: root.path)
        }
        let classes = try Growth.unionClasses([oldClasses, newEntries.map { folder.classes[$0.entry.classId] }], bytewise: true)
        let classId = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        // Every row in build's order (class, then path): the order a rebuild of the same images gives.
        struct Item { var className: String; var record: ImageRecord; var source: RowSource }
        var items: [Item] = old.map { img in
            Item(className: oldClasses.indices.contains(img.classId) ? oldClasses[img.classId] : "", record: img, source: .stored(input: 0, row: img.row))
        }
        for (j, n) in newEntries.enumerated() {
            let name = folder.classes[n.entry.classId]
            items.append(Item(className: name, record: ImageRecord(row: 0, path: n.entry.path, classId: 0, split: n.entry.split, width: n.e.width,
                                                                   height: n.e.height, bytes: n.e.bytes, contentHash: n.e.hash), source: .new(j)))
        }
        let order = items.indices.sorted { a, b in
            Growth.buildOrderLess((items[a].className, items[a].record.path), (items[b].className, items[b].record.path))
        }
        var images: [ImageRecord] = [], sources: [RowSource] = []
        for (row, i) in order.enumerated() {
            var rec = items[i].record
            rec.row = row
            rec.classId = classId[items[i].className] ?? 0
            images.append(rec); sources.append(items[i].source)
        }
        var newVectors: [String: [Float]] = [:]
        for (name, how) in recipe.producers {
            newVectors[name] = how == "pixel" ? newEntries.flatMap(\.e.pixel) : newEntries.flatMap(\.features)
        }
        let sets = Growth.prototypeSets(of: index, meta: meta)
        // Folders the data set's links reach outside its root, with those of the images added now.
        var carried = Growth.carriedMeta(meta)
        let linked = Set((meta[MetaKey.datasetLinkedRoots] ?? "").split(separator: "\n").map(String.init)).union(folder.linkedRoots)
        if !linked.isEmpty { carried[MetaKey.datasetLinkedRoots] = linked.sorted().joined(separator: "\n") }
        let plan = ComposedGeneration(classes: classes, images: images, sources: sources, meta: carried,
                                      spaces: index.spaces, newVectors: newVectors, prototypeSets: sets.kept.map { (input: 0, name: $0) })
        let builder = try Growth.write(plan, inputs: [index], to: r.index, overwrite: true, lock: lock, progress: progress)
        summary.rowsAfter = images.count
        summary.paths = newEntries.map(\.entry.path)
        summary.spaces = index.spaces.map { (name: $0.name, dim: $0.dim) }
        summary.droppedPrototypeSets = sets.dropped
        summary.classes = classes
        summary.notes = Growth.headNameNotes(index, kept: sets.kept, oldClasses: oldClasses, newClasses: classes)
        return (builder, summary)
    }

    /// Appends the rows of `X.npy` + `rows.csv` (the `import` formats) to an index: every path
    /// must be new, the space must exist with the vectors' dimension, and every other space of
    /// the index must be computable for the new images (only `pixel` is: from the image files).
    /// Rows are appended in the manifest's order, as `import` of the concatenated manifest would
    /// order them; classes are the sorted union (ids renumbered as `import` numbers them).
    public static func addVectors(_ request: AddVectorsRequest, progress: ProgressSink = SilentProgress()) throws -> GrowthSummary {
        let t0 = DispatchTime.now()
        let lock = try IndexWriterLock.acquire(request.index, create: false)
        defer { lock.release() }
        let (builder, prepared) = try prepareAddVectors(request, lock: lock, progress: progress)
        var summary = prepared
        try builder.commit()
        summary.seconds = Growth.seconds(since: t0)
        return summary
    }

    private static func prepareAddVectors(_ r: AddVectorsRequest, lock: IndexWriterLock, progress: ProgressSink) throws -> (IndexBuilder, GrowthSummary) {
        progress.begin("add: reading the index", total: nil)   // (a million rows: seconds before the first count)
        let index = try Index.open(r.index)
        let meta = try index.catalog.meta()
        let target = try index.space(r.space)
        let manifest = try Manifest.read(contentsOf: r.manifest)
        // float64 rows come normalized in Double, rounded once, with their norms (as `import` reads them).
        let (x, rowNorms) = try NPYArray.readRows(contentsOf: r.vectors)
        guard x.shape.count == 2, x.rows > 0 else {
            throw EmbedScopeError(.npy, "vectors must be 2-D [N, d] with N ≥ 1, got shape \(x.shape)", path: r.vectors.path)
        }
        guard x.cols == target.dim else {
            throw EmbedScopeError(.shapeMismatch, "\(r.vectors.lastPathComponent) has dim \(x.cols) but space '\(r.space)' of the index has dim \(target.dim)",
                                  path: r.vectors.path, hint: "the new vectors must come from the model that made '\(r.space)'; nothing was changed")
        }
        guard x.rows == manifest.entries.count else {
            throw EmbedScopeError(.shapeMismatch, "\(r.vectors.lastPathComponent) has \(x.rows) rows but \(r.manifest.lastPathComponent) lists \(manifest.entries.count) images",
                                  hint: "row i of the vectors must be the image on data line i of the manifest")
        }
        let old = try index.catalog.allImages()
        let oldClasses = try index.catalog.classes().map(\.name)
        var seen = Set(old.map { Manifest.sameFileKey($0.path) })   // ("./a.png" is "a.png")
        for e in manifest.entries where !seen.insert(Manifest.sameFileKey(e.path)).inserted {
            throw EmbedScopeError(.alreadyExists, "'\(e.path)' is already in the index", path: r.manifest.path,
                                  hint: "add only new images; remove the old row first (`embedscope remove --path`) to replace it. Nothing was changed")
        }
        // The other spaces: pixel from the images, nothing else.
        let root = r.root ?? meta["datasetRoot"].map { URL(fileURLWithPath: $0) } ?? r.manifest.deletingLastPathComponent()
        var newVectors: [String: [Float]] = [r.space: x.values]
        var newScales: [String: [Float]] = [:]
        if let rowNorms {
            newScales[r.space] = try rowNorms.enumerated().map { i, norm in
                let f = Float(norm)
                guard f.isFinite, f > 0 else {
                    throw EmbedScopeError(.nonFinite, "row \(i) (\(manifest.entries[i].path)) has norm \(norm), \(f > 0 ? "beyond float32's range" : "below float32's smallest value")",
                                          path: r.vectors.path, hint: "scale the vectors (only their directions are compared); nothing was changed")
                }
                return f
            }
        }
        for s in index.spaces where s.name != r.space {
            let side = Int((Double(s.dim) / 3).squareRoot().rounded())
            guard s.model == "pixels", 3 * side * side == s.dim, s.preprocessing == PixelSpace.describe(size: side) else {
                throw EmbedScopeError(.refused, "the index also has space '\(s.name)' (model '\(s.model)'), which cannot be computed for the new rows",
                                      path: r.index.path, hint: "an index with several imported spaces grows by `import` into a new index; nothing was changed")
            }
            var values: [Float] = []
            values.reserveCapacity(manifest.entries.count * s.dim)
            for e in manifest.entries {
                let url = e.path.hasPrefix("/") ? URL(fileURLWithPath: e.path) : root.appendingPathComponent(e.path)
                let img = try ImageDecoder.decode(contentsOf: url)
                let v = PixelSpace.vector(of: img, size: side)
                guard v.contains(where: { $0 != 0 }) else {
                    throw EmbedScopeError(.zeroVector, "\(e.path) is all black: its pixel vector has no direction", path: url.path, hint: "drop that image; nothing was changed")
                }
                values += v
            }
            newVectors[s.name] = values
        }
        let classes = try Growth.unionClasses([oldClasses, manifest.entries.map(\.className)], bytewise: false)
        let classId = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        var images: [ImageRecord] = [], sources: [RowSource] = []
        for img in old {
            var rec = img
            rec.classId = classId[oldClasses.indices.contains(img.classId) ? oldClasses[img.classId] : ""] ?? 0
            images.append(rec); sources.append(.stored(input: 0, row: img.row))
        }
        for (j, e) in manifest.entries.enumerated() {
            images.append(ImageRecord(row: images.count, path: e.path, classId: classId[e.className] ?? 0, split: e.split))
            sources.append(.new(j))
        }
        let sets = Growth.prototypeSets(of: index, meta: meta)
        var plan = ComposedGeneration(classes: classes, images: images, sources: sources, meta: Growth.carriedMeta(meta),
                                      spaces: index.spaces, newVectors: newVectors, prototypeSets: sets.kept.map { (input: 0, name: $0) })
        plan.newScales = newScales
        let builder = try Growth.write(plan, inputs: [index], to: r.index, overwrite: true, lock: lock, progress: progress)
        var summary = GrowthSummary(index: r.index, rowsBefore: old.count, rowsAfter: images.count, paths: manifest.entries.map(\.path))
        summary.spaces = index.spaces.map { (name: $0.name, dim: $0.dim) }
        summary.droppedPrototypeSets = sets.dropped
        summary.classes = classes
        summary.notes = Growth.headNameNotes(index, kept: sets.kept, oldClasses: oldClasses, newClasses: classes)
        return (builder, summary)
    }
}
