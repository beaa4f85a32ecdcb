import Foundation
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeModels
import EmbedScopeAnalysis
import EmbedScopeReport

/// `embedscope import`: vectors made by any model (.npy [N, d]) + a manifest (path, class) +
/// optionally a classifier head → a space (and prototype set) in an index.
public struct ImportRequest: Sendable {
    public var vectors: URL
    public var manifest: URL
    /// Folder the manifest's relative paths are relative to (default: the manifest's folder).
    public var root: URL? = nil
    public var out: URL
    public var space: String = "embedding"
    public var model: String = "imported"
    public var head: URL? = nil
    public var bias: URL? = nil
    public var headClasses: URL? = nil
    /// Norms of the rows, .npy [N] (`export`'s norms.npy): row i is scaled by norms[i] first, so
    /// unit rows come back with their original norms (and a head's logits with them).
    public var norms: URL? = nil
    public var prototypeSet: String = "head"
    /// Compute the pixel space from the manifest's images when they all exist.
    public var pixels: Bool = true
    public var pixelSize: Int = 32
    /// Replace an existing index whose rows differ from the manifest.
    public var force: Bool = false
    /// Also write a half-precision copy of the imported space (and the pixel space) (`--storage`).
    public var storage: HalfStorage? = nil

    public init(vectors: URL, manifest: URL, out: URL) {
        self.vectors = vectors; self.manifest = manifest; self.out = out
    }
}

public struct ImportSummary: Sendable {
    public var rows: Int
    public var dim: Int
    public var classes: [String]
    public var space: String
    public var addedToExisting: Bool
    public var prototypeCount: Int?
    public var prototypeNamesFrom: String?
    public var pixelSpace: PixelSpaceSummary?
}

public enum Importer {
    /// The index at `url`, or nil when it does not open and `force` replaces it anyway.
    static func openUnlessForced(_ url: URL, force: Bool) throws -> Index? {
        do { return try Index.open(url) } catch where force { return nil }
    }

