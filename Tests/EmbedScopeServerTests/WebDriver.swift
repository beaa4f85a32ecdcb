import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
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
        for _ in 0..<100 {
            if let s = try? await request("GET", "/status"), (s["value"] as? [String: Any])?["ready"] as? Bool == true { ready = true; break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        guard ready else { driver.terminate(); throw Failure(description: "chromedriver did not start on port \(port)") }
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
            driver.terminate()
            throw Failure(description: "no WebDriver session: \(r)")
        }
        session = id
    }

    func quit() async {
        if !session.isEmpty { _ = try? await request("DELETE", "/session/\(session)") }
        if driver.isRunning { driver.terminate() }
        driver.waitUntilExit()
    }

    @discardableResult
    func request(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> [String: Any] {
        var req = URLRequest(url: base.appendingPathComponent(path))
        req.httpMethod = method
        req.timeoutInterval = 60
        if let body {
            req.httpBody = try JSONSerialization.data(withJSONObject: body)
            req.setValue("application/json", forHTTPHeaderField: "Content-Type")
        } else if method == "POST" {
            req.httpBody = Data("{}".utf8)
            req.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let data = try await Self.send(req)
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw Failure(description: "\(method) \(path): not a JSON object")
        }
        if let v = obj["value"] as? [String: Any], let err = v["error"] as? String {
            throw Failure(description: "\(method) \(path): \(err): \((v["message"] as? String ?? "").prefix(600))")
        }
        return obj
    }

    static func send(_ req: URLRequest) async throws -> Data {
        try await withCheckedThrowingContinuation { c in
            URLSession.shared.dataTask(with: req) { d, _, e in
                if let e { c.resume(throwing: e) } else { c.resume(returning: d ?? Data()) }
            }.resume()
        }
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
