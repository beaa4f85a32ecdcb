import Foundation
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeModels
import EmbedScopeAnalysis
import EmbedScopeReport

/// The rows of an import: `rows.csv` with a header naming at least `path` and `class`
/// (an optional `split` column is kept). RFC 4180 quoting ("a, b" and "" for a quote).
package struct Manifest: Sendable {
    package struct Entry: Sendable, Equatable {
        package var path: String
        package var className: String
        package var split: String?
    }
    package var entries: [Entry]
    /// Directory relative paths are resolved against (the manifest's folder).
    package var baseDirectory: URL

    package static func read(contentsOf url: URL) throws -> Manifest {
        try RegularFile.requireRegularInput(url)
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw EmbedScopeError(.manifest, "cannot read manifest as UTF-8 text", path: url.path, underlying: error)
        }
        return try parse(text, path: url.path, baseDirectory: url.deletingLastPathComponent())
    }

    package static func parse(_ text: String, path: String, baseDirectory: URL) throws -> Manifest {
        let records = try CSV.parse(text, path: path)
        guard let header = records.first else {
            throw EmbedScopeError(.manifest, "manifest is empty", path: path, hint: "the first line must be the header `path,class`")
        }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard let pi = names.firstIndex(of: "path"), let ci = names.firstIndex(of: "class") else {
            throw EmbedScopeError(.manifest, "header is '\(header.fields.joined(separator: ","))'; it must name the columns `path` and `class`", path: path)
        }
        for name in ["path", "class", "split"] where names.filter({ $0 == name }).count > 1 {
            throw EmbedScopeError(.manifest, "the header names the column `\(name)` \(names.filter { $0 == name }.count) times: which one is meant?", path: path,
                                  hint: "keep one `\(name)` column; nothing was written")
        }
        let si = names.firstIndex(of: "split")
        var entries: [Entry] = []
        entries.reserveCapacity(records.count - 1)
        // A path names one row: `query --path`, `remove --path`, `add`'s "already indexed" and the
        // server's images all look rows up by it.
        var lineOfPath: [String: Int] = [:]
        var classSpelling: [String: String] = [:]
        for rec in records.dropFirst() {
            if rec.fields.count == 1 && rec.fields[0].isEmpty { continue } // blank line
            guard rec.fields.count == names.count else {
                throw EmbedScopeError(.manifest, "line \(rec.line) has \(rec.fields.count) fields, the header has \(names.count)", path: path)
            }
            let p = rec.fields[pi], c = rec.fields[ci]
            guard !p.isEmpty, !c.isEmpty else {
                throw EmbedScopeError(.manifest, "line \(rec.line) has an empty path or class", path: path)
            }
            // NUL ended the path in the catalog (SQLite's C strings): "a\0x.png" and "a\0y.png" both became "a".
            // Other control characters are kept (a file name may hold a newline, and `build` indexes
            // it; `export` writes it quoted, so the manifest it writes imports back).
            for (what, text) in [("path", p), ("class", c)] where text.unicodeScalars.contains(where: { $0.value == 0 }) {
                throw EmbedScopeError(.manifest, "line \(rec.line): the \(what) contains a NUL character", path: path,
                                      hint: "file and class names cannot hold NUL; nothing was written")
            }
            // "./a.png", "a.png" and "x//a.png" / "x/a.png" name one file: keyed by the path with
            // empty and "." components dropped (".." is kept: it may cross a symlink).
            let key = Self.sameFileKey(p)
            if let first = lineOfPath.updateValue(rec.line, forKey: key) {
                let other = entries.first { Self.sameFileKey($0.path) == key }?.path ?? p
                if UnicodeTwins.areTwins(other, p) || UnicodeTwins.areTwins(Self.sameFileKey(other), key) {
                    throw EmbedScopeError(.manifest, "line \(rec.line)'s path and line \(first)'s, \(UnicodeTwins.describe(other, p)), are two names of one text",
                                          path: path, hint: UnicodeTwins.hint)
                }
                if !other.utf8.elementsEqual(p.utf8) {
                    throw EmbedScopeError(.manifest, "line \(rec.line)'s path '\(p)' names the same file as line \(first)'s '\(other)'", path: path,
                                          hint: "each image once, by one spelling of its path; drop the repeated line (and its vector). Nothing was written")
                }
                throw EmbedScopeError(.manifest, "line \(rec.line) repeats the path '\(p)' of line \(first)", path: path,
                                      hint: "each row is one image, named by its path; drop the repeated line (and its vector). Nothing was written")
            }
            if let twin = classSpelling[c], UnicodeTwins.areTwins(twin, c) {
                throw EmbedScopeError(.manifest, "line \(rec.line): the classes \(UnicodeTwins.describe(twin, c)) are two spellings of one name", path: path,
                                      hint: UnicodeTwins.hint)
            }
            classSpelling[c] = classSpelling[c] ?? c
            // A split is a name to compare (`train`, `val`, `test`): "a, train" means train, not " train"
            // (which would count as another split, and as leakage beside train).
            let split = si.map { rec.fields[$0].trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
            entries.append(Entry(path: p, className: c, split: split))
        }
        guard !entries.isEmpty else {
            throw EmbedScopeError(.manifest, "manifest has a header but no rows", path: path)
        }
        return Manifest(entries: entries, baseDirectory: baseDirectory)
    }

    /// A path with its empty and "." components dropped ("./a//b.png" → "a/b.png"; a leading "/" kept).
    static func sameFileKey(_ p: String) -> String {
        let parts = p.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        return (p.hasPrefix("/") ? "/" : "") + parts.joined(separator: "/")
    }

    package func resolve(_ path: String) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : baseDirectory.appendingPathComponent(path)
    }
}
