import Foundation
#if canImport(Glibc)
import Glibc
#endif
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeModels
import EmbedScopeAnalysis
import EmbedScopeReport

/// An image folder: `root/<class>/**/*.{jpg,jpeg,png}`, or `root/{train,val,test}/<class>/**/…`
/// (every top-level folder a split name; each row's split is recorded). Every file below a
/// class folder, at any depth, belongs to that class. Classes and files are sorted (bytewise), so row order
/// and class ids are the same on every machine — and class ids follow torchvision's
/// ImageFolder, which also sorts class folder names.
package struct DatasetFolder: Sendable {
    package struct Entry: Sendable, Equatable {
        /// Path relative to the root, with `/` separators.
        package var path: String
        package var classId: Int
        /// `train`, `val` or `test` when the folder is laid out as `root/{train,val,test}/<class>/…`.
        package var split: String? = nil
    }
    package var root: URL
    package var classes: [String]
    package var entries: [Entry]
    /// Files that were skipped because of their extension (count only).
    package var ignored: Int
    /// Of those, images in formats torchvision's `ImageFolder` reads and EmbedScope does not
    /// (.webp, .bmp, .tif, …): count per extension, to say so instead of leaving them out silently.
    package var unreadImages: [String: Int] = [:]
    /// Where symlinks in the data set lead outside its root (real paths of the folders reached,
    /// and of the folders holding linked files), sorted: recorded in the catalog
    /// (`datasetLinkedRoots`) so that the server serves those images too, and nothing else
    /// outside the root.
    package var linkedRoots: [String] = []

    /// The scan's running state: what `walk` adds to.
    struct Walk {
        var files: [String] = []
        var ignored = 0
        var unread: [String: Int] = [:]
        var realRoot: String
        var linked = Set<String>()
    }

    package static let extensions: Set<String> = ["jpg", "jpeg", "png"]
    /// Image formats not decoded here: torchvision's IMG_EXTENSIONS beyond ours, and a few more.
    package static let otherImageExtensions: Set<String> = ["webp", "bmp", "tif", "tiff", "gif", "ppm", "pgm", "pbm", "heic", "heif", "avif", "jxl", "jp2"]
    /// Top-level folder names that make a split layout (`validation` is recorded as `val`).
    package static let splitNames: Set<String> = ["train", "val", "validation", "test"]

    static func canonicalSplit(_ name: String) -> String {
        let l = name.lowercased()
        return l == "validation" ? "val" : l
    }

    static func isDirectory(_ url: URL) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &d) && d.boolValue
    }

    /// Entries of `dir` whose names are not valid UTF-8 (Foundation lists them with U+FFFD in place
    /// of the bad bytes, a name that then opens nothing), shown with the bad bytes as `\xNN`.
    static func undecodableNames(_ dir: URL) -> [(shown: String, isDirectory: Bool)] {
        guard let d = opendir(dir.path) else { return [] }
        defer { closedir(d) }
        var found: [(shown: String, isDirectory: Bool)] = []
        while let e = readdir(d) {
            let bytes: [UInt8] = withUnsafeBytes(of: &e.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if bytes.first == UInt8(ascii: ".") || String(validating: bytes, as: UTF8.self) != nil { continue }  // hidden ones are skipped anyway
            let shown = bytes.map { $0 < 0x80 ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }.joined()
            var isDir = e.pointee.d_type == UInt8(DT_DIR)
            if e.pointee.d_type == UInt8(DT_UNKNOWN) {
                var st = stat()
                isDir = (dir.path + "/").utf8CString.dropLast().withUnsafeBufferPointer { prefix in
                    let full = Array(prefix) + bytes.map { CChar(bitPattern: $0) } + [0]
                    return lstat(full, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
                }
            }
            found.append((shown, isDir))
        }
        return found.sorted { $0.shown < $1.shown }
    }

    /// A folder that cannot be named is a class (or split) that would silently vanish: an error.
    static func rejectUndecodableFolders(in dir: URL) throws {
        guard let bad = undecodableNames(dir).first(where: \.isDirectory) else { return }
        throw EmbedScopeError(.dataset, "folder name \"\(bad.shown)\" is not valid UTF-8", path: dir.path,
                              hint: "rename it (class names are stored as UTF-8 text)")
    }

    static func sortedListing(_ dir: URL) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".") }
                .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        } catch {
            throw EmbedScopeError.resourceShortage(error, reading: dir.path)
                ?? EmbedScopeError(.io, "cannot list folder", path: dir.path, underlying: error)
        }
    }

    /// Every image file below `dir` (paths relative to the class folder, through the names as
    /// listed), following symlinked folders and files as torchvision's `ImageFolder` does
    /// (`os.walk(followlinks=True)`): a data set whose class folders, or folders within them, are
    /// links to other disks is read whole. A link back to a folder that holds it would never end:
    /// refused, as is a folder that cannot be listed (a class, or part of one, would vanish) and
    /// an image or folder whose name is not UTF-8.
    static func walk(_ dir: URL, relative: String, ancestors: [DirectoryIdentity], into w: inout Walk) throws {
        var st = stat()
        guard stat(dir.path, &st) == 0 else {
            let e = errno
            throw EmbedScopeError.resourceShortage(POSIXError(POSIXErrorCode(rawValue: e) ?? .EIO), reading: dir.path)
                ?? EmbedScopeError(.io, "cannot read folder: \(String(cString: strerror(e)))", path: dir.path)
        }
        let me = DirectoryIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        if ancestors.contains(me) {
            throw EmbedScopeError(.dataset, "this folder is a link back to a folder that holds it: following it would never end", path: dir.path,
                                  hint: "remove the link, or move it out of the data set")
        }
        if let real = RealPath.of(dir.path), !RealPath.isInside(real, w.realRoot) { w.linked.insert(real) }
        guard let d = opendir(dir.path) else {
            let e = errno
            throw EmbedScopeError.resourceShortage(POSIXError(POSIXErrorCode(rawValue: e) ?? .EIO), reading: dir.path)
                ?? EmbedScopeError(.io, "cannot list folder: \(String(cString: strerror(e)))", path: dir.path,
                                   hint: "make it readable, or move it out of the data set")
        }
        var names: [[UInt8]] = []
        while true {
            errno = 0
            guard let e = readdir(d) else {
                let err = errno
                closedir(d)
                if err != 0 {
                    throw EmbedScopeError(.io, "cannot list folder: \(String(cString: strerror(err)))", path: dir.path)
                }
                break
            }
            let bytes: [UInt8] = withUnsafeBytes(of: &e.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if bytes.first == UInt8(ascii: ".") { continue }   // hidden ones, and . / ..
            names.append(bytes)
        }
        let chain = ancestors + [me]
        for bytes in names {
            let full = dir.path + "/" + String(decoding: bytes, as: UTF8.self)
            let fullBytes = Array((dir.path + "/").utf8) + bytes
            var es = stat()
            let found = (fullBytes + [0]).withUnsafeBufferPointer { p in p.withMemoryRebound(to: CChar.self) { stat($0.baseAddress!, &es) } } == 0
            let isDir = found && (es.st_mode & S_IFMT) == S_IFDIR
            guard let name = String(validating: bytes, as: UTF8.self) else {
                let shown = bytes.map { $0 < 0x80 ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }.joined()
                if isDir {
                    throw EmbedScopeError(.dataset, "folder name \"\(shown)\" is not valid UTF-8", path: dir.path,
                                          hint: "rename it (paths are stored as UTF-8 text)")
                }
                // An image so named is listed as Foundation lists it (U+FFFD for the bad bytes), and
                // the decoding pass skips it saying why.
                if extensions.contains((shown as NSString).pathExtension.lowercased()) {
                    let name = String(decoding: bytes, as: UTF8.self)
                    w.files.append(relative.isEmpty ? name : relative + "/" + name)
                } else {
                    w.ignored += 1
                }
                continue
            }
            let rel = relative.isEmpty ? name : relative + "/" + name
            if isDir {
                try walk(URL(fileURLWithPath: full, isDirectory: true), relative: rel, ancestors: chain, into: &w)
                continue
            }
            let ext = (name as NSString).pathExtension.lowercased()
            if extensions.contains(ext) {
                w.files.append(rel)   // (a link to nothing is listed; decoding it says so)
                // A linked file outside the root: its folder is where the data set's images also are.
                var ls = stat()
                if lstat(full, &ls) == 0, (ls.st_mode & S_IFMT) == S_IFLNK, let real = RealPath.of(full), !RealPath.isInside(real, w.realRoot) {
                    w.linked.insert((real as NSString).deletingLastPathComponent)
                }
            } else {
                w.ignored += 1
                if otherImageExtensions.contains(ext) { w.unread[ext, default: 0] += 1 }
            }
        }
    }

    struct DirectoryIdentity: Equatable {
        var device: UInt64, inode: UInt64
        init(device: UInt64, inode: UInt64) { self.device = device; self.inode = inode }
        init?(_ url: URL) {
            var st = stat()
            guard stat(url.path, &st) == 0 else { return nil }
            self.init(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        }
    }

    package static func scan(_ root: URL) throws -> DatasetFolder {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: root.path, isDirectory: &isDir) else {
            throw EmbedScopeError(.notFound, "no such folder", path: root.path)
        }
        guard isDir.boolValue else {
            throw EmbedScopeError(.dataset, "a data set is a folder with one sub-folder per class; this is a file", path: root.path)
        }
        let top = try sortedListing(root)
        try rejectUndecodableFolders(in: root)
        // `root/{train,val,test}/<class>/…`: every top-level folder is a split name.
        let topDirs = top.filter { isDirectory(root.appendingPathComponent($0)) }
        let splitLayout = !topDirs.isEmpty && topDirs.allSatisfy { splitNames.contains($0.lowercased()) }
        var perClass: [String: [(path: String, split: String?)]] = [:]
        var w = Walk(realRoot: RealPath.of(root.path) ?? root.standardizedFileURL.path)
        for part in splitLayout ? topDirs : [""] {
            let base = part.isEmpty ? root : root.appendingPathComponent(part)
            let names = part.isEmpty ? top : try sortedListing(base)
            if !part.isEmpty { try rejectUndecodableFolders(in: base) }
            let split = part.isEmpty ? nil : canonicalSplit(part)
            for name in names {
                let dir = base.appendingPathComponent(name)
                guard isDirectory(dir) else { w.ignored += 1; continue }
                w.files = []
                try walk(dir, relative: "", ancestors: [root, base].compactMap(DirectoryIdentity.init), into: &w)
                var files = w.files
                files.sort { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
                let prefix = part.isEmpty ? name + "/" : part + "/" + name + "/"
                // Folders whose names are one text in two byte spellings would be merged into one class.
                if let at = perClass.index(forKey: name), case let twin = perClass[at].key, UnicodeTwins.areTwins(twin, name) {
                    throw EmbedScopeError(.dataset, "the class folders \(UnicodeTwins.describe(twin, name)) are two spellings of one name",
                                          path: base.path, hint: UnicodeTwins.hint)
                }
                if let (a, b) = UnicodeTwins.first(in: files) {
                    throw EmbedScopeError(.dataset, "the files \(UnicodeTwins.describe(a, b)) are two spellings of one name", path: dir.path,
                                          hint: UnicodeTwins.hint)
                }
                perClass[name, default: []] += files.map { (prefix + $0, split) }
            }
        }
        // A folder with no images is not a class. Ids: class names sorted (ImageFolder's order);
        // rows: by class, then split folder, then file (all bytewise).
        var classes: [String] = []
        var entries: [Entry] = []
        for name in perClass.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            guard let files = perClass[name], !files.isEmpty else { continue }
            let id = classes.count
            classes.append(name)
            entries += files.map { Entry(path: $0.path, classId: id, split: $0.split) }
        }
        let (ignored, unread) = (w.ignored, w.unread)
        guard !entries.isEmpty else {
            if !unread.isEmpty {
                throw EmbedScopeError(.dataset, "no JPEG or PNG images found, only \(describeUnread(unread))", path: root.path,
                                      hint: "EmbedScope reads JPEG and PNG; convert the images (e.g. with Pillow or ImageMagick's mogrify -format png)")
            }
            throw EmbedScopeError(.dataset, "no images found (looked for \(root.lastPathComponent)/<class>/**/*.{jpg,jpeg,png})", path: root.path,
                                  hint: "put each class's images in its own sub-folder; `embedscope dataset fashion-mnist --out DIR` writes an example")
        }
        // Linked folders inside another linked folder add nothing.
        let linked = w.linked.sorted()
        let outermost = linked.filter { l in !linked.contains { $0 != l && RealPath.isInside(l, $0) } }
        return DatasetFolder(root: root, classes: classes, entries: entries, ignored: ignored, unreadImages: unread, linkedRoots: outermost)
    }

    /// "120 .webp, 3 .bmp files" (most first).
    package static func describeUnread(_ counts: [String: Int]) -> String {
        counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { "\($0.value) .\($0.key)" }.joined(separator: ", ") + " file" + (counts.values.reduce(0, +) == 1 ? "" : "s")
    }
}
