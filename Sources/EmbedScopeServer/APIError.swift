import EmbedScope
import Foundation
import Hummingbird

/// An error as the API reports it: `{"error":{"kind","message"}}` with a 4xx/5xx status.
/// Every error a handler throws is turned into one of these by `ErrorMiddleware`; no stack
/// trace or internal type name reaches a client.
package struct APIError: Error, Sendable {
    package var status: HTTPResponse.Status
    package var kind: String
    package var message: String

    package init(_ status: HTTPResponse.Status, _ kind: String, _ message: String) {
        self.status = status; self.kind = kind; self.message = message
    }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, "invalidArgument", message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, "notFound", message) }

    /// The API's view of any error: library errors keep their kind; paths of the server's file
    /// system are left out of the message.
    static func from(_ error: Error) -> APIError {
        switch error {
        case let e as APIError:
            return e
        case let e as EmbedScopeError:
            let status: HTTPResponse.Status
            switch e.kind {
            case .notFound: status = .notFound
            case .outOfMemory, .resourceLimit: status = .serviceUnavailable
            case _ where e.isStoredDamage: status = .internalServerError   // the index's rows, not the request
            case .invalidArgument, .shapeMismatch, .zeroVector, .undefined, .nonFinite, .npy, .dataset: status = .badRequest
            default: status = .internalServerError
            }
            return APIError(status, e.kind.rawValue, redactingPaths(e.message + (e.hint.map { " (\($0))" } ?? "")))
        case let e as ImageError:
            let status: HTTPResponse.Status = e.kind == .tooLarge ? .contentTooLarge : .badRequest
            return APIError(status, "image", redactingPaths(e.reason + " (\(e.advice))"))
        case let e as any HTTPResponseError:
            let kind = e.status == .contentTooLarge ? "tooLarge" : e.status == .notFound ? "notFound" : "http"
            let message = e.status == .contentTooLarge ? "the request body is too large" : e.status.reasonPhrase
            return APIError(e.status, kind, message)
        default:
            return APIError(.internalServerError, "internal", "\(error)")
        }
    }

    /// The library's messages name files by their paths ("run `embedscope verify /srv/data/x`");
    /// no path of the server's file system is in an answer (docs/http-api.md): each absolute path
    /// is given as its last component, as `meta` values are.
    static func redactingPaths(_ message: String) -> String {
        guard message.contains("/") else { return message }
        let chars = Array(message)
        let ends: Set<Character> = [" ", "\t", "\n", "`", "'", "\"", "(", ")", "[", "]"]
        var out = "", i = 0
        while i < chars.count {
            let startsWord = i == 0 || ends.contains(chars[i - 1])
            guard chars[i] == "/", startsWord else { out.append(chars[i]); i += 1; continue }
            var j = i
            while j < chars.count && !ends.contains(chars[j]) { j += 1 }
            var k = j   // punctuation that ends a sentence or a clause is not part of the path
            while k > i + 1 && ":,.;".contains(chars[k - 1]) { k -= 1 }
            let path = String(chars[i..<k])
            out += (path.split(separator: "/").last.map(String.init) ?? path) + String(chars[k..<j])
            i = j
        }
        return out
    }

    var response: Response {
        struct Body: Encodable { struct E: Encodable { var kind: String; var message: String }; var error: E }
        let data = (try? JSONCoding.encoder.encode(Body(error: .init(kind: kind, message: message)))) ?? Data("{\"error\":{\"kind\":\"internal\",\"message\":\"\"}}".utf8)
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

enum JSONCoding {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return e
    }()

    static func response<T: Encodable>(_ value: T, cache: Bool = false) throws -> Response {
        // JSONEncoder's compact bytes without its tree of values (`PrettyJSON`, tested against
        // `encoder`): a million projected points took several times their size in the server.
        let out = try PrettyJSON.encode(value, what: "the answer", style: .compact)
        let body = out.withBytes { ByteBuffer(bytes: $0) }
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        // Cacheable answers are revalidated (`ErrorAndLogMiddleware` gives them the generation as
        // their ETag and answers 304 while it holds): with a max-age, a page reloaded after a
        // rebuild showed the old projection beside the new index's answers.
        headers[.cacheControl] = cache ? "private, no-cache" : "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }
}

/// Turns every thrown error into the API's JSON error, and logs one line per request.
///
/// An answer computed from an index whose vector file another program cut short meanwhile is
/// replaced by that error (and the index is opened again on its next use): the reads past the
/// file's new end found zeros instead of stopping the server (`ReadOnlyMapping`).
struct ErrorAndLogMiddleware<Context: RequestContext>: RouterMiddleware {
    static var generationHeader: HTTPFields.Element.Name { HTTPFields.Element.Name("X-EmbedScope-Generation")! }
    let log: (@Sendable (String) -> Void)?
    let library: IndexLibrary
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        var response: Response
        var attempt = 0
        var lastTouched: [ServedIndex] = []
        while true {
            attempt += 1
            let touched = TouchedIndexes()
            defer { lastTouched = touched.all }
            do {
                response = try await IndexLibrary.$touched.withValue(touched) { try await next(request, context) }
            } catch let e as any HTTPResponseError where e.status == .notFound && !(e is APIError) {
                // The router found no route (our handlers throw `APIError`s): 405 when the path
                // has routes for other methods.
                let allowed = routes.methods(for: request.uri.path)
                if allowed.isEmpty {
                    response = APIError.notFound("no such path: \(request.uri.path.prefix(200)) (the API is under /api/, see /api/openapi.json)").response
                } else {
                    var names = allowed.map(\.rawValue)
                    if allowed.contains(.get) { names.append("HEAD") }
                    response = APIError(.methodNotAllowed, "methodNotAllowed", "\(request.method.rawValue) is not taken here; this path takes \(names.joined(separator: ", "))").response
                    response.headers[.allow] = names.joined(separator: ", ")
                }
            } catch {
                response = APIError.from(error).response
            }
            let used = touched.all
            var damage: Error?
            for s in used {
                do { try s.index.requireIntact() } catch {
                    library.evict(s)
                    damage = damage ?? error
                }
            }
            guard let damage else { break }
            // A request over many indexes (the list, a comparison) is answered again without the
            // damaged one(s), which now open as damaged and are left out; one about a single index
            // gets the error.
            if used.count > 1, attempt == 1, request.method == .get || request.method == .head { continue }
            response = APIError.from(damage).response
            break
        }
        // Answers about one index say which generation they come from; those the browser may keep
        // carry it as their ETag and are 304 while it holds.
        // (Empty path components dropped, as the router drops them: `//api//indexes/x` is routed too.)
        if lastTouched.count == 1, let only = lastTouched.first,
           ("/" + request.uri.path.split(separator: "/").joined(separator: "/")).hasPrefix("/api/indexes/") {
            response.headers[Self.generationHeader] = only.generation
            if response.status == .ok, response.headers[.cacheControl]?.contains("no-cache") == true {
                // (Images set their own: the generation and the file's stamp.)
                let tag = response.headers[.eTag] ?? "\"\(only.generation)\""
                response.headers[.eTag] = tag
                if let asked = request.headers[.ifNoneMatch], asked.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == tag || $0.trimmingCharacters(in: .whitespaces) == "W/" + tag }) {
                    response = Response(status: .notModified, headers: response.headers.filter { $0.name != .contentLength && $0.name != .contentType })
                }
            }
        }
        if let log {
            let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            log(String(format: "%@ %@ %d %.1f ms", request.method.rawValue, request.uri.path, response.status.code, ms))
        }
        return response
    }
}

