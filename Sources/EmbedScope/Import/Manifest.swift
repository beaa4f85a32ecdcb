import Foundation

/// The rows of an import: `rows.csv` with a header naming at least `path` and `class`
/// (an optional `split` column is kept). RFC 4180 quoting ("a, b" and "" for a quote).
public struct Manifest: Sendable {
    public struct Entry: Sendable, Equatable {
        public var path: String
        public var className: String
        public var split: String?
    }
    public var entries: [Entry]
    /// Directory relative paths are resolved against (the manifest's folder).
    public var baseDirectory: URL

    public static func read(contentsOf url: URL) throws -> Manifest {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw EmbedScopeError(.manifest, "cannot read manifest as UTF-8 text", path: url.path, underlying: error)
        }
        return try parse(text, path: url.path, baseDirectory: url.deletingLastPathComponent())
    }

    public static func parse(_ text: String, path: String, baseDirectory: URL) throws -> Manifest {
        let records = try CSV.parse(text, path: path)
        guard let header = records.first else {
            throw EmbedScopeError(.manifest, "manifest is empty", path: path, hint: "the first line must be the header `path,class`")
        }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard let pi = names.firstIndex(of: "path"), let ci = names.firstIndex(of: "class") else {
            throw EmbedScopeError(.manifest, "header is '\(header.fields.joined(separator: ","))'; it must name the columns `path` and `class`", path: path)
        }
        let si = names.firstIndex(of: "split")
        var entries: [Entry] = []
        entries.reserveCapacity(records.count - 1)
        for rec in records.dropFirst() {
            if rec.fields.count == 1 && rec.fields[0].isEmpty { continue } // blank line
            guard rec.fields.count == names.count else {
                throw EmbedScopeError(.manifest, "line \(rec.line) has \(rec.fields.count) fields, the header has \(names.count)", path: path)
            }
            let p = rec.fields[pi], c = rec.fields[ci]
            guard !p.isEmpty, !c.isEmpty else {
                throw EmbedScopeError(.manifest, "line \(rec.line) has an empty path or class", path: path)
            }
            entries.append(Entry(path: p, className: c, split: si.map { rec.fields[$0] }.flatMap { $0.isEmpty ? nil : $0 }))
        }
        guard !entries.isEmpty else {
            throw EmbedScopeError(.manifest, "manifest has a header but no rows", path: path)
        }
        return Manifest(entries: entries, baseDirectory: baseDirectory)
    }

    public func resolve(_ path: String) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : baseDirectory.appendingPathComponent(path)
    }
}

/// A small RFC 4180 reader that keeps line numbers for error messages, and the matching writer.
public enum CSV {
    struct Record { var fields: [String]; var line: Int }

    /// One field as RFC 4180 writes it: quoted (with "" for a quote) when it holds a comma, a
    /// quote or a line break; as it is otherwise. `parse` reads it back unchanged.
    public static func field(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    static func parse(_ text: String, path: String) throws -> [Record] {
        var records: [Record] = []
        var fields: [String] = []
        var field = ""
        var inQuotes = false
        var line = 1, recordLine = 1
        var chars = Array(text.unicodeScalars)
        if chars.first == "\u{FEFF}" { chars.removeFirst() }
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if inQuotes {
                if c == "\"" {
                    if i + 1 < chars.count && chars[i + 1] == "\"" { field.unicodeScalars.append("\""); i += 1 } else { inQuotes = false }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
            } else if c == "\"" && field.isEmpty {
                inQuotes = true
            } else if c == "," {
                fields.append(field); field = ""
            } else if c == "\n" || c == "\r" {
                if c == "\r" && i + 1 < chars.count && chars[i + 1] == "\n" { i += 1 }
                fields.append(field); field = ""
                records.append(Record(fields: fields, line: recordLine))
                fields = []
                line += 1
                recordLine = line
            } else {
                field.unicodeScalars.append(c)
            }
            i += 1
        }
        if inQuotes { throw EmbedScopeError(.manifest, "unterminated quoted field starting on line \(recordLine)", path: path) }
        if !field.isEmpty || !fields.isEmpty {
            fields.append(field)
            records.append(Record(fields: fields, line: recordLine))
        }
        return records
    }
}
