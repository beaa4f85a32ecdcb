import EmbedScope
import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import XCTest
@testable import EmbedScopeServer

/// Every endpoint in process (`app.test(.router)`), compared with what the library (and so the
/// CLI's --json) answers, and every refusal of docs/http-api.md's safety section.
final class ServerAPITests: XCTestCase {
    struct Results: Decodable, Equatable { var results: [ResultRow] }
    struct ErrorBody: Decodable { struct E: Decodable { var kind: String; var message: String }; var error: E }

    func app(_ f: ServerFixture, configure: (inout ServerOptions) -> Void = { _ in }) -> some ApplicationProtocol {
        var o = ServerOptions(roots: [f.root])
        o.log = nil
        configure(&o)
        return buildApplication(o)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ r: TestResponse, file: StaticString = #filePath, line: UInt = #line) throws -> T {
        do { return try JSONDecoder().decode(T.self, from: Data(r.body.readableBytesView)) } catch {
            XCTFail("cannot decode \(T.self) from \(r.status): \(String(decoding: r.body.readableBytesView, as: UTF8.self).prefix(500))", file: file, line: line)
            throw error
        }
    }

    /// Expects an error status with the API's JSON error body.
    static func expectError(_ client: some TestClientProtocol, _ uri: String, method: HTTPRequest.Method = .get, body: ByteBuffer? = nil,
                     headers: HTTPFields = [:], _ status: HTTPResponse.Status, file: StaticString = #filePath, line: UInt = #line) async throws {
        try await client.execute(uri: uri, method: method, headers: headers, body: body) { r in
            XCTAssertEqual(r.status, status, "\(method) \(uri): \(String(decoding: r.body.readableBytesView, as: UTF8.self).prefix(300))", file: file, line: line)
            let e = try? JSONDecoder().decode(ErrorBody.self, from: Data(r.body.readableBytesView))
            XCTAssertNotNil(e, "\(uri): error body is {\"error\":{\"kind\",\"message\"}}", file: file, line: line)
            XCTAssertFalse(e?.error.message.isEmpty ?? true, file: file, line: line)
            XCTAssertEqual(r.headers[.contentType]?.hasPrefix("application/json"), true, file: file, line: line)
        }
    }

