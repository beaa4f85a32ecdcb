import Foundation
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeAnalysis

/// A 2-D scatter plot of rows coloured by class, with a legend, axis labels (e.g.
/// "PC1 (23.4% var)") and optional arrows from the origin (prototype directions projected into
/// the same plane). Plain arrays in, an SVG document out; the caller does the projection.
public struct ScatterPlot: Sendable {
    public struct Arrow: Sendable {
        public var x: Double
        public var y: Double
        public var label: String
        /// Colours the arrow like this class; nil draws it dark grey.
        public var classIndex: Int?
        public init(x: Double, y: Double, label: String, classIndex: Int? = nil) {
            self.x = x; self.y = y; self.label = label; self.classIndex = classIndex
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var classNames: [String]
    public var xs: [Double]
    public var ys: [Double]
    /// Index into `classNames` per point.
    public var classes: [Int]
    public var arrows: [Arrow]
    public var width = 720
    public var height = 520

    public init(title: String, xLabel: String, yLabel: String, classNames: [String], xs: [Double], ys: [Double],
                classes: [Int], arrows: [Arrow] = []) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.classNames = classNames
        self.xs = xs; self.ys = ys; self.classes = classes; self.arrows = arrows
    }

    package func svg() -> String {
        var w = SVGWriter(width: width, height: height)
        let n = min(xs.count, ys.count, classes.count)
        let legendWidth = 170.0
        // The title in one line where it fits (~8.6 px a character of 15 px bold text), else its
        // head on the first line and what follows its first "; " on a second, smaller one (the
        // arrows' note ran past the picture's edge: "…the 12 longest of 4000 p").
        let titleRoom = Int((Double(width) - 64 - 8) / 8.6)
        let titleLines: [String] = {
            let shown = title.bidiControlsEscaped
            guard shown.count > titleRoom, let cut = title.range(of: "; ") else { return [Self.shorten(title, titleRoom)] }
            return [Self.shorten(String(title[..<cut.lowerBound]), titleRoom),
                    Self.shorten(String(title[cut.upperBound...]), Int((Double(width) - 64 - 8) / 6.2))]
        }()
        let left = 64.0, right = Double(width) - legendWidth - 12, top = titleLines.count > 1 ? 56.0 : 44.0, bottom = Double(height) - 52
        var xsAll = Array(xs.prefix(n)).filter(\.isFinite), ysAll = Array(ys.prefix(n)).filter(\.isFinite)
        if !arrows.isEmpty { xsAll += arrows.map(\.x) + [0]; ysAll += arrows.map(\.y) + [0] }
        // 4% of margin on each side, so points at the extremes stay off the frame.
        func padded(_ v: [Double]) -> (Double, Double) {
            let lo = v.min() ?? 0, hi = v.max() ?? 1, m = 0.04 * (hi - lo)
            return (lo - m, hi + m)
        }
        let (x0, x1) = padded(xsAll), (y0, y1) = padded(ysAll)
        let xt = NiceTicks.inside(x0, x1, count: 6)
        let yt = NiceTicks.inside(y0, y1, count: 6)
        func px(_ v: Double) -> Double { left + (v - xt.lo) / (xt.hi - xt.lo) * (right - left) }
        func py(_ v: Double) -> Double { bottom - (v - yt.lo) / (yt.hi - yt.lo) * (bottom - top) }

        w.text(titleLines[0], x: left, y: 24, size: 15, weight: "600")
        if titleLines.count > 1 { w.text(titleLines[1], x: left, y: 42, size: 11, fill: "#666666") }
        let xStep = xt.ticks.count > 1 ? xt.ticks[1] - xt.ticks[0] : 1, yStep = yt.ticks.count > 1 ? yt.ticks[1] - yt.ticks[0] : 1
        for t in xt.ticks {
            w.line(x1: px(t), y1: top, x2: px(t), y2: bottom, stroke: "#ececec")
            w.text(NiceTicks.label(t, step: xStep), x: px(t), y: bottom + 16, size: 11, anchor: .middle, fill: "#666666")
        }
        for t in yt.ticks {
            w.line(x1: left, y1: py(t), x2: right, y2: py(t), stroke: "#ececec")
            w.text(NiceTicks.label(t, step: yStep), x: left - 6, y: py(t) + 4, size: 11, anchor: .end, fill: "#666666")
        }
        w.rect(x: left, y: top, width: right - left, height: bottom - top, fill: "none", stroke: "#bbbbbb")
        w.text(xLabel, x: (left + right) / 2, y: Double(height) - 14, size: 13, anchor: .middle)
        w.text(yLabel, x: 18, y: (top + bottom) / 2, size: 13, anchor: .middle, rotate: -90)

        let r = n > 5000 ? 1.4 : n > 1000 ? 2.0 : 3.0
        let opacity = n > 1000 ? " fill-opacity=\"0.6\"" : " fill-opacity=\"0.85\""
        for i in 0..<n where xs[i].isFinite && ys[i].isFinite {
            w.circle(cx: px(xs[i]), cy: py(ys[i]), r: r, fill: Palette.color(classes[i]).css, extra: opacity.trimmingCharacters(in: .whitespaces))
        }
        // Label boxes already placed: a label that would overlap one moves away along y, in steps
        // of a line (two long arrows close together wrote their names over each other).
        var placed: [(x0: Double, x1: Double, y: Double)] = []
        for a in arrows where a.x.isFinite && a.y.isFinite {
            let color = a.classIndex.map { Palette.color($0).css } ?? "#333333"
            let x0 = px(0), y0 = py(0), x1 = px(a.x), y1 = py(a.y)
            let len = ((x1 - x0) * (x1 - x0) + (y1 - y0) * (y1 - y0)).squareRoot()
            guard len > 1 else { continue }
            let ux = (x1 - x0) / len, uy = (y1 - y0) / len, head = min(10, len / 2)
            w.line(x1: x0, y1: y0, x2: x1 - ux * head, y2: y1 - uy * head, stroke: color, width: 2)
            w.polygon([(x1, y1), (x1 - ux * head - uy * head * 0.45, y1 - uy * head + ux * head * 0.45),
                       (x1 - ux * head + uy * head * 0.45, y1 - uy * head - ux * head * 0.45)], fill: color)
            // Kept inside the picture (labels of arrows near the left edge were cut off): ~6.6 px a
            // character of 11 px bold text, long names shortened.
            let label = Self.shorten(a.label, 24)
            let textWidth = Double(label.count) * 6.6
            let toLeft = ux < -0.3
            var tx = x1 + ux * 6
            // (and off the legend: a label right of the plot's frame ran over the class names)
            tx = toLeft ? max(tx, 4 + textWidth) : min(tx, right + 8 - textWidth)
            let bx0 = toLeft ? tx - textWidth : tx, bx1 = toLeft ? tx : tx + textWidth
            var ty = y1 + uy * 6 + 4
            let step = uy < 0 ? -13.0 : 13.0
            for _ in 0..<8 where placed.contains(where: { $0.x0 < bx1 && bx0 < $0.x1 && abs($0.y - ty) < 12 }) { ty += step }
            placed.append((bx0, bx1, ty))
            w.text(label, x: tx, y: ty, size: 11, anchor: toLeft ? .end : .start, fill: "#333333", weight: "600", halo: true)
        }

        // Legend: one line per class, at most as many as fit; the rest summarised.
        let lx = right + 18, lineHeight = 18.0
        let fit = max(1, Int((bottom - top) / lineHeight))
        let shown = classNames.count <= fit ? classNames.count : fit - 1
        for (i, name) in classNames.prefix(shown).enumerated() {
            let y = top + 8 + Double(i) * lineHeight
            w.circle(cx: lx + 5, cy: y - 4, r: 5, fill: Palette.color(i).css)
            w.text(Self.shorten(name, 20), x: lx + 16, y: y, size: 12)   // 22 ran past the picture's edge
        }
        if shown < classNames.count {
            w.text("… \(classNames.count - shown) more", x: lx + 16, y: top + 8 + Double(shown) * lineHeight, size: 12, fill: "#666666")
        }
        if classNames.count > Palette.tab20.count {
            w.text("(colours repeat after 20)", x: lx, y: bottom + 16, size: 10, fill: "#666666")
        }
        return w.document(title: title)
    }

    /// At most n characters of the name as it is shown (bidi controls escaped first, so the
    /// escapes count), cut in the middle with "…": long names often differ only at their end
    /// (`…_crop_1`, `…_crop_2`), which a cut end made one label.
    static func shorten(_ s: String, _ n: Int) -> String {
        let shown = s.bidiControlsEscaped
        guard shown.count > n else { return shown }
        let keep = max(1, n - 1), head = (keep + 1) / 2, tail = keep - head
        return String(shown.prefix(head)) + "…" + String(shown.suffix(tail))
    }
}
