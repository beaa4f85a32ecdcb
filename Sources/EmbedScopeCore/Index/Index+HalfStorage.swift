import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Half-precision copies of spaces (`--storage f16|bf16`; docs/index-format.md, "Half-precision
/// copies"): which spaces have one, opening them, and their O(1) consistency check.
extension Index {
    static func readHalfStorage(_ catalog: Catalog, spaces: [SpaceRecord], path: String) throws -> [String: HalfStorage] {
        let meta: [String: String]
        do { meta = try catalog.meta() } catch let e as EmbedScopeError { throw e } catch {
            throw EmbedScopeError(.catalog, "cannot read catalog", path: path, hint: "the index is damaged; rebuild it", underlying: error)
        }
        var out: [String: HalfStorage] = [:]
        for s in spaces {
            if let st = try HalfStorage.recorded(in: meta, space: s.name, path: path) { out[s.name] = st }
        }
        return out
    }

    /// The half copy of a space, mapped on first use, or nil when the space has none.
    package func halfVectors(space name: String) throws -> HalfVectorFile? {
        let s = try space(name)
        guard let storage = halfStorage[name] else { return nil }
        let fileName = storage.fileName(space: name)
        let source = try vectors(space: name)
        return try openHalfFiles.withLock { (open: inout [String: HalfVectorFile]) throws(EmbedScopeError) -> HalfVectorFile in
            if let f = open[fileName] { return f }
            let url = directory.appendingPathComponent(fileName)
            let f: HalfVectorFile
            do { f = try HalfVectorFile(url: url) } catch let e as EmbedScopeError { throw e } catch {
                throw EmbedScopeError(.io, "cannot open the half copy", path: url.path, underlying: error)
            }
            guard f.rows == s.rows, f.dim == s.dim, f.storage == storage, f.ext.sourcePayloadCRC == source.header.payloadCRC else {
                throw Self.halfMismatch(url: url, half: f.header, ext: f.ext, storage: storage, source: source.header, index: self.url.path)
            }
            open[fileName] = f
            return f
        }
    }

    /// `Index.open`'s check of a space's half copy: the file exists, is of the recorded type, has
    /// the space's shape and names the payload CRC of the space's `.vec` as its source (O(1)).
    func checkHalfCopy(space s: SpaceRecord, vectors v: VectorFileHeader, catalogPath: String) throws {
        guard let storage = halfStorage[s.name] else { return }
        let name = storage.fileName(space: s.name)
        try Self.checkName(name, catalogPath: catalogPath)
        let url = directory.appendingPathComponent(name)
        let (h, ext) = try HalfVectorFile.readHeader(url)
        guard h.rows == v.rows, h.dim == v.dim, h.elementType == storage.elementType, ext.sourcePayloadCRC == v.payloadCRC else {
            throw Self.halfMismatch(url: url, half: h, ext: ext, storage: storage, source: v, index: self.url.path)
        }
    }

    static func halfMismatch(url: URL, half h: VectorFileHeader, ext: HalfExtension, storage: HalfStorage,
                             source v: VectorFileHeader, index: String) -> EmbedScopeError {
        EmbedScopeError(.catalog,
                        "half copy is \(h.rows)×\(h.dim) \(h.elementType) made from payload \(hex(ext.sourcePayloadCRC)), but the space is \(v.rows)×\(v.dim) with payload \(hex(v.payloadCRC)) and meta says \(storage.rawValue)",
                        path: url.path, hint: "the index is damaged; run `embedscope verify \(index)` and rebuild it")
    }
}

extension HalfVectorFile {
    /// Reads and validates only the header and its extension (O(1), no mapping).
    package static func readHeader(_ url: URL) throws -> (VectorFileHeader, HalfExtension) {
        let (fd, size) = try RegularFile.open(url.path)
        defer { close(fd) }
        let need = 2 * VectorFileHeader.size
        var raw = [UInt8](repeating: 0, count: need)
        let n = raw.withUnsafeMutableBytes { pread(fd, $0.baseAddress, need, 0) }
        guard n == need else {
            if n >= 0 {
                throw EmbedScopeError(.truncated, "file is \(size) bytes, shorter than the \(need)-byte header of a half copy",
                                      path: url.path, hint: "the index is damaged; rebuild it")
            }
            throw EmbedScopeError(.io, "cannot read the header: \(String(cString: strerror(errno)))", path: url.path)
        }
        return try raw.withUnsafeBytes { b in
            let h = try VectorFileHeader.decode(UnsafeRawBufferPointer(rebasing: b[0..<64]), fileSize: size, path: url.path,
                                                accepting: [.float16, .bfloat16])
            let e = try HalfExtension.decode(UnsafeRawBufferPointer(rebasing: b[64..<128]), path: url.path)
            return (h, e)
        }
    }
}

extension Index {
    /// The scan behind `search`: the half copy (re-scored exactly) when the space has one, the
    /// options allow it and the kernel is the SIMD one; the float32 rows otherwise. The answer is
    /// the same either way.
    /// The rows it returns are checked to be unit length (`UnitRows`).
    func scan(space: String, vectors v: VectorFile, query q: [Float], options o: SearchOptions, filter: RowFilter) throws -> [Hit] {
        let hits: [Hit]
        if o.halfCopy, o.kernel == .simd, let h = try halfVectors(space: space) {
            hits = try rethrowingNonFinite(space: space, file: v) {
                try rethrowingNonFiniteHalf(space: space, file: h) {
                    try Scorer.searchHalf(RowMatrix(v), half: HalfRows(h), query: q, k: o.k, farthest: o.farthest, filter: filter)
                }
            }
        } else {
            hits = try rethrowingNonFinite(space: space, file: v) {
                try Scorer.search(RowMatrix(v), query: q, k: o.k, farthest: o.farthest, filter: filter, kernel: o.kernel)
            }
        }
        try requireUnit(rows: hits.lazy.map(\.row), space: space, file: v)
        return hits
    }

    /// The scan behind `searchBatch` for one group of queries (as `scan`): the half copy when the
    /// float32 batch would run on the own kernels (SIMD for one query, own GEMM otherwise).
    package func scanBatch(space: String, vectors v: VectorFile, queries: [Float], count: Int, options o: SearchOptions,
                   filters: [RowFilter]) throws -> [[Hit]] {
        let hits = try scanBatchUnchecked(space: space, vectors: v, queries: queries, count: count, options: o, filters: filters)
        try requireUnit(rows: Set(hits.lazy.flatMap { $0.lazy.map(\.row) }).sorted(), space: space, file: v)
        return hits
    }

    private func scanBatchUnchecked(space: String, vectors v: VectorFile, queries: [Float], count: Int, options o: SearchOptions,
                                    filters: [RowFilter]) throws -> [[Hit]] {
        let matrix = RowMatrix(v)
        if o.halfCopy, let h = try halfVectors(space: space) {
            if count == 1 && o.kernel == .simd {
                return [try scan(space: space, vectors: v, query: queries, options: o, filter: filters[0])]
            }
            if SGEMM.path != .openblas {
                return try rethrowingNonFinite(space: space, file: v) {
                    try rethrowingNonFiniteHalf(space: space, file: h) {
                        try Scorer.searchBatchHalf(matrix, half: HalfRows(h), queries: queries, count: count, k: o.k,
                                                   farthest: o.farthest, filters: filters)
                    }
                }
            }
        }
        return try rethrowingNonFinite(space: space, file: v) {
            try Scorer.searchBatch(matrix, queries: queries, count: count, k: o.k, farthest: o.farthest,
                                   filters: filters, kernel: o.kernel)
        }
    }

    func rethrowingNonFiniteHalf<T>(space: String, file: HalfVectorFile, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let e as NonFiniteHalfScores {
            try requireIntact()
            throw UnitRows.scanDamage(e.rows, count: e.count, what: "half copy of space '\(space)':", path: file.url.path, index: url.path) { r in
                guard r < file.rows else { return .nan }
                var f = [Float](repeating: 0, count: file.dim)
                f.withUnsafeMutableBufferPointer { HalfConvert.toFloat(file.row(r), $0, storage: file.storage) }
                return f.withUnsafeBufferPointer { Normalize.norm($0) }
            }
        }
    }
}

extension Index {
    /// `verify`'s check of a half copy: every value within one rounding of its float32 value
    /// (|x̃ − x| ≤ u·|x| + η), zero padding, and the source payload CRC. Reads both files.
    func checkHalfValues(space name: String) throws {
        guard let h = try halfVectors(space: name) else { return }
        let v = try vectors(space: name)
        if let (r, j) = h.mismatch(against: v) {
            let what = r < 0 ? "is not a copy of the space's rows (shape or source checksum differs)"
                : j >= h.dim ? "has non-zero padding in row \(r)" : "differs from the float32 row \(r) by more than one rounding at value \(j)"
            throw EmbedScopeError(.checksumMismatch, "half copy of space '\(name)' \(what)", path: h.url.path,
                                  hint: "the index is damaged; rebuild it")
        }
    }
}
