/// Names come from users' files (class names, image paths, index, space and prototype-set names).
/// Shown as they are, a Unicode bidirectional control in one — ALM U+061C, LRM U+200E, RLM U+200F,
/// the embeddings and overrides U+202A–U+202E, the isolates U+2066–U+2069 — reorders the text
/// around it ("cat\u{202E}gpj.exe" reads as "catexe.jpg"), and HTML escaping does nothing about it.
/// The report and the explorer page show each one as a Swift-style `\u{202E}` escape, the form
/// the CLI's `escapedForDisplay` uses (Models `TensorName.swift`); the page's script has the
/// JavaScript twin (`showText` in the server's `PageScript.swift`).
extension String {
    /// Whether `s` is one of the bidirectional controls listed above.
    package static func isBidiControl(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }

    /// The text with each bidirectional control shown as `\u{202E}`; everything else (Arabic and
    /// Hebrew letters, the zero-width joiner of an emoji sequence, backslashes) unchanged.
    package var bidiControlsEscaped: String { escapingScalars(where: String.isBidiControl) }

    /// For whole lines written to a terminal (notes, errors, tables): bidirectional controls and
    /// every control character but the line feed (C0 — ESC, CR, TAB —, DEL, C1) shown as
    /// `\u{1B}`, so a name holding an escape sequence cannot colour, move or retitle the terminal.
    /// Line feeds are the message's own; a name's own line feed is escaped where the name is put
    /// into the message (`displayEscaped`).
    package var terminalEscaped: String {
        escapingScalars { String.isBidiControl($0) || ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value) }
    }

    /// The text with each scalar for which `needsEscape` holds written as `\u{` + its code point in
    /// uppercase hex + `}`, and, when `backslash` is true, each backslash as `\\`.
    package func escapingScalars(backslash: Bool = false, where needsEscape: (Unicode.Scalar) -> Bool) -> String {
        guard unicodeScalars.contains(where: { (backslash && $0 == "\\") || needsEscape($0) }) else { return self }
        var out = ""
        for s in unicodeScalars {
            if backslash && s == "\\" {
                out += "\\\\"
            } else if needsEscape(s) {
                out += "\\u{\(String(s.value, radix: 16, uppercase: true))}"
            } else {
                out.unicodeScalars.append(s)
            }
        }
        return out
    }
}

extension String {
    /// For one cell or field of text output (a path, a class name): bidirectional controls and
    /// control characters (C0 — a newline or tab in a file name —, DEL, C1) shown as `\u{A}`
    /// escapes, so a name cannot break a table's rows or reorder its line.
    package var displayEscaped: String {
        escapingScalars { String.isBidiControl($0) || $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
    }

    /// Padded with spaces, or cut, to `width` characters (grapheme clusters: what `count` measures
    /// and a terminal shows as one cell, mostly). Foundation's `padding(toLength:)` counts UTF-16
    /// units: a name with an emoji or a combining accent came out cut short ("cat_😀😀😀." for
    /// "cat_😀😀😀.png") while the column widths were measured in characters.
    package func padded(to width: Int) -> String {
        let n = count
        if n == width { return self }
        if n > width { return String(prefix(max(0, width))) }
        return self + String(repeating: " ", count: width - n)
    }
}