/// A server bound to a loopback address answers only requests whose `Host` names a loopback host
/// (`localhost`, `*.localhost`, `127.x.y.z`, `[::1]`, with any port), or that carry none
/// (HTTP/1.0). Otherwise a web page on another site could reach it by DNS rebinding — its own
/// name re-pointed at 127.0.0.1 — and read the API and the images from the user's browser (as
/// Jupyter refuses, and for the same reason). A server bound to another address (`--host
/// 0.0.0.0`, a LAN address) is reached by whatever names the network gives it, and checks nothing.
struct LoopbackHostMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try SingleHostMiddleware<Context>.check(request)
        if let host = request.head.authority, !Self.isLoopbackName(host) {  // (HTTP/1.1's Host header)
            throw APIError(.forbidden, "forbidden",
                           "this server listens on a loopback address and answers only requests addressed to it by a loopback name (localhost, 127.0.0.1, [::1]), not to another host name")
        }
        return try await next(request, context)
    }

    /// Whether a bind address is a loopback one.
    static func isLoopbackAddress(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    /// `Host` value (host, optional port) → whether the host is a loopback name.
    static func isLoopbackName(_ value: String) -> Bool {
        var h = value.trimmingCharacters(in: .whitespaces).lowercased()
        if h.hasPrefix("[") {
            guard let close = h.firstIndex(of: "]") else { return false }
            return h[h.index(after: h.startIndex)..<close] == "::1"
        }
        if let colon = h.lastIndex(of: ":") { h = String(h[..<colon]) }
        if h.hasSuffix(".") { h.removeLast() }
        if h == "localhost" || h.hasSuffix(".localhost") { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { p in !p.isEmpty && p.count <= 3 && p.allSatisfy(\.isASCII) && p.allSatisfy(\.isNumber) && Int(p)! <= 255 }
    }
}

/// A request with more than one `Host` header is a 400 (RFC 9112 §3.2: a server MUST answer so).
/// The HTTP/1 codec takes the first as the request's authority and leaves the others among its
/// fields; the loopback check read the first alone, so `Host: localhost` then `Host: attacker.test`
/// passed it. Every server runs this check (the loopback one runs it first).
struct SingleHostMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try Self.check(request)
        return try await next(request, context)
    }

    static func check(_ request: Request) throws {
        if let name = HTTPFields.Element.Name("Host"), !request.headers[values: name].isEmpty {
            throw APIError(.badRequest, "invalidArgument", "the request has more than one Host header")
        }
    }
}

/// The server's routes (method, path with `:parameter` components), in one list for the router and
/// for the error middleware's 404 / 405 distinction.
package struct RouteTable: Sendable {
    package struct Route: Sendable { var method: HTTPRequest.Method; var path: String }
    package let all: [Route]

    init(_ routes: [(HTTPRequest.Method, String)]) { all = routes.map { Route(method: $0.0, path: $0.1) } }

    /// The methods of the routes whose path matches `path` (`:name` matches one non-empty component).
    func methods(for path: String) -> [HTTPRequest.Method] {
        // Empty components dropped, as the router drops them (`/api/indexes/` is `/api/indexes`).
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        var found: [HTTPRequest.Method] = []
        for r in all {
            let pattern = r.path.split(separator: "/", omittingEmptySubsequences: true)
            guard pattern.count == parts.count else { continue }
            let matches = zip(pattern, parts).allSatisfy { p, x in p.hasPrefix(":") ? !x.isEmpty : p == x }
            if matches && !found.contains(r.method) { found.append(r.method) }
        }
        return found
    }
}
