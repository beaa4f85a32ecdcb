import Foundation
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeModels
import EmbedScopeAnalysis
import EmbedScopeReport

/// What `export` wrote.
public struct ExportSummary: Sendable {
    public var out: URL
    public var rows: Int
    public var dim: Int
    public var space: String
    /// The prototype set written as `W.npy` / `b.npy` / `head-classes.txt`, if any.
    public var prototypeSet: String?
    public var files: [String]
}

/// `embedscope export INDEX --space S --out DIR`: one space of an index in the formats other
/// tools (and `import`) read:
/// - `X.npy`: float32 [n, d], the unit rows as stored (row i = catalog row i);
/// - `norms.npy`: float32 [n], each row's original L2 norm (`X * norms[:, None]` are the vectors
///   as they were embedded or imported);
/// - `rows.csv`: `row,path,class,split` (RFC 4180; `split` empty when none is recorded) — the
///   manifest `import` reads;
/// - with a prototype set on that space: `W.npy` [C, d] (the head's weight rows, unit row ×
///   norm), `b.npy` [C] and `head-classes.txt` (one name per line);
/// - `.embedscope-export`: the marker that lets a later export replace the folder.
/// DIR may be missing, empty, or a folder an earlier export wrote; anything else is refused.
/// A failed or interrupted export leaves DIR as it was (missing, empty, or the earlier export).
public enum IndexExport {
    public static let markerName = ".embedscope-export"
    /// Where an export into an existing folder writes before its commit (removed after it).
    static let stagingName = ".embedscope-export-staging"
    static let ours = ["X.npy", "norms.npy", "rows.csv", "W.npy", "b.npy", "head-classes.txt"]

