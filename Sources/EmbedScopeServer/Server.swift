import EmbedScope
import Foundation
import Hummingbird
import HummingbirdCore
import Logging

/// The HTTP server of `embedscope serve`: the JSON API under `/api/` and the explorer page at `/`.
///
/// Built by functions so that tests run it in process (`app.test(.router)`) or live on
/// 127.0.0.1 port 0 (the browser test).
package func buildApplication(_ options: ServerOptions,
                             onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
    var logger = Logger(label: "embedscope.serve")
    logger.logLevel = .warning
    // Never more connections than file descriptors left for them (`ConnectionLimit`).
    let cap = ConnectionLimit.maximum()
    return Application(
        router: buildRouter(options),
        // Closes a connection whose request header is not complete `idleTimeout` after it opened
        // (or after its last answer), or whose body stalls that long; not one awaiting its answer.
        server: .http1(configuration: .init(idleTimeout: .nanoseconds(Int64(options.idleTimeout * 1e9)))),
        configuration: .init(address: .hostname(options.host, port: options.port), serverName: "embedscope",
                             availableConnectionsDelegate: cap.map { MaximumAvailableConnections($0) }),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
        logger: logger)
}

package func buildRouter(_ options: ServerOptions) -> Router<BasicRequestContext> {
    let api = ServerAPI(library: IndexLibrary(options: options))
    let router = Router(context: BasicRequestContext.self, options: .autoGenerateHeadEndpoints)  // HEAD answers as GET, without the body
    router.add(middleware: ErrorAndLogMiddleware(log: options.log, library: api.library, routes: api.routeTable))
    if LoopbackHostMiddleware<BasicRequestContext>.isLoopbackAddress(options.host) {
        router.add(middleware: LoopbackHostMiddleware())
    } else {
        router.add(middleware: SingleHostMiddleware())
    }
    api.register(router)
    return router
}

/// Query results: what `embedscope query --json` and `rank --json` print.
struct Results: Codable, Sendable { var results: [ResultRow] }

struct ServerAPI: Sendable {
    let library: IndexLibrary
    var options: ServerOptions { library.options }

    typealias Handler = @Sendable (Request, BasicRequestContext) async throws -> Response

    /// Every route, in one list: what the router answers, and (`routeTable`) what the error
    /// middleware consults to tell a path no route has (404) from one asked with a method it does
    /// not take (405, with `Allow`).
    var routes: [(method: HTTPRequest.Method, path: String, handler: Handler)] {
        [
            (.get, "/", { _, _ in Page.response(Page.html, type: "text/html; charset=utf-8") }),
            (.get, "/index.html", { _, _ in Page.response(Page.html, type: "text/html; charset=utf-8") }),
            (.get, "/static/app.js", { _, _ in Page.response(Page.script, type: "text/javascript; charset=utf-8") }),
            (.get, "/static/app.css", { _, _ in Page.response(Page.style, type: "text/css; charset=utf-8") }),
            (.get, "/api/openapi.json", { _, _ in Page.response(OpenAPIDocument.json, type: "application/json; charset=utf-8") }),
            (.get, "/api/indexes", { _, _ in try await self.indexes() }),
            (.get, "/api/indexes/:name", { _, c in try await self.indexInfo(c) }),
            (.get, "/api/indexes/:name/query", { r, c in try await self.query(r, c) }),
            (.post, "/api/indexes/:name/query", { r, c in try await self.queryUpload(r, c) }),
            (.get, "/api/indexes/:name/rank", { r, c in try await self.rank(r, c) }),
            (.get, "/api/indexes/:name/projection", { r, c in try await self.projection(r, c) }),
            (.get, "/api/indexes/:name/metrics", { r, c in try await self.metrics(r, c) }),
            (.get, "/api/indexes/:name/evaluate", { r, c in try await self.evaluate(r, c) }),
            (.get, "/api/indexes/:name/evaluate/cell", { r, c in try await self.evaluateCell(r, c) }),
            (.get, "/api/indexes/:name/prototypes", { r, c in try await self.prototypeScores(r, c) }),
            (.get, "/api/indexes/:name/prototypes/names", { r, c in try await self.prototypeNames(r, c) }),
            (.get, "/api/indexes/:name/predictions", { r, c in try await self.predictions(r, c) }),
            (.get, "/api/indexes/:name/images/:row", { r, c in try await self.image(r, c) }),
            (.get, "/api/indexes/:name/thumbs/:row", { r, c in try await self.thumb(r, c) }),
            (.get, "/api/compare", { r, _ in try await self.compare(r) }),
        ]
    }

