import Foundation
internal import GRDB

/// An index directory, opened for reading: the catalog (read-only) and, on first use, the
/// memory-mapped vector file of each space. Opening never reads the vectors.
public final class Index: @unchecked Sendable {
    public let url: URL
    public let catalog: Catalog
    public let spaces: [SpaceRecord]
    public let prototypeSets: [PrototypeSetRecord]
    public let rowCount: Int
    private let lock = NSLock()
    private var openFiles: [String: VectorFile] = [:]

    public static func open(_ url: URL) throws -> Index {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw EmbedScopeError(.notFound, "no such index", path: url.path,
                                  hint: "build one with `embedscope build DATASET --out \(url.path)` or `embedscope import`")
        }
        guard isDir.boolValue else {
            throw EmbedScopeError(.invalidArgument, "an index is a directory, this is a file", path: url.path)
        }
        return try Index(url: url)
    }

    private init(url: URL) throws {
        self.url = url
        catalog = try Catalog.openReadOnly(at: url.appendingPathComponent(Catalog.fileName))
        do {
            spaces = try catalog.spaces()
            prototypeSets = try catalog.prototypeSets()
            rowCount = try catalog.imageCount()
        } catch {
            throw EmbedScopeError(.catalog, "cannot read catalog", path: url.path, hint: "the index is damaged; rebuild it", underlying: error)
        }
    }

    public func space(_ name: String) throws -> SpaceRecord {
        guard let s = spaces.first(where: { $0.name == name }) else {
            let known = spaces.map(\.name).joined(separator: ", ")
            throw EmbedScopeError(.notFound, "no space '\(name)' in this index (it has: \(known.isEmpty ? "none" : known))", path: url.path)
        }
        return s
    }

    public func prototypeSet(_ name: String) throws -> PrototypeSetRecord {
        guard let s = prototypeSets.first(where: { $0.name == name }) else {
            let known = prototypeSets.map(\.name).joined(separator: ", ")
            throw EmbedScopeError(.notFound, "no prototype set '\(name)' in this index (it has: \(known.isEmpty ? "none" : known))", path: url.path)
        }
        return s
    }

    /// The unit-row vectors of a space, mapped on first use and checked against the catalog.
    public func vectors(space name: String) throws -> VectorFile {
        let s = try space(name)
        return try file(s.file, rows: s.rows, dim: s.dim)
    }

    /// The original L2 norms of a space's rows (one row of `rows` values).
    public func norms(space name: String) throws -> VectorFile {
        let s = try space(name)
        return try file(s.normsFile, rows: 1, dim: s.rows)
    }

    /// Unit prototype rows of a set, with their names, biases and original norms.
    public func prototypes(set name: String) throws -> (set: PrototypeSetRecord, records: [PrototypeRecord], vectors: VectorFile) {
        let set = try prototypeSet(name)
        let s = try space(set.space)
        let records = try catalog.prototypes(inSet: name)
        let v = try file(set.file, rows: set.count, dim: s.dim)
        guard records.count == set.count else {
            throw EmbedScopeError(.catalog, "prototype set '\(name)' lists \(records.count) prototypes, expected \(set.count)", path: url.path)
        }
        return (set, records, v)
    }

    private func file(_ name: String, rows: Int, dim: Int) throws -> VectorFile {
        lock.lock()
        defer { lock.unlock() }
        if let f = openFiles[name] { return f }
        let f = try VectorFile(url: url.appendingPathComponent(name))
        guard f.rows == rows, f.dim == dim else {
            throw EmbedScopeError(.catalog, "vector file is \(f.rows)×\(f.dim) but the catalog says \(rows)×\(dim)",
                                  path: f.url.path, hint: "the index is damaged; rebuild it")
        }
        openFiles[name] = f
        return f
    }

    /// Every vector file's payload checksum, and the catalog's agreement with them. O(bytes).
    public func verify() throws {
        for s in spaces {
            try vectors(space: s.name).verify()
            try norms(space: s.name).verify()
        }
        for p in prototypeSets { try prototypes(set: p.name).vectors.verify() }
        guard spaces.allSatisfy({ $0.rows == rowCount }) else {
            throw EmbedScopeError(.catalog, "a space's row count differs from the catalog's \(rowCount) images", path: url.path)
        }
    }

    /// Names of classes by id.
    public func classNames() throws -> [Int: String] {
        Dictionary(uniqueKeysWithValues: try catalog.classes().map { ($0.id, $0.name) })
    }
}