    /// `space` nil: `embedding` if the index has it, else its first space.
    public static func run(index url: URL, space name: String?, out: URL, prototypeSet: String? = nil) throws -> ExportSummary {
        let index = try Index.open(url)
        let space = try name ?? index.defaultSpace()
        let s = try index.space(space)
        let fm = FileManager.default
        var isDir: ObjCBool = false
        var folderLock: Int32 = -1
        defer { if folderLock >= 0 { close(folderLock) } }  // closing releases the flock
        // Before the folder's lock: --out inside the index (`current`, a `gen-N`) is a folder this
        // process already holds a reader's lock on, and waiting for it never ended.
        try IndexDirectory.refuseOverlap(out, protecting: [url], what: "the index")
        try IndexDirectory.refuseInside(url, output: out, what: "--out")
        // Whether `out` is new is decided once, here: a folder made at `out` while this export
        // runs is not written into (it was: files named like ours in a folder made meanwhile were
        // replaced); the new export's rename into place then fails and says so.
        let isNew = !fm.fileExists(atPath: out.path, isDirectory: &isDir)
        if !isNew {
            guard isDir.boolValue else {
                throw EmbedScopeError(.refused, "--out is a file", path: out.path, hint: "give a folder (missing, empty, or written by `embedscope export`)")
            }
            // One export at a time into a folder: they share its staging folder (two at once mixed
            // their files — one's X.npy beside the other's rows.csv — and both said they succeeded).
            folderLock = try lockFolder(out)
            let names = (try? fm.contentsOfDirectory(atPath: out.path)) ?? []
            guard names.allSatisfy({ $0 == stagingName }) || names.contains(markerName) else {
                throw EmbedScopeError(.refused, "--out is a folder that `embedscope export` did not write (it contains \(names.sorted().prefix(3).joined(separator: ", ")))",
                                      path: out.path, hint: "export into an empty or new folder; nothing was changed")
            }
        }
        // The head: the named set, else the space's `head`, `imagenet`, or only set (probes included).
        let onSpace = index.prototypeSets.filter { $0.space == space }.map(\.name)
        var setName = prototypeSet
        if let p = prototypeSet {
            guard onSpace.contains(p) else {
                throw EmbedScopeError(.notFound, "space '\(space)' has no prototype set '\(p)' (it has: \(onSpace.isEmpty ? "none" : onSpace.joined(separator: ", ")))", path: url.path)
            }
        } else {
            setName = ["head", "imagenet"].first(where: onSpace.contains) ?? (onSpace.count == 1 ? onSpace.first : nil)
        }
        let vectors = try index.vectors(space: space), norms = try index.norms(space: space)
        // Exported files carry no checksum: damaged rows are refused here, not written out as data.
        let refusal = "its rows are not exported (the files written carry no checksum)"
        try IndexBuilder.requireUndamaged(vectors, of: index, refusal: refusal)
        try IndexBuilder.requireUndamaged(norms, of: index, refusal: refusal)
        let n = s.rows, d = s.dim
        let (count, overflow) = n.multipliedReportingOverflow(by: d)
        guard !overflow else { throw EmbedScopeError(.corruptHeader, "\(n) × \(d) overflows", path: url.path) }
        // Under `ulimit -v`: the rows' copy and the file's bytes, or a clear error before writing.
        try AddressSpace.require(count.multipliedReportingOverflow(by: 8).partialValue, for: "exporting \(n) × \(d) vectors")
        var x = [Float](); x.reserveCapacity(count)
        for i in 0..<n { x += vectors.row(i) }
        let nv = Array(norms.row(0))
        let images = try index.catalog.allImages()
        let classes = try index.classNames()
        var csv = "row,path,class,split\n"
        for img in images {
            csv += "\(img.row),\(CSV.field(img.path)),\(CSV.field(classes[img.classId] ?? String(img.classId))),\(CSV.field(img.split ?? ""))\n"
        }
        // Written whole or not at all: the files go to a staging folder first — beside `out` when
        // `out` is new (the commit renames it into place), inside `out` when it is an empty folder
        // or an earlier export (the commit renames each file over its old one and removes the old
        // export's files this one does not write). A failure or an interrupt before the commit
        // removes the staging folder and leaves `out` as it was; SIGKILL leaves the staging folder,
        // which the next export into `out` removes (inside `out`: by its name; beside it: when its
        // process no longer runs).
        if isNew { DirectorySwap.removeStale(beside: out, kinds: ["export"]) }
        let staging = isNew
            ? out.deletingLastPathComponent().appendingPathComponent(".\(out.lastPathComponent).export-\(getpid())")
            : out.appendingPathComponent(stagingName)
        let token = InterruptCleanup.track(staging)
        defer { InterruptCleanup.untrack(token) }
        do {
            if isNew { try fm.createDirectory(at: out.deletingLastPathComponent(), withIntermediateDirectories: true) }
            try? fm.removeItem(at: staging)
            try fm.createDirectory(at: staging, withIntermediateDirectories: false)
            try Data().write(to: staging.appendingPathComponent(markerName))
            try NPYArray.write(shape: [n, d], values: x, to: staging.appendingPathComponent("X.npy"))
            try NPYArray.write(shape: [n], values: nv, to: staging.appendingPathComponent("norms.npy"))
            try Data(csv.utf8).write(to: staging.appendingPathComponent("rows.csv"))
            var files = ["X.npy", "norms.npy", "rows.csv"]
            if let setName {
                let p = try index.prototypes(set: setName)
                try IndexBuilder.requireUndamaged(p.vectors, of: index, refusal: refusal)
                var w = [Float](); w.reserveCapacity(p.set.count * d)
                for (i, r) in p.records.enumerated() { w += p.vectors.row(i).map { $0 * Float(r.norm) } }
                try NPYArray.write(shape: [p.set.count, d], values: w, to: staging.appendingPathComponent("W.npy"))
                try NPYArray.write(shape: [p.set.count], values: p.records.map { Float($0.bias) }, to: staging.appendingPathComponent("b.npy"))
                try Data((p.records.map(\.name).joined(separator: "\n") + "\n").utf8).write(to: staging.appendingPathComponent("head-classes.txt"))
                files += ["W.npy", "b.npy", "head-classes.txt"]
            }
            try index.requireIntact()  // a vector file cut short under the copy read zeros: no export of them
            try InterruptCleanup.commit {
                if isNew {
                    guard rename(staging.path, out.path) == 0 else {
                        let e = errno
                        if e == ENOTEMPTY || e == EEXIST || e == ENOTDIR {
                            throw EmbedScopeError(.refused, "--out appeared while this export was written (another export into it?)", path: out.path,
                                                  hint: "what is there now was left as it is; export again to replace it")
                        }
                        throw EmbedScopeError(.io, "cannot move the export into place (\(String(cString: strerror(e))))", path: out.path)
                    }
                } else {
                    if !fm.fileExists(atPath: out.appendingPathComponent(markerName).path) {
                        try fm.moveItem(at: staging.appendingPathComponent(markerName), to: out.appendingPathComponent(markerName))
                    }
                    for name in files where rename(staging.appendingPathComponent(name).path, out.appendingPathComponent(name).path) != 0 {
                        throw EmbedScopeError(.io, "cannot move \(name) into place (\(String(cString: strerror(errno))))", path: out.path)
                    }
                    for name in ours where !files.contains(name) { try? fm.removeItem(at: out.appendingPathComponent(name)) }
                    try? fm.removeItem(at: staging)
                }
                CommittedChanges.record("\(out.path) holds the export of '\(space)' (\(files.joined(separator: ", ")))")
            }
            return ExportSummary(out: out, rows: n, dim: d, space: space, prototypeSet: setName, files: files)
        } catch {
            try? fm.removeItem(at: staging)
            throw error as? EmbedScopeError ?? EmbedScopeError(.io, "cannot write the export", path: out.path, underlying: error)
        }
    }
}

