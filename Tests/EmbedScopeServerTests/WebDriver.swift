import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A minimal W3C WebDriver client (plain HTTP + JSON) for Debian's chromedriver driving
/// headless Chromium. Only the commands the browser test uses.
final class WebDriver: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible { var description: String }
    static let elementKey = "element-6066-11e4-a52e-4f735466cecf"

    let driver: Process
    let base: URL
    var session = ""

    /// Finds `chromedriver` on PATH (Debian's chromium-driver puts it in /usr/bin).
    static func findDriver() -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/lib/chromium"] {
            let u = URL(fileURLWithPath: dir).appendingPathComponent("chromedriver")
            if FileManager.default.isExecutableFile(atPath: u.path) { return u }
        }
        return nil
    }

    static func findChromium() -> URL? {
        for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] where FileManager.default.isExecutableFile(atPath: p) {
            return URL(fileURLWithPath: p)
        }
        return nil
    }

    /// A free loopback port (bound then released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw Failure(description: "bind() failed") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    init(driver binary: URL, chromium: URL, profile: URL, windowSize: (Int, Int)) async throws {
        let port = try Self.freePort()
        driver = Process()
        driver.executableURL = binary
        driver.arguments = ["--port=\(port)", "--allowed-ips=127.0.0.1"]
        driver.standardOutput = FileHandle.nullDevice
        driver.standardError = FileHandle.nullDevice
        try driver.run()
        base = URL(string: "http://127.0.0.1:\(port)")!
        // Wait for the driver to listen.
        var ready = false
        var last = ""
        for _ in 0..<100 {
            do {
                let s = try await request("GET", "/status")
                if (s["value"] as? [String: Any])?["ready"] as? Bool == true { ready = true; break }
                last = "\(s)"
            } catch { last = "\(error)" }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        guard ready else { stop(); throw Failure(description: "chromedriver did not start on port \(port): \(last)") }
        let caps: [String: Any] = ["capabilities": ["alwaysMatch": [
            "browserName": "chrome",
            "goog:chromeOptions": ["binary": chromium.path,
                                   "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                                            "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
                                            "--force-device-scale-factor=1", "--user-data-dir=\(profile.path)",
                                            "--window-size=\(windowSize.0),\(windowSize.1)"]],
            "goog:loggingPrefs": ["browser": "ALL"],
        ] as [String: Any]]]
        let r = try await request("POST", "/session", caps)
        guard let v = r["value"] as? [String: Any], let id = v["sessionId"] as? String else {
            stop()
            throw Failure(description: "no WebDriver session: \(r)")
        }
        session = id
    }

    func quit() async {
        if !session.isEmpty { _ = try? await request("DELETE", "/session/\(session)") }
        stop()
    }

    /// chromedriver does not always exit on SIGTERM: it gets SIGKILL.
    func stop() {
        if driver.isRunning { kill(driver.processIdentifier, SIGKILL) }
        driver.waitUntilExit()
    }

    @discardableResult
    func request(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> [String: Any] {
        let payload = try body.map { try JSONSerialization.data(withJSONObject: $0) } ?? Data(method == "POST" ? "{}".utf8 : "".utf8)
        let port = base.port ?? 0
        let data = try await withCheckedThrowingContinuation { (c: CheckedContinuation<Data, Error>) in
            DispatchQueue.global().async {
                do { c.resume(returning: try Self.http(method, port: port, path: path, body: payload)) } catch { c.resume(throwing: error) }
            }
        }
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw Failure(description: "\(method) \(path): not a JSON object")
        }
        if let v = obj["value"] as? [String: Any], let err = v["error"] as? String {
            throw Failure(description: "\(method) \(path): \(err): \((v["message"] as? String ?? "").prefix(600))")
        }
        return obj
    }

    /// One HTTP/1.1 exchange on 127.0.0.1 over a plain socket, `Connection: close` (the response
    /// ends when the connection closes; a chunked body is decoded). Returns the body.
    static func http(_ method: String, port: Int, path: String, body: Data) throws -> Data {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        defer { close(fd) }
        var tv = timeval(tv_sec: 120, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { throw Failure(description: "cannot connect to 127.0.0.1:\(port)") }
        var request = Data("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
        request += body
        try request.withUnsafeBytes { (p: UnsafeRawBufferPointer) in
            var sent = 0
            while sent < p.count {
                let n = send(fd, p.baseAddress! + sent, p.count - sent, 0)
                guard n > 0 else { throw Failure(description: "send() failed") }
                sent += n
            }
        }
        var response = Data()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n < 0 { throw Failure(description: "recv() failed or timed out (\(method) \(path))") }
            if n == 0 { break }
            response.append(contentsOf: buf[0..<n])
            // Done when the body has Content-Length bytes (the driver may keep the connection open).
            if let split = response.range(of: Data("\r\n\r\n".utf8)) {
                let head = String(decoding: response[..<split.lowerBound], as: UTF8.self).lowercased()
                if let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
                   let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)),
                   response.distance(from: split.upperBound, to: response.endIndex) >= length { break }
                if head.contains("transfer-encoding: chunked"), response.suffix(5) == Data("0\r\n\r\n".utf8) { break }
            }
        }
        guard let split = response.range(of: Data("\r\n\r\n".utf8)) else { throw Failure(description: "no HTTP response to \(method) \(path)") }
        let head = String(decoding: response[..<split.lowerBound], as: UTF8.self).lowercased()
        var rest = response.subdata(in: split.upperBound..<response.endIndex)
        guard head.contains("transfer-encoding: chunked") else { return rest }
        // Chunked: size line (hex), data, CRLF; a zero size ends it.
        var out = Data()
        while let line = rest.range(of: Data("\r\n".utf8)) {
            let size = Int(String(decoding: rest[rest.startIndex..<line.lowerBound], as: UTF8.self).split(separator: ";")[0]
                .trimmingCharacters(in: .whitespaces), radix: 16) ?? 0
            if size == 0 { break }
            let start = line.upperBound
            guard rest.distance(from: start, to: rest.endIndex) >= size else { break }
            let end = rest.index(start, offsetBy: size)
            out += rest[start..<end]
            rest = rest.subdata(in: min(rest.endIndex, rest.index(end, offsetBy: 2))..<rest.endIndex)
        }
        return out
    }

    func s(_ p: String) -> String { "/session/\(session)\(p)" }

    func navigate(_ url: String) async throws { try await request("POST", s("/url"), ["url": url]) }

    /// Runs a script in the page (`return …` gives the value).
    func execute(_ script: String, _ args: [Any] = []) async throws -> Any? {
        try await request("POST", s("/execute/sync"), ["script": script, "args": args])["value"]
    }

    func element(_ css: String) async throws -> String {
        let r = try await request("POST", s("/element"), ["using": "css selector", "value": css])
        guard let v = r["value"] as? [String: Any], let id = v[Self.elementKey] as? String else { throw Failure(description: "no element \(css)") }
        return id
    }

    func click(_ css: String) async throws { try await request("POST", s("/element/\(try await element(css))/click")) }

    func sendKeys(_ css: String, _ text: String) async throws {
        try await request("POST", s("/element/\(try await element(css))/value"), ["text": text])
    }

    /// Moves the mouse to (dx, dy) from the centre of an element, and optionally clicks there.
    func mouse(at css: String, dx: Int, dy: Int, click: Bool) async throws {
        let id = try await element(css)
        var acts: [[String: Any]] = [["type": "pointerMove", "duration": 0, "origin": [Self.elementKey: id], "x": dx, "y": dy]]
        if click { acts += [["type": "pointerDown", "button": 0], ["type": "pointerUp", "button": 0]] }
        try await request("POST", s("/actions"), ["actions": [["type": "pointer", "id": "mouse", "parameters": ["pointerType": "mouse"], "actions": acts]]])
    }

    /// Presses the left button at (x0, y0) from the centre of an element, moves to (x1, y1) in
    /// `steps` moves, and releases there (a drag: box or lasso selection).
    func drag(at css: String, from: (Int, Int), to: (Int, Int), steps: Int = 8) async throws {
        try await drag(at: css, path: [from, to], steps: steps)
    }

    /// A drag through the corners of `path`, `steps` moves per segment (a lasso).
    func drag(at css: String, path: [(Int, Int)], steps: Int = 8) async throws {
        guard let first = path.first else { return }
        let id = try await element(css)
        let origin: [String: Any] = [Self.elementKey: id]
        var acts: [[String: Any]] = [["type": "pointerMove", "duration": 0, "origin": origin, "x": first.0, "y": first.1],
                                     ["type": "pointerDown", "button": 0]]
        for (from, to) in zip(path, path.dropFirst()) {
            for i in 1...max(1, steps) {
                let x = from.0 + (to.0 - from.0) * i / max(1, steps), y = from.1 + (to.1 - from.1) * i / max(1, steps)
                acts.append(["type": "pointerMove", "duration": 20, "origin": origin, "x": x, "y": y])
            }
        }
        acts.append(["type": "pointerUp", "button": 0])
        try await request("POST", s("/actions"), ["actions": [["type": "pointer", "id": "mouse", "parameters": ["pointerType": "mouse"], "actions": acts]]])
    }

    /// Polls a script until it returns true.
    func waitUntil(_ what: String, timeout: Double = 30, _ script: String) async throws {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if (try await execute(script)) as? Bool == true { return }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let errors = (try? await execute("return JSON.stringify(window.__es ? window.__es.errors : [])")) as? String ?? "?"
        throw Failure(description: "timed out after \(timeout) s waiting for \(what); page errors: \(errors)")
    }

    func screenshot() async throws -> Data {
        let r = try await request("GET", s("/screenshot"))
        guard let b64 = r["value"] as? String, let d = Data(base64Encoded: b64) else { throw Failure(description: "no screenshot") }
        return d
    }

    /// The browser's console log (chromedriver's log extension), or nil where it is not offered.
    func browserLog() async -> [[String: Any]]? {
        guard let r = try? await request("POST", s("/se/log"), ["type": "browser"]) else { return nil }
        return r["value"] as? [[String: Any]]
    }
}
