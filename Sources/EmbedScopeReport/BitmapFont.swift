import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeAnalysis
/// A fixed-width bitmap font for text drawn into PNG image sheets (captions under tiles).
/// The one font is `fixed13`: 7×13 cells of the public-domain X11 misc-fixed design (see
/// `BitmapFont+Fixed13.swift` for the source). A few typographic characters draw as ASCII stand-ins (· as |, … as ~, − as -);
/// other characters outside printable ASCII draw as '?'.
package struct BitmapFont: Sendable {
    package let advance: Int
    package let height: Int
    /// Rows of each glyph, code point 32 first; the leftmost pixel in the high bit.
    let glyphs: [[UInt8]]

    package static let fixed13: BitmapFont = {
        let glyphs = fixed13Rows.map { hex -> [UInt8] in
            let u = Array(hex.utf8)
            return stride(from: 0, to: u.count, by: 2).map { UInt8(hexDigit(u[$0]) << 4 | hexDigit(u[$0 + 1])) }
        }
        return BitmapFont(advance: 7, height: 13, glyphs: glyphs)
    }()

    private static func hexDigit(_ c: UInt8) -> Int {
        c >= 97 ? Int(c) - 87 : Int(c) - 48
    }

    /// Rows of the glyph for `c` ('?' for anything not printable ASCII).
    package func rows(of c: Character) -> [UInt8] {
        let c = Self.substitutes[c] ?? c
        guard let a = c.asciiValue, a >= 32, a <= 126 else { return glyphs[Int(UInt8(ascii: "?")) - 32] }
        return glyphs[Int(a) - 32]
    }

    /// ASCII stand-ins for a few characters that captions use.
    static let substitutes: [Character: Character] = ["·": "|", "…": "~", "−": "-", "–": "-", "—": "-", "×": "x", "’": "'", "‘": "'", "“": "\"", "”": "\""]

    /// Width in pixels of a string drawn in this font.
    package func width(of s: String) -> Int { s.count * advance }

    /// `s` shortened with a trailing "~" so that it fits in `pixels`.
    package func fit(_ s: String, pixels: Int) -> String {
        let n = max(0, pixels / advance)
        guard s.count > n else { return s }
        guard n >= 2 else { return String(s.prefix(n)) }
        return String(s.prefix(n - 1)) + "~"
    }

    /// A string as text art, one line per pixel row ('#' ink, '.' background): for tests and debugging.
    package func render(_ s: String) -> [String] {
        (0..<height).map { y in
            s.map { c -> String in
                let bits = rows(of: c)[y]
                return String((0..<advance).map { x in bits & (0x80 >> UInt8(x)) != 0 ? "#" : "." })
            }.joined()
        }
    }
}
