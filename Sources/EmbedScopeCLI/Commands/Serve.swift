import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import EmbedScopeServer
import Foundation

extension Root {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve", abstract: "The interactive explorer and its HTTP API: every index under the given folders, in a browser.",
            discussion: reflow("""
            Serves the indexes found under each DIR (an index directory, or a folder of them; default \
            Indexes/) at http://HOST:PORT/ — the page — and /api/… (JSON; docs/http-api.md, \
            /api/openapi.json). An index's name is its folder's name; indexes that appear or are \
            rebuilt are picked up without a restart. Binds to 127.0.0.1 unless --host says otherwise. \
            Read-only unless --writable: analyses computed on demand are then also recorded in the \
            index's metrics.json. One log line per request goes to stderr.
            """))

        @Argument(help: "Index directories or folders of indexes (default: Indexes).") var paths: [String] = []
        @Option(help: "Address to bind (127.0.0.1: this machine only; 0.0.0.0: every interface).") var host = "127.0.0.1"
        @Option(parsing: .unconditional, help: "TCP port (0: any free port).") var port = 8080
        @Flag(help: "Record analyses computed on demand in the indexes' metrics.json.") var writable = false
        @Flag(help: "Do not log each request.") var quiet = false

        func validate() throws {
            guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0…65535") }
            guard !host.isEmpty else { throw ValidationError("--host must not be empty") }
        }

        func run() async throws {
            BLASThreads.stopIdleWorkers()
            let roots = (paths.isEmpty ? ["Indexes"] : paths).map(resolveURL)
            for r in roots where !FileManager.default.fileExists(atPath: r.path) {
                note("error: no such folder: \(r.path) (build an index first, e.g. `embedscope demo`, or name a folder of indexes)")
                throw ExitCode(1)
            }
            var o = ServerOptions(roots: roots)
            o.host = host; o.port = port; o.writable = writable
            if quiet { o.log = nil }
            let host = self.host
            let app = buildApplication(o) { port in
                note("embedscope serve: http://\(host.contains(":") ? "[\(host)]" : host):\(port)/ (\(roots.map(\.path).joined(separator: ", ")))")
            }
            do {
                try await app.runService()
            } catch {
                // NIO's socket errors read "bind(descriptor:ptr:bytes:): Address already in use) (errno: 98)".
                let text = "\(error)"
                if let r = text.range(of: #"\(errno: (\d+)\)"#, options: .regularExpression),
                   let code = Int32(text[r].filter(\.isNumber)) {
                    note("error: cannot serve on \(host):\(port): \(String(cString: strerror(code)))"
                         + (code == EADDRINUSE ? " (another program listens there; choose another --port, or 0 for any free one)" : ""))
                } else if text.contains("UnknownHost") || text.contains("unknownHost") {
                    // NIO's "SocketAddressError.UnknownHost(host: …, port: …)": the name resolves to no address.
                    note("error: cannot serve on \(host):\(port): '\(host)' is no address of this machine (nor a name that resolves to one)\n"
                         + "  hint: --host 127.0.0.1 (this machine only, the default), 0.0.0.0 (every interface) or ::1")
                } else {
                    note("error: \(text)")
                }
                throw ExitCode(1)
            }
        }
    }
}
