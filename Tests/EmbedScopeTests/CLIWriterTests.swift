import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport
#if canImport(Glibc)
import Glibc
#endif

/// Writers as users run them (separate `embedscope` processes): serialized by the writer lock,
/// killed at random moments, pointed at folders they must not replace.
final class CLIWriterTests: XCTestCase {
    /// Starts the binary with stdout and stderr going to files (no pipes to drain); with `shell`,
    /// through /bin/sh after that command (a `ulimit`).
    private func spawn(_ args: [String], log: URL, shell: String? = nil) throws -> Process {
        guard FileManager.default.isExecutableFile(atPath: CLI.binary.path) else { throw CLI.MissingBinary() }
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let p = Process()
        if let shell {
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", shell + " || exit 99; exec \"$@\"", "sh", CLI.binary.path] + args
        } else {
            p.executableURL = CLI.binary
            p.arguments = args
        }
        let h = try FileHandle(forWritingTo: log)
        p.standardOutput = h
        p.standardError = h
        try p.run()
        return p
    }

    /// Fails on main: concurrent writers each copied the index and renamed their copy into place,
    /// so all but one writer's work was lost (or a writer failed to move the old index aside).
    func testConcurrentWritersAllSurvive() throws {
        let dir = try temporaryDirectory(self)
        let (index, _, _) = try makeImageIndex(in: dir)
        let rows = 18
        for s in ["s1", "s2"] {
            try NPYArray.write(shape: [rows, 5], values: randomMatrix(rows: rows, dim: 5, seed: s == "s1" ? 1 : 2), to: dir.appendingPathComponent("\(s).npy"))
        }
        let manifest = dir.appendingPathComponent("rows.csv").path
        let jobs: [[String]] = [
            ["probe", index.path, "--set", "p1", "--seed", "1", "--max-iter", "30"],
            ["probe", index.path, "--set", "p2", "--space", "pixel", "--max-iter", "30"],
            ["import", "--vectors", dir.appendingPathComponent("s1.npy").path, "--manifest", manifest, "--out", index.path, "--space", "s1", "--no-pixels"],
            ["import", "--vectors", dir.appendingPathComponent("s2.npy").path, "--manifest", manifest, "--out", index.path, "--space", "s2", "--no-pixels"],
            ["metrics", index.path],
            ["versus", index.path, "-k", "3", "--spaces", "embedding,pixel"],
            ["project", index.path, "--space", "embedding"],
        ]
        let procs = try jobs.enumerated().map { i, a in (a, dir.appendingPathComponent("log-\(i).txt"), try spawn(a, log: dir.appendingPathComponent("log-\(i).txt"))) }
        for (args, log, p) in procs {
            p.waitUntilExit()
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            XCTAssertEqual(p.terminationStatus, 0, "\(args.joined(separator: " ")): \(text)")
            XCTAssertFalse(text.contains("warning: results not recorded"), "\(args[0]): \(text)")
        }
        let idx = try Index.open(index)
        XCTAssertEqual(Set(idx.prototypeSets.map(\.name)), ["p1", "p2"])
        XCTAssertEqual(Set(idx.spaces.map(\.name)), ["embedding", "pixel", "s1", "s2"])
        let m = try XCTUnwrap(idx.readMetrics())
        XCTAssertNotNil(m.spaces["embedding"]?.cluster, "metrics")
        XCTAssertNotNil(m.spaces["embedding"]?.neighbours, "versus")
        XCTAssertNotNil(m.spaces["embedding"]?.pca, "project")
        XCTAssertNotNil(m.spaces["embedding"]?.probe, "probe p1")
        XCTAssertNotNil(m.spaces["pixel"]?.probe, "probe p2")
        XCTAssertNoThrow(try idx.verify())

        // A writer that cannot wait says who holds the lock.
        let held = try IndexWriterLock.acquire(index, create: false)
        let r = try CLI.run(["probe", index.path, "--set", "p3", "--lock-timeout", "0.2"])
        // The variable: a value that is not a number of seconds is refused (it meant no limit:
        // this writer waited forever); a good one, or --lock-timeout over a bad one, is used.
        for bad in ["abc", "nan", "-1"] {
            let e = try CLI.run(["probe", index.path, "--set", "p3"], environment: ["EMBEDSCOPE_LOCK_TIMEOUT": bad])
            XCTAssertEqual(e.status, 64, bad)
            XCTAssertTrue(e.stderr.contains("EMBEDSCOPE_LOCK_TIMEOUT"), e.stderr)
        }
        let byEnv = try CLI.run(["probe", index.path, "--set", "p3"], environment: ["EMBEDSCOPE_LOCK_TIMEOUT": "0.2"])
        XCTAssertEqual(byEnv.status, 1, byEnv.stderr)
        XCTAssertTrue(byEnv.stderr.contains("writer lock"), byEnv.stderr)
        let flagWins = try CLI.run(["probe", index.path, "--set", "p3", "--lock-timeout", "0"], environment: ["EMBEDSCOPE_LOCK_TIMEOUT": "abc"])
        XCTAssertEqual(flagWins.status, 1, flagWins.stderr)
        // Fails on main: a timeout too large for Int trapped (SIGILL) in the waiting notice.
        let log = dir.appendingPathComponent("huge-timeout.log")
        let huge = try spawn(["probe", index.path, "--set", "p3", "--lock-timeout", "1e300"], log: log)
        usleep(400_000)
        XCTAssertTrue(huge.isRunning, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
        kill(huge.processIdentifier, SIGKILL)
        huge.waitUntilExit()
        XCTAssertTrue(((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains("(at most 1e+300 s)"))
        held.release()
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("waiting for the writer lock held by PID \(getpid())"), r.stderr)
        XCTAssertTrue(r.stderr.contains("is being written by PID \(getpid())") && r.stderr.contains("waited 0.2 s"), r.stderr)
        for (value, want) in [("2.5", 2.5), ("0", 0), ("nan", nil), ("inf", nil), ("-5", nil), ("soon", nil), (nil, nil)] as [(String?, Double?)] {
            XCTAssertEqual(IndexWriterLock.Policy.timeout(fromEnvironment: value), want, value ?? "unset")
        }
    }

    /// Fails on main: a killed writer could leave no index at the path (between its two renames)
    /// and readers saw a mix of generations or missing files. Here `build`, `import` and `probe`
    /// are each killed (SIGKILL) at ≥ 30 seeded random moments while a reader queries in a
    /// loop: the path always holds an index that verifies, every answer equals the reference
    /// build's, and leftovers of killed writers are removed by the next writer.
    func testKilledWritersNeverLeaveABrokenIndex() throws {
        let dir = try temporaryDirectory(self)
        let (_, images, _) = try makeImageIndex(in: dir, perClass: 3)
        let ref = dir.appendingPathComponent("ref"), live = dir.appendingPathComponent("live")
        for out in [ref, live] {
            let b = try CLI.run(["build", images.path, "--out", out.path, "--pixel-size", "8"])
            XCTAssertEqual(b.status, 0, b.stderr)
        }
        // A manifest with the build's rows, and vectors for an imported space.
        let refIndex = try Index.open(ref)
        let catalogRows = try refIndex.catalog.allImages()
        let names = try refIndex.classNames()
        func csv(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        let manifest = dir.appendingPathComponent("rows.csv")
        try ("path,class\n" + catalogRows.map { csv($0.path) + "," + csv(names[$0.classId]!) + "\n" }.joined()).write(to: manifest, atomically: true, encoding: .utf8)
        let n = catalogRows.count
        let xs = dir.appendingPathComponent("extra.npy")
        try NPYArray.write(shape: [n, 6], values: randomMatrix(rows: n, dim: 6, seed: 9), to: xs)
        let importArgs = ["import", "--vectors", xs.path, "--manifest", manifest.path, "--out", live.path, "--space", "extra", "--root", images.path]
        let refImport = try CLI.run(importArgs.map { $0 == live.path ? ref.path : $0 })
        XCTAssertEqual(refImport.status, 0, refImport.stderr)
        let refAll = try Index.open(ref)
        var o = SearchOptions(); o.k = 4
        var reference: [String: [[ResultRow]]] = [:]
        for s in ["pixel", "extra"] {
            o.space = s
            reference[s] = try (0..<n).map { try refAll.search(.row($0), options: o) }
        }

        let writers: [(name: String, args: [String])] = [
            ("build", ["build", images.path, "--out", live.path, "--pixel-size", "8", "--force"]),
            ("import", importArgs),
            ("probe", ["probe", live.path, "--space", "pixel", "--set", "p", "--max-iter", "20"]),
        ]
        // How long each runs uninterrupted (kill moments are drawn within that).
        var duration: [String: Double] = [:]
        for w in writers {
            let t0 = Date()
            let r = try CLI.run(w.args)
            XCTAssertEqual(r.status, 0, "\(w.name): \(r.stderr)")
            duration[w.name] = max(0.05, Date().timeIntervalSince(t0))
        }

        let want = reference
        // The reader: open, query both spaces, compare with the reference, in a loop.
        let stop = Atomic(false)
        let problems = Atomic<[String]>([])
        let queries = Atomic(0)
        let reader = Thread {
            var g = SeededGenerator(seed: 77)
            while !stop.get() {
                let row = Int(g.next() % UInt64(n))
                do {
                    let idx = try Index.open(live)
                    for s in ["pixel", "extra"] where idx.spaces.contains(where: { $0.name == s }) {
                        var o = SearchOptions(); o.k = 4; o.space = s
                        let got = try idx.search(.row(row), options: o), want = want[s]![row]
                        if !(got.count == want.count && zip(got, want).allSatisfy({ $0.row == $1.row && $0.path == $1.path && abs($0.score - $1.score) <= 1e-5 })) {
                            problems.update { $0.append("\(s) row \(row): got \(got.map(\.row)), want \(want.map(\.row))") }
                        }
                    }
                } catch {
                    problems.update { $0.append("row \(row): \(error)") }
                }
                queries.update { $0 += 1 }
            }
        }
        reader.start()
        defer { stop.set(true) }

        var g = SeededGenerator(seed: 2026)
        var kills: [String: Int] = [:], midWrite: [String: Int] = [:], attempts = 0
        let fm = FileManager.default
        func leftovers() -> [String] {
            ((try? fm.contentsOfDirectory(atPath: live.path)) ?? []).filter { $0.hasPrefix(".tmp-") || $0.hasPrefix(".trash-") || $0.hasPrefix(".current.tmp-") }
        }
        while writers.contains(where: { kills[$0.name, default: 0] < 30 }) && attempts < 400 {
            let w = writers[attempts % writers.count]
            attempts += 1
            if kills[w.name, default: 0] >= 30 { continue }
            // Most of a run is start-up and reading; draw kill moments from its later half, where it writes.
            let delay = (0.5 + 0.5 * Double(g.next() % 1000) / 1000) * duration[w.name]!
            let before = Set(leftovers())
            let started = Date()
            let p = try spawn(w.args, log: dir.appendingPathComponent("kill.log"))
            while p.isRunning && Date().timeIntervalSince(started) < delay { usleep(1_000) }
            if p.isRunning {
                kill(p.processIdentifier, SIGKILL)
            } else {
                // It finished before the kill moment: runs are faster now than the timing run (a
                // quieter host, warm caches), so draw later kill moments within the fastest run seen.
                duration[w.name] = max(0.02, min(duration[w.name]!, Date().timeIntervalSince(started)))
            }
            p.waitUntilExit()
            if p.terminationReason == .uncaughtSignal {
                kills[w.name, default: 0] += 1
                if !Set(leftovers()).subtracting(before).isEmpty { midWrite[w.name, default: 0] += 1 }
            } else {
                XCTAssertEqual(p.terminationStatus, 0, "\(w.name) finished with an error: \((try? String(contentsOf: dir.appendingPathComponent("kill.log"), encoding: .utf8)) ?? "")")
                XCTAssertEqual(leftovers(), [], "a writer that finished removes what killed writers left")
            }
            // The path always holds an index that verifies.
            do { try Index.open(live).verify() } catch { XCTFail("after \(w.name) killed at \(delay) s: \(error)"); break }
        }
        stop.set(true)
        while reader.isExecuting { usleep(10_000) }
        for w in writers { XCTAssertGreaterThanOrEqual(kills[w.name, default: 0], 30, "\(w.name) killed mid-run") }
        XCTAssertEqual(problems.get(), [], "\(problems.get().count) of \(queries.get()) reader queries wrong")
        XCTAssertGreaterThan(queries.get(), 100)
        // One more writer cleans up everything killed writers left.
        XCTAssertEqual(try CLI.run(writers[2].args).status, 0)
        XCTAssertEqual(leftovers(), [])
        XCTAssertNoThrow(try Index.open(live).verify())
        print("fault test: kills \(kills) (with a generation half-written: \(midWrite)), \(attempts) runs, \(queries.get()) reader queries")
    }

    /// Fails on main: a writer stopped by SIGTERM (or Ctrl-C) left its `.tmp-gen-…` folder, which
    /// can hold gigabytes, until the next writer; a new index's folder stayed behind too.
    func testTerminatedWriterRemovesItsUnfinishedGeneration() throws {
        let dir = try temporaryDirectory(self)
        let fm = FileManager.default
        let images = dir.appendingPathComponent("images")
        var g = SeededGenerator(seed: 5)
        for c in ["a", "b", "c"] {
            try fm.createDirectory(at: images.appendingPathComponent(c), withIntermediateDirectories: true)
            for i in 0..<400 {
                let px = (0..<(24 * 24 * 3)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
                try PNGWriter.write(width: 24, height: 24, channels: 3, pixels: px, to: images.appendingPathComponent("\(c)/\(i).png"))
            }
        }
        func entries(_ u: URL) -> [String] { ((try? fm.contentsOfDirectory(atPath: u.path)) ?? []).sorted() }
        /// Starts `args`, sends `sig` once a temporary generation is in `out`; false if it finished first.
        func terminateMidWrite(_ args: [String], out: URL, signal sig: Int32 = SIGTERM) throws -> Bool {
            let p = try spawn(args, log: dir.appendingPathComponent("term.log"))
            while p.isRunning && !entries(out).contains(where: { $0.hasPrefix(".tmp-gen-") }) { usleep(500) }
            guard p.isRunning else { p.waitUntilExit(); return false }
            usleep(20_000)
            kill(p.processIdentifier, sig)
            p.waitUntilExit()
            let log = (try? String(contentsOf: dir.appendingPathComponent("term.log"), encoding: .utf8)) ?? ""
            if p.terminationReason == .exit && p.terminationStatus == 0 { return false } // finished within the 20 ms
            XCTAssertEqual(p.terminationReason, .uncaughtSignal, log)
            XCTAssertEqual(p.terminationStatus, sig, log)
            XCTAssertTrue(log.contains("interrupted: removed the unfinished"), log)
            XCTAssertFalse(log.contains("error:"), log)
            return true
        }
        // A new index: nothing of it is left.
        let fresh = dir.appendingPathComponent("fresh")
        var caught = false
        for _ in 0..<5 where !caught {
            caught = try terminateMidWrite(["build", images.path, "--out", fresh.path, "--pixel-size", "8"], out: fresh)
            if !caught { try? fm.removeItem(at: fresh) }
        }
        XCTAssertTrue(caught, "the build always finished before it could be stopped mid-write")
        XCTAssertFalse(fm.fileExists(atPath: fresh.path), "\(entries(fresh))")
        // The same for a soft CPU-time limit reached (`ulimit -S -t`: SIGXCPU, whose default action
        // ended the build and left the folder with its marker and temporary generation).
        let limited = dir.appendingPathComponent("cpu-limited")
        caught = false
        for _ in 0..<5 where !caught {
            caught = try terminateMidWrite(["build", images.path, "--out", limited.path, "--pixel-size", "8"], out: limited, signal: SIGXCPU)
            if !caught { try? fm.removeItem(at: limited) }
        }
        XCTAssertTrue(caught, "the build always finished before it could be stopped mid-write")
        XCTAssertFalse(fm.fileExists(atPath: limited.path), "\(entries(limited))")
        // Replacing an index: the old generation stays current, nothing else is left.
        let live = dir.appendingPathComponent("live")
        let b = try CLI.run(["build", images.path, "--out", live.path, "--pixel-size", "8"])
        XCTAssertEqual(b.status, 0, b.stderr)
        let before = entries(live)
        caught = false
        for _ in 0..<5 where !caught {
            caught = try terminateMidWrite(["build", images.path, "--out", live.path, "--pixel-size", "6", "--force"], out: live)
        }
        XCTAssertTrue(caught)
        XCTAssertEqual(entries(live), before)
        let idx = try Index.open(live)
        XCTAssertNoThrow(try idx.verify())
        XCTAssertEqual(idx.spaces.first { $0.name == "pixel" }?.dim, caught ? 8 * 8 * 3 : nil)
    }

    /// Fails on main (red-team): SIGTERM right after `add` had committed its generation ended it
    /// with 143 and nothing on stderr, though the rows were added — a script retrying after the
    /// 143 added them twice. The process still ends by the signal, and says the change was made.
    func testSignalAfterTheCommitSaysTheChangeWasMade() throws {
        guard FileManager.default.isExecutableFile(atPath: CLI.binary.path) else { throw CLI.MissingBinary() }
        let dir = try temporaryDirectory(self)
        let idx = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 8, dim: 4, seed: 1), rows: 8, dim: 4, classes: (0..<8).map { ["a", "b"][$0 % 2] })
        let x = dir.appendingPathComponent("more.npy"), m = dir.appendingPathComponent("more.csv")
        try NPYArray.write(shape: [3, 4], values: randomMatrix(rows: 3, dim: 4, seed: 2), to: x)
        try "path,class\nnew/0.png,a\nnew/1.png,b\nnew/2.png,a\n".write(to: m, atomically: true, encoding: .utf8)
        // stdout is a pipe filled beforehand: the command commits, then blocks printing its summary,
        // where the signal reaches it.
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]) }
        let flags = fcntl(fds[1], F_GETFL)
        _ = fcntl(fds[1], F_SETFL, flags | O_NONBLOCK)
        let chunk = [UInt8](repeating: 0x2E, count: 4096)
        while chunk.withUnsafeBytes({ write(fds[1], $0.baseAddress, $0.count) }) > 0 {}
        _ = fcntl(fds[1], F_SETFL, flags)
        let log = dir.appendingPathComponent("err.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let p = Process()
        p.executableURL = CLI.binary
        p.arguments = ["add", idx.path, "--vectors", x.path, "--manifest", m.path]
        p.standardOutput = FileHandle(fileDescriptor: fds[1], closeOnDealloc: true)
        p.standardError = try FileHandle(forWritingTo: log)
        try p.run()
        close(fds[1])
        let deadline = Date().addingTimeInterval(120)
        while p.isRunning, Date() < deadline,
              (try? FileManager.default.destinationOfSymbolicLink(atPath: idx.appendingPathComponent("current").path)) != "gen-2" { usleep(2_000) }
        usleep(200_000)
        XCTAssertTrue(p.isRunning, "the command ended without printing its summary")
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        let err = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        XCTAssertEqual(p.terminationReason, .uncaughtSignal, err)
        XCTAssertEqual(p.terminationStatus, SIGTERM, err)
        XCTAssertTrue(err.contains("interrupted: the change was made before the signal and stays:"), err)
        XCTAssertTrue(err.contains("now reads its new generation gen-2"), err)
        XCTAssertEqual(try Index.open(idx).rowCount, 11)
    }

    /// Fails on main: a `serve --writable` that had recorded metrics could no longer be stopped by
    /// SIGTERM or Ctrl-C — the writer's interrupt handling set SIG_IGN over the server's own
    /// handlers (only SIGKILL ended it).
    func testWritableServerStopsOnSIGTERMAfterRecordingMetrics() throws {
        let dir = try temporaryDirectory(self)
        let indexes = try servedFolder(in: dir, rows: 30, dim: 6, seed: 9)
        let log = dir.appendingPathComponent("serve.log")
        let p = try spawn(["serve", indexes.path, "--port", "0", "--writable", "--quiet"], log: log)
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        let p0 = try servedPort(p, log: log)
        let response = try httpGet(port: p0, path: "/api/indexes/a/metrics")
        XCTAssertTrue(response.hasPrefix("HTTP/1.1 200"), response)
        XCTAssertNotNil(try Index.open(indexes.appendingPathComponent("a")).readMetrics(), "the metrics were recorded")
        kill(p.processIdentifier, SIGTERM)
        for _ in 0..<200 where p.isRunning { usleep(50_000) }
        XCTAssertFalse(p.isRunning, "serve --writable ignored SIGTERM after recording metrics")
    }

    /// Under a small descriptor limit (`ulimit -n 48`) and more connections than it allows at
    /// once, every request is answered and the server stays up. Fails on main (two runs in three):
    /// the connections took every descriptor, so requests were answered 500 or 404 (the index's
    /// files could not be opened); under `wrk -c 100` and `ulimit -n 40` libdispatch's thread
    /// monitor (which opens /proc files) ended the server with SIGILL within a second.
    func testServerUnderADescriptorLimitAnswersEveryConnection() throws {
        let dir = try temporaryDirectory(self)
        let n = 40
        let indexes = try servedFolder(in: dir, rows: n, dim: 8, seed: 5)
        let log = dir.appendingPathComponent("serve.log")
        let p = try spawn(["serve", indexes.path, "--port", "0", "--quiet"], log: log, shell: "ulimit -n 48")
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        let p0 = try servedPort(p, log: log)
        // Rounds of 150 connections at once, each with its request sent, then each answer read in
        // turn: those past the server's cap wait in the listen queue until earlier ones close.
        let count = 150
        for round in 0..<4 {
            var sockets: [Int32] = []
            defer { sockets.filter { $0 >= 0 }.forEach { close($0) } }
            for i in 0..<count {
                let fd = try connectLocal(port: p0)
                var timeout = timeval(tv_sec: 30, tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                let request = Array("GET /api/indexes/a/query?row=\(i % n)&k=3 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
                _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                sockets.append(fd)
            }
            var answered = 0
            for (i, fd) in sockets.enumerated() {
                let text = readToEnd(fd)
                // Closed as a client does when done: the server keeps a connection (and its slot)
                // until the client closes it or the idle timeout does.
                close(fd)
                sockets[i] = -1
                if text.hasPrefix("HTTP/1.1 200"), text.contains("\"results\"") { answered += 1 } else { XCTFail("round \(round), connection \(i): \(text.prefix(200))") }
            }
            XCTAssertEqual(answered, count, "round \(round)")
        }
        XCTAssertTrue(p.isRunning, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
        kill(p.processIdentifier, SIGTERM)
        for _ in 0..<200 where p.isRunning { usleep(50_000) }
        XCTAssertFalse(p.isRunning)
    }

    /// A folder of indexes for `serve` holding one, "a": `rows` × `dim`, three classes.
    private func servedFolder(in dir: URL, rows n: Int, dim d: Int, seed: UInt64) throws -> URL {
        let indexes = dir.appendingPathComponent("indexes")
        try FileManager.default.createDirectory(at: indexes, withIntermediateDirectories: true)
        _ = try makeImportedIndex(in: indexes, vectors: randomMatrix(rows: n, dim: d, seed: seed), rows: n, dim: d,
                                  classes: (0..<n).map { "c\($0 % 3)" }, name: "a")
        return indexes
    }

    /// The port a `serve --port 0` chose, from its first line ("embedscope serve: http://127.0.0.1:PORT/ (…)").
    private func servedPort(_ p: Process, log: URL) throws -> UInt16 {
        var port: UInt16?
        for _ in 0..<600 where port == nil && p.isRunning {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let r = text.range(of: "http://127.0.0.1:"), let end = text[r.upperBound...].firstIndex(of: "/") {
                port = UInt16(text[r.upperBound..<end])
            } else { usleep(50_000) }
        }
        return try XCTUnwrap(port, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    /// A TCP socket connected to 127.0.0.1:`port`.
    private func connectLocal(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { close(fd); throw POSIXError(.ECONNREFUSED) }
        return fd
    }

    /// One HTTP/1.1 GET to 127.0.0.1:`port`; the whole response (the server closes the connection).
    private func httpGet(port: UInt16, path: String) throws -> String {
        let fd = try connectLocal(port: port)
        defer { close(fd) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        return readToEnd(fd)
    }

    /// Everything `fd` receives until the peer closes (or its receive timeout passes).
    private func readToEnd(_ fd: Int32) -> String {
        var out = [UInt8](), buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let got = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if got <= 0 { break }
            out += buf[0..<got]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Fails on main: `--force` deleted the data set, the working folder, or any folder.
    func testForceRefusesWhatIsNotAnIndex() throws {
        let dir = try temporaryDirectory(self)
        let (index, images, _) = try makeImageIndex(in: dir, perClass: 2)
        for out in [images.path, dir.path, images.appendingPathComponent("..").path] {
            let r = try CLI.run(["build", images.path, "--out", out, "--force"])
            XCTAssertEqual(r.status, 1, out)
            XCTAssertTrue(r.stderr.contains("refusing"), r.stderr)
        }
        let r = try CLI.run(["build", "images", "--out", ".", "--force"], cwd: dir)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: images.appendingPathComponent("circle/0.png").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("rows.csv").path))
        // dataset --force replaces only a folder it wrote.
        let d = try CLI.run(["dataset", "fashion-mnist", "--out", index.path, "--limit", "10", "--force"])
        XCTAssertEqual(d.status, 1, d.stderr)
        XCTAssertTrue(d.stderr.contains("not a data set folder"), d.stderr)
        XCTAssertNoThrow(try Index.open(index).verify())
        // checkpoint --export: two tensors that map to one file are refused.
        let ckpt = dir.appendingPathComponent("two.pth")
        try legacyFile(tensors: [("a/b", offset: 0, size: [2], stride: [1]), ("a_b", offset: 2, size: [2], stride: [1])],
                       numel: 4, data: [1, 2, 3, 4]).write(to: ckpt)
        let export = dir.appendingPathComponent("export")
        let c = try CLI.run(["checkpoint", ckpt.path, "--export", export.path])
        XCTAssertEqual(c.status, 1, c.stdout)
        XCTAssertTrue(c.stderr.contains("'a/b' and 'a_b' would both be exported as a_b.npy"), c.stderr)
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: export.path)) ?? [], [])
    }
}
