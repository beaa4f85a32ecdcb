/// Tensor names come from the checkpoint file, which anyone may have written: before one is
/// printed (a listing, an error message) the characters that could act on a terminal or forge a
/// line — control characters (ESC, CR, LF, DEL, C1 controls), Unicode format characters
/// (bidirectional overrides, zero-width characters) and line/paragraph separators — are shown as
/// Swift-style `\u{1B}` escapes, and a backslash as `\\`, so the escaped text is unambiguous.
extension String {
    /// The name with control, format and separator characters escaped (see above).
    package var escapedForDisplay: String { escaped(asciiOnly: false) }

    /// The name with every non-ASCII scalar escaped too: tells apart names that print alike
    /// (`caf\u{E9}` and `cafe\u{301}`, the two Unicode forms of "café").
    package var escapedToASCII: String { escaped(asciiOnly: true) }

    private func escaped(asciiOnly: Bool) -> String {
        func needsEscape(_ s: Unicode.Scalar) -> Bool {
            if s == "\\" { return true }
            if asciiOnly && !s.isASCII { return true }
            switch s.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator: return true
            default: return false
            }
        }
        guard unicodeScalars.contains(where: needsEscape) else { return self }
        var out = ""
        for s in unicodeScalars {
            if s == "\\" {
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