    var routeTable: RouteTable { RouteTable(routes.map { ($0.method, $0.path) }) }

    func register(_ router: Router<BasicRequestContext>) {
        for route in routes {
            let handler = route.handler
            router.on(RouterPath(route.path), method: route.method) { r, c in try await handler(r, c) }
        }
    }

    // MARK: - Parameters

    func served(_ c: BasicRequestContext) throws -> ServedIndex {
        let raw = c.parameters.get("name") ?? ""
        return try library.index(raw.removingPercentEncoding ?? raw)
    }

    /// Every value of a query parameter, decoded as HTML forms, Python's `urlencode` and `requests`
    /// encode them: `+` is a space (`%2B` a plus), then percent-escapes. (Hummingbird's parser kept
    /// `+`, so `class=T-shirt+top` named no class.) A value whose escapes are not UTF-8 keeps them as written (its `+` still a space).
    static func queryValues(_ r: Request, _ key: String) -> [Substring] {
        guard let query = r.uri.query, !query.isEmpty else { return [] }
        func decode(_ s: Substring) -> Substring {
            let spaced = s.replacingOccurrences(of: "+", with: " ")
            return Substring(spaced.removingPercentEncoding ?? spaced)
        }
        var out: [Substring] = []
        for part in query.split(separator: "&", omittingEmptySubsequences: true) {
            let eq = part.firstIndex(of: "=")
            let name = decode(eq.map { part[..<$0] } ?? part)
            guard name == key else { continue }
            out.append(eq.map { decode(part[part.index(after: $0)...]) } ?? "")
        }
        return out
    }

    /// The value of a parameter that takes one, nil when it is absent. Given twice it is refused:
    /// which of the two would count is a guess (`index`, the one that repeats, is read on its own).
    static func single(_ r: Request, _ key: String) throws -> Substring? {
        let all = queryValues(r, key)
        guard all.count <= 1 else { throw APIError.badRequest("give \(key) once (it is there \(all.count) times)") }
        return all.first
    }

    static func int(_ r: Request, _ key: String, default d: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let s = try single(r, key) else { return d }
        guard let v = Int(s) else { throw APIError.badRequest("\(key) must be an integer, got '\(s.prefix(40))'") }
        guard range.contains(v) else { throw APIError.badRequest("\(key) must be in \(range.lowerBound)…\(range.upperBound), got \(v)") }
        return v
    }

