import Foundation
#if canImport(Glibc)
import Glibc
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeAnalysis
#endif

/// Writes a `ReportDocument` as a directory: `index.html` and its pictures under `img/`
/// (SVG plots, PNG image sheets), linked relatively, so the page works offline opened from
/// disk. No external scripts, styles or fonts. The directory is built beside the destination
/// and renamed into place; a previous report at the destination is replaced.
public enum ReportWriter {
    public struct Written: Sendable {
        public var directory: URL
        /// Paths relative to `directory`, `index.html` first.
        public var files: [String]
    }

    /// Written into every report folder; only a folder holding it (or an empty one) is replaced.
    public static let markerName = ".embedscope-report"

    public static func write(_ doc: ReportDocument, to dir: URL, progress: ProgressSink = SilentProgress()) throws -> Written {
        let fm = FileManager.default
        let dir = dir.standardizedFileURL
        let parent = dir.deletingLastPathComponent()
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: dir.path, isDirectory: &isDir) {
            let contents = (try? fm.contentsOfDirectory(atPath: dir.path)) ?? []
            guard isDir.boolValue, contents.isEmpty || contents.contains(markerName) else {
                throw EmbedScopeError(.refused, "exists and is not a report folder EmbedScope wrote (no \(markerName) in it)", path: dir.path,
                                      hint: "choose another --out (a report EmbedScope wrote, or an empty folder, is replaced); nothing was changed")
            }
        }
        do { try fm.createDirectory(at: parent, withIntermediateDirectories: true) } catch {
            throw EmbedScopeError(.io, "cannot create the parent directory", path: parent.path, underlying: error)
        }
        DirectorySwap.removeStale(beside: dir, kinds: ["tmp"])   // a killed report's
        let temp = DirectorySwap.temporary(beside: dir)
        var files: [String] = []
        let interruptToken = InterruptCleanup.track(temp)
        defer { InterruptCleanup.untrack(interruptToken) }
        do {
            try fm.createDirectory(at: temp.appendingPathComponent("img"), withIntermediateDirectories: true)
            var pictures = PictureSink(root: temp)
            let total = doc.indexes.reduce(0) { $0 + $1.contactSheets.count + $1.spaceSheets.count
                + ($1.quality.map { $0.duplicateSheets.count + $0.mislabelSheets.count } ?? 0) }
            progress.begin("report: image sheets", total: total)
            let html = try render(doc, pictures: &pictures) { progress.update($0) }
            progress.end()
            try Data(html.utf8).write(to: temp.appendingPathComponent("index.html"))
            try Data("EmbedScope report folder: `embedscope report --out` replaces this folder as a whole.\n".utf8)
                .write(to: temp.appendingPathComponent(markerName))
            files = ["index.html"] + pictures.written
            try MappingDamage.requireLiveNone()  // no report of figures read from a file cut short meanwhile
            try InterruptCleanup.commit {
                try DirectorySwap.install(temp, at: dir)
                CommittedChanges.record("\(dir.path) holds the new report")
            }
        } catch {
            try? fm.removeItem(at: temp)
            if error is EmbedScopeError || error is ImageWriteError { throw error }
            throw EmbedScopeError(.io, "cannot write the report", path: dir.path, underlying: error)
        }
        return Written(directory: dir, files: files)
    }

    /// Collects picture files: writes them under `root/img/` (or, with no root, only names them).
    struct PictureSink {
        var root: URL?
        var written: [String] = []
        var done = 0

        mutating func add(_ name: String, _ data: Data) throws -> String {
            let rel = "img/" + name
            if let root { try data.write(to: root.appendingPathComponent(rel)) }
            written.append(rel)
            return rel
        }
    }

    /// The page, with pictures written through `pictures`.
    static func render(_ doc: ReportDocument, pictures: inout PictureSink, sheetDone: (Int) -> Void) throws -> String {
        var h = HTML()
        h.line("<!DOCTYPE html>")
        h.line("<html lang=\"en\">")
        h.line("<head>")
        h.line("<meta charset=\"utf-8\">")
        h.line("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        h.line("<title>\(h.esc(doc.title))</title>")
        h.line("<script>\(loadCheckScript)</script>")
        h.line("<style>\(style)</style>")
        h.line("</head>")
        h.line("<body>")
        h.line("<header><h1>\(h.esc(doc.title))</h1>")
        h.line("<p class=\"sub\">\(counted(doc.indexes.count, "index", plural: "indexes")) · written by <code>embedscope report</code></p>")
        if doc.indexes.count > 1 {
            h.line("<nav>" + doc.indexes.enumerated().map { "<a href=\"#index-\($0.offset + 1)\">\(h.esc($0.element.name))</a>" }.joined(separator: " · ") + "</nav>")
        }
        h.line("</header>")
        if doc.indexes.count > 1 { comparisonTable(doc.indexes.map { ReportDocument(indexes: [$0]) }.map { ($0.comparison, $0.comparisonGaps) }, &h); perClassDeltas(doc, &h) }
        for (i, ix) in doc.indexes.enumerated() {
            try indexSection(ix, number: i + 1, &h, &pictures, sheetDone)
        }
        h.line("<footer>Distances are Euclidean on unit rows (d² = 2 − 2·cos); silhouette, Davies–Bouldin and Calinski–Harabasz follow scikit-learn's definitions.</footer>")
        h.line("</body>")
        h.line("</html>")
        return h.text
    }

    typealias ComparisonGap = (index: String, model: String, space: String, rows: Int, classes: Int, reason: String)

    /// The comparison rows of each index in turn: its measured spaces, then those without
    /// cluster metrics (dashes, and why).
    static func comparisonTable(_ groups: [(rows: [ReportComparisonRow], gaps: [ComparisonGap])], _ h: inout HTML) {
        let rows = groups.flatMap(\.rows)
        h.line("<section class=\"card\" id=\"comparison\"><h2>Comparison</h2>")
        guard groups.contains(where: { !$0.rows.isEmpty || !$0.gaps.isEmpty }) else { h.line("<p class=\"note\">No cluster metrics were computed.</p></section>"); return }
        h.line("<p class=\"sub\">Higher silhouette and Calinski–Harabasz, lower Davies–Bouldin separate classes better. Best per column in bold.</p>")
        let bestS = rows.map(\.silhouette).max(), bestDB = rows.map(\.daviesBouldin).min(), bestCH = rows.map(\.calinskiHarabasz).max()
        h.line("<table class=\"compare\"><thead><tr><th>index</th><th>model</th><th>weights</th><th class=\"num\">epoch</th><th class=\"num\">step</th><th>space</th><th class=\"num\">rows</th><th class=\"num\">classes</th><th class=\"num\">silhouette</th><th class=\"num\">Davies–Bouldin</th><th class=\"num\">Calinski–Harabasz</th><th class=\"num\">precision@10</th><th class=\"num\">k-NN accuracy</th><th class=\"num\">probe accuracy</th></tr></thead><tbody>")
        let bestP = rows.compactMap(\.precisionAtK).max(), bestProbe = rows.compactMap(\.probeAccuracy).max()
        let bestKNN = rows.compactMap(\.knnAccuracy).max()
        for (measured, gaps) in groups {
            for r in measured {
                func b(_ s: String, _ best: Bool) -> String { best && rows.count > 1 ? "<b>\(s)</b>" : s }
                h.line("<tr><td>\(h.breakable(r.index))</td><td>\(h.breakable(r.model))</td>" + checkpointCells(r.checkpoint, h) + "<td>\(h.breakable(r.space))</td><td class=\"num\">\(r.rows)</td><td class=\"num\">\(r.classes)</td>"
                       + "<td class=\"num\">\(b(f4(r.silhouette) + (r.silhouetteExact ? "" : " ± " + f4(r.silhouetteStandardError ?? .nan) + "*"), r.silhouette == bestS))</td>"
                       + "<td class=\"num\">\(b(f4(r.daviesBouldin), r.daviesBouldin == bestDB))</td>"
                       + "<td class=\"num\">\(b(String(format: "%.1f", r.calinskiHarabasz), r.calinskiHarabasz == bestCH))</td>"
                       + "<td class=\"num\">\(r.precisionAtK.map { b(f4($0), $0 == bestP) } ?? "—")</td>"
                       + "<td class=\"num\">\(r.knnAccuracy.map { b(f4($0), $0 == bestKNN) } ?? "—")</td>"
                       + "<td class=\"num\">\(r.probeAccuracy.map { b(f4($0), $0 == bestProbe) } ?? "—")</td></tr>")
            }
            // Indexes (spaces) without cluster metrics keep their row: dashes, and why.
            for g in gaps {
                h.line("<tr class=\"gap\"><td>\(h.breakable(g.index))</td><td>\(h.breakable(g.model))</td><td>—</td><td class=\"num\">—</td><td class=\"num\">—</td>"
                       + "<td>\(h.breakable(g.space))</td><td class=\"num\">\(g.rows)</td><td class=\"num\">\(g.classes)</td>"
                       + "<td class=\"num\">—</td><td class=\"num\">—</td><td class=\"num\">—</td><td class=\"num\">—</td><td class=\"num\">—</td><td class=\"num\">—</td></tr>")
                h.line("<tr class=\"gapnote\"><td colspan=\"14\">no cluster metrics for \(h.esc(g.index)) · \(h.esc(g.space)): \(h.esc(g.reason))</td></tr>")
            }
        }
        h.line("</tbody></table>")
        if rows.contains(where: { !$0.silhouetteExact }) { h.line("<p class=\"note\">* estimated from a seeded sample of rows (± its standard error); Davies–Bouldin and Calinski–Harabasz are exact.</p>") }
        h.line("</section>")
    }

    static func indexSection(_ ix: IndexReport, number: Int, _ h: inout HTML, _ pictures: inout PictureSink, _ sheetDone: (Int) -> Void) throws {
        let prefix = "\(number)-"
        h.line("<section class=\"card\" id=\"index-\(number)\">")
        h.line("<h2>\(h.esc(ix.name))</h2>")
        h.line("<p class=\"sub\"><code>\(h.esc(ix.path))</code></p>")
        if let sp = ix.split {
            h.line("<p class=\"note\" id=\"split-\(number)\">Split <b>\(h.esc(sp.name))</b>: cluster metrics, precision@k and the prototype evaluations use its \(sp.rows) of \(ix.summary.rows) rows only "
                   + "(neighbours from the same split); projections, image sheets and the quality section use every row.</p>")
        }

        // Summary.
        let s = ix.summary
        h.line("<h3>Summary</h3>")
        h.line("<dl class=\"facts\"><div><dt>rows</dt><dd>\(s.rows)</dd></div><div><dt>classes</dt><dd>\(s.classes.count)</dd></div>"
               + "<div><dt>spaces</dt><dd>\(s.spaces.count)</dd></div><div><dt>prototype sets</dt><dd>\(s.prototypeSets.count)</dd></div></dl>")
        h.line("<table><thead><tr><th>space</th><th>model</th><th class=\"num\">dim</th><th>preprocessing</th></tr></thead><tbody>")
        for sp in s.spaces {
            h.line("<tr><td>\(h.esc(sp.name))</td><td>\(h.esc(sp.model))</td><td class=\"num\">\(sp.dim)</td><td>\(h.esc(sp.preprocessing))</td></tr>")
        }
        h.line("</tbody></table>")
        if !s.prototypeSets.isEmpty {
            h.line("<table><thead><tr><th>prototype set</th><th>space</th><th class=\"num\">prototypes</th><th>source</th></tr></thead><tbody>")
            for p in s.prototypeSets {
                h.line("<tr><td>\(h.esc(p.name))</td><td>\(h.esc(p.space))</td><td class=\"num\">\(p.count)</td><td>\(h.esc(p.source))</td></tr>")
            }
            h.line("</tbody></table>")
        }
        let sizes = s.classes.map(\.rows)
        h.collapsible(rows: s.classes.count, summary: "\(s.classes.count) classes, \(sizes.min() == sizes.max() ? "\(sizes.min() ?? 0)" : "\(sizes.min() ?? 0)–\(sizes.max() ?? 0)") rows each: show them all") { h in
            h.line("<p class=\"classes\">" + s.classes.map { "<span>\(h.esc($0.name)) <small>\($0.rows)</small></span>" }.joined(separator: " ") + "</p>")
        }
        if !s.meta.isEmpty {
            h.line("<p class=\"sub\">" + s.meta.map { "\(h.esc($0.key)): <code>\(h.esc($0.value))</code>" }.joined(separator: " · ") + "</p>")
        }

        // Cluster metrics.
        h.line("<h3>Cluster metrics</h3>")
        if ix.metrics.isEmpty && ix.metricNotes.isEmpty { h.line("<p class=\"note\">Not computed.</p>") }
        if !ix.metrics.isEmpty {
            h.line("<table><thead><tr><th>space</th><th class=\"num\">silhouette</th><th class=\"num\">Davies–Bouldin</th><th class=\"num\">Calinski–Harabasz</th><th>silhouette over</th></tr></thead><tbody>")
            for m in ix.metrics {
                let over = m.silhouette.exact ? "all \(m.rows) rows (exact)"
                    : "\(m.silhouette.sample ?? 0) seeded rows, ± \(f4(m.silhouette.standardError ?? 0)) (standard error)"
                h.line("<tr><td>\(h.esc(m.space))</td><td class=\"num\">\(f4(m.silhouette.mean))</td><td class=\"num\">\(f4(m.daviesBouldin))</td>"
                       + "<td class=\"num\">\(String(format: "%.1f", m.calinskiHarabasz))</td><td>\(h.esc(over))</td></tr>")
            }
            h.line("</tbody></table>")
        }
        for n in ix.metricNotes { h.line("<p class=\"note\">\(h.esc(n))</p>") }
        h.line("<div class=\"grid\">")
        for m in ix.metrics {
            var chart = BarChart(title: "Silhouette per class · \(m.space)", valueLabel: "mean silhouette of the class's rows (−1 … 1)",
                                 bars: m.perClass.map { BarChart.Bar(label: $0.name, value: $0.silhouette) },
                                 reference: (m.silhouette.mean, "mean " + String(format: "%.3f", m.silhouette.mean)))
            chart.width = 580
            let file = try pictures.add(prefix + "silhouette-\(slug(m.space)).svg", Data(chart.svg().utf8))
            h.figure(file, alt: "per-class silhouette, space \(m.space)", width: chart.width, height: chart.height, caption: nil)
        }
        h.line("</div>")

        // Projections.
        h.line("<h3>Projections (PCA, LDA)</h3>")
        if ix.projections.isEmpty {
            h.line("<p class=\"note\">No projection in this report (see the notes under the cluster metrics).</p>")
        }
        h.line("<div class=\"grid\">")
        for (i, p) in ix.projections.enumerated() {
            let file = try pictures.add(prefix + "projection-\(i + 1)-\(slug(p.plot.title)).svg", Data(p.plot.svg().utf8))
            var caption = p.note ?? ""
            if let v = p.varianceRatios, !v.isEmpty {
                caption += (caption.isEmpty ? "" : " · ") + "explained variance ratio: " + v.enumerated().map { "\(p.axisPrefix)\($0.offset + 1) \(String(format: "%.1f%%", 100 * $0.element))" }.joined(separator: ", ")
            }
            h.figure(file, alt: p.plot.title, width: p.plot.width, height: p.plot.height, caption: caption.isEmpty ? nil : caption)
        }
        h.line("</div>")

        // Classification.
        h.line("<h3>Classification (confusion matrix, precision / recall / F1)</h3>")
        if ix.classifications.isEmpty && ix.probe?.confusion == nil {
            h.line("<p class=\"note\">No classifier evaluated in this report: confusion matrices come from <code>embedscope evaluate</code> and <code>embedscope probe</code>.</p>")
        }
        for (i, c) in ix.classifications.enumerated() { try classification(c, file: prefix + "confusion-\(i + 1)", &h, &pictures) }

        // Versus.
        h.line("<h3>Neighbour quality: precision@k per space</h3>")
        if let v = ix.versus { versus(v, &h) } else if let why = ix.versusNote {
            h.line("<p class=\"note\" id=\"versus-note-\(number)\">Not defined for this index: \(h.esc(why))</p>")
        } else {
            h.line("<p class=\"note\">Not in this report: precision@k per space comes from <code>embedscope versus</code>.</p>")
        }

        // Probe.
        h.line("<h3>Linear probe</h3>")
        if let p = ix.probe {
            h.line("<p>Validation accuracy <b>\(String(format: "%.2f%%", 100 * p.accuracy))</b> in space <code>\(h.esc(p.space))</code> · \(p.trainRows) training rows, \(p.validationRows) validation rows\(p.seed.map { " · seed \($0)" } ?? "").</p>")
            if let c = p.confusion { try classification(c, file: prefix + "probe-confusion", &h, &pictures) }
        } else {
            h.line("<p class=\"note\">Not in this report: the probe's accuracy comes from <code>embedscope probe</code>.</p>")
        }

        try qualityPart(ix, prefix: prefix, &h, &pictures, sheetDone)

        // Sheets.
        h.line("<h3>Nearest and farthest neighbours</h3>")
        h.line("<p class=\"sub\">Seeded sample queries. Green frame: same class as the query; red: another class. Under each image: its class and cosine similarity to the query.</p>")
        if ix.contactSheets.isEmpty { h.line("<p class=\"note\">No sample queries.</p>") }
        for (i, sheet) in ix.contactSheets.enumerated() {
            try sheetFigure(sheet, file: prefix + "contact-\(i + 1).png", &h, &pictures)
            pictures.done += 1; sheetDone(pictures.done)
        }
        h.line("<h3>Embedding vs pixels</h3>")
        if ix.spaceSheets.isEmpty { h.line("<p class=\"note\">\(h.esc(ix.spaceSheetNote ?? "No embedding-vs-pixel sheets."))</p>") } else {
            h.line("<p class=\"sub\">The same queries, nearest neighbours in each space.</p>")
        }
        for (i, sheet) in ix.spaceSheets.enumerated() {
            try sheetFigure(sheet, file: prefix + "spaces-\(i + 1).png", &h, &pictures)
            pictures.done += 1; sheetDone(pictures.done)
        }
        h.line("</section>")
    }

    /// Data quality: duplicate groups (leakage first) and likely mislabels, with sheets and tables.
    static func qualityPart(_ ix: IndexReport, prefix: String, _ h: inout HTML, _ pictures: inout PictureSink, _ sheetDone: (Int) -> Void) throws {
        h.line("<h3 id=\"quality-\(prefix)\">Data quality: duplicates, leakage, likely mislabels</h3>")
        guard let q = ix.quality else {
            h.line("<p class=\"note\">\(h.esc(ix.qualityNote ?? "Not in this report."))</p>")
            return
        }
        h.line("<p><b>\(q.pairCount)</b> pairs of images with cosine ≥ \(String(format: "%g", q.threshold)) in space <code>\(h.esc(q.space))</code> (exact, all pairs of \(q.rows) rows), in \(q.groupCount) groups; "
               + "<b>\(q.leakagePairs)</b> cross a split (leakage: the same picture on both sides of an evaluation), \(q.differentClassPairs) carry different labels. "
               + "Command: <code>embedscope duplicates INDEX --space \(h.esc(q.space)) --threshold \(String(format: "%g", q.threshold))</code>.</p>")
        for (i, sheet) in q.duplicateSheets.enumerated() {
            try sheetFigure(sheet, file: prefix + "duplicates-\(i + 1).png", &h, &pictures)
            pictures.done += 1; sheetDone(pictures.done)
        }
        if q.groupCount > q.groups.count { h.line("<p class=\"note\">\(q.groupCount - q.groups.count) more groups: <code>embedscope duplicates</code> lists them all.</p>") }
        if let m = q.mislabels {
            h.line("<p><b>\(m.flagged)</b> of \(m.rows) images disagree with their label: \(h.esc(m.evidence)).</p>")
            if !m.candidates.isEmpty {
                h.line("<table><thead><tr><th class=\"num\">row</th><th>path</th><th>label</th><th>suggested</th><th class=\"num\">score</th><th class=\"num\">P(label)</th><th class=\"num\">k-NN share of label</th></tr></thead><tbody>")
                for c in m.candidates.prefix(12) {
                    h.line("<tr><td class=\"num\">\(c.row)</td><td><code>\(h.esc(c.path))</code></td><td>\(h.esc(c.class))</td><td>\(h.esc(c.suggested))</td>"
                           + "<td class=\"num\">\(f3(c.score))</td><td class=\"num\">\(f3(c.probeProbability))</td><td class=\"num\">\(f3(c.knnAgreement))</td></tr>")
                }
                h.line("</tbody></table>")
            }
            for (i, sheet) in q.mislabelSheets.enumerated() {
                try sheetFigure(sheet, file: prefix + "mislabel-\(i + 1).png", &h, &pictures)
                pictures.done += 1; sheetDone(pictures.done)
            }
        } else {
            h.line("<p class=\"note\">Likely mislabels: \(h.esc(q.mislabelNote ?? "not computed"))</p>")
        }
    }

    static func sheetFigure(_ sheet: ImageSheet, file: String, _ h: inout HTML, _ pictures: inout PictureSink) throws {
        let canvas = sheet.render()
        let rel = try pictures.add(file, try canvas.pngData())
        h.figure(rel, alt: sheet.title, width: canvas.width, height: canvas.height, caption: nil)
    }

    static func classification(_ c: ClassificationSection, file: String, _ h: inout HTML, _ pictures: inout PictureSink) throws {
        h.line("<h4>\(h.esc(c.title))</h4>")
        h.line("<p>Accuracy <b>\(String(format: "%.2f%%", 100 * c.accuracy))</b> over \(c.counts.reduce(0) { $0 + $1.reduce(0, +) }) rows.\(c.note.map { " " + h.esc($0) } ?? "")</p>")
        let map = ConfusionHeatMap(title: "confusion matrix (\(c.classNames.count) classes)", classNames: c.classNames, counts: c.counts)
        let shown = map.shownClasses.count
        let size = ConfusionHeatMap.size(classes: shown, labelChars: min(22, map.shownClasses.map { c.classNames[$0].count }.max() ?? 4))
        let rel = try pictures.add(file + ".svg", Data(map.svg().utf8))
        h.line("<div class=\"grid\">")
        h.figure(rel, alt: "confusion matrix: \(c.title)", width: size.width, height: size.height, caption: nil)
        let per = c.perClass
        let lowest = per.filter { $0.support > 0 }.sorted { $0.f1 < $1.f1 }.prefix(3)
        let macroF1 = per.isEmpty ? Double.nan : per.map(\.f1).reduce(0, +) / Double(per.count)
        h.line("<div>")
        h.collapsible(rows: per.count, summary: "Precision, recall and F1 of \(per.count) classes (macro F1 \(f3(macroF1)); lowest F1: "
                      + lowest.map { "\(h.esc($0.name)) \(f3($0.f1))" }.joined(separator: ", ") + "): show them all") { h in
            h.line("<table><thead><tr><th>class</th><th class=\"num\">precision</th><th class=\"num\">recall</th><th class=\"num\">F1</th><th class=\"num\">support</th></tr></thead><tbody>")
            for p in per {
                h.line("<tr><td>\(h.esc(p.name))</td><td class=\"num\">\(f3(p.precision))</td><td class=\"num\">\(f3(p.recall))</td><td class=\"num\">\(f3(p.f1))</td><td class=\"num\">\(p.support)</td></tr>")
            }
            if !per.isEmpty {
                let n = Double(per.count)
                h.line("<tr class=\"total\"><td>macro average</td><td class=\"num\">\(f3(per.map(\.precision).reduce(0, +) / n))</td><td class=\"num\">\(f3(per.map(\.recall).reduce(0, +) / n))</td><td class=\"num\">\(f3(macroF1))</td><td class=\"num\">\(per.map(\.support).reduce(0, +))</td></tr>")
            }
            h.line("</tbody></table>")
        }
        h.line("</div></div>")
        if !c.lowMargins.isEmpty {
            h.line("<p class=\"sub\">Lowest margins (own-class logit minus best other): likely mislabels or hard examples.</p>")
            h.line("<table><thead><tr><th class=\"num\">row</th><th>path</th><th>class</th><th>predicted</th><th class=\"num\">margin</th></tr></thead><tbody>")
            for m in c.lowMargins {
                h.line("<tr><td class=\"num\">\(m.row)</td><td><code>\(h.esc(m.path))</code></td><td>\(h.esc(m.trueClass))</td><td>\(h.esc(m.predicted))</td><td class=\"num\">\(f3(m.margin))</td></tr>")
            }
            h.line("</tbody></table>")
        }
    }

    static func versus(_ v: VersusSection, _ h: inout HTML) {
        let head = "<table><thead><tr><th>class</th>" + v.spaces.map { "<th class=\"num\">P@\(v.k) \(h.esc($0))</th>" }.joined() + "</tr></thead><tbody>"
        func totals(_ h: inout HTML) {
            h.line("<tr class=\"total\"><td>overall</td>" + v.overall.map { "<td class=\"num\">\(f3($0))</td>" }.joined() + "</tr>")
            if let a = v.knnAccuracy {
                h.line("<tr class=\"total\"><td>k-NN accuracy</td>" + a.map { "<td class=\"num\">\(f3($0))</td>" }.joined() + "</tr>")
            }
        }
        if v.perClass.count > HTML.openLimit {
            // The totals stay in view; the per-class rows are one click away.
            h.line(head); totals(&h); h.line("</tbody></table>")
        }
        h.collapsible(rows: v.perClass.count, summary: "Precision@\(v.k) of each of \(v.perClass.count) classes: show them all") { h in
            h.line(head)
            for c in v.perClass {
                h.line("<tr><td>\(h.esc(c.name))</td>" + c.precision.map { "<td class=\"num\">\(f3($0))</td>" }.joined() + "</tr>")
            }
            if v.perClass.count <= HTML.openLimit { totals(&h) }
            h.line("</tbody></table>")
        }
        if let j = v.meanJaccard { h.line("<p>Mean Jaccard@\(v.k) of the neighbour lists across spaces: <b>\(f3(j))</b>.</p>") }
    }

    static func f4(_ v: Double) -> String { String(format: "%.4f", v) }
    static func f3(_ v: Double) -> String { String(format: "%.3f", v) }

    /// A file-name-safe version of a name: lowercase ASCII letters, digits and dashes.
    static func slug(_ s: String) -> String {
        var out = ""
        for c in s.lowercased().unicodeScalars {
            if (c >= "a" && c <= "z") || (c >= "0" && c <= "9") { out.unicodeScalars.append(c) } else if !out.hasSuffix("-") { out += "-" }
        }
        while out.hasSuffix("-") { out.removeLast() }
        return out.isEmpty ? "x" : String(out.prefix(40))
    }

    /// Records window errors (scripts and failed resources) and, once loaded, how many images
    /// decoded: `<html data-images-ok="N/M" data-errors="K">`. Tests read these from the DOM.
    static let loadCheckScript = """
    (function(){var errs=[];var root=document.documentElement;\
    window.addEventListener('error',function(e){var t=e.target;errs.push(t&&t.tagName?('cannot load '+t.tagName.toLowerCase()+' '+(t.getAttribute('src')||'')):(e.message||'error'));root.setAttribute('data-errors',String(errs.length));root.setAttribute('data-error-list',errs.join(' | '));},true);\
    window.addEventListener('load',function(){var imgs=document.images,ok=0;for(var i=0;i<imgs.length;i++){if(imgs[i].complete&&imgs[i].naturalWidth>0)ok++;}\
    root.setAttribute('data-images-ok',ok+'/'+imgs.length);root.setAttribute('data-errors',String(errs.length));});})();
    """

    static let style = """
    :root{--ink:#1f2328;--muted:#656d76;--line:#d8dee4;--bg:#f6f8fa;--accent:#1f77b4}
    *{box-sizing:border-box}
    body{margin:0;padding:24px;background:var(--bg);color:var(--ink);font:14px/1.5 "DejaVu Sans",system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif}
    header,section,footer{max-width:1280px;margin:0 auto 20px}
    h1{font-size:26px;margin:0 0 4px}
    h2{font-size:21px;margin:0 0 2px}
    h3{font-size:16px;margin:28px 0 8px;padding-top:12px;border-top:1px solid var(--line)}
    h4{font-size:14px;margin:16px 0 6px}
    .card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:20px 24px}
    .sub{color:var(--muted);margin:4px 0 10px}
    .note{color:var(--muted);font-style:italic;background:var(--bg);border-left:3px solid var(--line);padding:6px 10px;margin:6px 0}
    nav a{color:var(--accent)}
    code{font-family:"DejaVu Sans Mono",ui-monospace,monospace;font-size:12px;background:var(--bg);padding:1px 4px;border-radius:4px}
    table{border-collapse:collapse;margin:8px 0 12px;font-size:13px;display:block;max-width:100%;overflow-x:auto}
    th,td{padding:4px 12px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top;overflow-wrap:anywhere}
    th{font-weight:600;color:var(--muted);border-bottom:2px solid var(--line);overflow-wrap:normal}
    td{min-width:5.5em}
    td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap;overflow-wrap:normal}
    tr.total td{font-weight:600}
    table.compare td{overflow-wrap:normal}
    table.compare tr.gap td{border-bottom:0;color:var(--muted)}
    table.compare tr.gapnote td{color:var(--muted);font-style:italic;font-size:12px;padding-top:0;white-space:normal}
    dl.facts{display:flex;flex-wrap:wrap;gap:12px 28px;margin:8px 0 12px}
    dl.facts dt{color:var(--muted);font-size:12px}
    dl.facts dd{margin:0;font-size:22px;font-weight:600}
    p.classes span{display:inline-block;max-width:100%;overflow-wrap:anywhere;margin:2px 6px 2px 0;padding:1px 8px;border-radius:10px;background:var(--bg);border:1px solid var(--line);font-size:12px}
    p.classes small{color:var(--muted)}
    details>summary{cursor:pointer;color:var(--accent);margin:6px 0}
    .grid{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
    .grid>*{min-width:0;max-width:100%}
    figure{margin:8px 0 16px;max-width:100%}
    figure img{max-width:100%;height:auto;border:1px solid var(--line);border-radius:6px;background:#fff}
    figcaption{color:var(--muted);font-size:12px;margin-top:4px}
    footer{color:var(--muted);font-size:12px}
    @media (max-width:600px){body{padding:10px}.card{padding:12px 14px}th,td{padding:4px 8px}}
    """
}

