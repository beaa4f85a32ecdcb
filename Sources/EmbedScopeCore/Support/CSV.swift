import Foundation

/// A small RFC 4180 reader that keeps line numbers for error messages, and the matching writer.
package enum CSV {
    package struct Record { package var fields: [String]; package var line: Int }

    /// One field as RFC 4180 writes it: quoted (with "" for a quote) when it holds a comma, a
    /// quote or a line break; as it is otherwise. `parse` reads it back unchanged.
    package static func field(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    /// A text field of a CSV written for people and spreadsheets (`project --csv`, `compare
    /// --csv`, the page's Export CSV): as `field`, but a value that a spreadsheet would run as a
    /// formula — one starting with `=`, `+`, `-`, `@`, a tab or a carriage return that is not a
    /// number — gets a leading `'` (OWASP's advice on CSV injection), so a class named
    /// `=HYPERLINK(…)` shows as text. Numbers such as `-0.25` stay as they are. Files that
    /// `embedscope` reads back (the manifest of `export`) use `field`: they keep every value exactly.
    package static func textField(_ s: String) -> String {
        guard let c = s.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(c), Double(s)?.isFinite != true else { return field(s) }
        return field("'" + s)
    }

    package static func parse(_ text: String, path: String) throws -> [Record] {
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
