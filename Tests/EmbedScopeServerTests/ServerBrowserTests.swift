import EmbedScope
import Foundation
import Hummingbird
import HummingbirdTesting
import XCTest
@testable import EmbedScopeServer

/// The explorer page as a person uses it, in Debian's Chromium driven over WebDriver by
/// chromedriver (package chromium-driver, installed by Scripts/setup.sh): load the page, wait
/// for the scatter, click a point, check that the neighbour panel shows the rows the API returns,
/// switch space, upload an image, open a confusion cell; no console errors; a screenshot.
///
/// Skips only when Chromium itself is absent; with Chromium but without chromedriver it fails,
/// since Scripts/setup.sh installs both.
final class ServerBrowserTests: XCTestCase {
    struct Results: Decodable { var results: [ResultRow] }

    func testExplorerInChromium() async throws {
        guard let chromium = WebDriver.findChromium() else { throw XCTSkip("chromium is not installed (Scripts/setup.sh installs it)") }
        guard let chromedriver = WebDriver.findDriver() else {
            XCTFail("chromedriver is missing: run Scripts/setup.sh (it installs Debian's chromium-driver)")
            return
        }
        let dir = try serverTemporaryDirectory(self)
        let f = try ServerFixture.make(in: dir, perClass: 12)
        let query = dir.appendingPathComponent("query.png")
        try PNGWriter.write(width: 40, height: 30, channels: 3, pixels: ServerFixture.picture(1, 3), to: query)
        var o = ServerOptions(roots: [f.root])
        o.host = "127.0.0.1"; o.port = 0; o.log = nil
        let app = buildApplication(o)
        let shotPath = ProcessInfo.processInfo.environment["EMBEDSCOPE_SERVE_SCREENSHOT"] ?? "/tmp/embedscope-serve.png"

        try await app.test(.live) { client in
            let port = try XCTUnwrap(client.port)
            let page = "http://127.0.0.1:\(port)"
            func api<T: Decodable>(_ type: T.Type, _ path: String, method: HTTPRequest.Method = .get, body: ByteBuffer? = nil) async throws -> T {
                try await client.execute(uri: path, method: method, body: body) { r in
                    XCTAssertEqual(r.status, .ok, path)
                    return try JSONDecoder().decode(T.self, from: Data(r.body.readableBytesView))
                }
            }
            let wd = try await WebDriver(driver: chromedriver, chromium: chromium, profile: dir.appendingPathComponent("profile"), windowSize: (1500, 1000))
            do {
                try await wd.navigate(page + "/")
                try await wd.waitUntil("the index list", "return !!(window.__es && window.__es.indexes.length > 0)")
                try await wd.click("#tabs button[data-tab=explorer]")
                try await wd.waitUntil("the scatter", "return window.__es.scatterReady === true")

                // Click a point: at the drawn position of row 7 (the nearest point there is opened).
                let pos = try await wd.execute("const p = window.__es.pointPosition(7); const c = document.querySelector('#scatter'); return [p.x, p.y, c.clientWidth, c.clientHeight]") as? [Double]
                let p = try XCTUnwrap(pos)
                try await wd.mouse(at: "#scatter", dx: Int((p[0] - p[2] / 2).rounded()), dy: Int((p[1] - p[3] / 2).rounded()), click: false)
                try await wd.waitUntil("the hover thumbnail", "return !document.querySelector('#hover').classList.contains('hidden')")
                try await wd.mouse(at: "#scatter", dx: Int((p[0] - p[2] / 2).rounded()), dy: Int((p[1] - p[3] / 2).rounded()), click: true)
                try await wd.waitUntil("the neighbour panel", "return document.querySelector('#panel').dataset.state === 'ready'")
                let rowValue = try await wd.execute("return window.__es.panel.row")
                let row = try XCTUnwrap(rowValue as? Int)
                func panelRows(_ space: String, _ kind: String) async throws -> [Int] {
                    let v = try await wd.execute("return [...document.querySelectorAll(`#panel .block[data-space='\(space)'][data-kind='\(kind)'] .tile`)].map(t => +t.dataset.row)")
                    return (v as? [Int]) ?? []
                }
                for (space, kind) in [("embedding", "nearest"), ("embedding", "farthest"), ("pixel", "nearest"), ("pixel", "farthest")] {
                    let expected = try await api(Results.self, "/api/indexes/tiny/query?row=\(row)&k=8&space=\(space)\(kind == "farthest" ? "&farthest=true" : "")")
                    let shown = try await panelRows(space, kind)
                    XCTAssertEqual(shown, expected.results.map(\.row), "panel \(space) \(kind) for row \(row)")
                }
                let imagesOK = try await wd.execute("return [...document.querySelectorAll('#panel img')].every(i => i.complete && i.naturalWidth > 0)") as? Bool
                XCTAssertEqual(imagesOK, true, "every thumbnail in the panel loaded")

                // Switch space: the scatter and the panel follow.
                try await wd.click("#space option[value=pixel]")
                try await wd.waitUntil("the pixel scatter and panel", """
                    const s = window.__es; return s.scatterReady && s.proj && s.proj.space === 'pixel' && s.panel && s.panel.space === 'pixel'
                    """)
                let pixelNear = try await api(Results.self, "/api/indexes/tiny/query?row=\(row)&k=8&space=pixel")
                let shownPixel = try await wd.execute("return window.__es.panel.nearest") as? [Int]
                XCTAssertEqual(shownPixel, pixelNear.results.map(\.row))

                // Query by image: choose a file.
                try await wd.click("#tabs button[data-tab=upload]")
                try await wd.sendKeys("#file", query.path)
                try await wd.waitUntil("the upload results", "return window.__es.uploadDone > 0 || document.querySelector('#uploadResults').dataset.state === 'error'")
                let shownUpload = try await wd.execute("return document.querySelector('#uploadResults').dataset.rows_pixel") as? String
                let uploaded = try await api(Results.self, "/api/indexes/tiny/query?space=pixel&k=8", method: .post, body: ByteBuffer(bytes: try Data(contentsOf: query)))
                XCTAssertEqual(shownUpload, uploaded.results.map { String($0.row) }.joined(separator: ","))
                XCTAssertEqual(uploaded.results.first?.class, "square", "a square is nearest to a square")

                // Evaluation: open the cell circle → circle.
                try await wd.click("#tabs button[data-tab=evaluation]")
                try await wd.waitUntil("the confusion matrix", "return document.querySelector('#confusion').dataset.state === 'ready'")
                try await wd.click("#confusion td[data-true=circle][data-pred=circle]")
                try await wd.waitUntil("the cell's images", "return document.querySelector('#cell').dataset.state === 'ready'")
                struct Cell: Decodable { var count: Int; var results: [ResultRow] }
                let cell = try await api(Cell.self, "/api/indexes/tiny/evaluate/cell?set=head&true=circle&predicted=circle&k=60")
                let tiles = try await wd.execute("return [...document.querySelectorAll('#cell .tile')].map(t => +t.dataset.row)") as? [Int]
                XCTAssertEqual(tiles, cell.results.map(\.row))
                XCTAssertGreaterThan(cell.count, 0)

                // Prototypes tab renders its grids.
                try await wd.click("#tabs button[data-tab=prototypes]")
                try await wd.waitUntil("the prototype grids", "return document.querySelectorAll('#protoMost .tile').length > 0")

                // Back to the explorer for the picture; then errors.
                try await wd.click("#tabs button[data-tab=explorer]")
                try await wd.waitUntil("the scatter", "return window.__es.scatterReady === true && document.querySelector('#panel').dataset.state === 'ready'")
                try await wd.waitUntil("the thumbnails", "return [...document.querySelectorAll('#panel img')].every(i => i.complete)")
                let shot = try await wd.screenshot()
                try shot.write(to: URL(fileURLWithPath: shotPath))
                let img = try ImageDecoder.decode(data: shot, path: "screenshot")
                XCTAssertGreaterThan(img.width, 800)

                let pageErrors = try await wd.execute("return window.__es.errors") as? [Any]
                XCTAssertEqual(pageErrors?.count, 0, "page errors: \(pageErrors ?? [])")
                if let log = await wd.browserLog() {
                    let severe = log.filter { ($0["level"] as? String) == "SEVERE" }
                    XCTAssertTrue(severe.isEmpty, "console errors: \(severe.map { $0["message"] ?? "" })")
                }
            } catch {
                if let shot = try? await wd.screenshot() { try? shot.write(to: URL(fileURLWithPath: shotPath)) }
                await wd.quit()
                throw error
            }
            await wd.quit()
        }
    }
}