/// A tiny HTML builder: lines and escaping.
struct HTML {
    var text = ""
    mutating func line(_ s: String) { text += s + "\n" }
    func esc(_ s: String) -> String { SVGWriter.escape(s) }
    /// Escaped, with a break opportunity after each path separator and underscore: the
    /// comparison table breaks a name only there and between words ("efficie|ntnet" broke mid-word
    /// under `overflow-wrap:anywhere`).
    func breakable(_ s: String) -> String {
        esc(s).replacingOccurrences(of: "/", with: "/<wbr>").replacingOccurrences(of: "_", with: "_<wbr>")
    }

    /// Per-class material longer than this many rows is written closed (a data set with 1,000
    /// classes made a report tens of thousands of pixels long).
    static let openLimit = 40

    /// `body` as is, or, when it has more than `openLimit` rows, inside a closed `<details>` whose
    /// summary (HTML, escaped by the caller) says what it holds.
    mutating func collapsible(rows: Int, summary: String, _ body: (inout HTML) -> Void) {
        guard rows > Self.openLimit else { body(&self); return }
        line("<details><summary>\(summary)</summary>")
        body(&self)
        line("</details>")
    }

    mutating func figure(_ src: String, alt: String, width: Int, height: Int, caption: String?) {
        line("<figure><img src=\"\(esc(src))\" alt=\"\(esc(alt))\" width=\"\(width)\" height=\"\(height)\" loading=\"eager\">"
             + (caption.map { "<figcaption>\(esc($0))</figcaption>" } ?? "") + "</figure>")
    }
}
