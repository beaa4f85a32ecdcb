import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The layout of an index folder on disk (docs/index-format.md, "Generations"):
///
///     INDEX/
///       .embedscope-index     marker + writer lock file (flock), never replaced
///       current -> gen-7      relative symlink, switched by rename(2): the one live generation
///       gen-7/                catalog.sqlite, *.vec, metrics.json (immutable but metrics.json)
///       gen-6/                an older generation a reader still holds (removed by a later writer)
///       .tmp-gen-8-…/         a generation being written (or left by a crash; removed by the next writer)
///
/// An index written before generations (format 1.0's flat folder: `catalog.sqlite` and the
/// `.vec` files directly in INDEX) still opens; the next writer converts it.
package enum IndexDirectory {
    /// Marks a folder as an EmbedScope index and is the file writers `flock`.
    package static let markerName = ".embedscope-index"
    /// The symlink naming the live generation.
    package static let currentName = "current"
    static let generationPrefix = "gen-"
    static let temporaryPrefix = ".tmp-gen-"
    static let trashPrefix = ".trash-"
    static let currentTemporaryPrefix = ".current.tmp-"

    /// `gen-<n>` → n, for names this build writes (decimal, no sign, no leading zeros beyond "0").
    static func generationNumber(_ name: String) -> Int? {
        guard name.hasPrefix(generationPrefix) else { return nil }
        let digits = name.dropFirst(generationPrefix.count)
        guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              digits == "0" || digits.first != "0" else { return nil }
        return Int(digits)
    }

    static func generationName(_ n: Int) -> String { "\(generationPrefix)\(n)" }

    /// The target of `INDEX/current`: `.some(name)` for a valid generation name, `nil` when there
    /// is no `current`. A `current` that is not a symlink to `gen-<n>` (hostile or damaged) is an error.
    static func readCurrent(_ index: URL) throws -> String? {
        let path = index.appendingPathComponent(currentName).path
        var buf = [CChar](repeating: 0, count: 256)
        let n = readlink(path, &buf, buf.count - 1)
        if n < 0 {
            if errno == ENOENT { return nil }
            if errno == EINVAL {
                throw EmbedScopeError(.catalog, "'current' is not a symlink", path: path,
                                      hint: "the index is damaged; rebuild it with `embedscope build … --force`")
            }
            throw EmbedScopeError(.io, "cannot read the 'current' link: \(String(cString: strerror(errno)))", path: path)
        }
        let target = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard generationNumber(target) != nil else {
            throw EmbedScopeError(.catalog, "'current' points to '\(target)', not to a generation folder gen-<n> inside the index", path: path,
                                  hint: "the index is damaged; rebuild it with `embedscope build … --force`")
        }
        return target
    }

    /// True when `INDEX/catalog.sqlite` exists directly in the folder (format 1.0's flat layout).
    static func hasFlatCatalog(_ index: URL) -> Bool {
        var st = stat()
        return lstat(index.appendingPathComponent(Catalog.fileName).path, &st) == 0
    }

    /// What is at a path a writer was pointed at.
    package enum Kind: Equatable, Sendable {
        case missing
        /// A folder holding an index (a current generation, or a format 1.0 flat catalog).
        case index
        /// A folder with nothing to lose: empty, or only EmbedScope's marker and leftovers of
        /// an unfinished first build.
        case reusable
        /// Anything else: a file, or a folder with other contents.
        case foreign(String)
    }

    /// What a writer pointed at `url` finds there. A folder counts as an index (which `--force`
    /// replaces) or as reusable only by what EmbedScope itself writes first: the marker, a regular
    /// file (a writer creates it before anything else), or a format 1.0 flat index (no marker),
    /// whose catalog EmbedScope's migrations wrote. Folder names alone (`gen-1`, `current`,
    /// `catalog.sqlite`) are not proof: a user's folder holding only `gen-1/` and `gen-2/` was taken
    /// for a leftover and emptied; one with a `catalog.sqlite` of its own lost it and every `.vec`
    /// to `--force`; a regular file named `current` was replaced.
    package static func classify(_ url: URL) -> Kind {
        var st = stat()
        guard stat(url.path, &st) == 0 else { return errno == ENOENT ? .missing : .foreign("cannot be inspected: \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return .foreign("is a file, not an index folder") }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        if names.isEmpty { return .reusable }
        var m = stat()
        let hasMarker = lstat(url.appendingPathComponent(markerName).path, &m) == 0
        if hasMarker && (m.st_mode & S_IFMT) != S_IFREG {
            return .foreign("has a \(markerName) that is not a regular file (a link or a folder), which EmbedScope never writes")
        }
        var c = stat()
        if lstat(url.appendingPathComponent(currentName).path, &c) == 0, (c.st_mode & S_IFMT) != S_IFLNK {
            // EmbedScope's `current` is only ever a symlink: a file or folder of that name is not
            // its to replace (`--force` renamed the link over a user's `current` notes file).
            return .foreign("has a \((c.st_mode & S_IFMT) == S_IFDIR ? "folder" : "file") named 'current' where an index has a symbolic link, which EmbedScope never writes")
        }
        if hasMarker {
            if ((try? readCurrent(url)) ?? nil) != nil || hasFlatCatalog(url) { return .index }
            // A `current` link to something else than a generation: a damaged index (`--force` replaces it).
            if names.contains(currentName) { return .index }
        } else if let current = (try? readCurrent(url)) ?? nil {
            // An index whose marker was removed: its `current` links to a generation holding a catalog.
            var g = stat()
            if lstat(url.appendingPathComponent(current).appendingPathComponent(Catalog.fileName).path, &g) == 0 { return .index }
        } else if hasFlatCatalog(url), isEmbedScopeCatalog(url.appendingPathComponent(Catalog.fileName)) {
            return .index
        }
        let ours = names.filter { name in
            name == markerName || name == currentName || name.hasPrefix(temporaryPrefix) || name.hasPrefix(trashPrefix)
                || name.hasPrefix(currentTemporaryPrefix) || generationNumber(name) != nil
        }
        if hasMarker && ours.count == names.count { return .reusable }
        let others = (hasMarker ? names.filter { !ours.contains($0) } : names).sorted()
        return .foreign("is a folder that does not hold an EmbedScope index (it contains \(others.prefix(3).joined(separator: ", "))\(others.count > 3 ? ", …" : ""))")
    }

    /// Whether `file` is an SQLite database whose migrations table records EmbedScope's first
    /// catalog migration. Opened read-only and immutable: nothing is written beside it (no -shm,
    /// no journal), whatever the file is.
    static func isEmbedScopeCatalog(_ file: URL) -> Bool {
        var lst = stat()
        guard lstat(file.path, &lst) == 0, (lst.st_mode & S_IFMT) == S_IFREG else { return false }
        return Catalog.recordsFirstMigration(file)
    }

    /// Refuses to write into one generation of an index (`INDEX/gen-N`, `INDEX/current`): the
    /// writer is pointed at INDEX instead.
    static func refuseGenerationFolder(_ url: URL) throws {
        let name = url.lastPathComponent, parent = url.deletingLastPathComponent()
        guard generationNumber(name) != nil || name == currentName else { return }
        var st = stat()
        guard lstat(parent.appendingPathComponent(markerName).path, &st) == 0 else { return }
        throw EmbedScopeError(.refused, "this is one generation of the index \(parent.path); generations are never modified", path: url.path,
                              hint: "write to the index folder itself: \(parent.path)")
    }

    /// Refuses a writer's destination that is the data set itself or a folder holding it (`.`,
    /// a parent of the data set), compared after resolving symlinks.
    package static func refuseOverlap(_ destination: URL, protecting sources: [URL], what: String = "the data set") throws {
        let d = canonicalPath(destination)
        for s in sources {
            let p = canonicalPath(s)
            if p == d || p.hasPrefix(d.hasSuffix("/") ? d : d + "/") {
                throw EmbedScopeError(.refused, "refusing to write an index here: it is \(p == d ? what : "a folder holding \(what) (\(s.path))")",
                                      path: destination.path, hint: "choose an --out outside \(what), e.g. Indexes/<name>; nothing was changed")
            }
        }
    }

    /// Refuses an output (`export --out`, `project --csv`, `report --out`) at the index folder or
    /// inside it, compared after resolving symlinks: only the index's writers change what is in it.
    package static func refuseInside(_ index: URL, output: URL, what: String, container: String = "the index folder") throws {
        let (o, i) = (canonicalPath(output), canonicalPath(index))
        guard o == i || o.hasPrefix(i.hasSuffix("/") ? i : i + "/") else { return }
        throw EmbedScopeError(.refused, "\(what) is \(o == i ? container : "inside \(container)") \(index.path)", path: output.path,
                              hint: "write it outside \(container); nothing was changed")
    }

    /// `realpath` of the longest existing prefix, with the rest appended.
    static func canonicalPath(_ url: URL) -> String {
        var existing = url.standardizedFileURL
        var rest: [String] = []
        while existing.path != "/" {
            if var path = RealPath.of(existing.path) {
                for c in rest.reversed() { path += (path.hasSuffix("/") ? "" : "/") + c }
                return path
            }
            rest.append(existing.lastPathComponent)
            existing = existing.deletingLastPathComponent()
        }
        return "/" + rest.reversed().joined(separator: "/")
    }

    /// Refuses to write into a folder that was made read-only (mode bits, checked even for root,
    /// which `access(2)` would let through), or on a read-only file system.
    static func refuseReadOnly(_ url: URL) throws {
        var st = stat()
        guard stat(url.path, &st) == 0 else { return }
        var vfs = statvfs()
        let roFS = statvfs(url.path, &vfs) == 0 && (vfs.f_flag & UInt(ST_RDONLY)) != 0
        if (st.st_mode & S_IWUSR) == 0 || roFS || access(url.path, W_OK) != 0 {
            // Whose folder it is decides what helps: chmod only for its owner.
            let owner = st.st_uid == geteuid()
            throw EmbedScopeError(.refused, roFS ? "the index folder is on a read-only file system"
                                               : owner ? "the index folder is read-only" : "the index folder is not writable by this user (it belongs to uid \(st.st_uid))",
                                  path: url.path,
                                  hint: roFS || !owner ? "copy the index to a place you can write first (or run as its owner); nothing was changed"
                                             : "make it writable (chmod u+w '\(url.path)') to let EmbedScope write it; nothing was changed")
        }
    }

    // MARK: - Readers: one generation, held while open

    /// The generation an `Index` reads from, held with a shared `flock` on its folder for as
    /// long as this value lives: a writer removes an old generation only when it can take that
    /// lock exclusively, so a reader's files stay in place while it reads them.
    package final class Generation: Sendable {
        /// The folder holding catalog.sqlite and the vector files of this generation.
        package let directory: URL
        /// `gen-<n>`, or nil for a format 1.0 flat folder.
        package let name: String?
        private let fd: Int32

        init(directory: URL, name: String?, fd: Int32) { self.directory = directory; self.name = name; self.fd = fd }
        deinit { close(fd) }
    }

    /// Resolves `INDEX/current` once and takes a shared hold on that generation. Retries (a
    /// bounded number of times) when a writer removed the generation between the two steps.
    package static func openGeneration(_ index: URL) throws -> Generation {
        var dangling: String?
        for _ in 0..<64 {
            if let name = try readCurrent(index) {
                let dir = index.appendingPathComponent(name)
                guard let fd = try holdShared(dir) else {
                    // Removed by a writer after we read `current`: read it again. The same name
                    // missing twice is damage, not a race.
                    if dangling == name, !FileManager.default.fileExists(atPath: dir.path) {
                        throw EmbedScopeError(.catalog, "'current' points to \(name), which does not exist", path: index.path,
                                              hint: "the index is damaged; rebuild it with `embedscope build … --force`")
                    }
                    dangling = name
                    continue
                }
                return Generation(directory: dir, name: name, fd: fd)
            }
            guard hasFlatCatalog(index) else {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: index.path)) ?? []
                let temporaries = names.filter { $0.hasPrefix(temporaryPrefix) }
                // `.tmp-gen-<n>-<pid>-<random>`: a writer still running is not an interrupted one.
                if let writer = temporaries.lazy.compactMap({ name -> Int32? in
                    let parts = name.dropFirst(temporaryPrefix.count).split(separator: "-")
                    guard parts.count >= 2, let pid = Int32(parts[1]), pid > 0 else { return nil }
                    return kill(pid, 0) == 0 || errno == EPERM ? pid : nil
                }).first {
                    throw EmbedScopeError(.notFound, "no index here yet: a build (process \(writer)) is writing the first one", path: index.path,
                                          hint: "wait for it to finish, then run this again")
                }
                throw EmbedScopeError(.notFound, !temporaries.isEmpty ? "no index here yet (an unfinished or interrupted build left a temporary folder)" : "no index here (no catalog.sqlite, no 'current' generation)",
                                      path: index.path, hint: "build one with `embedscope build DATASET --out \(index.path)` or `embedscope import`")
            }
            // Format 1.0 flat folder (or a generation folder named directly, e.g. INDEX/current):
            // hold the folder itself, symlinks resolved so later files come from this very
            // folder; a writer converting it removes the flat files only when it can hold the
            // folder exclusively.
            let real = URL(fileURLWithPath: canonicalPath(index))
            guard let fd = try holdShared(real) else { continue }
            if try readCurrent(real) != nil || !hasFlatCatalog(real) { close(fd); continue }
            return Generation(directory: real, name: nil, fd: fd)
        }
        throw EmbedScopeError(.io, "the index kept changing while being opened", path: index.path, hint: "try again")
    }

    /// Opens `dir` and takes a shared flock on it; nil when the folder vanished or was replaced
    /// meanwhile (the caller resolves `current` again).
    private static func holdShared(_ dir: URL) throws -> Int32? {
        let fd = open(dir.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw EmbedScopeError(errno == ENOTDIR ? .catalog : .io, "cannot open the generation folder: \(String(cString: strerror(errno)))", path: dir.path)
        }
        while flock(fd, LOCK_SH) != 0 {
            if errno == EINTR { continue }
            let e = errno
            close(fd)
            throw EmbedScopeError(.io, "cannot lock the generation folder for reading: \(String(cString: strerror(e)))", path: dir.path)
        }
        var a = stat(), b = stat()
        guard fstat(fd, &a) == 0, stat(dir.path, &b) == 0, a.st_dev == b.st_dev, a.st_ino == b.st_ino else {
            close(fd)
            return nil
        }
        return fd
    }

    // MARK: - Writers (all under the writer lock)

    struct Listing {
        var current: String?
        var flat: Bool
        var generations: [Int]
        var leftovers: [String]
    }

    /// With `damagedCurrent`, a `current` that is not a link to a generation (`readCurrent`'s
    /// error) is listed as `current` = nil instead of thrown: `--force` replaces such an index —
    /// the link itself is renamed over at the commit, its target never followed.
    static func list(_ index: URL, damagedCurrent: Bool = false) throws -> Listing {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: index.path)) ?? []
        let current: String?
        do { current = try readCurrent(index) } catch let e as EmbedScopeError where damagedCurrent && e.kind == .catalog {
            current = nil
        }
        return Listing(current: current, flat: hasFlatCatalog(index),
                       generations: names.compactMap(generationNumber).sorted(),
                       leftovers: names.filter { $0.hasPrefix(temporaryPrefix) || $0.hasPrefix(trashPrefix) || $0.hasPrefix(currentTemporaryPrefix) })
    }

    /// Points `INDEX/current` at `name` atomically: a new symlink under a temporary name is
    /// renamed over `current`, then the folder is fsynced so the switch is durable.
    static func switchCurrent(_ index: URL, to name: String) throws {
        let tmp = index.appendingPathComponent("\(currentTemporaryPrefix)\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        guard symlink(name, tmp.path) == 0 else {
            throw EmbedScopeError(.io, "cannot create the 'current' link: \(String(cString: strerror(errno)))", path: tmp.path)
        }
        guard rename(tmp.path, index.appendingPathComponent(currentName).path) == 0 else {
            let e = errno
            unlink(tmp.path)
            throw EmbedScopeError(.io, "cannot switch 'current' to \(name): \(String(cString: strerror(e)))", path: index.path)
        }
        try fsyncPath(index.path)
    }

    /// Removes what no reader and no writer uses any more: temporary folders and stale link
    /// names, generations other than `keep` that no reader holds, and the files of a format 1.0
    /// flat layout once a generation is current. Only what EmbedScope writes is removed: from an
    /// old generation (and a `.trash-` folder a killed writer left) the files of
    /// `removeGenerationFiles`, then the folder if that left it empty; a generation folder that
    /// holds anything else (`INDEX/current/notes.txt`, a user's `gen-99/photo.jpg`) keeps it, under
    /// its own name, and this is said once on stderr. A `gen-<n>` that is a symlink is only
    /// unlinked. Best effort: anything held or that cannot be removed stays for a later writer.
    /// Returns the names removed.
    @discardableResult
    static func collectGarbage(_ index: URL, keep: String) -> [String] {
        let fm = FileManager.default
        var removed: [String] = []
        var kept: [(name: String, others: [String])] = []
        let names = (try? fm.contentsOfDirectory(atPath: index.path)) ?? []
        for name in names where name.hasPrefix(temporaryPrefix) || name.hasPrefix(currentTemporaryPrefix) {
            if (try? fm.removeItem(at: index.appendingPathComponent(name))) != nil { removed.append(name) }
        }
        for name in names where name.hasPrefix(trashPrefix) {
            let trash = index.appendingPathComponent(name)
            var st = stat()
            guard lstat(trash.path, &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) != S_IFDIR {
                if unlink(trash.path) == 0 { removed.append(name) }
                continue
            }
            let others = removeGenerationFiles(trash)
            if rmdir(trash.path) == 0 { removed.append(name) } else if !others.isEmpty { kept.append((name, others)) }
        }
        for name in names where generationNumber(name) != nil && name != keep {
            let dir = index.appendingPathComponent(name)
            var st = stat()
            guard lstat(dir.path, &st) == 0 else { continue }
            let isLink = (st.st_mode & S_IFMT) == S_IFLNK
            let fd = open(dir.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { close(fd); continue } // a reader holds it
            // Renamed first: a reader that resolved `current` before the switch and waits for its
            // shared lock finds the name gone and resolves `current` again.
            let trash = index.appendingPathComponent("\(trashPrefix)\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
            let moved = rename(dir.path, trash.path) == 0
            close(fd)
            guard moved else { continue }
            if isLink {
                if unlink(trash.path) == 0 { removed.append(name) }   // the link only, never its target
                continue
            }
            let others = removeGenerationFiles(trash)
            if rmdir(trash.path) == 0 { removed.append(name); continue }
            // Something EmbedScope did not write is in it: the folder stays, under its own name
            // (a `.trash-` name would be the next writer's to remove).
            kept.append((rename(trash.path, dir.path) == 0 ? name : trash.lastPathComponent, others))
        }
        if hasFlatCatalog(index) {
            let fd = open(index.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if fd >= 0 {
                if flock(fd, LOCK_EX | LOCK_NB) == 0, let files = flatIndexFiles(index, names: names) {
                    for name in files {
                        let p = index.appendingPathComponent(name).path
                        var st = stat()
                        if lstat(p, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, unlink(p) == 0 { removed.append(name) }
                    }
                }
                close(fd)
            }
        }
        if !removed.isEmpty { try? fsyncPath(index.path) }
        if !kept.isEmpty {
            let what = kept.map { k in
                "\(k.name) (\(k.others.sorted().prefix(3).joined(separator: ", "))\(k.others.count > 3 ? ", …" : ""))"
            }.joined(separator: ", ")
            StandardStreams.error("note: kept the old generation folder\(kept.count > 1 ? "s" : "") \(what) in \(index.path): "
                                  + "\(kept.count > 1 ? "they hold" : "it holds") files EmbedScope did not write, which it never deletes; "
                                  + "move them elsewhere and the next writer removes the folder\n")
        }
        return removed
    }

    /// Removes from an old generation folder the files EmbedScope writes in a generation and
    /// returns the names of what is left (what EmbedScope did not write): the vector files
    /// (`*.vec` that its catalog names or that start with the vector-file magic), `metrics.json`
    /// and its temporary files, then `catalog.sqlite` and SQLite's `-journal`, `-wal`, `-shm`
    /// beside it — the catalog last, so a writer killed meanwhile leaves a folder whose catalog
    /// still names what is left. Only regular files; nothing in a subfolder.
    static func removeGenerationFiles(_ dir: URL) -> [String] {
        let fm = FileManager.default
        let names = (try? fm.contentsOfDirectory(atPath: dir.path)) ?? []
        let named = Catalog.namedVectorFiles(dir.appendingPathComponent(Catalog.fileName)) ?? []
        func unlinkRegular(_ name: String) {
            let p = dir.appendingPathComponent(name).path
            var st = stat()
            if lstat(p, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG { unlink(p) }
        }
        for name in names where name.hasSuffix(".vec") && !name.hasPrefix(".") {
            if named.contains(name) || startsWithVectorMagic(dir.appendingPathComponent(name)) { unlinkRegular(name) }
        }
        for name in names where name == MetricsFile.fileName || isMetricsTemporary(name) { unlinkRegular(name) }
        for name in catalogFileNames { unlinkRegular(name) }
        return (try? fm.contentsOfDirectory(atPath: dir.path)) ?? names
    }

    /// `catalog.sqlite` and the files SQLite keeps beside it.
    static let catalogFileNames = [Catalog.fileName] + ["-journal", "-wal", "-shm"].map { Catalog.fileName + $0 }

    /// `.metrics.json.<pid>.tmp`, the analysis layer's temporary file while it replaces metrics.json.
    static func isMetricsTemporary(_ name: String) -> Bool {
        name.hasPrefix(".\(MetricsFile.fileName).") && name.hasSuffix(".tmp")
    }

    /// Whether `file` is a regular file starting with `EMBSCVEC` (a vector file EmbedScope wrote).
    static func startsWithVectorMagic(_ file: URL) -> Bool {
        var st = stat()
        guard lstat(file.path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return false }
        let fd = open(file.path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var head = [UInt8](repeating: 0, count: VectorFileHeader.magic.count)
        let n = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        return n == head.count && head == VectorFileHeader.magic
    }

    /// The files of a format 1.0 flat index in `index` (among `names`) that a writer converting it
    /// removes: the vector files its catalog names, the catalog and SQLite's files beside it,
    /// `metrics.json` and its temporary files — nothing else in the folder (a user's `notes.vec`
    /// or `catalog.sqlite-backup` stays). Nil when the catalog cannot be read: then nothing is
    /// removed.
    static func flatIndexFiles(_ index: URL, names: [String]) -> [String]? {
        guard let named = Catalog.namedVectorFiles(index.appendingPathComponent(Catalog.fileName)) else { return nil }
        // Vector files first, the catalog last (as for a generation).
        return names.filter(named.contains) + names.filter { $0 == MetricsFile.fileName || isMetricsTemporary($0) }
            + catalogFileNames.filter(names.contains)
    }

    package static func fsyncPath(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw EmbedScopeError(.io, "cannot open for fsync: \(String(cString: strerror(errno)))", path: path) }
        defer { close(fd) }
        _ = fsync(fd)
    }
}

/// The name of the per-generation metrics file (owned by the analysis layer's `MetricsRecord`;
/// named here so the index layer can carry it from one generation to the next).
enum MetricsFile {
    static let fileName = "metrics.json"
}

extension Index {
    /// Refuses an output (`report --out`, `project --csv`) at or inside this index's folder or the
    /// data set it was built from: a report's sheets written into the data set were indexed by the
    /// next `add` as images, and a CSV could replace one of its images.
    package func refuseOutputInside(_ output: URL, what: String) throws {
        try IndexDirectory.refuseInside(url, output: output, what: what)
        // A built index's root is a folder `add` scans; an import's only resolves its manifest paths.
        if let meta = try? catalog.meta(), meta["source"] == "build", let root = meta["datasetRoot"] {
            try IndexDirectory.refuseInside(URL(fileURLWithPath: root), output: output, what: what, container: "the data set")
        }
    }
}
