import EmbedScope
import Foundation

/// The indexes a server serves, found under its roots and re-opened when they change.
///
/// An index is identified by its folder's name. Before each use the catalog file is stat'ed:
/// a different inode or modification time (an index rebuilt and renamed into place, or
/// written anew) opens the new generation, with fresh caches; requests already running keep
/// the old one until they finish. New index folders are found by a rescan (at most once a
/// second, and whenever an unknown name is asked for).
final class IndexLibrary: @unchecked Sendable {
    let options: ServerOptions
    private let lock = NSLock()
    private var entries: [String: ServedIndex] = [:]
    private var locations: [String: URL] = [:]
    private var lastScan: Date = .distantPast

    init(options: ServerOptions) {
        self.options = options
    }

    /// Names of the indexes found, sorted.
    func names() -> [String] {
        rescan(force: false)
        lock.lock(); defer { lock.unlock() }
        return locations.keys.sorted()
    }

    /// The current generation of an index, opened (or re-opened) as needed.
    func index(_ name: String) throws -> ServedIndex {
        guard Self.isPlainName(name) else { throw APIError.badRequest("an index name is a folder name: no '/', '..' or control characters") }
        lock.lock()
        var url = locations[name]
        lock.unlock()
        if url == nil {
            rescan(force: true)
            lock.lock(); url = locations[name]; lock.unlock()
        }
        guard let url else { throw APIError.notFound("no index named '\(name)' (GET /api/indexes lists them)") }
        let stamp = Self.stamp(of: Self.catalogURL(url))
        lock.lock()
        // (An entry whose vector file was cut short is dropped by `ErrorAndLogMiddleware` after
        // the request that finds it; the next one opens the generation again.)
        if let e = entries[name], e.stamp == stamp, stamp != nil {
            lock.unlock()
            Self.touched?.add(e)
            return e
        }
        lock.unlock()
        guard let stamp else {
            rescan(force: true)
            throw APIError.notFound("index '\(name)' is gone (its catalog.sqlite no longer exists)")
        }
        let entry: ServedIndex
        do {
            // The class names and every row's class are read (and their row checks compared) here, once.
            entry = try ServedIndex(name: name, index: try Index.open(url), stamp: stamp, options: options)
        } catch {
            throw APIError(.internalServerError, "catalog", "index '\(name)' cannot be opened: \(APIError.from(error).message)")
        }
        lock.lock()
        // Another request may have opened the same generation meanwhile: keep the first (its caches).
        if let e = entries[name], e.stamp == stamp { lock.unlock(); Self.touched?.add(e); return e }
        entries[name] = entry
        lock.unlock()
        Self.touched?.add(entry)
        return entry
    }

    /// The indexes the running request has used (`ErrorAndLogMiddleware` sets it): after the
    /// answer is made, each is checked for vector files cut short while it was read.
    @TaskLocal static var touched: TouchedIndexes?

    /// Forgets an entry (its index found damaged): the next use opens the index again.
    func evict(_ entry: ServedIndex) {
        lock.lock()
        if let e = entries[entry.name], e === entry { entries[entry.name] = nil }
        lock.unlock()
    }

    /// A catalog file's identity: inode, size and modification time (nanoseconds).
    struct Stamp: Equatable, Sendable { var inode: UInt64; var size: Int64; var mtime: Int64; var ctime: Int64 }

    static func stamp(of url: URL) -> Stamp? {
        var st = stat()
        guard stat(url.path, &st) == 0 else { return nil }
        return Stamp(inode: UInt64(st.st_ino), size: Int64(st.st_size),
                     mtime: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                     ctime: Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec))
    }

    static func isPlainName(_ s: String) -> Bool {
        !s.isEmpty && s != "." && s != ".." && !s.contains("/") && !s.contains("\\")
            && !s.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
    }

    /// The live catalog: `INDEX/current/catalog.sqlite` (the generation `current` names; a new
    /// generation is a new file, so its stamp changes), or `INDEX/catalog.sqlite` in a format-1.0
    /// flat index.
    static func catalogURL(_ index: URL) -> URL {
        let live = index.appendingPathComponent("current").appendingPathComponent("catalog.sqlite")
        return FileManager.default.fileExists(atPath: live.path) ? live : index.appendingPathComponent("catalog.sqlite")
    }

    static func isIndex(_ url: URL) -> Bool {
        FileManager.default.fileExists(atPath: catalogURL(url).path)
    }

    /// Finds the indexes under the roots: a root that is an index, or the index folders directly in it.
    func rescan(force: Bool) {
        lock.lock()
        if !force && Date().timeIntervalSince(lastScan) < 1 { lock.unlock(); return }
        lastScan = Date()
        lock.unlock()
        var found: [String: URL] = [:]
        for root in options.roots {
            if Self.isIndex(root) {
                if found[root.lastPathComponent] == nil { found[root.lastPathComponent] = root }
                continue
            }
            let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
            for n in names.sorted() where !n.hasPrefix(".") && Self.isPlainName(n) {
                let u = root.appendingPathComponent(n)
                if Self.isIndex(u), found[n] == nil { found[n] = u }
            }
        }
        lock.lock()
        locations = found
        entries = entries.filter { found[$0.key] != nil }
        lock.unlock()
    }
}

/// The indexes one request used (`IndexLibrary.touched`).
final class TouchedIndexes: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [ServedIndex] = []

    func add(_ s: ServedIndex) {
        lock.lock(); defer { lock.unlock() }
        if !list.contains(where: { $0 === s }) { list.append(s) }
    }

    var all: [ServedIndex] {
        lock.lock(); defer { lock.unlock() }
        return list
    }
}
