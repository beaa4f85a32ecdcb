import Foundation
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeAnalysis

/// A confusion-matrix heat map: rows are true classes, columns predicted ones; each cell shows
/// its count, coloured by the row-normalised fraction (recall on the diagonal), with class
/// names on both axes. Readable up to ~20 classes; from 21 to `maxClasses` the counts are
/// left out and the cells shrink; beyond that only the `maxClasses` classes with the most
/// errors are drawn (the title says so).
package struct ConfusionHeatMap: Sendable {
    package var title: String
    package var classNames: [String]
    /// counts[true][predicted].
    package var counts: [[Int]]
    package var maxClasses = 60

    package init(title: String, classNames: [String], counts: [[Int]]) {
        self.title = title; self.classNames = classNames; self.counts = counts
    }

    /// The classes drawn, in order: all, or the `maxClasses` with the most errors (row + column
    /// off-diagonal), kept in their original order.
    package var shownClasses: [Int] {
        let n = classNames.count
        guard n > maxClasses else { return Array(0..<n) }
        var errors = [Int](repeating: 0, count: n)
        for i in 0..<n where i < counts.count {
            for j in 0..<min(n, counts[i].count) where i != j { errors[i] += counts[i][j]; errors[j] += counts[i][j] }
        }
        return Array((0..<n).sorted { errors[$0] != errors[$1] ? errors[$0] > errors[$1] : $0 < $1 }.prefix(maxClasses)).sorted()
    }

    /// Cell side in pixels for `n` drawn classes.
    package static func cellSize(classes n: Int) -> Int { n <= 10 ? 46 : n <= 20 ? 34 : max(8, 640 / n) }

    /// Overall size of the SVG for `n` drawn classes with labels of at most `labelChars` characters.
    package static func size(classes n: Int, labelChars: Int) -> (width: Int, height: Int) {
        let label = min(160, labelChars * 7 + 16)
        let side = cellSize(classes: n) * n
        return (label + 30 + side + 120, 56 + side + Int(Double(label) * 0.75) + 40)
    }

    package func svg() -> String {
        let shown = shownClasses
        let n = shown.count
        let labelChars = min(22, shown.map { classNames[$0].count }.max() ?? 4)
        let (width, height) = Self.size(classes: n, labelChars: labelChars)
        let cell = Double(Self.cellSize(classes: n))
        let left = Double(min(160, labelChars * 7 + 16)) + 30, top = 56.0
        var w = SVGWriter(width: width, height: height)
        var t = title
        if n < classNames.count { t += " (\(n) of \(classNames.count) classes: those with the most errors)" }
        w.text(t, x: 12, y: 24, size: 15, weight: "600")
        w.text("predicted →", x: left, y: 44, size: 12, fill: "#666666")
        w.text("true ↓", x: 12, y: 44, size: 12, fill: "#666666")
        let fontSize = n <= 10 ? 12.0 : n <= 20 ? 10.0 : min(10, cell * 0.8)
        let labelEvery = cell >= 10 ? 1 : Int((10 / cell).rounded(.up))
        for (a, i) in shown.enumerated() {
            let row = i < counts.count ? counts[i] : []
            let rowTotal = row.reduce(0, +)
            let y = top + Double(a) * cell
            if a % labelEvery == 0 {
                w.text(ScatterPlot.shorten(classNames[i], 22), x: left - 6, y: y + cell / 2 + fontSize * 0.35, size: fontSize, anchor: .end)
            }
            for (b, j) in shown.enumerated() {
                let c = j < row.count ? row[j] : 0
                let f = rowTotal > 0 ? Double(c) / Double(rowTotal) : 0
                let x = left + Double(b) * cell
                let tip = n <= 100 ? "true \(classNames[i]) → predicted \(classNames[j]): \(c) (\(String(format: "%.1f", 100 * f))% of row)" : nil
                w.rect(x: x, y: y, width: cell, height: cell, fill: Self.blue(f).css, stroke: n <= 20 ? "#ffffff" : nil, title: tip)
                if n <= 20 && c > 0 {
                    w.text("\(c)", x: x + cell / 2, y: y + cell / 2 + fontSize * 0.35, size: fontSize, anchor: .middle,
                           fill: f > 0.5 ? "#ffffff" : "#222222", weight: i == j ? "600" : nil)
                }
            }
        }
        let bottom = top + Double(n) * cell
        for (b, j) in shown.enumerated() where b % labelEvery == 0 {
            let x = left + Double(b) * cell + cell / 2 + fontSize * 0.35
            w.text(ScatterPlot.shorten(classNames[j], 22), x: x, y: bottom + 8, size: fontSize, anchor: .end, rotate: -45)
        }
        // Colour scale.
        let sx = left + Double(n) * cell + 24, sh = min(160.0, max(60, Double(n) * cell))
        for k in 0..<20 {
            let f = 1 - Double(k) / 19
            w.rect(x: sx, y: top + Double(k) * sh / 20, width: 14, height: sh / 20 + 0.5, fill: Self.blue(f).css)
        }
        w.text("100%", x: sx + 18, y: top + 9, size: 10, fill: "#666666")
        w.text("0%", x: sx + 18, y: top + sh, size: 10, fill: "#666666")
        w.text("of row", x: sx, y: top + sh + 16, size: 10, fill: "#666666")
        return w.document(title: title)
    }

    /// White → dark blue (matplotlib "Blues"-like), f in [0, 1].
    static func blue(_ f: Double) -> RGB {
        let stops: [(Double, RGB)] = [(0, RGB(hex: 0xf7fbff)), (0.25, RGB(hex: 0xc6dbef)), (0.5, RGB(hex: 0x6baed6)),
                                      (0.75, RGB(hex: 0x2171b5)), (1, RGB(hex: 0x08306b))]
        let x = min(max(f.isFinite ? f : 0, 0), 1)
        var k = 0
        while k < stops.count - 2 && x > stops[k + 1].0 { k += 1 }
        let (a, ca) = stops[k], (b, cb) = stops[k + 1]
        let t = (x - a) / (b - a)
        func mix(_ p: UInt8, _ q: UInt8) -> UInt8 { UInt8((Double(p) + (Double(q) - Double(p)) * t).rounded()) }
        return RGB(mix(ca.r, cb.r), mix(ca.g, cb.g), mix(ca.b, cb.b))
    }
}