    public static func run(_ req: ImportRequest, progress: ProgressSink = SilentProgress()) throws -> ImportSummary {
        try IndexBuilder.validateName(req.space, what: "space")
        if req.pixels { try PixelSpace.checkSize(req.pixelSize) }
        // Each step says so on a terminal: a million rows took ~20 s before the first progress line.
        progress.begin("import: reading \(req.manifest.lastPathComponent)", total: nil)
        var manifest = try Manifest.read(contentsOf: req.manifest)
        if let root = req.root { manifest.baseDirectory = root }
        progress.end()
        progress.begin("import: reading \(req.vectors.lastPathComponent)", total: nil)
        // float64 rows come normalized in Double, rounded once, with their norms (`readRows`).
        let (x, rowNorms) = try NPYArray.readRows(contentsOf: req.vectors)
        progress.end()
        guard x.shape.count == 2 else {
            throw EmbedScopeError(.npy, "vectors must be 2-D [N, d], got shape \(x.shape)", path: req.vectors.path)
        }
        let (n, d) = (x.rows, x.cols)
        guard n > 0, d > 0 else {
            throw EmbedScopeError(.npy, "vectors have shape \(x.shape): nothing to import", path: req.vectors.path)
        }
        guard n == manifest.entries.count else {
            throw EmbedScopeError(.shapeMismatch, "\(req.vectors.lastPathComponent) has \(n) rows but \(req.manifest.lastPathComponent) lists \(manifest.entries.count) images",
                                  hint: "row i of the vectors must be the image on data line i of the manifest")
        }
        let given = try req.norms.map { try readNorms(for: x, from: $0) }
        // What each row's stored norm is scaled by: --norms, and for float64 rows their norm too.
        var scales: [Float]? = rowNorms == nil ? given : [Float](repeating: 1, count: n)
        // Validate every row before anything is written.
        try x.values.withUnsafeBufferPointer { v in
            for i in 0..<n {
                let row = UnsafeBufferPointer(rebasing: v[(i * d)..<((i + 1) * d)])
                if let bad = row.first(where: { !$0.isFinite }) {
                    throw EmbedScopeError(.nonFinite, "row \(i) (\(manifest.entries[i].path)) contains \(bad.isNaN ? "NaN" : "infinity")",
                                          path: req.vectors.path, hint: "fix or drop that image's vector; nothing was written")
                }
                let norm = Normalize.norm(row)
                if norm == 0 {
                    throw EmbedScopeError(.zeroVector, "row \(i) (\(manifest.entries[i].path)) is all zeros", path: req.vectors.path,
                                          hint: "drop that image; a zero vector has no direction. Nothing was written")
                }
                if let rowNorms {
                    let total = rowNorms[i] * Double(given?[i] ?? 1), f = Float(total)
                    guard f.isFinite, f > 0 else {
                        throw EmbedScopeError(.nonFinite, "row \(i) (\(manifest.entries[i].path)) has norm \(total)\(given == nil ? "" : " (with --norms)"), \(f > 0 ? "beyond float32's range" : "below float32's smallest value")",
                                              path: req.vectors.path, hint: "scale the vectors (only their directions are compared); nothing was written")
                    }
                    scales![i] = f
                }
                if let scales {
                    try EmbedScopeError.naming(req.vectors.path) {
                        _ = try SpaceWriter.storedNorm(norm, scale: scales[i], what: "row \(i) (\(manifest.entries[i].path))")
                    }
                } else if !Float(norm).isFinite {
                    // The stored norm is a float32: float32 values near 3e38 have a norm beyond it.
                    throw EmbedScopeError(.nonFinite, "row \(i) (\(manifest.entries[i].path)) has norm \(String(format: "%.3g", norm)), beyond float32's range (3.4e38)",
                                          path: req.vectors.path, hint: "scale the vectors down (only their directions are compared); nothing was written")
                }
            }
        }
        let classes = Array(Set(manifest.entries.map(\.className))).sorted()
        let classIndex = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })

        // Head (prototypes), validated before writing too.
        var head: (weights: [Float], bias: [Float], names: [String], from: String)?
        if let headURL = req.head {
            let w = try NPYArray.read(contentsOf: headURL)
            guard w.shape.count == 2, w.cols == d else {
                throw EmbedScopeError(.shapeMismatch, "head weights have shape \(w.shape); expected [C, \(d)] to match the vectors", path: headURL.path)
            }
            let c = w.rows
            var b = [Float](repeating: 0, count: c)
            if let biasURL = req.bias {
                let bb = try NPYArray.read(contentsOf: biasURL)
                guard bb.values.count == c, bb.shape.count == 1 || (bb.shape.count == 2 && bb.shape.contains(1)) else {
                    throw EmbedScopeError(.shapeMismatch, "bias has shape \(bb.shape); expected [\(c)]", path: biasURL.path)
                }
                b = bb.values
            }
            var names: [String], from: String
            if let namesURL = req.headClasses {
                names = try readLines(namesURL)
                from = namesURL.lastPathComponent
                guard names.count == c else {
                    throw EmbedScopeError(.shapeMismatch, "\(names.count) class names for \(c) head rows", path: namesURL.path)
                }
            } else if c == classes.count {
                names = classes
                from = "manifest classes, sorted (torchvision ImageFolder order)"
            } else {
                names = (0..<c).map(String.init)
                from = "row numbers (pass --head-classes for names)"
            }
            head = (w.values, b, names, from)
        }

        // Add to an existing index with the same rows, or write a new one.
        let images = manifest.entries.enumerated().map { i, e in
            ImageRecord(row: i, path: e.path, classId: classIndex[e.className]!, split: e.split)
        }
        // Under the writer lock, so the decision is made on the index as it is now and no other
        // writer changes it before this one's generation is current.
        let dataRoot = req.root ?? manifest.baseDirectory
        try IndexDirectory.refuseOverlap(req.out, protecting: [dataRoot, req.manifest, req.vectors])
        let lock = try IndexWriterLock.acquire(req.out, create: true)
        defer { lock.release() }
        var basedOn: URL?
        // An index that does not open (damaged) is replaced by `--force`, never added to.
        if IndexDirectory.classify(req.out) == .index, let existing = try Self.openUnlessForced(req.out, force: req.force) {
            let old = try existing.catalog.allImages()
            let same = old.count == images.count && zip(old, images).allSatisfy { $0.path == $1.path && $0.classId == $1.classId }
            if same {
                // Replacing a space's vectors would leave the prototype sets made from the old ones
                // (a probe, a head) pointing at vectors they were not made for.
                let sets = existing.prototypeSets.filter { $0.space == req.space }.map(\.name)
                if existing.spaces.contains(where: { $0.name == req.space }) && !sets.isEmpty {
                    // --force replaces the whole index (as it does one with other rows); without it, refused.
                    guard req.force else {
                        throw EmbedScopeError(.refused, "space '\(req.space)' of this index has prototype set\(sets.count == 1 ? "" : "s") \(sets.map { "'\($0)'" }.joined(separator: ", ")) made from its vectors; importing over it would leave \(sets.count == 1 ? "that set" : "them") stale",
                                              path: req.out.path, hint: "import under another --space, into another --out, or pass --force to replace the whole index; nothing was changed")
                    }
                } else {
                    basedOn = req.out
                }
            } else if !req.force {
                throw EmbedScopeError(.alreadyExists, "an index with different rows exists here (\(old.count) images)", path: req.out.path,
                                      hint: "pass --force to replace it, or import into another --out")
            }
        }

        let builder = try IndexBuilder(destination: req.out, overwrite: req.force, basedOn: basedOn, lock: lock)
        if basedOn == nil {
            // Relative manifest paths resolve against --root, else the manifest's folder: recorded as
            // the data-set root, like `build` does, so `query --path` and the report's image sheets find the files.
            let root = req.root ?? manifest.baseDirectory
            try builder.setImages(classes: classes, images: images, meta: [
                "created": isoNow(), "source": "import", "datasetRoot": root.standardizedFileURL.path,
            ], progress: progress)
        }
        let writer = try builder.beginSpace(name: req.space, model: req.model, dim: d,
                                            preprocessing: "imported from \(req.vectors.lastPathComponent), L2-normalized")
        progress.begin("import \(req.space)", total: n)
        try x.values.withUnsafeBufferPointer { v in
            for i in 0..<n {
                try writer.append(UnsafeBufferPointer(rebasing: v[(i * d)..<((i + 1) * d)]), scale: scales?[i], what: "row \(i)")
                if i & 4095 == 0 { progress.update(i) }
            }
        }
        progress.end()
        try writer.finish()
        if let head {
            do {
                try builder.addPrototypeSet(name: req.prototypeSet, space: req.space, dim: d, source: req.head!.lastPathComponent,
                                            names: head.names, weights: head.weights, bias: head.bias)
            } catch let e as EmbedScopeError where e.kind == .zeroVector || e.kind == .nonFinite {
                // (A bias is named "bias i of set …"; a weight row "prototype i ('name') of set …".)
                throw e.naming((e.message.hasPrefix("bias") ? req.bias ?? req.head! : req.head!).path)
            }
        }
        var pixelSummary: PixelSpaceSummary?
        // Vectors imported under the name 'pixel' are that space: none is computed over them (it
        // replaced them, or failed on their prototype set's reference).
        if req.pixels && basedOn == nil && req.space != "pixel" {
            progress.begin("import: looking for the images", total: nil)
            let urls = manifest.entries.map { manifest.resolve($0.path) }
            let found = urls.allSatisfy({ FileManager.default.fileExists(atPath: $0.path) })
            progress.end()
            if found {
                pixelSummary = try PixelSpace.write(images: urls, size: req.pixelSize, builder: builder, progress: progress)
            }
        }
        if let storage = req.storage {
            try builder.writeHalfCopy(space: req.space, storage: storage)
            if pixelSummary?.written == true { try builder.writeHalfCopy(space: "pixel", storage: storage) }
        }
        progress.begin("import: writing the index", total: nil)
        try builder.commit()
        progress.end()
        return ImportSummary(rows: n, dim: d, classes: classes, space: req.space, addedToExisting: basedOn != nil,
                             prototypeCount: head?.names.count, prototypeNamesFrom: head?.from, pixelSpace: pixelSummary)
    }

    static func readLines(_ url: URL) throws -> [String] {
        try RegularFile.requireRegularInput(url)
        do {
            // Lines end at LF (CRLF, CR): not at U+2028/U+2029 or NEL, which `isNewline` also
            // splits on — a class name holding one (kept whole by the manifest) became two names.
            var text = try String(contentsOf: url, encoding: .utf8)
            if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
            return text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        } catch {
            throw EmbedScopeError(.io, "cannot read", path: url.path, underlying: error)
        }
    }
}

