import Foundation
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeAnalysis

/// A horizontal bar chart (per-class silhouette and the like): one bar per label, sorted by
/// value (highest first), bars growing left or right from zero so negative values read as
/// such, the value printed at each bar's end, and an optional dashed reference line (the mean).
package struct BarChart: Sendable {
    package struct Bar: Sendable {
        package var label: String
        /// nil: no value (e.g. a class with no evaluated rows); drawn as "n/a", sorted last.
        package var value: Double?
        /// nil: blue for positive, red for negative values.
        package var color: RGB?
        package init(label: String, value: Double?, color: RGB? = nil) { self.label = label; self.value = value; self.color = color }
    }

    package var title: String
    package var valueLabel: String
    package var bars: [Bar]
    package var sorted = true
    /// A dashed vertical line, e.g. the mean, with its label.
    package var reference: (value: Double, label: String)?
    /// Fixed axis range (e.g. -1…1); nil fits the data (always including 0).
    package var domain: ClosedRange<Double>?
    package var width = 720
    /// Sorted charts with more bars than this draw the highest and the lowest halves of it, with
    /// a row between them saying how many are left out (1,000 classes drew a chart 22,000 px
    /// tall); nil draws every bar.
    package var limit: Int? = 50

    package init(title: String, valueLabel: String, bars: [Bar], reference: (value: Double, label: String)? = nil) {
        self.title = title; self.valueLabel = valueLabel; self.bars = bars; self.reference = reference
    }

    /// Bars in drawing order: highest value first, missing values last, ties by label.
    package var orderedBars: [Bar] {
        guard sorted else { return bars }
        return bars.enumerated().sorted { a, b in
            switch (a.element.value, b.element.value) {
            case let (x?, y?) where x != y: return x > y
            case (.some, nil): return true
            case (nil, .some): return false
            default: return a.offset < b.offset
            }
        }.map(\.element)
    }

    /// The bars drawn, and where the gap row goes (after `gapAfter` bars) with how many it stands for.
    package var shown: (bars: [Bar], gapAfter: Int?, omitted: Int) {
        let all = orderedBars
        guard sorted, let limit, limit >= 2, all.count > limit else { return (all, nil, 0) }
        let head = limit / 2
        return (Array(all.prefix(head)) + Array(all.suffix(limit - head)), head, all.count - limit)
    }

    package var height: Int {
        let s = shown
        return 56 + 40 + (max(1, s.bars.count) + (s.gapAfter == nil ? 0 : 1)) * Self.rowHeight
    }
    static let rowHeight = 22

    package func svg() -> String {
        let (bars, gapAfter, omitted) = shown
        let rowsDrawn = bars.count + (gapAfter == nil ? 0 : 1)
        var w = SVGWriter(width: width, height: height)
        let labelWidth = Double(min(200, max(60, (bars.map(\.label.bidiControlsEscaped.count).max() ?? 4) * 7 + 12)))
        let left = labelWidth + 8, right = Double(width) - 64, top = 44.0
        let bottom = top + Double(max(1, rowsDrawn) * Self.rowHeight)
        var values = bars.compactMap(\.value).filter(\.isFinite) + [0]
        if let reference { values.append(reference.value) }
        let lo = domain?.lowerBound ?? values.min()!, hi = domain?.upperBound ?? values.max()!
        // Room for the value printed beyond each bar's end.
        let span = max(hi, 0) - min(lo, 0)
        let pad = domain == nil ? 0.14 * span : 0
        let t = NiceTicks.ticks(min(lo, 0) - (lo < 0 ? pad : 0), max(hi, 0) + (hi > 0 ? pad : 0), count: 6)
        let step = t.ticks.count > 1 ? t.ticks[1] - t.ticks[0] : 1
        func px(_ v: Double) -> Double { left + (min(max(v, t.lo), t.hi) - t.lo) / (t.hi - t.lo) * (right - left) }

        w.text(title, x: 12, y: 24, size: 15, weight: "600")
        for v in t.ticks {
            w.line(x1: px(v), y1: top, x2: px(v), y2: bottom, stroke: v == 0 ? "#888888" : "#ececec")
            w.text(NiceTicks.label(v, step: step), x: px(v), y: bottom + 16, size: 11, anchor: .middle, fill: "#666666")
        }
        w.text(valueLabel, x: (left + right) / 2, y: bottom + 36, size: 12, anchor: .middle)
        let zero = px(0)
        if let gapAfter {
            let y = top + Double(gapAfter * Self.rowHeight)
            w.rect(x: left, y: y + 2, width: right - left, height: Double(Self.rowHeight - 4), fill: "#f4f4f4")
            w.text("⋯ \(omitted) of \(omitted + bars.count) not shown: the \(gapAfter) highest above, the \(bars.count - gapAfter) lowest below ⋯",
                   x: (left + right) / 2, y: y + 15, size: 11, anchor: .middle, fill: "#666666")
        }
        for (i, b) in bars.enumerated() {
            let row = gapAfter.map { i >= $0 ? i + 1 : i } ?? i
            let y = top + Double(row * Self.rowHeight)
            w.text(ScatterPlot.shorten(b.label, Int(labelWidth / 7)), x: left - 8, y: y + 15, size: 12, anchor: .end)
            guard let v = b.value, v.isFinite else {
                w.text("n/a", x: zero + 4, y: y + 15, size: 11, fill: "#666666")
                continue
            }
            let color = (b.color ?? (v < 0 ? Palette.bad : Palette.tab20[0])).css
            let x = px(v)
            w.rect(x: min(x, zero), y: y + 4, width: abs(x - zero), height: Double(Self.rowHeight - 8), fill: color,
                   title: "\(b.label): \(String(format: "%.4f", v))")
            let text = String(format: "%.3f", v)
            if v < 0 {
                w.text(text, x: x - 4, y: y + 15, size: 11, anchor: .end, fill: "#444444")
            } else {
                w.text(text, x: x + 4, y: y + 15, size: 11, fill: "#444444")
            }
        }
        if let reference, reference.value.isFinite {
            let x = px(reference.value)
            w.line(x1: x, y1: top - 6, x2: x, y2: bottom, stroke: "#222222", width: 1.2, extra: "stroke-dasharray=\"4 3\"")
            w.text(reference.label, x: x, y: top - 10, size: 11, anchor: .middle)
        }
        return w.document(title: title)
    }
}