    static func assertSameResults(_ a: [ResultRow], _ b: [ResultRow], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.map(\.row), b.map(\.row), what, file: file, line: line)
        XCTAssertEqual(a.map(\.path), b.map(\.path), what, file: file, line: line)
        XCTAssertEqual(a.map(\.class), b.map(\.class), what, file: file, line: line)
        XCTAssertEqual(a.map(\.rank), b.map(\.rank), what, file: file, line: line)
        for (x, y) in zip(a, b) {
            XCTAssertTrue(abs(x.score - y.score) <= 1e-6, "\(what): score \(x.score) vs \(y.score) (tolerance 1e-6)", file: file, line: line)
        }
    }

    func testIndexesAndInfo() async throws {
        let dir = try serverTemporaryDirectory(self)
        let f = try ServerFixture.make(in: dir)
        try await app(f).test(.router) { client in
            try await client.execute(uri: "/api/indexes", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                struct List: Decodable {
                    struct Entry: Decodable {
                        struct Space: Decodable { var name: String; var dim: Int }
                        struct Class: Decodable { var name: String; var count: Int }
                        struct PSet: Decodable { var name: String }
                        var name: String; var rows: Int; var spaces: [Space]; var classes: [Class]; var prototypeSets: [PSet]; var metrics: [ComparisonRow]
                    }
                    var indexes: [Entry]
                }
                let l = try ServerAPITests.decode(List.self, r)
                XCTAssertEqual(l.indexes.map(\.name), ["tiny"])
                let e = try XCTUnwrap(l.indexes.first)
                XCTAssertEqual(e.rows, f.rows)
                XCTAssertEqual(e.spaces.map(\.name), ["embedding", "pixel"])
                XCTAssertEqual(e.spaces.map(\.dim), [8, 3 * 8 * 8])
                XCTAssertEqual(e.classes.map(\.name), f.classes)
                XCTAssertEqual(e.classes.map(\.count), [8, 8, 8])
                XCTAssertEqual(e.prototypeSets.map(\.name), ["head"])
                XCTAssertEqual(Set(e.metrics.map(\.space)), ["embedding", "pixel"])
            }
            try await client.execute(uri: "/api/indexes/tiny", method: .get) { r in XCTAssertEqual(r.status, .ok) }
            try await client.execute(uri: "/api/openapi.json", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                let doc = try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [String: Any]
                let paths = try XCTUnwrap(doc?["paths"] as? [String: Any])
                for p in ["/api/indexes", "/api/indexes/{name}/query", "/api/indexes/{name}/rank", "/api/indexes/{name}/projection",
                          "/api/indexes/{name}/metrics", "/api/indexes/{name}/evaluate", "/api/indexes/{name}/images/{row}",
                          "/api/indexes/{name}/thumbs/{row}", "/api/compare"] {
                    XCTAssertNotNil(paths[p], "openapi.json documents \(p)")
                }
            }
            try await client.execute(uri: "/", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                let html = String(decoding: r.body.readableBytesView, as: UTF8.self)
                XCTAssertTrue(html.contains("<canvas id=\"scatter\""))
                XCTAssertFalse(html.contains("http://") || html.contains("https://"), "the page fetches nothing from outside")
            }
            for asset in ["/static/app.js", "/static/app.css"] {
                try await client.execute(uri: asset, method: .get) { r in
                    XCTAssertEqual(r.status, .ok)
                    let text = String(decoding: r.body.readableBytesView, as: UTF8.self)
                    XCTAssertFalse(text.contains("http://") || text.contains("https://"), "\(asset) fetches nothing from outside")
                }
            }
        }
    }

    func testQueriesEqualTheLibrarysAnswers() async throws {
        let dir = try serverTemporaryDirectory(self)
        let f = try ServerFixture.make(in: dir)
        let idx = try Index.open(f.index)
        try await app(f).test(.router) { client in
            let cases: [(String, QuerySource, SearchOptions)] = [
                ("row=3&k=5", .row(3), { var o = SearchOptions(); o.k = 5; return o }()),
                ("row=3&k=5&farthest=true", .row(3), { var o = SearchOptions(); o.k = 5; o.farthest = true; return o }()),
                ("row=10&k=4&space=pixel", .row(10), { var o = SearchOptions(); o.k = 4; o.space = "pixel"; return o }()),
                ("path=images/square/2.png&k=3&class=circle", .path("images/square/2.png"), { var o = SearchOptions(); o.k = 3; o.className = "circle"; return o }()),
                ("row=0&k=2&includeSelf=true", .row(0), { var o = SearchOptions(); o.k = 2; o.includeSelf = true; return o }()),
                ("row=1&k=100000&space=pixel", .row(1), { var o = SearchOptions(); o.k = 10_000; o.space = "pixel"; return o }()),
            ]
            for (q, source, o) in cases {
                let expected = try idx.search(source, options: o)
                if q.contains("k=100000") {
                    try await ServerAPITests.expectError(client, "/api/indexes/tiny/query?\(q)", .badRequest)
                    continue
                }
                try await client.execute(uri: "/api/indexes/tiny/query?\(q)", method: .get) { r in
                    XCTAssertEqual(r.status, .ok, q)
                    ServerAPITests.assertSameResults(try ServerAPITests.decode(Results.self, r).results, expected, q)
                }
            }
            // rank, as `embedscope rank --json`
            let ranked = try idx.rank(prototype: "square", set: "head", least: true, k: 4)
            try await client.execute(uri: "/api/indexes/tiny/rank?prototype=square&set=head&k=4&least=true", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                ServerAPITests.assertSameResults(try ServerAPITests.decode(Results.self, r).results, ranked, "rank")
            }
        }
    }

    /// A stored row damaged after it was written (here zeroed, as a lost page reads) is never
    /// shown, nor silently left out: a query or rank that reads it is an error naming it, not a
    /// 200 with a different answer — one whose answer would not show it too (the scan finds it).
    func testDamagedRowsNeverReachAnAnswer() async throws {
        // Zeroed (a lost page) and NaN (a flipped exponent): both the index's fault, so 500 — a NaN
        // row answered 400 `nonFinite`, the status of a caller's NaN query vector (red team).
        for (damage, kind, says) in [("zero", "checksumMismatch", "row 5 has length 0"), ("nan", "nonFinite", "row 5 holds NaN")] {
            let dir = try serverTemporaryDirectory(self).appendingPathComponent(damage)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let f = try ServerFixture.make(in: dir)
            let file = f.index.appendingPathComponent("current/embedding.vec")
            let v = try VectorFile(url: file)
            let h = try FileHandle(forWritingTo: file)
            try h.seek(toOffset: UInt64(64 + 5 * v.stride * 4))
            let row = damage == "zero" ? [Float](repeating: 0, count: v.dim) : [Float](repeating: .nan, count: v.dim)
            try h.write(contentsOf: row.withUnsafeBytes { Data($0) })
            try h.close()
            try await app(f).test(.router) { client in
                for q in ["query?row=0&k=\(f.rows)", "query?row=5&k=3", "query?row=0&k=\(f.rows)&farthest=true", "rank?prototype=square&set=head&k=\(f.rows)",
                          "query?row=0&k=1&includeSelf=true", "rank?prototype=square&set=head&k=1"] {
                    try await client.execute(uri: "/api/indexes/tiny/\(q)", method: .get) { r in
                        XCTAssertEqual(r.status, .internalServerError, "\(damage): \(q)")
                        let e = try ServerAPITests.decode(ErrorBody.self, r)
                        XCTAssertEqual(e.error.kind, kind, "\(damage): \(q)")
                        XCTAssertTrue(e.error.message.contains(says), "\(damage): \(q): \(e.error.message)")
                        // No path of the server's file system (the hint said "run `embedscope verify /tmp/…/tiny`").
                        XCTAssertFalse(e.error.message.contains(dir.path), "\(q): \(e.error.message)")
                        XCTAssertTrue(e.error.message.contains("embedscope verify tiny"), "\(q): \(e.error.message)")
                    }
                }
            }
        }
    }

    func testAbsolutePathsInMessagesAreGivenAsTheirLastComponent() {
        XCTAssertEqual(APIError.redactingPaths("run `embedscope verify /srv/data/x` and /a/b.vec: bad."), "run `embedscope verify x` and b.vec: bad.")
        XCTAssertEqual(APIError.redactingPaths("(/tmp/i/current/embedding.vec) 1/3 of PC1/PC2, a / b"), "(embedding.vec) 1/3 of PC1/PC2, a / b")
        XCTAssertEqual(APIError.redactingPaths("no path here"), "no path here")
    }

    /// A byte flipped inside a stored path (SQLite reads the page as valid): the server read the
    /// rows' classes with `try?` and answered with the damaged path; now every row's check is
    /// compared when the index is opened, and the index is refused by name, not shown.
    func testACatalogRowDamagedInPlaceIsRefused() async throws {
        let dir = try serverTemporaryDirectory(self)
        let f = try ServerFixture.make(in: dir)
        let catalog = f.index.appendingPathComponent("current/catalog.sqlite")
        var bytes = try Data(contentsOf: catalog)
        let at = try XCTUnwrap(bytes.range(of: Data("images/square/1.png".utf8)))
        bytes[at.lowerBound + 7] ^= 0x01   // square → rquare
        try bytes.write(to: catalog)
        try await app(f).test(.router) { client in
            for q in ["query?row=0&k=3", ""] {
                try await client.execute(uri: "/api/indexes/tiny/\(q)", method: .get) { r in
                    XCTAssertEqual(r.status, .internalServerError, q)
                    let e = try ServerAPITests.decode(ErrorBody.self, r)
                    XCTAssertTrue(e.error.message.contains("catalog table images") && e.error.message.contains("does not match its check"),
                                  "\(q): \(e.error.message)")
                    XCTAssertFalse(String(decoding: r.body.readableBytesView, as: UTF8.self).contains("rquare"), q)
                }
            }
        }
    }

    /// DNS rebinding: a page on another site re-points its own name at 127.0.0.1 and reads the API
    /// from the user's browser. A loopback-bound server answers only loopback host names.
    /// A class folder linked from elsewhere (build follows it, as torchvision's ImageFolder does)
    /// is served: build records where the data set's links lead. A link added afterwards, to a
    /// place nothing recorded, is still refused.
    func testImagesThroughTheDataSetsOwnLinksAreServed() async throws {
        let dir = try serverTemporaryDirectory(self)
        let data = dir.appendingPathComponent("data"), elsewhere = dir.appendingPathComponent("disk2/dogs")
        for (folder, name) in [(data.appendingPathComponent("cats"), "a.png"), (elsewhere, "b.png"), (dir.appendingPathComponent("private"), "c.png")] {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try PNGWriter.write(width: 4, height: 4, channels: 3, pixels: [UInt8](repeating: 90, count: 48), to: folder.appendingPathComponent(name))
        }
        try FileManager.default.createSymbolicLink(at: data.appendingPathComponent("dogs"), withDestinationURL: elsewhere)
        let root = dir.appendingPathComponent("Indexes")
        var req = BuildRequest(dataset: data, out: root.appendingPathComponent("linked"))
        req.pixelSize = 4
        _ = try FolderBuilder.run(req)
        XCTAssertEqual(try Index.open(req.out).catalog.meta()[MetaKey.datasetLinkedRoots], elsewhere.resolvingSymlinksInPath().path)
        // Afterwards: a file in a recorded folder linked to a place nothing recorded.
        try FileManager.default.removeItem(at: elsewhere.appendingPathComponent("b.png"))
        try FileManager.default.createSymbolicLink(at: elsewhere.appendingPathComponent("b.png"), withDestinationURL: dir.appendingPathComponent("private/c.png"))
        var o = ServerOptions(roots: [root])
        o.log = nil
        try await buildApplication(o).test(.router) { client in
            try await client.execute(uri: "/api/indexes/linked/images/0", method: .get) { r in XCTAssertEqual(r.status, .ok) }      // cats/a.png
            try await ServerAPITests.expectError(client, "/api/indexes/linked/images/1", .forbidden)                               // dogs/b.png → private
        }
        try FileManager.default.removeItem(at: elsewhere.appendingPathComponent("b.png"))
        try PNGWriter.write(width: 4, height: 4, channels: 3, pixels: [UInt8](repeating: 90, count: 48), to: elsewhere.appendingPathComponent("b.png"))
        try await buildApplication(o).test(.router) { client in
            try await client.execute(uri: "/api/indexes/linked/images/1", method: .get) { r in XCTAssertEqual(r.status, .ok) }      // dogs/b.png, linked
            try await client.execute(uri: "/api/indexes/linked/thumbs/1", method: .get) { r in XCTAssertEqual(r.status, .ok) }
        }
    }

    func testALoopbackServerAnswersOnlyLoopbackHostNames() async throws {
        for host in ["attacker.test", "attacker.test:8080", "127.0.0.1.evil.test", "10.0.0.1", "[::2]:80", "localhost.evil.test", "127.0.0.256", ""] {
            XCTAssertFalse(LoopbackHostMiddleware<BasicRequestContext>.isLoopbackName(host), host)
        }
        for host in ["localhost", "localhost:8080", "127.0.0.1:18080", "127.1.2.3", "[::1]:8080", "LOCALHOST", "app.localhost:80", "localhost."] {
            XCTAssertTrue(LoopbackHostMiddleware<BasicRequestContext>.isLoopbackName(host), host)
        }
        let dir = try serverTemporaryDirectory(self)
        let f = try ServerFixture.make(in: dir)
        @Sendable func status(_ reply: [UInt8]) -> String { String(decoding: reply.prefix(12), as: UTF8.self) }
        try await app(f, configure: { $0.host = "127.0.0.1"; $0.port = 0 }).test(.live) { client in
            let port = try XCTUnwrap(client.port)
            let evil = try await offPool { try Self.exchange(port: port, "GET /api/indexes HTTP/1.1\r\nHost: attacker.test:\(port)\r\nConnection: close\r\n\r\n", wait: 10) }
            XCTAssertEqual(status(evil.reply), "HTTP/1.1 403")
            XCTAssertTrue(String(decoding: evil.reply, as: UTF8.self).contains("loopback"))
            let good = try await offPool { try Self.exchange(port: port, "GET /api/indexes HTTP/1.1\r\nHost: localhost:\(port)\r\nConnection: close\r\n\r\n", wait: 10) }
            XCTAssertEqual(status(good.reply), "HTTP/1.1 200")
            // Two Host headers, the first a loopback name: 400 (the check read only the first).
            let two = try await offPool { try Self.exchange(port: port, "GET /api/indexes HTTP/1.1\r\nHost: localhost:\(port)\r\nHost: attacker.test\r\nConnection: close\r\n\r\n", wait: 10) }
            XCTAssertEqual(status(two.reply), "HTTP/1.1 400")
            XCTAssertTrue(String(decoding: two.reply, as: UTF8.self).contains("more than one Host"))
        }
        // Bound to every address, it checks nothing (the names a network gives it are not known).
        try await app(f, configure: { $0.host = "0.0.0.0"; $0.port = 0 }).test(.live) { client in
            let port = try XCTUnwrap(client.port)
            let other = try await offPool { try Self.exchange(port: port, "GET /api/indexes HTTP/1.1\r\nHost: lab-machine.example\r\nConnection: close\r\n\r\n", wait: 10) }
            XCTAssertEqual(status(other.reply), "HTTP/1.1 200")
            let two = try await offPool { try Self.exchange(port: port, "GET /api/indexes HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: close\r\n\r\n", wait: 10) }
            XCTAssertEqual(status(two.reply), "HTTP/1.1 400")
        }
    }

    /// The index entries named the server's folders (`path`, `meta.datasetRoot`): no path of the
    /// server's file system is in an answer.
    func testIndexEntriesCarryNoServerPaths() async throws {
        let dir = try serverTemporaryDirectory(self)
        let f = try ServerFixture.make(in: dir)
        try await app(f).test(.router) { client in
            for uri in ["/api/indexes", "/api/indexes/tiny", "/api/compare"] {
                try await client.execute(uri: uri, method: .get) { r in
                    XCTAssertEqual(r.status, .ok, uri)
                    let body = String(decoding: r.body.readableBytesView, as: UTF8.self)
                    XCTAssertFalse(body.contains(dir.path) || body.contains(dir.resolvingSymlinksInPath().path), "\(uri): \(body.prefix(400))")
                }
            }
        }
    }

    /// `/api/compare` over every served index failed with 500 when one of them could not be opened;
    /// it is left out, as from `/api/indexes`. Asked for by name, it is still an error.
    func testCompareLeavesOutAnIndexThatCannotBeOpened() async throws {
        let dir = try serverTemporaryDirectory(self)
        let f = try ServerFixture.make(in: dir)
        let broken = f.root.appendingPathComponent("broken")
        try FileManager.default.copyItem(at: f.index, to: broken)
        let vec = broken.appendingPathComponent("current/pixel.vec")
        try FileHandle(forWritingTo: vec).truncate(atOffset: 1000)
        try await app(f).test(.router) { client in
            try await client.execute(uri: "/api/compare", method: .get) { r in
                XCTAssertEqual(r.status, .ok, String(decoding: r.body.readableBytesView, as: UTF8.self))
                struct T: Decodable { var entries: [ComparisonRow] }
                XCTAssertFalse(try ServerAPITests.decode(T.self, r).entries.isEmpty)
            }
            try await client.execute(uri: "/api/compare?index=broken", method: .get) { r in
                XCTAssertEqual(r.status, .internalServerError)
            }
        }
    }

    /// A vector file another program cuts short while the server has it mapped: the reads past
    /// its new end find zeros instead of SIGBUS ending the server (it did, 2026-12-06); the request
    /// that read them gets an error, the index is opened again on its next use (refused as
    /// damaged), and served again once rebuilt.
    func testAVectorFileCutShortUnderTheServerIsAnErrorNotACrash() async throws {
        let dir = try serverTemporaryDirectory(self)
        let f = try ServerFixture.make(in: dir, perClass: 40)  // 120 rows of 16 floats: two pages
        let file = f.index.appendingPathComponent("current/embedding.vec")
        var o = ServerOptions(roots: [f.root])
        o.log = nil
        let api = ServerAPI(library: IndexLibrary(options: o))
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ErrorAndLogMiddleware(log: nil, library: api.library, routes: api.routeTable))
        api.register(router)
        // Another program's truncate in the middle of a request's scan.
        router.get("/test/cut/:name") { _, c in
            let v = try api.served(c).index.vectors(space: "embedding")
            XCTAssertEqual(truncate(file.path, 4096), 0)
            var sum: Float = 0
            for i in 0..<v.rows { sum += v.row(i).reduce(0, +) }
            return "\(sum)"
        }
        try await Application(router: router).test(.router) { client in
            try await client.execute(uri: "/api/indexes/tiny/query?row=0&k=3", method: .get) { r in XCTAssertEqual(r.status, .ok) }
            try await client.execute(uri: "/test/cut/tiny", method: .get) { r in
                XCTAssertEqual(r.status, .internalServerError)
                let e = try ServerAPITests.decode(ErrorBody.self, r)
                XCTAssertEqual(e.error.kind, "truncated")
                XCTAssertTrue(e.error.message.contains("changed while it was being read"), e.error.message)
                XCTAssertFalse(e.error.message.contains(dir.path), "no server path in the message")
            }
            for q in ["query?row=0&k=3", "metrics", "rank?prototype=square&set=head&k=3"] {
                try await ServerAPITests.expectError(client, "/api/indexes/tiny/\(q)", .internalServerError)
            }

            // Rebuilt and renamed into place, as `embedscope import --force` does: served again.
            let other = try ServerFixture.make(in: dir.appendingPathComponent("b"), name: "tiny", perClass: 6, seed: 5)
            let old = f.index.deletingLastPathComponent().appendingPathComponent(".old")
            try FileManager.default.moveItem(at: f.index, to: old)
            try FileManager.default.moveItem(at: other.index, to: f.index)
            try await client.execute(uri: "/api/indexes/tiny/query?row=0&k=1000", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(try ServerAPITests.decode(Results.self, r).results.count, 17)
            }
        }
    }

    /// A request over every index (the list) when one of them was cut short: answered again
    /// without it, not failed as a whole.
    func testTheListOfIndexesLeavesOutOneCutShort() async throws {
        let dir = try serverTemporaryDirectory(self)
        let f = try ServerFixture.make(in: dir, perClass: 40)
        _ = try ServerFixture.make(in: dir.appendingPathComponent("c"), name: "second", perClass: 4)
        try FileManager.default.moveItem(at: dir.appendingPathComponent("c/Indexes/second"), to: f.root.appendingPathComponent("second"))
        struct List: Decodable { struct E: Decodable { var name: String }; var indexes: [E] }
        try await app(f).test(.router) { client in
            for name in ["tiny", "second"] {
                try await client.execute(uri: "/api/indexes/\(name)/query?row=0&k=3", method: .get) { r in XCTAssertEqual(r.status, .ok) }
            }
            XCTAssertEqual(truncate(f.index.appendingPathComponent("current/embedding.vec").path, 4096), 0)
            try await client.execute(uri: "/api/indexes", method: .get) { r in
                XCTAssertEqual(r.status, .ok, String(decoding: r.body.readableBytesView, as: UTF8.self))
                XCTAssertEqual(try ServerAPITests.decode(List.self, r).indexes.map(\.name), ["second"])
            }
            try await ServerAPITests.expectError(client, "/api/indexes/tiny/query?row=0&k=3", .internalServerError)
            try await client.execute(uri: "/api/indexes/second/query?row=0&k=3", method: .get) { r in XCTAssertEqual(r.status, .ok) }
        }
    }

    func testAnalysesEqualTheLibrarysAnswers() async throws {
        let dir = try serverTemporaryDirectory(self)
        let f = try ServerFixture.make(in: dir)
        let idx = try Index.open(f.index)
        try await app(f).test(.router) { client in
            for method in [Projection.Method.pca, .lda] {
                let expected = try idx.projection(space: "embedding", method: method, components: 2)
                try await client.execute(uri: "/api/indexes/tiny/projection?space=embedding&method=\(method.rawValue)", method: .get) { r in
                    XCTAssertEqual(r.status, .ok)
                    let p = try ServerAPITests.decode(ServerAPI.ProjectionJSON.self, r)
                    XCTAssertEqual(p.points.count, f.rows)
                    XCTAssertEqual(p.points.map(\.row), expected.points.map(\.row))
                    XCTAssertEqual(p.points.map(\.class), expected.points.map(\.class))
                    for (a, b) in zip(p.points, expected.points) {
                        XCTAssertTrue(abs(a.x - b.coordinates[0]) <= 1e-9 && abs(a.y - b.coordinates[1]) <= 1e-9, "\(method) row \(a.row)")
                    }
                    XCTAssertEqual(p.explainedVarianceRatio.count, 2)
                    for (a, b) in zip(p.explainedVarianceRatio, expected.explainedVarianceRatio) { XCTAssertTrue(abs(a - b) <= 1e-12) }
                    // The CLI's reduction note too (was left out of the API).
                    XCTAssertEqual(p.reducedBy, expected.reducedBy, "\(method)")
                    XCTAssertEqual(p.shrinkage, expected.shrinkage, "\(method)")
                }
            }
            // LDA of the pixel space (more dimensions than rows) runs on leading principal components: said.
            let reduced = try idx.projection(space: "pixel", method: .lda, components: 2)
            XCTAssertNotNil(reduced.reducedBy)
            try await client.execute(uri: "/api/indexes/tiny/projection?space=pixel&method=lda", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(try ServerAPITests.decode(ServerAPI.ProjectionJSON.self, r).reducedBy, reduced.reducedBy)
            }
            let scores = try idx.clusterScores(space: "pixel")
            let report = ClusterMetricsReport(scores, space: "pixel", classNames: try idx.classNames())
            try await client.execute(uri: "/api/indexes/tiny/metrics?space=pixel", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                let m = try ServerAPITests.decode(ClusterMetricsReport.self, r)
                XCTAssertTrue(abs(m.silhouette.mean - report.silhouette.mean) <= 1e-9, "silhouette \(m.silhouette.mean) vs \(report.silhouette.mean)")
                XCTAssertTrue(abs(m.daviesBouldin - report.daviesBouldin) <= 1e-9)
                XCTAssertEqual(m.perClass.map(\.name), report.perClass.map(\.name))
            }
            let evaluation = try idx.evaluate(set: "head", lowest: 5)
            try await client.execute(uri: "/api/indexes/tiny/evaluate?set=head&lowest=5", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                let e = try ServerAPITests.decode(PrototypeEvaluation.self, r)
                XCTAssertEqual(e.classification.confusion, evaluation.classification.confusion)
                XCTAssertEqual(e.lowestMargins.map(\.row), evaluation.lowestMargins.map(\.row))
            }
            // Each confusion cell lists exactly its count of images, of the right class.
            let labels = evaluation.classification.labels
            for (i, t) in labels.enumerated() {
                for (j, p) in labels.enumerated() {
                    try await client.execute(uri: "/api/indexes/tiny/evaluate/cell?set=head&true=\(t)&predicted=\(p)&k=1000", method: .get) { r in
                        XCTAssertEqual(r.status, .ok)
                        struct Cell: Decodable { var count: Int; var results: [ResultRow] }
                        let c = try ServerAPITests.decode(Cell.self, r)
                        XCTAssertEqual(c.count, evaluation.classification.confusion[i][j], "cell \(t)→\(p)")
                        XCTAssertEqual(c.results.count, c.count)
                        XCTAssertTrue(c.results.allSatisfy { $0.class == t })
                    }
                }
            }
            try await client.execute(uri: "/api/indexes/tiny/prototypes?row=4&k=2", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                struct P: Decodable { struct S: Decodable { struct T: Decodable { var name: String; var logit: Double }; var set: String; var top: [T] }; var sets: [S] }
                let p = try ServerAPITests.decode(P.self, r)
                let z = try idx.logitMatrix(set: "head", prototypes: [0, 1, 2], rows: [4])
                XCTAssertEqual(p.sets.first?.top.count, 2)
                XCTAssertTrue(abs((p.sets.first?.top.first?.logit ?? .nan) - (z.max() ?? .nan)) <= 1e-9)
            }
            try await client.execute(uri: "/api/compare?index=tiny&sort=db", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                struct T: Decodable { var entries: [ComparisonRow] }
                let t = try ServerAPITests.decode(T.self, r)
                XCTAssertEqual(Set(t.entries.map(\.space)), ["embedding", "pixel"])
                XCTAssertNotNil(t.entries.first { $0.space == "pixel" }?.silhouette, "cluster metrics computed by /metrics show in the table")
            }
        }
        // Read-only: nothing was written into the index.
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.index.appendingPathComponent("metrics.json").path))
    }

    func testWritableRecordsAnalysesInMetricsJSON() async throws {
        let dir = try serverTemporaryDirectory(self)
        let f = try ServerFixture.make(in: dir)
        struct Entry: Decodable { var files: [String: Int]; var totalBytes: Int }
        try await app(f, configure: { $0.writable = true }).test(.router) { client in
            var before: Entry?
            try await client.execute(uri: "/api/indexes/tiny", method: .get) { r in before = try ServerAPITests.decode(Entry.self, r) }
            XCTAssertNil(before?.files["metrics.json"])
            try await client.execute(uri: "/api/indexes/tiny/metrics?space=embedding", method: .get) { r in XCTAssertEqual(r.status, .ok) }
            // The entry's file list is the directory's now, not as it was when the index was opened.
            try await client.execute(uri: "/api/indexes/tiny", method: .get) { r in
                let e = try ServerAPITests.decode(Entry.self, r)
                let size = try XCTUnwrap(e.files["metrics.json"], "metrics.json written by this server is listed")
                XCTAssertGreaterThan(size, 0)
                XCTAssertEqual(e.totalBytes, e.files.values.reduce(0, +))
                XCTAssertEqual(e.totalBytes, (before?.totalBytes ?? 0) + size)
            }
        }
        let record = try XCTUnwrap(try Index.open(f.index).readMetrics())
        XCTAssertNotNil(record.spaces["embedding"]?.cluster)
    }

    func testImagesAndThumbnails() async throws {
        let dir = try serverTemporaryDirectory(self)
        let f = try ServerFixture.make(in: dir)
        let idx = try Index.open(f.index)
        let path = try XCTUnwrap(try idx.catalog.images(rows: [5])[5]).path
        let bytes = try Data(contentsOf: f.images.deletingLastPathComponent().appendingPathComponent(path))
        try await app(f).test(.router) { client in
            try await client.execute(uri: "/api/indexes/tiny/images/5", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(r.headers[.contentType], "image/png")
                XCTAssertEqual(Data(r.body.readableBytesView), bytes, "the original bytes")
            }
            for _ in 0..<2 {  // the second answer comes from the cache
                try await client.execute(uri: "/api/indexes/tiny/thumbs/5?size=20", method: .get) { r in
                    XCTAssertEqual(r.status, .ok)
                    let img = try ImageDecoder.decode(data: Data(r.body.readableBytesView), path: "thumb")
                    XCTAssertEqual(img.width, 20); XCTAssertEqual(img.height, 15)
                }
            }
            // HEAD answers as GET does (status, type, length) without the body; a missing row is 404 either way.
            try await client.execute(uri: "/api/indexes/tiny/images/5", method: .head) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(r.headers[.contentType], "image/png")
                XCTAssertEqual(r.headers[.contentLength], String(bytes.count))
                XCTAssertEqual(r.body.readableBytes, 0)
            }
            try await client.execute(uri: "/", method: .head) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(r.body.readableBytes, 0)
            }
            try await client.execute(uri: "/api/indexes/tiny/images/99999", method: .head) { r in
                XCTAssertEqual(r.status, .notFound)
            }
        }
    }

    func testUploadQueryFindsTheSameImageInPixelSpace() async throws {
        let dir = try serverTemporaryDirectory(self)
        let f = try ServerFixture.make(in: dir)
        let idx = try Index.open(f.index)
        let path = try XCTUnwrap(try idx.catalog.images(rows: [9])[9]).path
        let bytes = try Data(contentsOf: f.images.deletingLastPathComponent().appendingPathComponent(path))
        var o = SearchOptions(); o.space = "pixel"; o.k = 4; o.includeSelf = true
        let expected = try idx.search(.row(9), options: o)
        try await app(f).test(.router) { client in
            try await client.execute(uri: "/api/indexes/tiny/query?space=pixel&k=4", method: .post, headers: [.contentType: "image/png"],
                                     body: ByteBuffer(bytes: bytes)) { r in
                XCTAssertEqual(r.status, .ok)
                let res = try ServerAPITests.decode(Results.self, r).results
                XCTAssertEqual(res.first?.row, 9, "the image itself comes first")
                XCTAssertTrue(abs((res.first?.score ?? 0) - 1) <= 1e-5)
                XCTAssertEqual(res.map(\.row), expected.map(\.row))
            }
            // The same file as multipart/form-data (what a browser form sends).
            let boundary = "----es\(UUID().uuidString)"
            var body = Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"q.png\"\r\nContent-Type: image/png\r\n\r\n".utf8)
            body += bytes + Data("\r\n--\(boundary)--\r\n".utf8)
            try await client.execute(uri: "/api/indexes/tiny/query?space=pixel&k=4&farthest=false", method: .post,
                                     headers: [.contentType: "multipart/form-data; boundary=\(boundary)"], body: ByteBuffer(bytes: body)) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(try ServerAPITests.decode(Results.self, r).results.first?.row, 9)
            }
            // A form's text field before the file: the file is the image (the first part was taken: 415).
            var withField = Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n".utf8)
            withField += body
            try await client.execute(uri: "/api/indexes/tiny/query?space=pixel&k=4", method: .post,
                                     headers: [.contentType: "multipart/form-data; boundary=\(boundary)"], body: ByteBuffer(bytes: withField)) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(try ServerAPITests.decode(Results.self, r).results.first?.row, 9)
            }
            // The embedding space holds imported vectors: no model to embed a new image with.
            try await ServerAPITests.expectError(client, "/api/indexes/tiny/query?space=embedding", method: .post, body: ByteBuffer(bytes: bytes), .badRequest)
        }
    }

    func testRefusals() async throws {
        let dir = try serverTemporaryDirectory(self)
        let f = try ServerFixture.make(in: dir)
        // A secret outside the data-set root, and a catalog image that is a symlink to it.
        let secret = dir.appendingPathComponent("secret.png")
        try PNGWriter.write(width: 2, height: 2, channels: 3, pixels: [UInt8](repeating: 7, count: 12), to: secret)
        let victim = f.images.appendingPathComponent("circle/0.png")
        try FileManager.default.removeItem(at: victim)
        try FileManager.default.createSymbolicLink(at: victim, withDestinationURL: secret)
        let png = try PNGWriter.encode(width: 4, height: 4, channels: 3, pixels: [UInt8](repeating: 200, count: 48))
        // A PNG header that claims 60000 × 60000 pixels (nothing behind it).
        var huge = Data(png.prefix(33))
        huge.replaceSubrange(16..<24, with: [0, 0, 0xEA, 0x60, 0, 0, 0xEA, 0x60])
        let hugeHeader = huge
        try await app(f, configure: { $0.maxUploadBytes = 64 << 10 }).test(.router) { client in
            let e = { (uri: String, s: HTTPResponse.Status) in try await ServerAPITests.expectError(client, uri, s) }
            // Unknown things.
            try await e("/api/indexes/nope/query?row=1", .notFound)
            try await e("/api/indexes/tiny/query?row=1&space=nope", .notFound)
            try await e("/api/indexes/tiny/query?row=1&class=nope", .notFound)
            try await e("/api/indexes/tiny/query?row=100000", .notFound)
            try await e("/api/indexes/tiny/query?path=images/none.png", .notFound)
            try await e("/api/indexes/tiny/rank?prototype=nope&set=head", .notFound)
            try await e("/api/indexes/tiny/rank?prototype=circle&set=nope", .notFound)
            try await e("/api/indexes/tiny/evaluate?set=nope", .notFound)
            try await e("/api/indexes/tiny/evaluate/cell?set=head&true=nope&predicted=circle", .notFound)
            try await e("/api/indexes/tiny/metrics?space=nope", .notFound)
            try await e("/api/indexes/tiny/projection?space=nope", .notFound)
            try await e("/api/indexes/tiny/images/100000", .notFound)
            try await e("/api/indexes/tiny/thumbs/-1", .notFound)
            try await e("/api/compare?index=nope", .notFound)
            try await e("/api/nothing-here", .notFound)
            try await e("/api/indexes/tiny/images/", .notFound)
            // A path that exists, asked with a method it does not take: 405 with the methods it takes.
            try await ServerAPITests.expectError(client, "/api/indexes", method: .post, .methodNotAllowed)
            try await ServerAPITests.expectError(client, "/api/indexes/tiny/rank?set=head", method: .delete, .methodNotAllowed)
            try await client.execute(uri: "/api/indexes/tiny/query", method: .put) { r in
                XCTAssertEqual(r.status, .methodNotAllowed)
                XCTAssertEqual(r.headers[.allow], "GET, POST, HEAD")
            }
            try await client.execute(uri: "/api/compare", method: .post) { r in XCTAssertEqual(r.headers[.allow], "GET, HEAD") }
            // Query values decode as forms and Python's urlencode encode them: `+` is a space, `%2B` a plus.
            for (q, named) in [("circle+", "'circle '"), ("circle%2B", "'circle+'"), ("circle%20", "'circle '")] {
                try await client.execute(uri: "/api/indexes/tiny/query?row=1&class=\(q)", method: .get) { r in
                    XCTAssertEqual(r.status, .notFound)
                    let e = try JSONDecoder().decode(ErrorBody.self, from: Data(r.body.readableBytesView))
                    XCTAssertTrue(e.error.message.contains(named), "\(q): \(e.error.message)")
                }
            }
            try await client.execute(uri: "/api/indexes/tiny/query?row=1&cl%61ss=%63ircle&k=2", method: .get) { r in XCTAssertEqual(r.status, .ok) }
            // Every answer about one index names its generation; the ones a browser may keep carry it
            // as their ETag (304 while it holds); an image pinned to another generation is 409.
            let gen: String = try await client.execute(uri: "/api/indexes/tiny/projection?space=embedding", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(r.headers[.cacheControl], "private, no-cache")
                let g = try XCTUnwrap(r.headers[HTTPFields.Element.Name("X-EmbedScope-Generation")!])
                XCTAssertEqual(r.headers[.eTag], "\"\(g)\"")
                return g
            }
            // A doubled slash is routed as the router drops empty components: the same headers.
            try await client.execute(uri: "//api//indexes/tiny/projection?space=embedding", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(r.headers[HTTPFields.Element.Name("X-EmbedScope-Generation")!], gen)
            }
            try await client.execute(uri: "/api/indexes/tiny/projection?space=embedding", method: .get, headers: [.ifNoneMatch: "\"\(gen)\""]) { r in
                XCTAssertEqual(r.status, .notModified)
                XCTAssertEqual(r.body.readableBytes, 0)
            }
            try await client.execute(uri: "/api/indexes/tiny/projection?space=embedding", method: .get, headers: [.ifNoneMatch: "\"other\""]) { r in
                XCTAssertEqual(r.status, .ok)
            }
            let thumbTag: String = try await client.execute(uri: "/api/indexes/tiny/thumbs/1?g=\(gen)", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(r.headers[.cacheControl], "private, no-cache")
                return try XCTUnwrap(r.headers[.eTag])
            }
            XCTAssertTrue(thumbTag.hasPrefix("\"\(gen)."), thumbTag)
            try await client.execute(uri: "/api/indexes/tiny/thumbs/1?g=\(gen)", method: .get, headers: [.ifNoneMatch: thumbTag]) { r in
                XCTAssertEqual(r.status, .notModified)
            }
            // The image file replaced (the index the same generation): a new answer, not 304.
            let file = f.images.deletingLastPathComponent().appendingPathComponent("images/circle/1.png")
            try PNGWriter.write(width: 40, height: 30, channels: 3, pixels: [UInt8](repeating: 17, count: 3600), to: file)
            for uri in ["/api/indexes/tiny/thumbs/1?g=\(gen)", "/api/indexes/tiny/images/1"] {
                try await client.execute(uri: uri, method: .get, headers: [.ifNoneMatch: thumbTag]) { r in
                    XCTAssertEqual(r.status, .ok, uri)
                    XCTAssertNotEqual(r.headers[.eTag], thumbTag, uri)
                }
            }
            try await ServerAPITests.expectError(client, "/api/indexes/", method: .post, .methodNotAllowed)
            try await ServerAPITests.expectError(client, "/api/indexes/tiny/thumbs/1?g=old", .conflict)
            try await ServerAPITests.expectError(client, "/api/indexes/tiny/images/1?g=old", .conflict)
            struct Entries: Decodable { struct E: Decodable { var name: String; var generation: String }; var indexes: [E] }
            let listed: Entries = try await client.execute(uri: "/api/indexes", method: .get) { r in try JSONDecoder().decode(Entries.self, from: Data(r.body.readableBytesView)) }
            XCTAssertEqual(listed.indexes.first { $0.name == "tiny" }?.generation, gen)
            // Bad numbers and missing parameters.
            for q in ["row=abc", "row=1&k=0", "row=1&k=-3", "row=1&k=abc", "row=1&k=1e3", "row=1&k=99999999999999999999", "row=1&farthest=maybe",
                      "", "row=1&path=images/circle/1.png", "row=1&space=",
                      // A parameter that takes one value given twice (which would count is a guess), an empty boolean.
                      "row=1&row=2", "row=1&k=3&k=4", "row=1&farthest=true&farthest=false", "row=1&space=pixel&space=embedding",
                      "row=1&farthest=", "row=1&includeSelf="] {
                try await e("/api/indexes/tiny/query?\(q)", .badRequest)
            }
            try await e("/api/indexes/tiny/thumbs/1?size=0", .badRequest)
            try await e("/api/indexes/tiny/thumbs/1?size=100000", .badRequest)
            try await e("/api/indexes/tiny/thumbs/x", .badRequest)
            try await e("/api/indexes/tiny/projection?method=tsne", .badRequest)
            try await e("/api/indexes/tiny/rank?set=head", .badRequest)
            try await e("/api/indexes/tiny/evaluate", .badRequest)
            try await e("/api/indexes/tiny/evaluate?set=head&lowest=-1", .badRequest)
            try await e("/api/compare?sort=nope", .badRequest)
            // An uploaded image is the query: a row or path beside it is refused, not ignored.
            try await ServerAPITests.expectError(client, "/api/indexes/tiny/query?space=pixel&row=3", method: .post, body: ByteBuffer(bytes: png), .badRequest)
            // An index named twice in a comparison is listed once.
            try await client.execute(uri: "/api/compare?index=tiny&index=tiny", method: .get) { r in
                struct T: Decodable { struct Row: Decodable { var index: String; var space: String }; var entries: [Row] }
                let t = try JSONDecoder().decode(T.self, from: Data(r.body.readableBytesView))
                XCTAssertEqual(t.entries.map(\.space).sorted(), ["embedding", "pixel"])
            }
            // Path traversal in every parameter that could name a file.
            try await e("/api/indexes/tiny/query?path=../../etc/passwd", .badRequest)
            try await e("/api/indexes/tiny/query?path=/etc/passwd", .badRequest)
            try await e("/api/indexes/tiny/query?path=images/../../secret.png", .badRequest)
            try await e("/api/indexes/..%2F..%2Fetc/query?row=1", .badRequest)
            try await e("/api/indexes/../query?row=1", .badRequest)
            try await e("/api/indexes/tiny/images/..%2F..%2Fsecret.png", .badRequest)
            try await e("/api/indexes/tiny/thumbs/%2Fetc%2Fpasswd", .badRequest)
            try await e("/api/indexes/tiny/query?row=1&space=../../etc/passwd", .notFound)
            try await e("/api/indexes/tiny/query?row=1&class=../secret", .notFound)
            try await e("/api/indexes/tiny/evaluate?set=../../secret", .notFound)
            try await e("/api/compare?index=..", .badRequest)
            // A symlink in the data set that leads out of its root is not followed.
            try await e("/api/indexes/tiny/images/0", .forbidden)
            try await e("/api/indexes/tiny/thumbs/0", .forbidden)
            // Uploads: too many bytes, too many pixels, not an image, nothing.
            let big = ByteBuffer(bytes: [UInt8](repeating: 0x89, count: 65 << 10))
            try await ServerAPITests.expectError(client, "/api/indexes/tiny/query?space=pixel", method: .post, body: big, .contentTooLarge)
            try await ServerAPITests.expectError(client, "/api/indexes/tiny/query?space=pixel", method: .post, body: ByteBuffer(bytes: hugeHeader), .contentTooLarge)
            try await ServerAPITests.expectError(client, "/api/indexes/tiny/query?space=pixel", method: .post, body: ByteBuffer(string: "GIF89a not really"), .unsupportedMediaType)
            try await ServerAPITests.expectError(client, "/api/indexes/tiny/query?space=pixel", method: .post, body: ByteBuffer(string: "hello"), .unsupportedMediaType)
            try await ServerAPITests.expectError(client, "/api/indexes/tiny/query?space=pixel", method: .post, body: ByteBuffer(), .badRequest)
            try await ServerAPITests.expectError(client, "/api/indexes/tiny/query?space=pixel", method: .post, body: ByteBuffer(bytes: png.prefix(40)), .badRequest)
            try await ServerAPITests.expectError(client, "/api/indexes/tiny/query?space=pixel", method: .post, body: ByteBuffer(string: "garbage"),
                                       headers: [.contentType: "multipart/form-data; boundary=x"], .badRequest)
            // And the server is still up and answering.
            try await client.execute(uri: "/api/indexes/tiny/query?row=1&k=1", method: .get) { r in XCTAssertEqual(r.status, .ok) }
        }
    }

    func testIndexesThatAppearOrAreReplacedArePickedUp() async throws {
        let dir = try serverTemporaryDirectory(self)
        let f = try ServerFixture.make(in: dir, perClass: 4)
        try await app(f).test(.router) { client in
            try await client.execute(uri: "/api/indexes/tiny/query?row=0&k=1000", method: .get) { r in
                XCTAssertEqual(try ServerAPITests.decode(Results.self, r).results.count, 11)
            }
            // Rebuilt with more rows and renamed into place, as `embedscope import --force` does.
            let other = try ServerFixture.make(in: dir.appendingPathComponent("b"), name: "tiny", perClass: 6, seed: 5)
            let old = f.index.deletingLastPathComponent().appendingPathComponent(".old")
            try FileManager.default.moveItem(at: f.index, to: old)
            try FileManager.default.moveItem(at: other.index, to: f.index)
            try FileManager.default.removeItem(at: old)
            try await client.execute(uri: "/api/indexes/tiny/query?row=0&k=1000", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(try ServerAPITests.decode(Results.self, r).results.count, 17, "the new generation is served")
            }
            // A new index folder is found without a restart.
            _ = try ServerFixture.make(in: dir.appendingPathComponent("c"), name: "fresh", perClass: 3)
            try FileManager.default.moveItem(at: dir.appendingPathComponent("c/Indexes/fresh"), to: f.root.appendingPathComponent("fresh"))
            try await client.execute(uri: "/api/indexes/fresh/query?row=0&k=2", method: .get) { r in XCTAssertEqual(r.status, .ok) }
        }
    }

    /// Concurrent queries on one space are answered by fewer passes than queries, with the
    /// same lists as one query at a time.
    func testConcurrentQueriesAreCoalesced() async throws {
        let n = 5000, d = 64, queries = 24
        var g = TestRNG(state: 3)
        var x = [Float](repeating: 0, count: n * d)
        for i in 0..<n {
            var norm: Float = 0
            for j in 0..<d { let v = Float(g.gaussian()); x[i * d + j] = v; norm += v * v }
            for j in 0..<d { x[i * d + j] /= norm.squareRoot() }
        }
        let storage = UnsafeMutableBufferPointer<Float>.allocate(capacity: x.count)
        _ = storage.initialize(from: x)
        defer { storage.deallocate() }
        let xp = UnsafeBufferPointer(storage)
        do {
            let matrix = RowMatrix(base: xp.baseAddress!, rows: n, dim: d, stride: d)
            let batcher = QueryBatcher(matrix: matrix, window: 0.02)
            let qs = (0..<queries).map { i in Array(xp[(i * 7 * d)..<((i * 7 + 1) * d)]) }
            let results = try await withThrowingTaskGroup(of: (Int, [Hit]).self) { group in
                for i in 0..<queries {
                    group.addTask {
                        let q = qs[i]
                        return (i, try await batcher.search(q, k: 3 + i % 5, farthest: i % 3 == 0, filter: RowFilter(excluded: [i * 7])))
                    }
                }
                var out = [[Hit]](repeating: [], count: queries)
                for try await (i, h) in group { out[i] = h }
                return out
            }
            let stats = batcher.stats
            XCTAssertEqual(stats.answered, queries)
            XCTAssertLessThan(stats.passes, queries, "queries were coalesced (passes \(stats.passes), largest batch \(stats.largestBatch))")
            XCTAssertGreaterThan(stats.largestBatch, 1)
            for i in 0..<queries {
                let q = Array(xp[(i * 7 * d)..<((i * 7 + 1) * d)])
                let one = try Scorer.search(matrix, query: q, k: 3 + i % 5, farthest: i % 3 == 0, filter: RowFilter(excluded: [i * 7]))
                XCTAssertEqual(results[i].count, one.count, "query \(i)")
                XCTAssertEqual(results[i].map(\.row), one.map(\.row), "query \(i)")
                for (a, b) in zip(results[i], one) { XCTAssertTrue(abs(a.score - b.score) <= 1e-5, "query \(i): \(a.score) vs \(b.score)") }
            }
        }
    }

    /// A space with a half-precision copy (`--storage f16` / `bf16`): the server's batcher scans
    /// the copy, and every answer (alone and in a coalesced pass, nearest and farthest, filtered)
    /// is the library's float32 answer.
    func testQueriesScanTheHalfCopyWithTheSameAnswers() async throws {
        for storage in [HalfStorage.f16, .bf16] {
            let dir = try serverTemporaryDirectory(self)
            let f = try ServerFixture.make(in: dir, perClass: 40, storage: storage)
            let index = try Index.open(f.index)
            let float32: SearchOptions = { var o = SearchOptions(); o.halfCopy = false; return o }()
            try await app(f).test(.router) { client in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for row in stride(from: 0, to: f.rows, by: 5) {
                        let farthest = row % 3 == 0, cls = row % 4 == 0 ? "&class=square" : ""
                        group.addTask {
                            try await client.execute(uri: "/api/indexes/tiny/query?row=\(row)&k=7&farthest=\(farthest)\(cls)", method: .get) { r in
                                XCTAssertEqual(r.status, .ok)
                                let got = try Self.decode(Results.self, r).results
                                var o = float32
                                o.k = 7
                                o.farthest = farthest
                                o.className = cls.isEmpty ? nil : "square"
                                let want = try index.search(.row(row), options: o)
                                XCTAssertEqual(got.count, 7)
                                Self.assertSameResults(got, want, "\(storage) row \(row)")
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            var options = ServerOptions(roots: [f.root])
            options.log = nil
            let served = try IndexLibrary(options: options).index("tiny")
            XCTAssertTrue(try served.batcher(space: "embedding").halfCopy, "\(storage): the batcher scans the half copy")
            XCTAssertTrue(try served.batcher(space: "pixel").halfCopy, "\(storage): the pixel space has its copy too")
        }
    }

    /// A row out of range is refused (404) before the thumbnail cache is asked, and the cache
    /// keys on (row, size) as they are: row r and r ± 2⁴⁸ once shared a key (`row << 16 | size`).
    func testThumbnailsOfRowsOutOfRangeAreNeverCached() async throws {
        let dir = try serverTemporaryDirectory(self)
        let f = try ServerFixture.make(in: dir)
        try await app(f).test(.router) { client in
            for row in [0, 3] {
                try await client.execute(uri: "/api/indexes/tiny/thumbs/\(row)?size=96", method: .get) { r in XCTAssertEqual(r.status, .ok) }
            }
            for row in [1 << 48, (1 << 48) + 3, -(1 << 48), -(1 << 48) + 3, Int.max, Int.min, f.rows] {
                try await ServerAPITests.expectError(client, "/api/indexes/tiny/thumbs/\(row)?size=96", .notFound)
                try await ServerAPITests.expectError(client, "/api/indexes/tiny/images/\(row)", .notFound)
            }
        }
        // The cache itself: rows 2⁴⁸ apart, and sizes, are different entries.
        var options = ServerOptions(roots: [f.root])
        options.log = nil
        let served = try IndexLibrary(options: options).index("tiny")
        let keys = [(0, 96), (1 << 48, 96), (-(1 << 48), 96), (0, 97)]
        for (i, (row, size)) in keys.enumerated() {
            let d = try served.thumbnail(row: row, size: size, file: "") { Data([UInt8(i)]) }
            XCTAssertEqual(d, Data([UInt8(i)]), "row \(row) size \(size) has its own cache entry")
        }
    }

    /// Fails on main: an analysis the index cannot have (LDA of one class) was recomputed by
    /// every request (3–4 s of CPU each on a real index); an I/O failure is still retried.
    func testDecidedFailuresAreKeptOthersRetried() async throws {
        let dir = try serverTemporaryDirectory(self)
        let f = try ServerFixture.make(in: dir)
        var options = ServerOptions(roots: [f.root])
        options.log = nil
        let served = try IndexLibrary(options: options).index("tiny")
        let runs = Locked(0)
        for _ in 0..<3 {
            do {
                _ = try await served.once("undefined") { () throws -> Int in
                    runs.withLock { $0 += 1 }
                    throw EmbedScopeError(.undefined, "LDA needs at least 2 classes")
                }
                XCTFail("no error")
            } catch let e as EmbedScopeError { XCTAssertEqual(e.kind, .undefined) }
        }
        XCTAssertEqual(runs.withLock { $0 }, 1, "a decided failure is computed once")
        runs.withLock { $0 = 0 }
        for _ in 0..<3 {
            _ = try? await served.once("io") { () throws -> Int in
                runs.withLock { $0 += 1 }
                throw EmbedScopeError(.io, "disk hiccup")
            }
        }
        XCTAssertEqual(runs.withLock { $0 }, 3, "an I/O failure is tried again")
    }

    /// A JPEG of marker segments: SOI, `padding` bytes of APP1 segments, a baseline frame
    /// header (SOF0) of width × height, then EOI (no scan: enough for the header checks).
    static func jpegHeader(width: Int, height: Int, padding: Int, before: [UInt8] = []) -> Data {
        var b: [UInt8] = [0xFF, 0xD8]
        var left = padding
        while left > 0 {
            let n = min(left, 65_533)
            b += [0xFF, 0xE1, UInt8((n + 2) >> 8), UInt8((n + 2) & 0xFF)] + [UInt8](repeating: 0, count: n)
            left -= n
        }
        b += before
        b += [0xFF, 0xC0, 0, 17, 8, UInt8(height >> 8), UInt8(height & 0xFF), UInt8(width >> 8), UInt8(width & 0xFF), 3,
              1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]
        b += [0xFF, 0xD9]
        return Data(b)
    }

    /// The pixel limit holds wherever the JPEG's frame header is (here after 1.1 MiB of APP1
    /// segments, past the first MiB that was once all that was read), and an image whose header
    /// gives no size is refused rather than decoded unbounded.
    func testUploadPixelLimitWhereverTheHeaderIs() async throws {
        let hidden = Self.jpegHeader(width: 8000, height: 6000, padding: 1_100_000)
        XCTAssertGreaterThan(hidden.count, 1 << 20)
        XCTAssertEqual(ImageAccess.dimensions(hidden).map { [$0.width, $0.height] }, [8000, 6000])
        // Fill bytes, a stuffed zero and stray bytes between segments are skipped, as libjpeg does.
        let odd = Self.jpegHeader(width: 640, height: 480, padding: 10, before: [0xFF, 0xFF, 0xFF, 0x00, 0x12, 0x34])
        XCTAssertEqual(ImageAccess.dimensions(odd).map { [$0.width, $0.height] }, [640, 480])
        // A scan before any frame header, a truncated frame header, a PNG whose first chunk is not IHDR: no size.
        XCTAssertNil(ImageAccess.dimensions(Data([0xFF, 0xD8, 0xFF, 0xDA, 0, 2]) + Self.jpegHeader(width: 9, height: 9, padding: 0).dropFirst(2)))
        XCTAssertNil(ImageAccess.dimensions(Self.jpegHeader(width: 9, height: 9, padding: 0).prefix(8)))
        let png = try PNGWriter.encode(width: 4, height: 4, channels: 3, pixels: [UInt8](repeating: 200, count: 48))
        XCTAssertEqual(ImageAccess.dimensions(png).map { [$0.width, $0.height] }, [4, 4])
        var chunkFirst = png
        chunkFirst.replaceSubrange(12..<16, with: Array("tEXt".utf8))
        let noIHDR = chunkFirst
        XCTAssertNil(ImageAccess.dimensions(noIHDR))

        let dir = try serverTemporaryDirectory(self)
        let f = try ServerFixture.make(in: dir)
        try await app(f).test(.router) { client in
            let q = "/api/indexes/tiny/query?space=pixel"
            try await ServerAPITests.expectError(client, q, method: .post, body: ByteBuffer(bytes: hidden), headers: [.contentType: "image/jpeg"], .contentTooLarge)
            let noSize = Data([0xFF, 0xD8, 0xFF]) + Data(repeating: 0, count: 2 << 20)
            try await ServerAPITests.expectError(client, q, method: .post, body: ByteBuffer(bytes: noSize), headers: [.contentType: "image/jpeg"], .badRequest)
            try await ServerAPITests.expectError(client, q, method: .post, body: ByteBuffer(bytes: noIHDR), headers: [.contentType: "image/png"], .badRequest)
            try await client.execute(uri: q + "&k=1", method: .post, headers: [.contentType: "image/png"], body: ByteBuffer(bytes: png)) { r in
                XCTAssertEqual(r.status, .ok)
            }
        }
    }

    /// A client that sends half a request header and then nothing is disconnected after the
    /// idle timeout (here 1 s), and the server keeps answering. (Raw sockets throughout: the
    /// test client's own kept-alive connection is closed by the same timeout.)
    func testIdleConnectionsAreClosed() async throws {
        let dir = try serverTemporaryDirectory(self)
        let f = try ServerFixture.make(in: dir)
        try await app(f, configure: { $0.host = "127.0.0.1"; $0.port = 0; $0.idleTimeout = 1 }).test(.live) { client in
            let port = try XCTUnwrap(client.port)
            let half = try await offPool { try Self.exchange(port: port, "GET /api/indexes HTTP/1.1\r\nHost: 127.0.0.1\r\n", wait: 10) }
            XCTAssertTrue(half.closed, "the server closed the connection (waited \(half.seconds) s)")
            XCTAssertLessThan(half.seconds, 5, "closed within a few seconds of the 1 s idle timeout")
            let full = try await offPool {
                try Self.exchange(port: port, "GET /api/indexes/tiny HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", wait: 10)
            }
            XCTAssertTrue(String(decoding: full.reply.prefix(12), as: UTF8.self) == "HTTP/1.1 200", "still answering: \(String(decoding: full.reply.prefix(200), as: UTF8.self))")
        }
    }

    /// Connects to 127.0.0.1:`port`, sends `request`, and reads until the server closes or
    /// `wait` seconds pass without a byte: what came back, whether the server closed (end of
    /// file or reset), and after how many seconds.
    static func exchange(port: Int, _ request: String, wait: Int) throws -> (reply: [UInt8], closed: Bool, seconds: Double) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw POSIXError(.init(rawValue: errno) ?? .ECONNREFUSED) }
        var timeout = timeval(tv_sec: wait, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let bytes = Array(request.utf8)
        guard send(fd, bytes, bytes.count, 0) == bytes.count else { throw POSIXError(.EIO) }
        let start = Date()
        var reply: [UInt8] = [], buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { reply += buffer.prefix(n); continue }
            // 0: closed by the server; -1: the wait ran out (EAGAIN) or the connection was reset.
            return (reply, n == 0 || errno == ECONNRESET, Date().timeIntervalSince(start))
        }
    }
}
