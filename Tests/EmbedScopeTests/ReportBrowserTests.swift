import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport

/// The report as a person sees it: rendered by a real headless Chromium (Debian package
/// `chromium`, installed by Scripts/setup.sh). The page's own load check writes
/// `<html data-images-ok="N/M" data-errors="K">`, read back from the dumped DOM.
///
/// Without Chromium this test fails (it does not skip): `Scripts/test.sh` runs setup first, so
/// a missing browser means a broken setup, and a skip would hide a report that no longer loads.
final class ReportBrowserTests: XCTestCase {
    static func findChromium() -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":").map(String.init) + ["/usr/bin"] {
            for name in ["chromium", "chromium-browser"] {
                let u = URL(fileURLWithPath: dir).appendingPathComponent(name)
                if FileManager.default.isExecutableFile(atPath: u.path) { return u }
            }
        }
        return nil
    }

    /// Runs Chromium headless on a file URL; stdout is returned, a hang is killed after 90 s.
    func chromium(_ binary: URL, profile: URL, _ args: [String], page: URL) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = binary
        p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                       "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
                       "--user-data-dir=\(profile.path)", "--virtual-time-budget=10000"] + args + [page.absoluteString]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let watchdog = DispatchWorkItem { if p.isRunning { p.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 90, execute: watchdog)
        // Both pipes are drained at once, so a full stderr never blocks Chromium's stdout.
        final class Drained: @unchecked Sendable { var data = Data() }
        let o = Drained(), e = Drained()
        let group = DispatchGroup()
        group.enter(); DispatchQueue.global().async { o.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter(); DispatchQueue.global().async { e.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.wait()
        p.waitUntilExit()
        watchdog.cancel()
        return (p.terminationStatus, String(decoding: o.data, as: UTF8.self), String(decoding: e.data, as: UTF8.self))
    }

    /// An attribute of the `<html>` start tag of a dumped DOM.
    static func htmlAttribute(_ name: String, in dom: String) -> String? {
        guard let start = dom.range(of: "<html"), let end = dom[start.upperBound...].range(of: ">") else { return nil }
        let tag = dom[start.upperBound..<end.lowerBound]
        guard let a = tag.range(of: " \(name)=\"") else { return nil }
        let rest = tag[a.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }

    func testReportRendersInHeadlessChromium() throws {
        guard let browser = Self.findChromium() else {
            XCTFail("chromium is not installed: run Scripts/setup.sh (it installs Debian's chromium), then run the tests again")
            return
        }
        let dir = try temporaryDirectory(self)
        let (url, images, classes) = try makeImageIndex(in: dir)
        try FileManager.default.removeItem(at: images.appendingPathComponent("circle/1.png")) // a grey tile
        let idx = try Index.open(url)
        var o = ReportOptions(); o.queries = 3; o.neighbours = 6
        var section = try idx.reportSection(name: "tiny <index> & co", options: o)
        // Every section the other commands will feed, with made-up numbers.
        let ids = try idx.catalog.classIds().map(Int.init)
        let xs = ids.indices.map { Double(ids[$0]) + 0.1 * Double($0 % 5) }, ys = ids.indices.map { Double($0 % 7) - 3 }
        section.projections = [ProjectionSection(
            plot: ScatterPlot(title: "PCA · embedding", xLabel: "PC1 (41.2% var)", yLabel: "PC2 (17.9% var)", classNames: classes,
                              xs: xs, ys: ys, classes: ids, arrows: classes.indices.map { .init(x: Double($0), y: 2, label: classes[$0], classIndex: $0) }),
            varianceRatios: [0.412, 0.179])]
        section.classifications = [ClassificationSection(title: "head · embedding", classNames: classes, counts: [[5, 1, 0], [0, 6, 0], [1, 0, 5]],
                                                         lowMargins: [.init(row: 3, path: "images/circle/3.png", trueClass: classes[0], predicted: classes[1], margin: -0.42)])]
        section.versus = VersusSection(k: 5, spaces: ["embedding", "pixel"], perClass: classes.map { ($0, [0.9, 0.6]) }, overall: [0.9, 0.6],
                                       knnAccuracy: [0.95, 0.7], meanJaccard: 0.21)
        section.probe = ProbeSection(space: "embedding", accuracy: 0.944, trainRows: 14, validationRows: 4, seed: 1)
        let out = dir.appendingPathComponent("report")
        // The second copy also has a class named like a long data-set folder (70 characters, no
        // space): its chip made the page 500 px wide on a 390-px phone (checked below).
        var longNamed = section
        longNamed.summary.classes.append(("class_17_very_long_descriptive_category_name_for_testing_layout_17_end", 3))
        let written = try ReportWriter.write(ReportDocument(indexes: [section, longNamed]), to: out)
        let page = out.appendingPathComponent("index.html")
        let html = try String(contentsOf: page, encoding: .utf8)
        let imgCount = html.components(separatedBy: "<img ").count - 1
        XCTAssertEqual(imgCount, written.files.count - 1, "every picture file is shown once")
        XCTAssertEqual(imgCount, 2 * (2 + 1 + 1 + 3 + 3), "per index: silhouette in 2 spaces, projection, confusion, 3 + 3 sheets")

        let profile = dir.appendingPathComponent("chromium-profile")
        let t0 = Date()
        let dom = try chromium(browser, profile: profile, ["--dump-dom"], page: page)
        XCTAssertEqual(dom.status, 0, "chromium failed: \(dom.stderr.suffix(2000))")
        let loaded = Self.htmlAttribute("data-images-ok", in: dom.stdout)
        XCTAssertEqual(loaded, "\(imgCount)/\(imgCount)", "images that loaded / images on the page; DOM head: \(dom.stdout.prefix(400))")
        XCTAssertEqual(Self.htmlAttribute("data-errors", in: dom.stdout), "0",
                       "page errors: \(Self.htmlAttribute("data-error-list", in: dom.stdout) ?? "?")")
        XCTAssertTrue(dom.stdout.contains("tiny &lt;index&gt; &amp; co"), "the escaped index name is in the rendered DOM")

        // On a phone (390 CSS px; headless Chromium's window is at least 500 wide, so the page is
        // loaded in a 390-pixel frame): wide tables scroll inside themselves, the page does not.
        let narrow = out.appendingPathComponent("narrow.html")
        try """
        <html><body style="margin:0"><iframe id="f" src="index.html" style="width:390px;height:844px;border:0"></iframe>
        <script>document.getElementById('f').addEventListener('load',function(){var d=this.contentDocument.documentElement;\
        document.documentElement.setAttribute('data-narrow',d.clientWidth+'/'+d.scrollWidth)})</script></body></html>
        """.write(to: narrow, atomically: true, encoding: .utf8)
        let phone = try chromium(browser, profile: profile, ["--allow-file-access-from-files", "--dump-dom"], page: narrow)
        XCTAssertEqual(phone.status, 0, "chromium failed: \(phone.stderr.suffix(2000))")
        let widths = Self.htmlAttribute("data-narrow", in: phone.stdout)?.split(separator: "/").compactMap { Int($0) } ?? []
        XCTAssertEqual(widths.count, 2, "the frame's widths: \(phone.stdout.prefix(400))")
        if widths.count == 2 {
            XCTAssertGreaterThan(widths[0], 300)
            XCTAssertLessThanOrEqual(widths[1], widths[0], "the report is wider than a 390-pixel screen")
        }
        try FileManager.default.removeItem(at: narrow)

        let shot = dir.appendingPathComponent("screenshot.png")
        let s = try chromium(browser, profile: profile, ["--window-size=1280,2400", "--screenshot=\(shot.path)"], page: page)
        XCTAssertEqual(s.status, 0, "chromium failed: \(s.stderr.suffix(2000))")
        let image = try ImageDecoder.decode(contentsOf: shot)
        XCTAssertEqual(image.width, 1280); XCTAssertEqual(image.height, 2400)
        // Not a blank page: a good share of the pixels are not the background.
        let ink = stride(from: 0, to: image.pixels.count, by: 3).filter { image.pixels[$0] < 200 }.count
        XCTAssertGreaterThan(ink, image.width * image.height / 100)
        if let keep = ProcessInfo.processInfo.environment["EMBEDSCOPE_KEEP_SCREENSHOT"] {
            try? FileManager.default.removeItem(atPath: keep)
            try FileManager.default.copyItem(at: shot, to: URL(fileURLWithPath: keep))
            try? FileManager.default.removeItem(atPath: keep + ".html.d")
            try FileManager.default.copyItem(at: out, to: URL(fileURLWithPath: keep + ".html.d"))
        }
        print(String(format: "chromium: dump-dom and screenshot in %.1f s", Date().timeIntervalSince(t0)))
    }
}
