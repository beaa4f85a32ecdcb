import CKernels
import Foundation
internal import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// Writes one new generation of an index crash-safely (docs/index-format.md, "Generations"):
/// everything goes into a temporary folder inside the index (`INDEX/.tmp-gen-N-PID-R`), every
/// file is fsynced, and only `commit()` renames it to `gen-N` and switches `INDEX/current` to
/// it with one `rename(2)`. Readers see the old generation or the new one, never a mix; a
/// crash at any point leaves the old one current. The builder holds the index's writer lock
/// (`IndexWriterLock`) from `init` to `commit`/`abort`.
///
/// Adding a space or a prototype set to an existing index (`basedOn:`) reads the generation
/// that is current once the lock is held, hard-links its immutable vector files and copies
/// its catalog and metrics.json into the new generation.
public final class IndexBuilder {
    /// The index folder.
    public let destination: URL
    /// Where the new generation is being written.
    public let temporary: URL
    public private(set) var catalog: Catalog?
    private let overwrite: Bool
    private var committed = false
    private var lock: IndexWriterLock?
    private let ownsLock: Bool
    private let generation: String
    /// The temporary folder's entry in `InterruptCleanup` (removed on Ctrl-C / SIGTERM until commit).
    private var interruptToken: Int?
    /// Where the check for index files cut short under this writer starts (`MappingDamage`):
    /// rows copied from a file another program truncated meanwhile read zeros, and such a
    /// generation is never committed.
    private let damageMark = MappingDamage.mark()

