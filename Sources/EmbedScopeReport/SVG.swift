import Foundation
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeAnalysis

/// A small SVG writer for the report's plots: a flat list of elements, every attribute value
/// and text escaped, numbers printed with a fixed number of decimals so that the same input
/// always gives the same bytes. Output is a standalone SVG 1.1 document (it opens in a
/// browser through `<img src=…>` and parses with any XML parser).
package struct SVGWriter {
    package let width: Int
    package let height: Int
    private var body: [String] = []

    /// Font stack of all text: DejaVu Sans is what a Debian machine has; the rest are fallbacks.
    package static let fontFamily = "DejaVu Sans, Helvetica, Arial, sans-serif"

    package init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    /// Escapes text or an attribute value for XML: & < > " ' and drops characters XML 1.0 forbids.
    /// Bidirectional controls, which would reorder the text around them, are shown as `\u{202E}`
    /// (`bidiControlsEscaped`). The report's HTML escapes with this too (`HTML.esc`).
    package static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for u in s.bidiControlsEscaped.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\t", "\n", "\r": out += " "
            default:
                let v = u.value
                if v < 0x20 || (0xD800...0xDFFF).contains(v) || v == 0xFFFE || v == 0xFFFF { continue }
                out.unicodeScalars.append(u)
            }
        }
        return out
    }

    /// A coordinate or length with at most two decimals, no "-0", no exponent.
    package static func num(_ v: Double) -> String {
        guard v.isFinite else { return "0" }
        var s = String(format: "%.2f", v)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s == "-0" ? "0" : s
    }

    package mutating func raw(_ element: String) { body.append(element) }

    package mutating func rect(x: Double, y: Double, width w: Double, height h: Double, fill: String,
                              stroke: String? = nil, extra: String = "", title: String? = nil) {
        let n = Self.num
        var e = "<rect x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(max(0, w)))\" height=\"\(n(max(0, h)))\" fill=\"\(fill)\""
        if let stroke { e += " stroke=\"\(stroke)\"" }
        if !extra.isEmpty { e += " " + extra }
        if let title { e += "><title>\(Self.escape(title))</title></rect>" } else { e += "/>" }
        body.append(e)
    }

    package mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width w: Double = 1, extra: String = "") {
        let n = Self.num
        body.append("<line x1=\"\(n(x1))\" y1=\"\(n(y1))\" x2=\"\(n(x2))\" y2=\"\(n(y2))\" stroke=\"\(stroke)\" stroke-width=\"\(n(w))\"\(extra.isEmpty ? "" : " " + extra)/>")
    }

    package mutating func circle(cx: Double, cy: Double, r: Double, fill: String, extra: String = "") {
        let n = Self.num
        body.append("<circle cx=\"\(n(cx))\" cy=\"\(n(cy))\" r=\"\(n(r))\" fill=\"\(fill)\"\(extra.isEmpty ? "" : " " + extra)/>")
    }

    package mutating func polygon(_ points: [(Double, Double)], fill: String) {
        let p = points.map { "\(Self.num($0.0)),\(Self.num($0.1))" }.joined(separator: " ")
        body.append("<polygon points=\"\(p)\" fill=\"\(fill)\"/>")
    }

    package enum Anchor: String { case start, middle, end }

    package mutating func text(_ s: String, x: Double, y: Double, size: Double = 12, anchor: Anchor = .start,
                              fill: String = "#222222", weight: String? = nil, rotate: Double? = nil, halo: Bool = false) {
        let n = Self.num
        var e = "<text x=\"\(n(x))\" y=\"\(n(y))\" font-size=\"\(n(size))\""
        if anchor != .start { e += " text-anchor=\"\(anchor.rawValue)\"" }
        if fill != "#222222" { e += " fill=\"\(fill)\"" }
        if let weight { e += " font-weight=\"\(weight)\"" }
        if let rotate { e += " transform=\"rotate(\(n(rotate)) \(n(x)) \(n(y)))\"" }
        // A white outline under the glyphs keeps a label readable over points and lines.
        if halo { e += " stroke=\"#ffffff\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\"" }
        body.append(e + ">\(Self.escape(s))</text>")
    }

    /// The finished document.
    package func document(title: String) -> String {
        var s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        s += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\""
        s += " font-family=\"\(Self.fontFamily)\" fill=\"#222222\">\n"
        s += "<title>\(Self.escape(title))</title>\n"
        s += "<rect width=\"\(width)\" height=\"\(height)\" fill=\"#ffffff\"/>\n"
        s += body.joined(separator: "\n")
        s += "\n</svg>\n"
        return s
    }
}

/// Axis ticks at "nice" steps (1, 2, 2.5, 5 × 10ⁿ) covering a range.
enum NiceTicks {
    static func step(for span: Double, count: Int) -> Double {
        guard span > 0, span.isFinite else { return 1 }
        let raw = span / Double(max(1, count))
        let mag = pow(10, floor(log10(raw)))
        for m in [1.0, 2.0, 2.5, 5.0, 10.0] where raw <= m * mag { return m * mag }
        return 10 * mag
    }

    /// The range widened to multiples of the step, and the ticks inside it.
    static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> (lo: Double, hi: Double, ticks: [Double]) {
        var lo = lo, hi = hi
        if !(lo.isFinite && hi.isFinite) { lo = 0; hi = 1 }
        if hi - lo < 1e-12 { lo -= 0.5; hi += 0.5 }
        let s = step(for: hi - lo, count: count)
        let a = floor(lo / s) * s, b = ceil(hi / s) * s
        var t: [Double] = []
        var v = a
        while v <= b + s * 1e-9 { t.append(abs(v) < s * 1e-9 ? 0 : v); v += s }
        return (a, b, t)
    }

    /// The range kept as is (widened only when empty) and the nice ticks that fall inside it.
    static func inside(_ lo: Double, _ hi: Double, count: Int = 5) -> (lo: Double, hi: Double, ticks: [Double]) {
        var lo = lo, hi = hi
        if !(lo.isFinite && hi.isFinite) { lo = 0; hi = 1 }
        if hi - lo < 1e-12 { lo -= 0.5; hi += 0.5 }
        let s = step(for: hi - lo, count: count)
        var t: [Double] = []
        var v = ceil(lo / s) * s
        while v <= hi + s * 1e-9 { t.append(abs(v) < s * 1e-9 ? 0 : v); v += s }
        return (lo, hi, t)
    }

    static func label(_ v: Double, step: Double) -> String {
        let decimals = max(0, min(6, Int(-floor(log10(step)) + (step / pow(10, floor(log10(step))) == 2.5 ? 1 : 0))))
        let s = String(format: "%.\(decimals)f", v)
        return s.hasPrefix("-") && Double(s) == 0 ? String(s.dropFirst()) : s
    }
}