extension IndexExport {
    /// An exclusive `flock` on the folder `out` itself (no file is added to it), waited for as the
    /// index's writer lock is (`IndexWriterLock.policy`: `--lock-timeout`, `EMBEDSCOPE_LOCK_TIMEOUT`).
    /// Returns the descriptor holding it; closing it releases the lock.
    static func lockFolder(_ out: URL) throws -> Int32 {
        let policy = IndexWriterLock.policy
        let start = DispatchTime.now().uptimeNanoseconds
        var told = false
        while true {
            let fd = open(out.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else {
                throw EmbedScopeError(errno == ENOENT ? .notFound : .io, "cannot open --out: \(String(cString: strerror(errno)))", path: out.path)
            }
            var st = stat()
            guard fstat(fd, &st) == 0 else {
                close(fd)
                throw EmbedScopeError(.io, "cannot stat --out: \(String(cString: strerror(errno)))", path: out.path)
            }
            do {
                try policy.lockExclusive(fd, since: start, told: &told, waiting: { "waiting for another export into \(out.path)" },
                                         timedOut: { _ in
                                             EmbedScopeError(.locked, "another export is writing into this folder", path: out.path,
                                                             hint: "try again when it has finished, or pass a longer --lock-timeout; nothing was changed")
                                         },
                                         failed: { e in EmbedScopeError(.io, "cannot lock --out: \(String(cString: strerror(e)))", path: out.path) })
            } catch {
                close(fd)
                throw error
            }
            // Still the folder at that path (a new export renamed over an empty one meanwhile: lock that).
            var now = stat()
            if stat(out.path, &now) == 0, now.st_dev == st.st_dev, now.st_ino == st.st_ino { return fd }
            close(fd)
        }
    }
}

extension Importer {
    /// The norms of `import --norms` (the inverse of `export`'s split into unit rows and
    /// norms): finite and positive, one per row of `x`. Row i's original norm is norms[i] times
    /// its norm in X (`SpaceWriter.append(_:scale:what:)`: exactly norms[i] for a unit row).
    static func readNorms(for x: NPYArray, from url: URL) throws -> [Float] {
        let norms = try NPYArray.read(contentsOf: url)
        let n = x.rows
        guard norms.values.count == n, norms.shape.count == 1 || (norms.shape.count == 2 && norms.shape.contains(1)) else {
            throw EmbedScopeError(.shapeMismatch, "norms have shape \(norms.shape); expected [\(n)], one per row of the vectors", path: url.path)
        }
        for (i, s) in norms.values.enumerated() {
            guard s.isFinite, s > 0 else {
                throw EmbedScopeError(.nonFinite, "norm \(i) is \(s); norms must be finite and positive", path: url.path, hint: "nothing was written")
            }
        }
        return norms.values
    }
}