    /// - Parameters:
    ///   - overwrite: replace an index that is there (`--force`); without it an existing index
    ///     is refused. A path that is not an EmbedScope index folder is refused either way.
    ///   - basedOn: an index (normally `destination`) whose current generation the new one
    ///     starts from.
    ///   - lock: the writer lock, when the caller already holds it (it then stays the caller's).
    ///   - protecting: folders the destination must not be, nor hold (the data set).
    public init(destination: URL, overwrite: Bool, basedOn existing: URL? = nil, lock: IndexWriterLock? = nil,
                protecting: [URL] = []) throws {
        let fm = FileManager.default
        self.destination = destination.standardizedFileURL
        self.overwrite = overwrite || existing != nil
        try IndexDirectory.refuseOverlap(self.destination, protecting: protecting)
        let held = try lock ?? IndexWriterLock.acquire(self.destination, create: true)
        self.lock = held
        ownsLock = lock == nil
        let listing: IndexDirectory.Listing
        do {
            // `--force` (no index to start from) also replaces an index whose `current` is damaged.
            listing = try IndexDirectory.list(self.destination, damagedCurrent: overwrite && existing == nil)
        } catch {
            if ownsLock { held.release() }
            throw error
        }
        if listing.current != nil || listing.flat, !self.overwrite {
            if ownsLock { held.release() }
            throw EmbedScopeError(.alreadyExists, "an index already exists here", path: self.destination.path,
                                  hint: "pass --force to replace it, or choose another --out")
        }
        let n = (listing.generations.last ?? 0) + 1
        generation = IndexDirectory.generationName(n)
        // The largest name readers accept is gen-999999999999999999 (18 digits): one more would be
        // committed, `current` switched to a name every reader refuses, and the old generation
        // removed — the index unreadable after an exit 0. Only a folder EmbedScope did not number
        // gets there; it is named, and nothing is written.
        guard IndexDirectory.generationNumber(generation) != nil else {
            if ownsLock { held.release() }
            let stray = IndexDirectory.generationName(n - 1)
            throw EmbedScopeError(.refused, "the index holds a folder \(stray), the largest generation number there is, so no next generation can be numbered",
                                  path: self.destination.appendingPathComponent(stray).path,
                                  hint: "EmbedScope numbers its generations from 1 and did not write it; move it out of the index folder (or rename it). Nothing was changed")
        }
        temporary = self.destination.appendingPathComponent("\(IndexDirectory.temporaryPrefix)\(n)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        interruptToken = InterruptCleanup.track(temporary)  // before it exists: no window for a signal
        do {
            try fm.createDirectory(at: temporary, withIntermediateDirectories: false)
            if let existing {
                // Under the lock: the generation current now, not one opened earlier.
                let source = try IndexDirectory.openGeneration(existing.standardizedFileURL)
                for name in try fm.contentsOfDirectory(atPath: source.directory.path) where !name.hasPrefix(".") {
                    let src = source.directory.appendingPathComponent(name), dst = temporary.appendingPathComponent(name)
                    var st = stat()
                    guard lstat(src.path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
                    if name.hasSuffix(".vec") {
                        // Vector files are immutable once written: share them.
                        if link(src.path, dst.path) != 0 { try fm.copyItem(at: src, to: dst) }
                    } else if name == Catalog.fileName || name == MetricsFile.fileName {
                        try fm.copyItem(at: src, to: dst)
                    }
                }
            }
            catalog = try Catalog.create(at: temporary.appendingPathComponent(Catalog.fileName))
        } catch {
            try? fm.removeItem(at: temporary)
            if let t = interruptToken { InterruptCleanup.untrack(t) }
            if ownsLock { held.release() }
            if let e = error as? EmbedScopeError { throw e }
            throw EmbedScopeError(.io, "cannot prepare the index", path: temporary.path, underlying: error)
        }
    }

    deinit { if !committed { abort() } }

    /// Removes the temporary folder and releases the writer lock (if this builder took it).
    /// Safe to call more than once.
    public func abort() {
        catalog = nil
        if let t = interruptToken { InterruptCleanup.untrack(t); interruptToken = nil }
        try? FileManager.default.removeItem(at: temporary)
        if ownsLock { lock?.release() }
        lock = nil
    }

    func write(_ body: (Database) throws -> Void) throws {
        guard let catalog else { throw EmbedScopeError(.invalidArgument, "builder already committed") }
        do {
            try catalog.dbQueue.write(body)
        } catch let e as EmbedScopeError {
            throw e
        } catch {
            throw EmbedScopeError(.catalog, "cannot write catalog", path: temporary.path, underlying: error)
        }
    }

    /// Records the classes and images (the rows). Replaces any previous rows.
    public func setImages(classes: [String], images: [ImageRecord], meta: [String: String] = [:],
                          progress: ProgressSink = SilentProgress()) throws {
        progress.begin("catalog rows", total: images.count)
        try write { db in
            try Stored<ImageRecord>.deleteAll(db)
            try Stored<ClassRecord>.deleteAll(db)
            for (i, c) in classes.enumerated() { try Stored(ClassRecord(id: i, name: c)).insert(db) }
            for (i, img) in images.enumerated() {
                try Stored(img).insert(db)
                if i & 8191 == 0 { progress.update(i) }
            }
            for (k, v) in meta { try RowCheck.putMeta(db, k, v) }
        }
        progress.end()
    }

    public func setMeta(_ meta: [String: String]) throws {
        try write { db in
            for (k, v) in meta { try RowCheck.putMeta(db, k, v) }
        }
    }

    /// Starts a space; append raw rows to the returned writer, then `finish()` it.
    public func beginSpace(name: String, model: String, dim: Int, preprocessing: String) throws -> SpaceWriter {
        try Self.validateName(name, what: "space")
        let record = SpaceRecord(name: name, model: model, dim: dim, rows: 0, preprocessing: preprocessing)
        return try SpaceWriter(builder: self, record: record)
    }

    /// Stores a classifier head `weights` [C × dim] (row-major) + `bias` [C] as unit prototype rows
    /// with their norms and biases, so that logit = ‖x‖·‖w‖·(x̂·ŵ) + b reproduces the head exactly.
    public func addPrototypeSet(name: String, space: String, dim: Int, source: String, names: [String],
                                weights: [Float], bias: [Float]) throws {
        try Self.validateName(name, what: "prototype set")
        let c = names.count
        guard c > 0, weights.count == c * dim, bias.count == c else {
            throw EmbedScopeError(.shapeMismatch, "prototype set '\(name)': \(names.count) names, \(weights.count / max(dim, 1)) weight rows of dim \(dim), \(bias.count) biases — they must agree")
        }
        // A name picks a prototype (`rank --prototype`, `evaluate` by class name): one each.
        var rowOfName: [String: Int] = [:]
        for (i, n) in names.enumerated() {
            if let first = rowOfName.updateValue(i, forKey: n) {
                throw EmbedScopeError(.invalidArgument, "prototype set '\(name)': rows \(first) and \(i) are both named '\(n)'",
                                      hint: "each prototype needs its own name (a class names file with one unique name per head row); nothing was written")
            }
        }
        let record = PrototypeSetRecord(name: name, space: space, source: source, count: c)
        let writer = try VectorFileWriter(url: temporary.appendingPathComponent(record.file), dim: dim, flags: [.unitRows])
        var records: [PrototypeRecord] = []
        var row = [Float](repeating: 0, count: dim)
        for i in 0..<c {
            for j in 0..<dim { row[j] = weights[i * dim + j] }
            let n = try Normalize.toUnit(&row, what: "prototype \(i) ('\(names[i])') of set '\(name)'")
            guard bias[i].isFinite else { throw EmbedScopeError(.nonFinite, "bias \(i) of set '\(name)' is not finite") }
            try writer.append(row)
            records.append(PrototypeRecord(setName: name, idx: i, name: names[i], bias: Double(bias[i]), norm: n))
        }
        try writer.finish()
        try write { db in
            try Stored<PrototypeSetRecord>.deleteOne(db, key: name)
            try Stored(record).insert(db)
            for r in records { try Stored(r).insert(db) }
        }
    }

    /// fsyncs every file and the new generation's folder, renames it to `gen-N`, switches
    /// `current` to it (atomic, durable), then removes what no reader holds any more (older
    /// generations, leftovers of interrupted writers, a format 1.0 flat layout) and releases
    /// the writer lock.
    public func commit() throws {
        guard !committed else { return }
        try MappingDamage.requireNone(since: damageMark)
        try recordFileChecksums()
        catalog = nil // closes the database
        // An interrupt waits for this to finish, or stops it from starting (then `abort` cleans up).
        try InterruptCleanup.commit {
            let installed = destination.appendingPathComponent(generation)
            try DirectorySwap.install(temporary, at: installed)
            do { try IndexDirectory.switchCurrent(destination, to: generation) } catch {
                // Not current: back under the temporary name, which `abort` removes (a complete
                // gen-N was left beside the old generation after "cannot switch 'current'").
                if rename(installed.path, temporary.path) != 0 { try? FileManager.default.removeItem(at: installed) }
                throw error
            }
            committed = true
            CommittedChanges.record("\(destination.path) now reads its new generation \(generation)")
            if let t = interruptToken { InterruptCleanup.untrack(t); interruptToken = nil }
            IndexDirectory.collectGarbage(destination, keep: generation)
        }
        if ownsLock { lock?.release() }
        lock = nil
    }

    /// Records in `meta` the payload CRC of every vector file the catalog names (spaces, norms,
    /// prototype sets; `MetaKey.fileChecksum`), so that `Index.open` refuses a file that is not
    /// this generation's — one copied from another index of the same shape answered with its
    /// rows, exit 0, and `verify` passed (each file's own checksum matched itself).
    func recordFileChecksums() throws {
        guard let catalog else { return }
        let spaces = try catalog.spaces(), sets = try catalog.prototypeSets()
        var entries: [String: String] = [:]
        for name in spaces.flatMap({ [$0.file, $0.normsFile] }) + sets.map(\.file) {
            let h = try VectorFileHeader.read(temporary.appendingPathComponent(name))
            entries[MetaKey.fileChecksum(name)] = MetaKey.checksumText(h.payloadCRC)
        }
        try write { db in
            try db.execute(sql: "DELETE FROM meta WHERE substr(key, 1, ?) = ?", arguments: [MetaKey.fileChecksumPrefix.count, MetaKey.fileChecksumPrefix])
            for (k, v) in entries { try RowCheck.putMeta(db, k, v) }
        }
    }

    package static func validateName(_ name: String, what: String) throws {
        let ok = !name.isEmpty && name.count <= 64 && name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." } && !name.hasPrefix(".")
        guard ok else {
            throw EmbedScopeError(.invalidArgument, "\(what) name '\(name)' must be 1–64 letters, digits, '-', '_' or '.', not starting with '.'")
        }
    }
}

/// Streams the rows of one space into its vector file: each raw row is checked (finite,
/// non-zero), normalized, written, and its norm kept for the side file.
public final class SpaceWriter {
    private let builder: IndexBuilder
    private var record: SpaceRecord
    private let writer: VectorFileWriter
    private var norms: [Float] = []
    private var scratch: [Float]

    init(builder: IndexBuilder, record: SpaceRecord) throws {
        self.builder = builder
        self.record = record
        writer = try VectorFileWriter(url: builder.temporary.appendingPathComponent(record.file), dim: record.dim, flags: [.unitRows])
        scratch = [Float](repeating: 0, count: record.dim)
    }

    public var dim: Int { record.dim }
    public var rows: Int { writer.rows }

    /// Appends one raw row (not yet normalized). `what` names it for error messages.
    ///
    /// A row that is already unit (`Normalize.unitTolerance`, as `export` writes them) is stored
    /// as it is (an export imported back is the same rows). `scale` (`import --norms`): the
    /// row's original norm is `scale` times its norm here (`scale` exactly for a unit row).
    public func append(_ raw: UnsafeBufferPointer<Float>, scale: Float? = nil, what: @autoclosure () -> String) throws {
        guard raw.count == record.dim else {
            throw EmbedScopeError(.shapeMismatch, "\(what()) has \(raw.count) values, space '\(record.name)' has dim \(record.dim)")
        }
        _ = scratch.withUnsafeMutableBufferPointer { $0.initialize(from: raw) }
        let n = try Normalize.toUnit(&scratch, keepingUnit: true, what: what())
        let stored = try Self.storedNorm(n, scale: scale, what: what())
        try writer.append(scratch)
        norms.append(stored)
    }

    /// The norm stored for a row of norm `n` given `scale` (see `append(_:scale:what:)`).
    public static func storedNorm(_ n: Double, scale: Float?, what: @autoclosure () -> String) throws -> Float {
        guard let scale else { return Float(n) }
        if abs(n - 1) <= Normalize.unitTolerance { return scale }
        let s = Float(n * Double(scale))
        guard s.isFinite, s > 0 else {
            throw EmbedScopeError(.nonFinite, "\(what()) has norm \(n) × \(scale) from --norms, \(s > 0 ? "beyond float32's range" : "below float32's smallest value")",
                                  hint: "scale the vectors or the norms")
        }
        return s
    }

    public func append(_ raw: [Float], what: @autoclosure () -> String) throws {
        try raw.withUnsafeBufferPointer { try append($0, what: what()) }
    }

    /// Writes the vector file's header, the norms side file and the catalog row.
    public func finish() throws {
        guard writer.rows > 0 else {
            throw EmbedScopeError(.dataset, "space '\(record.name)' has no rows", hint: "there was nothing to index")
        }
        try writer.finish()
        let nw = try VectorFileWriter(url: builder.temporary.appendingPathComponent(record.normsFile), dim: norms.count, flags: [])
        try nw.append(norms)
        try nw.finish()
        record.rows = writer.rows
        let r = record
        try builder.write { db in
            try Stored<SpaceRecord>.deleteOne(db, key: r.name)
            try Stored(r).insert(db)
        }
        // New rows: a half copy of the old ones (an index this builder started from) is dropped.
        try builder.dropHalfCopy(space: r.name)
    }
}

/// The changes this process has committed (a new index generation made current, a data set,
/// report or export folder moved into place): a command that fails after its change was made —
/// its summary could not be printed to a full or closed stdout, its reader left (`| head`, SIGPIPE),
/// a signal came — says so, so that a script does not run it again believing nothing happened.
package enum CommittedChanges {
    private static let changes = Locked<[String]>([])
    package static func record(_ what: String) {
        let all = changes.withLock { $0.append(what); return $0 }
        // SIGPIPE ends the process in the write that finds the reader gone, before any of our
        // error paths: its handler says it (and ends the process by it, as before).
        ck_sigpipe_note(all.map { "note: the output's reader left (SIGPIPE) after the change was made, which stays: \($0) "
                                      + "(do not run the command again to make it)\n" }.joined().terminalEscaped)
    }
    package static var all: [String] { changes.withLock { $0 } }
}
