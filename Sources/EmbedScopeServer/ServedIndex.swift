import EmbedScope
import Foundation

/// One generation of an index as the server holds it: the opened index and everything the
/// server computed from it (projections, evaluations, cluster metrics, thumbnails, the model),
/// each computed once and kept until the index changes on disk.
final class ServedIndex: @unchecked Sendable {
    let name: String
    let index: Index
    let stamp: IndexLibrary.Stamp
    let options: ServerOptions
    let classNames: [Int: String]
    let classIds: [Int32]
    let datasetRoot: String?
    /// Folders outside the root that the data set's symlinks lead to (`MetaKey.datasetLinkedRoots`).
    let linkedRoots: [String]
    /// Names this generation in answers (`X-EmbedScope-Generation`, `ETag`, the index entry's
    /// `generation`, thumbnail URLs' `g`): the live catalog's inode, size and change time.
    let generation: String

    private let lock = NSLock()
    private var batchers: [String: QueryBatcher] = [:]
    private var computed: [String: Task<any Sendable, Error>] = [:]
    private var clusters: [String: ClusterMetricsReport] = [:]
    private var thumbs: [ThumbKey: Data] = [:]
    private var thumbOrder: [ThumbKey] = []

    /// A thumbnail's cache key: the row and the size as they are, so no two requests share one.
    private struct ThumbKey: Hashable { var row: Int; var size: Int; var file: String }

    init(name: String, index: Index, stamp: IndexLibrary.Stamp, options: ServerOptions) throws {
        self.name = name
        self.index = index
        self.stamp = stamp
        self.options = options
        classNames = try index.classNames()
        classIds = try index.catalog.classIds()
        let meta = (try? index.catalog.meta()) ?? [:]
        datasetRoot = meta["datasetRoot"]
        linkedRoots = (meta[MetaKey.datasetLinkedRoots] ?? "").split(separator: "\n").map(String.init).filter { $0.hasPrefix("/") && $0 != "/" }
        generation = String(stamp.inode, radix: 36) + "-" + String(UInt64(bitPattern: stamp.size), radix: 36) + "-"
            + String(UInt64(bitPattern: stamp.ctime), radix: 36)
    }

    /// The batcher of a space (one per space and generation). It scans as `embedscope query`
    /// does: the space's half-precision copy when it has one (the same answers, half the bytes).
    func batcher(space: String) throws -> QueryBatcher {
        lock.lock()
        if let b = batchers[space] { lock.unlock(); return b }
        lock.unlock()
        let vectors = try index.vectors(space: space)
        let half = try index.halfVectors(space: space) != nil
        let index = self.index
        let made = QueryBatcher(dim: vectors.dim, window: options.batchWindow, halfCopy: half) { q, count, k, farthest, filters in
            var o = SearchOptions()
            o.k = k
            o.farthest = farthest
            o.kernel = .simd
            return try index.scanBatch(space: space, vectors: vectors, queries: q, count: count, options: o, filters: filters)
        }
        lock.lock(); defer { lock.unlock() }
        if let b = batchers[space] { return b }
        let b = made
        batchers[space] = b
        return b
    }

    /// Computes `body` once per key (concurrent callers wait for the same computation). A
    /// failure that the index itself decides (`undefined`: LDA of one class; `invalidArgument`)
    /// is kept like a result — the index does not change under a `ServedIndex` — so asking
    /// again costs nothing; any other failure (I/O) is dropped, so the next request tries again.
    /// The work runs off the cooperative thread pool.
    func once<T: Sendable>(_ key: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        let task: Task<any Sendable, Error> = lock.withLock {
            if let t = computed[key] { return t }
            let t = Task<any Sendable, Error> { try await offPool { try body() } }
            computed[key] = t
            return t
        }
        do {
            let v = try await task.value
            guard let typed = v as? T else { throw APIError(.internalServerError, "internal", "cache entry '\(key)' has another type") }
            return typed
        } catch {
            let decided = (error as? EmbedScopeError).map { [.undefined, .invalidArgument].contains($0.kind) } ?? false
            if !decided { lock.withLock { if computed[key] == task { computed[key] = nil } } }
            throw error
        }
    }

    /// The cached thumbnail of (row, size), or `make`'s, kept (the oldest dropped beyond
    /// `thumbnailCacheEntries`). The caller checks the row first: the cache answers any key it holds.
    /// `file`: the stamp of the row's image file, so a file replaced in the data set is made anew.
    func thumbnail(row: Int, size: Int, file: String, make: () throws -> Data) throws -> Data {
        let key = ThumbKey(row: row, size: size, file: file)
        lock.lock()
        if let d = thumbs[key] { lock.unlock(); return d }
        lock.unlock()
        let d = try make()
        lock.lock()
        if thumbs[key] == nil {
            thumbs[key] = d
            thumbOrder.append(key)
            if thumbOrder.count > options.thumbnailCacheEntries {
                let drop = thumbOrder.count - options.thumbnailCacheEntries
                for k in thumbOrder.prefix(drop) { thumbs[k] = nil }
                thumbOrder.removeFirst(drop)
            }
        }
        lock.unlock()
        return d
    }

    func rememberCluster(_ r: ClusterMetricsReport, space: String) {
        lock.lock(); clusters[space] = r; lock.unlock()
    }

    func cachedCluster(space: String) -> ClusterMetricsReport? {
        lock.lock(); defer { lock.unlock() }
        return clusters[space]
    }

    func className(ofRow r: Int) -> String {
        guard r >= 0 && r < classIds.count else { return "?" }
        return classNames[Int(classIds[r])] ?? "?"
    }
}

/// Runs blocking work (BLAS, decoding, file reads) on Dispatch's global queue rather than on
/// Swift's cooperative thread pool, which has as many threads as cores and must not block.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
        DispatchQueue.global().async {
            do { c.resume(returning: try body()) } catch { c.resume(throwing: error) }
        }
    }
}
