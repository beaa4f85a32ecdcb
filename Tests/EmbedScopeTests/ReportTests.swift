import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport

/// A tiny image data set on disk and its index: three classes of 6 coloured 40×30 PNGs (one
/// class name full of XML/CSV special characters), an imported 8-d "embedding" space with
/// seeded class clusters, and the pixel space computed by the importer from the images.
func makeImageIndex(in dir: URL, perClass: Int = 6) throws -> (index: URL, images: URL, classes: [String]) {
    let classes = ["circle", "square", "a<b & \"c\""]
    let images = dir.appendingPathComponent("images")
    var g = SeededGenerator(seed: 11)
    var rows: [(path: String, cls: Int)] = []
    for (c, name) in classes.enumerated() {
        let folder = images.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for i in 0..<perClass {
            let w = 40, h = 30
            var px = [UInt8](repeating: 0, count: w * h * 3)
            for y in 0..<h {
                for x in 0..<w {
                    let k = (y * w + x) * 3
                    let inside = c == 0 ? (x - 20) * (x - 20) + (y - 15) * (y - 15) < (8 + i) * (8 + i) : c == 1 ? abs(x - 20) < 6 + i && abs(y - 15) < 6 + i : (x + y + i) % 8 < 4
                    let base: [UInt8] = [[220, 60, 40], [40, 120, 220], [60, 170, 80]][c]
                    for ch in 0..<3 { px[k + ch] = inside ? base[ch] : UInt8(235 - 6 * i) }
                }
            }
            let rel = "images/\(name)/\(i).png"
            try PNGWriter.write(width: w, height: h, channels: 3, pixels: px, to: dir.appendingPathComponent(rel))
            rows.append((rel, c))
        }
    }
    let d = 8
    var x: [Float] = []
    for r in rows {
        for j in 0..<d { x.append((j == r.cls * 2 ? 3 : 0) + Float(g.gaussian()) * 0.6) }
    }
    let xURL = dir.appendingPathComponent("X.npy")
    try NPYArray.write(shape: [rows.count, d], values: x, to: xURL)
    func csv(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
    var manifest = "path,class\n"
    for r in rows { manifest += csv(r.path) + "," + csv(classes[r.cls]) + "\n" }
    let m = dir.appendingPathComponent("rows.csv")
    try manifest.write(to: m, atomically: true, encoding: .utf8)
    let out = dir.appendingPathComponent("index")
    _ = try Importer.run(ImportRequest(vectors: xURL, manifest: m, out: out))
    return (out, images, classes)
}

/// Every element name, attribute value and text of an XML document; fails the test if it does not parse.
final class XMLCollector: NSObject, XMLParserDelegate {
    var elements: [(name: String, attributes: [String: String])] = []
    var texts: [String] = []
    private var current = ""
    var error: Error?

    static func parse(_ s: String, file: StaticString = #filePath, line: UInt = #line) -> XMLCollector {
        let c = XMLCollector()
        let p = XMLParser(data: Data(s.utf8))
        p.delegate = c
        let ok = p.parse()
        XCTAssertTrue(ok, "not well-formed XML: \(String(describing: p.parserError ?? c.error))\n\(s.prefix(600))", file: file, line: line)
        return c
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        elements.append((name, attributes)); current = ""
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { current += string }
    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        let t = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !t.isEmpty { texts.append(t) }
        current = ""
    }
    func parser(_ parser: XMLParser, parseErrorOccurred parseError: Error) { error = parseError }
}

final class ReportTests: XCTestCase {
    let nasty = ["a<b", "R&D \"x\"", "it's > you", "plain"]

    func testSVGPlotsAreWellFormedAndEscapeNames() {
        let scatter = ScatterPlot(title: "PCA <test> & \"more\"", xLabel: "PC1 (23.4% var)", yLabel: "PC2 (10.0% var)", classNames: nasty,
                                  xs: [0, 1, -1, 2, 0.5], ys: [1, 0, -2, 1, 3], classes: [0, 1, 2, 3, 0],
                                  arrows: [.init(x: 1.5, y: 2, label: "R&D \"x\"", classIndex: 1), .init(x: -1, y: -1, label: "<b>")])
        let bars = BarChart(title: "silhouette", valueLabel: "value", bars: nasty.enumerated().map { .init(label: $0.element, value: Double($0.offset) - 1.5) },
                            reference: (0.1, "mean & more"))
        let heat = ConfusionHeatMap(title: "confusion <m>", classNames: nasty, counts: [[5, 1, 0, 0], [2, 7, 0, 1], [0, 0, 9, 0], [0, 3, 0, 4]])
        for svg in [scatter.svg(), bars.svg(), heat.svg()] {
            let x = XMLCollector.parse(svg)
            XCTAssertEqual(x.elements.first?.name, "svg")
            XCTAssertEqual(x.elements.first?.attributes["xmlns"], "http://www.w3.org/2000/svg")
            // The parsed text gives the names back exactly: they were escaped, not mangled.
            let all = x.texts.joined(separator: "\n")
            for name in nasty { XCTAssertTrue(all.contains(name), "\(name) missing from \(all)") }
            XCTAssertFalse(svg.contains("R&D"), "an unescaped & in the SVG")
        }
        XCTAssertEqual(SVGWriter.escape("<a href=\"x\">&'\u{1}\n"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39; ")
        XCTAssertEqual(SVGWriter.num(-0.001), "0")
        XCTAssertEqual(SVGWriter.num(12.5), "12.5")
        XCTAssertEqual(SVGWriter.num(3), "3")
        // Deterministic: the same input gives the same bytes.
        XCTAssertEqual(scatter.svg(), scatter.svg())
        XCTAssertEqual(heat.svg(), heat.svg())
    }

    func testBarChartSortsAndDrawsNegativeValuesLeftOfZero() {
        let chart = BarChart(title: "t", valueLabel: "v", bars: [.init(label: "low", value: -0.25), .init(label: "none", value: nil),
                                                               .init(label: "high", value: 0.5), .init(label: "mid", value: 0.1)])
        XCTAssertEqual(chart.orderedBars.map(\.label), ["high", "mid", "low", "none"])
        let x = XMLCollector.parse(chart.svg())
        // Bars are the rects with a title child; the zero line is the tick line drawn darker.
        let zero = x.elements.first { $0.name == "line" && $0.attributes["stroke"] == "#888888" }
        let zx = Double(zero?.attributes["x1"] ?? "") ?? .nan
        XCTAssertTrue(zx.isFinite)
        let rects = x.elements.filter { $0.name == "rect" && $0.attributes["fill"] != "#ffffff" && $0.attributes["fill"] != "none" }
        XCTAssertEqual(rects.count, 3, "three bars with values")
        func span(_ r: (name: String, attributes: [String: String])) -> (Double, Double) {
            let a = Double(r.attributes["x"]!)!, w = Double(r.attributes["width"]!)!
            return (a, a + w)
        }
        let (h0, h1) = span(rects[0]), (l0, l1) = span(rects[2])
        XCTAssertEqual(h0, zx, accuracy: 0.01); XCTAssertGreaterThan(h1, zx)
        XCTAssertEqual(l1, zx, accuracy: 0.01); XCTAssertLessThan(l0, zx)
        XCTAssertEqual(rects[2].attributes["fill"], Palette.bad.css, "negative bars are red")
        // Bar lengths are proportional to the values: |−0.25| / 0.5.
        XCTAssertEqual((l1 - l0) / (h1 - h0), 0.5, accuracy: 0.01)
        XCTAssertTrue(x.texts.contains("n/a"))
        XCTAssertTrue(x.texts.contains("-0.250"))
    }

    /// 1,000 classes drew a per-class silhouette chart 22,000 px tall: above `limit` bars only the
    /// highest and lowest halves are drawn, with a row saying how many are left out.
    func testBarChartOfManyClassesDrawsItsEnds() {
        let bars = (0..<1000).map { BarChart.Bar(label: "c\($0)", value: Double($0) / 1000) }
        let chart = BarChart(title: "t", valueLabel: "v", bars: bars)
        let shown = chart.shown
        XCTAssertEqual(shown.bars.count, 50)
        XCTAssertEqual(shown.gapAfter, 25)
        XCTAssertEqual(shown.omitted, 950)
        XCTAssertEqual(shown.bars.first?.label, "c999")
        XCTAssertEqual(shown.bars[24].label, "c975")
        XCTAssertEqual(shown.bars[25].label, "c24")
        XCTAssertEqual(shown.bars.last?.label, "c0")
        XCTAssertEqual(chart.height, 56 + 40 + 51 * BarChart.rowHeight)
        let x = XMLCollector.parse(chart.svg())
        XCTAssertEqual(x.elements.filter { $0.name == "rect" && $0.attributes["fill"] != "#ffffff" && $0.attributes["fill"] != "#f4f4f4" }.count, 50)
        XCTAssertTrue(x.texts.contains { $0.contains("950 of 1000 not shown") }, "\(x.texts.filter { $0.contains("shown") })")
        // Rows below the gap are one row further down than their index.
        var few = chart
        few.limit = nil
        XCTAssertEqual(few.shown.bars.count, 1000)
        XCTAssertNil(few.shown.gapAfter)
    }

    func testHeatMapDimensionsAndDegradation() {
        func names(_ n: Int) -> [String] { (0..<n).map { "class \($0)" } }
        func counts(_ n: Int) -> [[Int]] { (0..<n).map { i in (0..<n).map { j in i == j ? 10 : (i + j) % 3 } } }
        let small = ConfusionHeatMap(title: "m", classNames: names(3), counts: counts(3))
        let sx = XMLCollector.parse(small.svg())
        let side = Double(ConfusionHeatMap.cellSize(classes: 3))
        XCTAssertEqual(sx.elements.filter { $0.name == "rect" && Double($0.attributes["width"] ?? "") == side && Double($0.attributes["height"] ?? "") == side }.count, 9)
        XCTAssertTrue(sx.texts.contains("10"), "counts are printed up to 20 classes")
        let svgSize = ConfusionHeatMap.size(classes: 3, labelChars: 7)
        XCTAssertEqual(sx.elements.first?.attributes["width"], "\(svgSize.width)")
        XCTAssertEqual(sx.elements.first?.attributes["height"], "\(svgSize.height)")

        let mid = ConfusionHeatMap(title: "m", classNames: names(30), counts: counts(30))
        let mx = XMLCollector.parse(mid.svg())
        XCTAssertFalse(mx.texts.contains("10"), "no counts beyond 20 classes")
        XCTAssertEqual(mx.elements.filter { $0.name == "title" }.count, 1 + 30 * 30, "every cell keeps a tooltip")

        let big = ConfusionHeatMap(title: "m", classNames: names(100), counts: counts(100))
        XCTAssertEqual(big.shownClasses.count, 60)
        let bx = XMLCollector.parse(big.svg())
        XCTAssertTrue(bx.texts.contains { $0.contains("60 of 100 classes") })
        XCTAssertEqual(bx.elements.filter { $0.name == "title" }.count, 1 + 60 * 60)
    }

    func testClassificationScoresFromCounts() {
        // sklearn: confusion [[5,1,0],[2,7,1],[0,0,0]] → precision [5/7, 7/8, 0], recall [5/6, 7/10, 0] (zero_division=0).
        let c = ClassificationSection(title: "t", classNames: ["a", "b", "c"], counts: [[5, 1, 0], [2, 7, 1], [0, 0, 0]])
        let p = c.perClass
        XCTAssertEqual(p[0].precision, 5.0 / 7, accuracy: 1e-12)
        XCTAssertEqual(p[1].recall, 0.7, accuracy: 1e-12)
        XCTAssertEqual(p[1].f1, 2 * (7.0 / 8) * 0.7 / (7.0 / 8 + 0.7), accuracy: 1e-12)
        XCTAssertEqual(p[2].precision, 0); XCTAssertEqual(p[2].f1, 0); XCTAssertEqual(p[2].support, 0)
        XCTAssertEqual(c.accuracy, 12.0 / 16, accuracy: 1e-12)
    }

    func testFontGlyphsArePinned() {
        let font = BitmapFont.fixed13
        XCTAssertEqual(font.advance, 7); XCTAssertEqual(font.height, 13)
        XCTAssertEqual(font.render("Hi!"), [
            ".....................",
            ".....................",
            ".#....#..........#...",
            ".#....#...#......#...",
            ".#....#..........#...",
            ".#....#..##......#...",
            ".######...#......#...",
            ".#....#...#......#...",
            ".#....#...#......#...",
            ".#....#...#..........",
            ".#....#.#####....#...",
            ".....................",
            ".....................",
        ])
        XCTAssertEqual(font.rows(of: "é"), font.rows(of: "?"))
        XCTAssertEqual(font.rows(of: "·"), font.rows(of: "|"))
        XCTAssertEqual(font.fit("abcdefghij", pixels: 35), "abcd~")
        // Drawn into a canvas: the ink lands where the text art says.
        var c = Canvas(width: 21, height: 13)
        c.text("Hi!", x: 0, y: 0, color: .black)
        let art = (0..<13).map { y in String((0..<21).map { x in c.image.pixels[(y * 21 + x) * 3] == 0 ? "#" : "." }) }
        XCTAssertEqual(art, font.render("Hi!"))
    }

    func testImageSheetsDecodeBackWithExpectedSize() throws {
        let dir = try temporaryDirectory(self)
        let (url, images, classes) = try makeImageIndex(in: dir)
        // One image disappears after indexing: its tile must be grey with a note, not an error.
        try FileManager.default.removeItem(at: images.appendingPathComponent("square/0.png"))
        let idx = try Index.open(url)
        XCTAssertEqual(Set(idx.spaces.map(\.name)), ["embedding", "pixel"])
        // The importer records the manifest's folder as the data-set root; the resolver looks there.
        XCTAssertEqual(try idx.catalog.meta()["datasetRoot"], dir.standardizedFileURL.path)
        let resolver = idx.imageResolver()
        XCTAssertEqual(resolver.locate("images/circle/0.png")?.path, dir.standardizedFileURL.appendingPathComponent("images/circle/0.png").path)
        let sheet = try idx.contactSheet(row: 0, space: "embedding", k: 5, resolver: resolver, thumb: 48)
        XCTAssertEqual(sheet.rows.map(\.tiles.count), [5, 5])
        XCTAssertEqual(sheet.query.lines, [classes[0], "row 0"])
        let png = try sheet.render().pngData()
        let back = try ImageDecoder.decode(data: png, path: "sheet.png")
        XCTAssertEqual(back.width, sheet.size.width); XCTAssertEqual(back.height, sheet.size.height)
        XCTAssertEqual(back.pixels, sheet.render().image.pixels, "PNG round trip is exact")

        let spaces = try idx.spacesSheet(row: 7, spaces: ["embedding", "pixel"], k: 17, resolver: resolver, thumb: 32)
        XCTAssertEqual(spaces.rows.count, 2)
        XCTAssertEqual(spaces.rows[0].tiles.count, 17, "every other row")
        let missing = spaces.rows.flatMap(\.tiles).filter { $0.image == nil }
        XCTAssertEqual(missing.count, 2, "the removed image, once per row")
        XCTAssertEqual(missing.first?.note, "image file not found")
        let decoded = try ImageDecoder.decode(data: try spaces.render().pngData(), path: "spaces.png")
        XCTAssertEqual(decoded.width, spaces.size.width); XCTAssertEqual(decoded.height, spaces.size.height)

        // Large images are kept as thumbnails.
        let small = ImageResolver(roots: [dir], maxSide: 20)
        guard case .success(let shrunk) = small.image("images/circle/0.png") else { return XCTFail("image not found") }
        XCTAssertEqual([shrunk.width, shrunk.height], [20, 15])
        XCTAssertTrue(shrunk.isWellFormed)

        // Seeded sample queries: the same seed gives the same rows, from different classes.
        let a = try idx.sampleQueryRows(count: 3, seed: 4), b = try idx.sampleQueryRows(count: 3, seed: 4)
        XCTAssertEqual(a, b)
        let ids = try idx.catalog.classIds()
        XCTAssertEqual(Set(a.map { ids[$0] }).count, 3)
    }

    /// `reportSection` feeds every analysis section from the library: PCA and LDA per space,
    /// neighbour quality, an evaluation of the prototype set named like the classes, the probe
    /// from metrics.json; and records what it measured in metrics.json.
    func testReportSectionFillsTheAnalysisSections() throws {
        let dir = try temporaryDirectory(self)
        let n = 60, d = 8
        let names = (0..<n).map { ["ant", "bee", "cat"][$0 % 3] }
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 8), rows: n, dim: d, classes: names,
                                        head: (randomMatrix(rows: 3, dim: d, seed: 9), [0, 0, 0], ["ant", "bee", "cat"]))
        let idx = try Index.open(url)
        var req = ProbeRequest()
        req.storeAs = nil
        _ = try idx.recordProbe(try idx.probe(req))
        var o = ReportOptions()
        o.queries = 1
        let r = try Index.open(url).reportSection(name: "x", options: o)
        XCTAssertEqual(r.projections.count, 2, "PCA and LDA of the one space")
        XCTAssertEqual(r.projections.map(\.axisPrefix), ["PC", "LD"])
        XCTAssertEqual(r.projections[0].plot.xs.count, n)
        XCTAssertEqual(r.projections[0].plot.arrows.count, 3, "the head's prototypes, named like the classes, as arrows")
        XCTAssertEqual(r.versus?.overall.count, 1)
        XCTAssertEqual(r.classifications.count, 1)
        XCTAssertEqual(r.classifications.first?.counts.flatMap { $0 }.reduce(0, +), n)
        XCTAssertNotNil(r.probe)
        let record = try XCTUnwrap(idx.readMetrics()?.spaces["embedding"])
        XCTAssertNotNil(record.cluster)
        XCTAssertNotNil(record.neighbours)
        XCTAssertNotNil(record.pca)
        XCTAssertNotNil(record.lda)
        XCTAssertNotNil(record.probe)
    }

    /// Fails on main: an index with an embedding and a pixel space beside a pixels-only one got no
    /// per-class delta table in the report (it looked for the first index's spaces but pixel),
    /// while `compare` shows the pixel deltas they share; and the comparison had no k-NN column.
    func testReportDeltasUseTheSpacesCompareUses() throws {
        let dir = try temporaryDirectory(self)
        let (a, images, _) = try makeImageIndex(in: dir)
        let b = dir.appendingPathComponent("pixels")
        _ = try FolderBuilder.run(BuildRequest(dataset: images, out: b))
        let cmp = try CLI.run(["compare", a.path, b.path, "--json"])
        XCTAssertEqual(cmp.status, 0, cmp.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(cmp.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((json["perClass"] as? [[String: Any]])?.compactMap { $0["space"] as? String }, ["pixel"], cmp.stdout)
        let out = dir.appendingPathComponent("report")
        let rep = try CLI.run(["report", a.path, b.path, "--out", out.path, "--no-quality", "--queries", "1"])
        XCTAssertEqual(rep.status, 0, rep.stderr)
        let html = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("Per-class change against index (space pixel)"), "the pixel deltas compare shows")
        XCTAssertFalse(html.contains("(space embedding)</h2>"))
        XCTAssertTrue(html.contains("<th class=\"num\">k-NN accuracy</th>"))
    }

    /// Fails before the fix: an index without cluster metrics (every row a class of its own) was
    /// left out of the comparison table without a word; its precision@k section said the figure
    /// "comes from embedscope versus", which refuses such an index; its LDA note said "the rows of
    /// each class are identical" of three different rows; and the table broke names mid-word.
    func testReportListsAnIndexWithoutMetricsAndSaysWhyVersusIsAbsent() throws {
        let dir = try temporaryDirectory(self)
        let n = 30, d = 6
        let full = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 3), rows: n, dim: d,
                                         classes: (0..<n).map { ["ant", "bee", "cat"][$0 % 3] }, name: "efficientnet_full")
        let three = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 3, dim: d, seed: 4), rows: 3, dim: d,
                                          classes: ["ant", "bee", "cat"], name: "three")
        var o = ReportOptions(); o.queries = 1; o.quality = false
        let a = try Index.open(full).reportSection(name: "efficientnet_full", options: o)
        let b = try Index.open(three).reportSection(name: "three", options: o)
        XCTAssertNil(b.versus)
        XCTAssertTrue(b.versusNote?.contains("more than 10 rows") == true, b.versusNote ?? "nil")
        XCTAssertEqual(b.unmeasured.map(\.space), ["embedding"])
        XCTAssertTrue(b.metricNotes.contains { $0.contains("every class has a single row") }, "\(b.metricNotes)")
        XCTAssertFalse(b.metricNotes.contains { $0.contains("identical") }, "\(b.metricNotes)")
        let out = dir.appendingPathComponent("report")
        _ = try ReportWriter.write(ReportDocument(indexes: [a, b]), to: out)
        let html = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        let table = try XCTUnwrap(html.components(separatedBy: "id=\"comparison\"").dropFirst().first?.components(separatedBy: "</section>").first)
        XCTAssertTrue(table.contains("<tr class=\"gap\"><td>three</td>"), table)
        XCTAssertTrue(table.contains("no cluster metrics for three · embedding: cluster metrics is not defined when every row is a class of its own"), table)
        XCTAssertTrue(table.contains("<td>efficientnet_<wbr>full</td>"), "a break opportunity after the underscore only")
        XCTAssertTrue(html.contains("Not defined for this index: precision@10 needs more than 10 rows"))
        XCTAssertEqual(html.components(separatedBy: "comes from <code>embedscope versus</code>").count, 1, "no index is told versus would give it")
    }

    /// Many classes: per-class lists and tables are written closed, with a summary line.
    func testReportOfManyClassesKeepsPerClassTablesClosed() throws {
        let dir = try temporaryDirectory(self)
        let c = 60, n = 3 * c, d = 8
        let classNames = (0..<c).map { "class \($0)" }
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 3), rows: n, dim: d,
                                        classes: (0..<n).map { classNames[$0 % c] },
                                        head: (randomMatrix(rows: c, dim: d, seed: 4), [Float](repeating: 0, count: c), classNames))
        var o = ReportOptions(); o.queries = 1
        let section = try Index.open(url).reportSection(name: "many", options: o)
        // 60 prototype arrows were 60 overlapping labels: the 12 longest are drawn, and the title says so.
        XCTAssertEqual(section.projections.first?.plot.arrows.count, 12)
        XCTAssertTrue(section.projections.first?.plot.title.contains("the 12 longest of 60 prototype directions") ?? false)
        if let p = section.projections.first?.plot {
            let drawn = p.arrows.map { ($0.x * $0.x + $0.y * $0.y).squareRoot() }.min() ?? 0
            XCTAssertGreaterThan(drawn, 0)
        }
        let out = dir.appendingPathComponent("report")
        _ = try ReportWriter.write(ReportDocument(indexes: [section]), to: out)
        let html = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("<details><summary>60 classes, 3 rows each"), "class chips closed")
        XCTAssertTrue(html.contains("<details><summary>Precision, recall and F1 of 60 classes"), "classification table closed")
        XCTAssertTrue(html.contains("<details><summary>Precision@"), "neighbour table closed")
        XCTAssertEqual(html.components(separatedBy: "<details>").count, html.components(separatedBy: "</details>").count)
        let svg = try String(contentsOf: out.appendingPathComponent("img").appendingPathComponent(
            try XCTUnwrap(FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("img").path).first { $0.contains("silhouette") })), encoding: .utf8)
        XCTAssertTrue(svg.contains("10 of 60 not shown"))
    }

    /// Bidirectional controls reorder the text around them ("cat\u{202E}gpj.exe" reads "catexe.jpg"):
    /// shown as `\u{202E}`, like the CLI's `escapedForDisplay`; every other character as it is.
    func testBidiControlsAreShownEscaped() {
        XCTAssertEqual("cat\u{202E}gpj.exe".bidiControlsEscaped, #"cat\u{202E}gpj.exe"#)
        XCTAssertEqual("\u{61C}\u{200E}\u{200F}\u{202A}\u{202B}\u{202C}\u{202D}\u{2066}\u{2067}\u{2068}\u{2069}".bidiControlsEscaped,
                       #"\u{61C}\u{200E}\u{200F}\u{202A}\u{202B}\u{202C}\u{202D}\u{2066}\u{2067}\u{2068}\u{2069}"#)
        XCTAssertEqual("x\u{202E}y".bidiControlsEscaped, "x\u{202E}y".escapedForDisplay, "the CLI's form")
        // Chart labels are measured and shortened as shown (escapes count; the bar chart clipped them).
        XCTAssertEqual(ScatterPlot.shorten("cat\u{202E}gpj.exe", 24), #"cat\u{202E}gpj.exe"#)
        XCTAssertEqual(ScatterPlot.shorten("ab\u{202E}\u{202E}", 8), #"ab\u…2E}"#)
        // Cut in the middle: two long names that differ at their end stay two labels.
        let long = String(repeating: "A_very_long_class_name_", count: 4)
        XCTAssertNotEqual(ScatterPlot.shorten(long + "1", 22), ScatterPlot.shorten(long + "2", 22))
        XCTAssertEqual(ScatterPlot.shorten(long + "1", 22).count, 22)
        for plain in ["golden retriever", "a\\b", "قطة", "חתול", "👩\u{200D}💻", "caf\u{E9}", "cafe\u{301}", "zero\u{200B}width", ""] {
            XCTAssertEqual(plain.bidiControlsEscaped, plain)
        }
        XCTAssertEqual(SVGWriter.escape("<\u{2066}a&b\u{2069}>"), #"&lt;\u{2066}a&amp;b\u{2069}&gt;"#)
        XCTAssertEqual(SVGWriter.escape("قطة 👩\u{200D}💻"), "قطة 👩\u{200D}💻")
    }

    /// A report of an index whose class, index and path names hold bidirectional controls has
    /// none left in its HTML or its SVGs: each is shown as `\u{202E}`.
    func testReportShowsBidiControlsInNamesEscaped() throws {
        let dir = try temporaryDirectory(self)
        let classNames = ["cat\u{202E}gpj.exe", "\u{2066}dog\u{2069}", "plain"]
        let n = 30, d = 6
        let url = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 21), rows: n, dim: d,
                                        classes: (0..<n).map { classNames[$0 % 3] },
                                        head: (randomMatrix(rows: 3, dim: d, seed: 22), [0, 0, 0], classNames), name: "idx\u{202B}")
        var o = ReportOptions(); o.queries = 1
        let section = try Index.open(url).reportSection(name: "name\u{202E}x", options: o)
        let out = dir.appendingPathComponent("report")
        let written = try ReportWriter.write(ReportDocument(indexes: [section]), to: out)
        let html = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertTrue(html.contains(#"cat\u{202E}gpj.exe"#), "class name shown escaped")
        XCTAssertTrue(html.contains(#"\u{2066}dog\u{2069}"#))
        XCTAssertTrue(html.contains(#"name\u{202E}x"#), "index name shown escaped")
        XCTAssertTrue(html.contains(#"idx\u{202B}"#), "index path shown escaped")
        let texts = try written.files.filter { $0.hasSuffix(".html") || $0.hasSuffix(".svg") }.map {
            (name: $0, text: try String(contentsOf: out.appendingPathComponent($0), encoding: .utf8))
        }
        XCTAssertTrue(texts.contains { $0.name.hasSuffix(".svg") && $0.text.contains(#"cat\u{202E}gpj.exe"#) }, "SVG labels escaped")
        for (name, text) in texts {
            XCTAssertFalse(text.unicodeScalars.contains(where: String.isBidiControl), "a raw bidirectional control in \(name)")
        }
    }

    func testReportWriterReplacesAtomicallyAndRefusesOtherFolders() throws {
        let dir = try temporaryDirectory(self)
        let (url, _, _) = try makeImageIndex(in: dir, perClass: 4)
        let idx = try Index.open(url)
        var o = ReportOptions(); o.queries = 2; o.neighbours = 3
        let section = try idx.reportSection(name: "tiny", options: o)
        XCTAssertEqual(section.metrics.map(\.space).sorted(), ["embedding", "pixel"])
        XCTAssertEqual(section.contactSheets.count, 2)
        XCTAssertEqual(section.spaceSheets.count, 2)
        let out = dir.appendingPathComponent("report")
        let first = try ReportWriter.write(ReportDocument(indexes: [section]), to: out)
        XCTAssertEqual(first.files.first, "index.html")
        for f in first.files { XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(f).path), f) }
        let html = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("a&lt;b &amp; &quot;c&quot;"), "class names escaped in HTML")
        XCTAssertFalse(html.contains("http://") || html.contains("https://"), "no external resources")
        XCTAssertFalse(html.contains("Comparison"), "no comparison table for one index")
        // Again, with two indexes: replaced in place, comparison table present, no temp dirs left.
        _ = try ReportWriter.write(ReportDocument(indexes: [section, section]), to: out)
        let again = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertTrue(again.contains("Comparison"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }, [])
        // A folder that is not a report is never replaced.
        let other = dir.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        try "keep".write(to: other.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        XCTAssertThrowsKind(.refused, try ReportWriter.write(ReportDocument(indexes: [section]), to: other))
        XCTAssertTrue(FileManager.default.fileExists(atPath: other.appendingPathComponent("notes.txt").path))
        // Nor is a folder that merely contains an index.html (fails on main: it was replaced).
        try "<html></html>".write(to: other.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
        XCTAssertThrowsKind(.refused, try ReportWriter.write(ReportDocument(indexes: [section]), to: other))
        XCTAssertTrue(FileManager.default.fileExists(atPath: other.appendingPathComponent("notes.txt").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(ReportWriter.markerName).path))
    }
}