    static func bool(_ r: Request, _ key: String) throws -> Bool {
        guard let s = try single(r, key) else { return false }
        switch s.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw APIError.badRequest("\(key) must be true or false, got '\(s.prefix(40))'")
        }
    }

    /// A name parameter (space, set, class, prototype): any text, compared with the catalog's names only.
    static func name(_ r: Request, _ key: String) throws -> String? {
        guard let s = try single(r, key) else { return nil }
        guard !s.isEmpty, s.count <= 1000, !s.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
            throw APIError.badRequest("\(key) must be a non-empty name of at most 1000 characters without control characters")
        }
        return String(s)
    }

    static func space(_ r: Request, _ s: ServedIndex) throws -> String {
        let name = try Self.name(r, "space") ?? s.index.defaultSpace()
        return try s.index.space(name).name
    }

    static func row(_ c: BasicRequestContext) throws -> Int {
        let s = c.parameters.get("row") ?? ""
        guard let r = Int(s) else { throw APIError.badRequest("row must be an integer, got '\(s.prefix(40))'") }
        return r
    }

    // MARK: - Indexes

    /// An entry of the index list: the index's `IndexInfo` plus these fields.
    struct IndexEntryFields: Encodable {
        var name: String
        var generation: String
        var model: String?
        var weights: String?
        var metrics: [ComparisonRow]
    }
    typealias IndexEntry = Merged<IndexInfo, IndexEntryFields>

    func entry(_ s: ServedIndex) async throws -> IndexEntry {
        var info = try await s.once("info") { try IndexInfo.collect(s.index) }
        // The rest is fixed for a generation; the files are not (metrics.json is written by
        // `metrics` or by this server while the generation stays the same).
        info.files = IndexInfo.fileSizes(s.index)
        info.totalBytes = info.files.values.reduce(0, +)
        let meta = info.meta   // (collected with the info; read again per request before)
        // No path of the server's file system leaves it (as in error messages): the index is its
        // name, the weights their file name, and meta's absolute paths (the data-set root, the
        // weights) their last component — a server exposed with `--host 0.0.0.0` told every
        // client where its data lived.
        info.path = s.name
        info.meta = info.meta.mapValues { $0.hasPrefix("/") ? URL(fileURLWithPath: $0).lastPathComponent : $0 }
        return IndexEntry(info, IndexEntryFields(name: s.name, generation: s.generation, model: meta["model"], weights: meta["weights"].map { URL(fileURLWithPath: $0).lastPathComponent },
                                                 metrics: try await comparisonRows(s)))
    }

    func indexes() async throws -> Response {
        struct List: Encodable { var indexes: [IndexEntry] }
        var out: [IndexEntry] = []
        for n in library.names() {
            // An index that cannot be opened is left out of the list, not a failure of the list.
            guard let s = try? library.index(n), let e = try? await entry(s) else { continue }
            out.append(e)
        }
        return try JSONCoding.response(List(indexes: out))
    }

    func indexInfo(_ c: BasicRequestContext) async throws -> Response {
        try JSONCoding.response(try await entry(served(c)))
    }

    /// Comparison rows from metrics.json, with cluster metrics this server computed in memory.
    func comparisonRows(_ s: ServedIndex) async throws -> [ComparisonRow] {
        let record = try (try? s.index.readMetrics()) ?? s.index.freshMetrics()
        var rows = Comparison.rows(record, path: s.index.url.path, spaces: nil)
        let missing = s.index.spaces.map(\.name).filter { n in !rows.contains { $0.space == n } }
        if !missing.isEmpty {
            var r = record
            for n in missing { r.spaces[n] = MetricsRecord.Space(dim: (try? s.index.space(n).dim) ?? 0) }
            rows = Comparison.rows(r, path: s.index.url.path, spaces: nil)
        }
        for i in rows.indices {
            if let m = s.cachedCluster(space: rows[i].space) { rows[i].fill(from: m) }
        }
        for i in rows.indices { rows[i].index = s.name; rows[i].path = s.name }
        return try s.index.withCheckpoint(rows)  // weights file and epoch / step from the catalog
    }

    // MARK: - Queries

    func query(_ r: Request, _ c: BasicRequestContext) async throws -> Response {
        let s = try served(c)
        let source: QuerySource
        switch (try Self.single(r, "row"), try Self.single(r, "path")) {
        case (let row?, nil):
            guard let v = Int(row) else { throw APIError.badRequest("row must be an integer, got '\(row.prefix(40))'") }
            source = .row(v)
        case (nil, let path?):
            let p = String(path)
            let parts = p.split(separator: "/", omittingEmptySubsequences: false)
            guard !p.isEmpty, !p.hasPrefix("/"), !parts.contains(".."), !p.contains("\0") else {
                throw APIError.badRequest("path is a catalog path relative to the data set root (no leading '/', no '..')")
            }
            source = .path(p)
        default:
            throw APIError.badRequest("give exactly one of row=R or path=P (or POST an image)")
        }
        let space = try Self.space(r, s)
        let k = try Self.int(r, "k", default: 10, in: 1...options.maxK)
        let farthest = try Self.bool(r, "farthest")
        let includeSelf = try Self.bool(r, "includeSelf")
        let className = try Self.name(r, "class")
        let vector = try s.index.queryVector(source, space: space)
        var filter = try s.index.classFilter(className)
        if !includeSelf, let row = try s.index.row(for: source) { filter.excluded.insert(row) }
        let hits = try await s.batcher(space: space).search(vector, k: k, farthest: farthest, filter: filter)
        return try Self.response(hits, space: space, in: s)
    }

    func queryUpload(_ r: Request, _ c: BasicRequestContext) async throws -> Response {
        let s = try served(c)
        guard try Self.single(r, "row") == nil, try Self.single(r, "path") == nil else {
            throw APIError.badRequest("a POSTed image is the query: give no row or path with it")
        }
        let space = try Self.space(r, s)
        let k = try Self.int(r, "k", default: 10, in: 1...options.maxK)
        let farthest = try Self.bool(r, "farthest")
        let className = try Self.name(r, "class")
        var filter = try s.index.classFilter(className)
        filter.excluded = []
        let buffer: ByteBuffer
        do {
            buffer = try await r.body.collect(upTo: options.maxUploadBytes)
        } catch let e as any HTTPResponseError {
            throw e   // too large: 413
        } catch {
            // The client's fault, not the server's: a body shorter than its Content-Length was a 500.
            throw APIError(.badRequest, "http", "the request body ended before it was whole (\(error)): send the whole image")
        }
        var data = Data(buffer.readableBytesView)
        if let type = r.headers[.contentType], type.lowercased().hasPrefix("multipart/form-data") {
            data = try Multipart.firstFile(data, contentType: type)
        }
        let maxPixels = options.maxUploadPixels
        let upload = data
        let image = try await offPool { try ImageAccess.decodeBounded(upload, maxPixels: maxPixels, what: "the uploaded image") }
        let raw = try await embed(image, space: space, in: s)
        let vector = try s.index.queryVector(.vector(raw), space: space)
        let hits = try await s.batcher(space: space).search(vector, k: k, farthest: farthest, filter: filter)
        return try Self.response(hits, space: space, in: s)
    }

    /// A query's hits as its answer, each row shown first checked to be unit length
    /// (`Index.requireUnit`: a damaged row is an error, never a result).
    static func response(_ hits: [Hit], space: String, in s: ServedIndex) throws -> Response {
        try s.index.requireUnit(rows: hits.lazy.map(\.row), space: space, file: s.index.vectors(space: space))
        return try JSONCoding.response(Results(results: s.index.describe(hits.map { ($0.row, Double($0.score)) })))
    }

    /// A new image as a vector of `space`: pixels for the pixel space, the index's model for its embedding.
    func embed(_ image: RGBImage, space: String, in s: ServedIndex) async throws -> [Float] {
        let rec = try s.index.space(space)
        if space == "pixel" {
            let side = Int(Double(rec.dim / 3).squareRoot().rounded())
            guard side > 0, side * side * 3 == rec.dim else {
                throw APIError.badRequest("space 'pixel' has dim \(rec.dim), not 3·S·S: cannot make a pixel vector for it")
            }
            return PixelSpace.vector(of: image, size: side)
        }
        guard space == "embedding" else {
            throw APIError.badRequest("space '\(space)' holds imported vectors; EmbedScope cannot embed a new image into it (use space=pixel, or an index built with a model)")
        }
        let model = try await s.once("model") { try s.index.loadModel() }
        return try await offPool {
            let input = model.preprocessing.apply(image)
            let f = try model.extractor.forward(input, count: 1).features
            return Array(f.prefix(model.extractor.featureDim))
        }
    }

    func rank(_ r: Request, _ c: BasicRequestContext) async throws -> Response {
        let s = try served(c)
        guard let prototype = try Self.name(r, "prototype") else { throw APIError.badRequest("give prototype=NAME (a class of the head)") }
        let set = try Self.name(r, "set")
        let k = try Self.int(r, "k", default: 10, in: 1...options.maxK)
        let least = try Self.bool(r, "least")
        let className = try Self.name(r, "class")
        let results = try await offPool { try s.index.rank(prototype: prototype, set: set, least: least, k: k, className: className) }
        return try JSONCoding.response(Results(results: results))
    }

    // MARK: - Analyses

    struct ProjectionJSON: Codable, Sendable {
        struct Point: Codable, Sendable { var row: Int; var x: Double; var y: Double; var `class`: String; var path: String }
        struct Direction: Codable, Sendable { var set: String; var name: String; var x: Double; var y: Double }
        var index: String
        var space: String
        var method: String
        var rows: Int
        var dim: Int
        var components: Int
        var explainedVariance: [Double]
        var explainedVarianceRatio: [Double]
        var axisLabels: [String]
        var shrinkage: Double?
        /// LDA on the leading principal components instead of the raw space (many dimensions
        /// for the rows): how many, the variance they keep, and why; null otherwise.
        var reducedBy: Projection.Reduction?
        var classes: [String]
        var points: [Point]
        var prototypes: [Direction]
    }

    func projection(_ r: Request, _ c: BasicRequestContext) async throws -> Response {
        let s = try served(c)
        let space = try Self.space(r, s)
        let methodName = try Self.name(r, "method") ?? "pca"
        guard let method = Projection.Method(rawValue: methodName) else { throw APIError.badRequest("method must be pca or lda, got '\(methodName.prefix(40))'") }
        let writable = options.writable
        let p: ProjectionJSON = try await s.once("projection/\(space)/\(method.rawValue)") {
            let classCount = Set(s.classIds).count
            let k = method == .lda ? min(2, max(1, classCount - 1)) : min(2, max(1, s.index.rowCount - 1))
            let rep: ProjectionReport
            do {
                rep = try s.index.projection(space: space, method: method, components: k)
            } catch let e as EmbedScopeError where e.kind == .undefined && method == .lda {
                // The library's hint names the CLI's flag (--method pca); here the choice is the
                // method parameter (the page says it in its own terms).
                throw EmbedScopeError(.undefined, e.message, hint: "method=pca projects every index")
            }
            if writable { _ = try? s.writeLocked { try s.index.recordProjection(rep) } }
            let classes = Set(rep.points.map(\.class)).sorted()
            return ProjectionJSON(
                index: s.name, space: rep.space, method: rep.method.rawValue, rows: rep.rows, dim: rep.dim, components: rep.components,
                explainedVariance: rep.explainedVariance, explainedVarianceRatio: rep.explainedVarianceRatio,
                axisLabels: (0..<rep.components).map(rep.axisLabel), shrinkage: rep.shrinkage, reducedBy: rep.reducedBy, classes: classes,
                points: rep.points.map { .init(row: $0.row, x: $0.coordinates.first ?? 0, y: $0.coordinates.count > 1 ? $0.coordinates[1] : 0, class: $0.class, path: $0.path) },
                prototypes: rep.prototypes.map { .init(set: $0.set, name: $0.name, x: $0.coordinates.first ?? 0, y: $0.coordinates.count > 1 ? $0.coordinates[1] : 0) })
        }
        return try JSONCoding.response(p, cache: true)
    }

    func metrics(_ r: Request, _ c: BasicRequestContext) async throws -> Response {
        let s = try served(c)
        let space = try Self.space(r, s)
        let report = try await s.clusterReport(space: space)
        return try JSONCoding.response(report)
    }

    func evaluate(_ r: Request, _ c: BasicRequestContext) async throws -> Response {
        let s = try served(c)
        guard let set = try Self.name(r, "set") else { throw APIError.badRequest("give set=NAME (a prototype set of the index)") }
        let lowest = try Self.int(r, "lowest", default: 20, in: 0...options.maxK)
        _ = try s.index.prototypeSet(set)
        let e = try await s.once("evaluate/\(set)/\(lowest)") { try s.index.evaluate(set: set, lowest: lowest) }
        return try JSONCoding.response(e)
    }

    /// The images of one confusion-matrix cell: true class `true`, predicted `predicted`.
    func evaluateCell(_ r: Request, _ c: BasicRequestContext) async throws -> Response {
        let s = try served(c)
        guard let set = try Self.name(r, "set"), let truth = try Self.name(r, "true"), let predicted = try Self.name(r, "predicted") else {
            throw APIError.badRequest("give set=NAME, true=CLASS and predicted=CLASS")
        }
        let k = try Self.int(r, "k", default: 48, in: 1...options.maxK)
        _ = try s.index.prototypeSet(set)
        let p = try await s.once("predictions/\(set)") { try Predictions.compute(s.index, set: set) }
        guard let ti = p.classes.firstIndex(of: truth) else { throw APIError.notFound("no evaluated class '\(truth)' for set '\(set)'") }
        guard let pi = p.classes.firstIndex(of: predicted) else { throw APIError.notFound("no evaluated class '\(predicted)' for set '\(set)'") }
        // Most confident first: highest margin of the predicted class over the true one.
        var cell = p.rows.indices.filter { p.truth[$0] == ti && p.predicted[$0] == pi }
        cell.sort { (p.score[$0], p.rows[$1]) > (p.score[$1], p.rows[$0]) }
        struct Cell: Encodable { var set: String; var `true`: String; var predicted: String; var count: Int; var results: [ResultRow] }
        let picked = cell.prefix(k)
        let results = try s.index.describe(picked.map { (p.rows[$0], p.score[$0]) })
        return try JSONCoding.response(Cell(set: set, true: truth, predicted: predicted, count: cell.count, results: results))
    }

    /// The logits of one row for every prototype of each set (top `k` per set).
    func prototypeScores(_ r: Request, _ c: BasicRequestContext) async throws -> Response {
        let s = try served(c)
        let row = try Self.int(r, "row", default: -1, in: -1...Int.max)
        guard row >= 0 && row < s.index.rowCount else { throw APIError.notFound("give row=R with R in 0…\(s.index.rowCount - 1)") }
        let k = try Self.int(r, "k", default: 5, in: 1...1000)
        struct Score: Encodable { var name: String; var logit: Double }
        struct SetScores: Encodable { var set: String; var space: String; var top: [Score] }
        var out: [SetScores] = []
        for set in s.index.prototypeSets {
            let n = set.count
            let z = try s.index.logitMatrix(set: set.name, prototypes: Array(0..<n), rows: [row])
            let names = try s.index.catalog.prototypes(inSet: set.name).map(\.name)
            let order = z.indices.sorted { (z[$0], $1) > (z[$1], $0) }.prefix(k)
            out.append(SetScores(set: set.name, space: set.space, top: order.map { Score(name: names[$0], logit: z[$0]) }))
        }
        struct All: Encodable { var row: Int; var sets: [SetScores] }
        return try JSONCoding.response(All(row: row, sets: out))
    }

    /// Every prototype name of one set, in the set's order. The index list carries only a sample
    /// (5 names) per set: the Prototypes tab offered those 5 and the index's class names, so 995
    /// of ImageNet's 1,000 could not be picked and a class name absent from the set was a 404.
    func prototypeNames(_ r: Request, _ c: BasicRequestContext) async throws -> Response {
        let s = try served(c)
        guard let set = try Self.name(r, "set") else { throw APIError.badRequest("give set=NAME (a prototype set of the index)") }
        let info = try s.index.prototypeSet(set)
        let names = try s.index.catalog.prototypes(inSet: set).map(\.name)
        struct Names: Encodable { var set: String; var space: String; var count: Int; var names: [String] }
        return try JSONCoding.response(Names(set: set, space: info.space, count: names.count, names: names))
    }

    // MARK: - Images

    func image(_ r: Request, _ c: BasicRequestContext) async throws -> Response {
        let s = try served(c)
        let row = try Self.row(c)
        try Self.pinnedGeneration(r, s)
        let (data, type, file) = try await offPool { try ImageAccess.original(row: row, in: s) }
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "private, no-cache", .eTag: "\"\(s.generation).\(file)\""],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    func thumb(_ r: Request, _ c: BasicRequestContext) async throws -> Response {
        let s = try served(c)
        let row = try Self.row(c)
        let size = try Self.int(r, "size", default: 96, in: 8...512)
        try Self.pinnedGeneration(r, s)
        let (data, file) = try await offPool { try ImageAccess.thumbnail(row: row, size: size, in: s) }
        return Response(status: .ok, headers: [.contentType: "image/png", .cacheControl: "private, no-cache", .eTag: "\"\(s.generation).\(file)\""],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// `g=GENERATION` on an image or thumbnail URL (the page adds it) pins the answer to that
    /// generation: another one is 409, so a page still showing a rebuilt index's old points gets no
    /// picture of the new index's row under an old label. Images are revalidated either way: their
    /// ETag is the generation and the file's own stamp (a file replaced in the data set, the
    /// index unchanged, is a new picture — it was 304, and kept an hour when pinned).
    static func pinnedGeneration(_ r: Request, _ s: ServedIndex) throws {
        guard let g = try single(r, "g") else { return }
        guard g == s.generation else {
            throw APIError(.conflict, "changed", "index '\(s.name)' changed on disk since this generation ('\(g.prefix(40))'); it is now '\(s.generation)': reload it")
        }
    }

    // MARK: - Comparison

    func compare(_ r: Request) async throws -> Response {
        var names: [String] = []
        for n in Self.queryValues(r, "index").map(String.init) where !names.contains(n) { names.append(n) }   // once each
        let named = !names.isEmpty
        if !named { names = library.names() }
        var rows: [ComparisonRow] = []
        var compared: [String] = []
        for n in names {
            // Every index by default: one that cannot be opened is left out, as from the list (it
            // failed the whole comparison with 500); one asked for by name is an error.
            let s: ServedIndex
            if named { s = try library.index(n) } else { guard let o = try? library.index(n) else { continue }; s = o }
            rows += try await comparisonRows(s)
            compared.append(n)
        }
        names = compared
        if let space = try Self.name(r, "space") {
            rows = rows.filter { $0.space == space }
            guard !rows.isEmpty else { throw APIError.notFound("no index of the comparison has a space '\(space.prefix(100))'") }
        }
        let sortName = try Self.name(r, "sort") ?? "silhouette"
        guard let key = Comparison.SortKey(rawValue: sortName) else {
            throw APIError.badRequest("sort must be one of \(Comparison.SortKey.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        struct Table: Encodable { var entries: [CompareRow] }
        return try JSONCoding.response(Table(entries: try await compareRows(r, names: names, rows: Comparison.sorted(rows, by: key))))
    }
}

extension ComparisonRow {
    /// Cluster metrics this server computed fill a row metrics.json has none for, and an exact
    /// silhouette replaces a sampled one (compare shows the exact one when there is one).
    mutating func fill(from m: ClusterMetricsReport) {
        guard silhouette == nil || (silhouetteSampled == true && m.silhouette.exact) else { return }
        silhouette = m.silhouette.mean
        silhouetteSampled = m.silhouette.exact ? nil : true
        silhouetteSample = m.silhouette.sample
        silhouetteStandardError = m.silhouette.standardError
        daviesBouldin = m.daviesBouldin
        calinskiHarabasz = m.calinskiHarabasz
    }
}
