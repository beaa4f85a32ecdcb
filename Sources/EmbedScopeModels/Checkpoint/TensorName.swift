import EmbedScopeCore

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
        escapingScalars(backslash: true) { s in
            if asciiOnly && !s.isASCII { return true }
            switch s.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator: return true
            default: return false
            }
        }
    }
}
