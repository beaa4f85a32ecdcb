import Foundation
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeModels
import EmbedScopeAnalysis
import EmbedScopeReport

/// An image folder: `root/<class>/**/*.{jpg,jpeg,png}`. Every file below a class folder, at
/// any depth, belongs to that class. Classes and files are sorted (bytewise), so row order
/// and class ids are the same on every machine — and class ids follow torchvision's
/// ImageFolder, which also sorts class folder names.
public struct DatasetFolder: Sendable {
    public struct Entry: Sendable, Equatable {
        /// Path relative to the root, with `/` separators.
        public var path: String
        public var classId: Int
    }
    public var root: URL
    public var classes: [String]
    public var entries: [Entry]
    /// Files that were skipped because of their extension (count only).
    public var ignored: Int

    public static let extensions: Set<String> = ["jpg", "jpeg", "png"]

    public static func scan(_ root: URL) throws -> DatasetFolder {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: root.path, isDirectory: &isDir) else {
            throw EmbedScopeError(.notFound, "no such folder", path: root.path)
        }
        guard isDir.boolValue else {
            throw EmbedScopeError(.dataset, "a data set is a folder with one sub-folder per class; this is a file", path: root.path)
        }
        let top: [String]
        do {
            top = try fm.contentsOfDirectory(atPath: root.path).filter { !$0.hasPrefix(".") }.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        } catch {
            throw EmbedScopeError(.io, "cannot list folder", path: root.path, underlying: error)
        }
        var classes: [String] = []
        var entries: [Entry] = []
        var ignored = 0
        for name in top {
            let dir = root.appendingPathComponent(name)
            var sub: ObjCBool = false
            guard fm.fileExists(atPath: dir.path, isDirectory: &sub), sub.boolValue else { ignored += 1; continue }
            var files: [String] = []
            guard let walker = fm.enumerator(atPath: dir.path) else {
                throw EmbedScopeError(.io, "cannot list folder", path: dir.path)
            }
            while let rel = walker.nextObject() as? String {
                let last = (rel as NSString).lastPathComponent
                if last.hasPrefix(".") { continue }
                if extensions.contains((last as NSString).pathExtension.lowercased()) {
                    files.append(rel)
                } else if walker.fileAttributes?[.type] as? FileAttributeType != .typeDirectory {
                    ignored += 1
                }
            }
            guard !files.isEmpty else { continue } // a folder with no images is not a class
            let id = classes.count
            classes.append(name)
            files.sort { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            entries += files.map { Entry(path: name + "/" + $0, classId: id) }
        }
        guard !entries.isEmpty else {
            throw EmbedScopeError(.dataset, "no images found (looked for \(root.lastPathComponent)/<class>/**/*.{jpg,jpeg,png})", path: root.path,
                                  hint: "put each class's images in its own sub-folder; `embedscope dataset fashion-mnist --out DIR` writes an example")
        }
        return DatasetFolder(root: root, classes: classes, entries: entries, ignored: ignored)
    }
}
