import Foundation
internal import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// Writes an index crash-safely: everything goes into a temporary sibling directory
/// (`.NAME.tmp-PID-N`), every file is fsynced, and only `commit()` renames it into place.
/// A reader never sees a half-written index; an error or a crash leaves the old one intact.
///
/// Adding a space to an existing index (`basedOn:`) hard-links its immutable vector files and
/// copies its catalog into the temporary directory, then swaps the directories.
public final class IndexBuilder {
    public let destination: URL
    public let temporary: URL
    public private(set) var catalog: Catalog?
    private let overwrite: Bool
    private var committed = false

    public init(destination: URL, overwrite: Bool, basedOn existing: URL? = nil) throws {
        let fm = FileManager.default
        self.destination = destination.standardizedFileURL
        self.overwrite = overwrite || existing != nil
        if fm.fileExists(atPath: self.destination.path), !self.overwrite {
            throw EmbedScopeError(.alreadyExists, "an index already exists here", path: self.destination.path,
                                  hint: "pass --force to replace it, or choose another --out")
        }
        let parent = self.destination.deletingLastPathComponent()
        do {
            try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        } catch {
            throw EmbedScopeError(.io, "cannot create directory", path: parent.path, underlying: error)
        }
        temporary = parent.appendingPathComponent(".\(self.destination.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try fm.createDirectory(at: temporary, withIntermediateDirectories: false)
            if let existing {
                for name in try fm.contentsOfDirectory(atPath: existing.path) where !name.hasPrefix(".") {
                    let src = existing.appendingPathComponent(name), dst = temporary.appendingPathComponent(name)
                    if name.hasSuffix(".vec") {
                        // Vector files are immutable once written: share them.
                        if link(src.path, dst.path) != 0 { try fm.copyItem(at: src, to: dst) }
                    } else if !name.hasPrefix(Catalog.fileName + "-") {
                        try fm.copyItem(at: src, to: dst)
                    }
                }
            }
            catalog = try Catalog.create(at: temporary.appendingPathComponent(Catalog.fileName))
        } catch {
            try? fm.removeItem(at: temporary)
            if let e = error as? EmbedScopeError { throw e }
            throw EmbedScopeError(.io, "cannot prepare the index", path: temporary.path, underlying: error)
        }
    }

    deinit { if !committed { abort() } }

    /// Removes the temporary directory. Safe to call more than once.
    public func abort() {
        catalog = nil
        try? FileManager.default.removeItem(at: temporary)
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
    public func setImages(classes: [String], images: [ImageRecord], meta: [String: String] = [:]) throws {
        try write { db in
            try Stored<ImageRecord>.deleteAll(db)
            try Stored<ClassRecord>.deleteAll(db)
            for (i, c) in classes.enumerated() { try Stored(ClassRecord(id: i, name: c)).insert(db) }
            for img in images { try Stored(img).insert(db) }
            for (k, v) in meta { try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", arguments: [k, v]) }
        }
    }

    public func setMeta(_ meta: [String: String]) throws {
        try write { db in
            for (k, v) in meta { try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", arguments: [k, v]) }
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

    /// fsyncs the directory, renames it into place (replacing an older index if allowed), and
    /// fsyncs the parent so the rename itself is durable.
    public func commit() throws {
        catalog = nil // closes the database
        let fm = FileManager.default
        try fsyncPath(temporary.path)
        let parent = destination.deletingLastPathComponent()
        if fm.fileExists(atPath: destination.path) {
            guard overwrite else {
                throw EmbedScopeError(.alreadyExists, "an index already exists here", path: destination.path, hint: "pass --force to replace it")
            }
            let trash = parent.appendingPathComponent(".\(destination.lastPathComponent).old-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
            guard rename(destination.path, trash.path) == 0 else {
                throw EmbedScopeError(.io, "cannot move the old index aside: \(String(cString: strerror(errno)))", path: destination.path)
            }
            guard rename(temporary.path, destination.path) == 0 else {
                let err = errno
                _ = rename(trash.path, destination.path)
                throw EmbedScopeError(.io, "cannot move the new index into place: \(String(cString: strerror(err)))", path: destination.path)
            }
            try? fm.removeItem(at: trash)
        } else {
            guard rename(temporary.path, destination.path) == 0 else {
                throw EmbedScopeError(.io, "cannot move the new index into place: \(String(cString: strerror(errno)))", path: destination.path)
            }
        }
        committed = true
        try fsyncPath(parent.path)
    }

    private func fsyncPath(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw EmbedScopeError(.io, "cannot open for fsync: \(String(cString: strerror(errno)))", path: path) }
        defer { close(fd) }
        _ = fsync(fd)
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
    public func append(_ raw: UnsafeBufferPointer<Float>, what: @autoclosure () -> String) throws {
        guard raw.count == record.dim else {
            throw EmbedScopeError(.shapeMismatch, "\(what()) has \(raw.count) values, space '\(record.name)' has dim \(record.dim)")
        }
        _ = scratch.withUnsafeMutableBufferPointer { $0.initialize(from: raw) }
        let n = try Normalize.toUnit(&scratch, what: what())
        try writer.append(scratch)
        norms.append(Float(n))
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
    }
}
