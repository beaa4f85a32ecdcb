import Foundation
internal import GRDB

/// An index directory, opened for reading: the catalog (read-only) and, on first use, the
/// memory-mapped vector file of each space. Opening never reads the vectors.
public final class Index: Sendable {
    /// The index folder, as given.
    public let url: URL
    /// The folder of the generation this value reads (`url/gen-N`, or `url` itself for a
    /// format 1.0 flat index): resolved once on open and held until this value is freed.
    public var directory: URL { generation.directory }
    /// The generation held open (docs/index-format.md, "Generations").
    package let generation: IndexDirectory.Generation
    public let catalog: Catalog
    public let spaces: [SpaceRecord]
    public let prototypeSets: [PrototypeSetRecord]
    public let rowCount: Int
    /// Vector files mapped so far, by file name.
    private let openFiles = Locked<[String: VectorFile]>([:])
    /// Half-precision copies mapped so far, by file name (`Index+HalfStorage.swift`).
    let openHalfFiles = Locked<[String: HalfVectorFile]>([:])
    /// Space name → its half copy's storage, from `meta` (`storage.<space>`).
    public let halfStorage: [String: HalfStorage]

    public static func open(_ url: URL) throws -> Index {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw EmbedScopeError(.notFound, "no such index", path: url.path,
                                  hint: "build one with `embedscope build DATASET --out \(url.path)` or `embedscope import`")
        }
        guard isDir.boolValue else {
            throw EmbedScopeError(.invalidArgument, "an index is a directory, this is a file", path: url.path)
        }
        return try Index(url: url, generation: IndexDirectory.openGeneration(url))
    }

    private init(url: URL, generation: IndexDirectory.Generation) throws {
        self.url = url
        self.generation = generation
        catalog = try Catalog.openReadOnly(at: generation.directory.appendingPathComponent(Catalog.fileName))
        do {
            spaces = try catalog.spaces()
            prototypeSets = try catalog.prototypeSets()
            rowCount = try catalog.imageCount()
        } catch let e as EmbedScopeError {
            throw e  // a row check that failed says which row
        } catch {
            throw EmbedScopeError(.catalog, "cannot read catalog", path: url.path, hint: "the index is damaged; rebuild it", underlying: error)
        }
        halfStorage = try Self.readHalfStorage(catalog, spaces: spaces, path: url.path)
        try checkConsistency()
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

    /// Throws if a vector file this value has mapped was cut short by another program (or could
    /// not be read) since: answers computed from it are wrong and are to be discarded. Search,
    /// batch search, rank and logits check before they answer; so does a command before it
    /// prints (`MappingDamage`).
    public func requireIntact() throws {
        for f in openFiles.withLock({ Array($0.values) }) { try f.requireIntact() }
        for f in openHalfFiles.withLock({ Array($0.values) }) { try f.requireIntact() }
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
        try openFiles.withLock { (open: inout [String: VectorFile]) throws(EmbedScopeError) -> VectorFile in
            if let f = open[name] { return f }
            let f: VectorFile
            do { f = try VectorFile(url: directory.appendingPathComponent(name)) } catch let e as EmbedScopeError { throw e } catch {
                throw EmbedScopeError(.io, "cannot open the vector file", path: directory.appendingPathComponent(name).path, underlying: error)
            }
            guard f.rows == rows, f.dim == dim else {
                throw EmbedScopeError(.catalog, "vector file is \(f.rows)×\(f.dim) but the catalog says \(rows)×\(dim)",
                                      path: f.url.path, hint: "the index is damaged; rebuild it")
            }
            open[name] = f
            return f
        }
    }

    /// Everything `embedscope verify` checks (`Index+Verify.swift`); throws the first failure.
    public func verify() throws {
        let report = Index.verifyReport(url)
        if let f = report.failures.first {
            throw EmbedScopeError(EmbedScopeError.Kind(rawValue: f.kind ?? "") ?? .catalog, f.message ?? "verification failed", hint: "run `embedscope verify \(url.path)` for every failure")
        }
    }

    /// Names of classes by id.
    public func classNames() throws -> [Int: String] {
        Dictionary(uniqueKeysWithValues: try catalog.classes().map { ($0.id, $0.name) })
    }
}
