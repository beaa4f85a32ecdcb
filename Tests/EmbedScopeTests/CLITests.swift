import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport
import EmbedScopeCommandLine

/// The `embedscope` binary, run as a user runs it: results on stdout, errors on stderr with a
/// non-zero exit status.
/// Runs the `embedscope` binary built beside the test bundle (`.build/<triple>/<config>/`).
enum CLI {
    struct Run { var status: Int32; var stdout: String; var stderr: String }

    /// `EMBEDSCOPE_CLI` picks another binary (Scripts/test.sh runs the CLI tests again against
    /// the release build, the configuration users run).
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["EMBEDSCOPE_CLI"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        let bundle = Bundle(for: CLITests.self).bundleURL
        let candidates = [bundle.appendingPathComponent("embedscope"), bundle.deletingLastPathComponent().appendingPathComponent("embedscope")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    struct MissingBinary: Error, CustomStringConvertible {
        var description: String { "embedscope binary not found at \(CLI.binary.path); run `swift build --build-tests` first" }
    }

    static func run(_ args: [String], cwd: URL? = nil, environment: [String: String] = [:]) throws -> Run {
        guard FileManager.default.isExecutableFile(atPath: binary.path) else { throw MissingBinary() }
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        if let cwd { p.currentDirectoryURL = cwd }
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }
}

final class CLITests: XCTestCase {
    typealias Run = CLI.Run
    var binary: URL { CLI.binary }
    func run(_ args: [String]) throws -> Run { try CLI.run(args) }

    /// Built for x86-64-v3 (the default on x86-64), the binary refuses a CPU without AVX2 / FMA /
    /// F16C before any of its code runs: a clear error and exit status 2, never SIGILL. The CPU is
    /// simulated by EMBEDSCOPE_TEST_CPU_WITHOUT_V3=1 (the check in CKernels/sgemm.c).
    /// A baseline build (`EMBEDSCOPE_PORTABLE`, or one made on a CPU without them: Package.swift)
    /// runs there: the simulated CPU changes nothing.
    func testACPUWithoutTheBuildsInstructionsIsAClearError() throws {
        #if arch(x86_64)
        let info = try CLI.run(["info", "--system", "--json"])
        XCTAssertEqual(info.status, 0, info.stderr)
        struct Target: Decodable { var buildTarget: String }
        let target = try JSONDecoder().decode(Target.self, from: Data(info.stdout.utf8)).buildTarget
        XCTAssertTrue(["x86-64-v3", "x86-64"].contains(target), target)
        if target == "x86-64" {
            let r = try CLI.run(["--version"], environment: ["EMBEDSCOPE_TEST_CPU_WITHOUT_V3": "1"])
            XCTAssertEqual(r.status, 0, r.stderr)
            return
        }
        let r = try CLI.run(["--version"], environment: ["EMBEDSCOPE_TEST_CPU_WITHOUT_V3": "1"])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("x86-64-v3") && r.stderr.contains("EMBEDSCOPE_PORTABLE=1"), r.stderr)
        XCTAssertEqual(r.stdout, "")
        let normal = try CLI.run(["--version"], environment: ["EMBEDSCOPE_TEST_CPU_WITHOUT_V3": "0"])
        XCTAssertEqual(normal.status, 0, normal.stderr)
        #endif
    }

    /// A bidirectional control in a class or file name is shown escaped in every table the CLI
    /// prints (`info` and `query` printed U+202E raw, reordering the terminal line; held-out
    /// sweep); JSON and the CSVs keep the names exactly.
    /// From a current folder that was removed, a relative path is an error that says so; an
    /// absolute one still answers. Before, `query ../idx` blamed the index ("cannot read catalog
    /// … the index is damaged; rebuild it").
    func testARemovedCurrentFolderIsNamedNotBlamedOnTheIndex() throws {
        let dir = try temporaryDirectory(self)
        let n = 30, d = 8
        let idx = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 2), rows: n, dim: d,
                                        classes: (0..<n).map { $0 % 2 == 0 ? "a" : "b" })
        let gone = dir.appendingPathComponent("gone")
        func inRemovedFolder(_ args: [String]) throws -> CLI.Run {
            try FileManager.default.createDirectory(at: gone, withIntermediateDirectories: true)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", "cd \"$1\" && rmdir \"$1\" && shift && exec \"$@\"", "sh", gone.path, binary.path] + args
            let out = Pipe(), err = Pipe()
            p.standardOutput = out; p.standardError = err
            try p.run()
            let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return CLI.Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
        }
        let relative = try inRemovedFolder(["query", "../" + idx.lastPathComponent, "--row", "0", "-k", "2"])
        XCTAssertEqual(relative.status, 1, relative.stderr)
        XCTAssertTrue(relative.stderr.contains("the current folder is gone"), relative.stderr)
        XCTAssertFalse(relative.stderr.contains("damaged"), relative.stderr)
        XCTAssertEqual(relative.stdout, "")
        let out = dir.appendingPathComponent("never")
        let writer = try inRemovedFolder(["export", idx.path, "--out", "../never"])
        XCTAssertEqual(writer.status, 1, writer.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        let absolute = try inRemovedFolder(["query", idx.path, "--row", "0", "-k", "2"])
        XCTAssertEqual(absolute.status, 0, absolute.stderr)
        XCTAssertEqual(absolute.stdout, try run(["query", idx.path, "--row", "0", "-k", "2"]).stdout)
    }

    func testBidiControlsInNamesAreEscapedInTablesNotInJSONOrCSV() throws {
        let dir = try temporaryDirectory(self)
        let n = 12, d = 4, cat = "cat\u{202E}A"
        let idx = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 2), rows: n, dim: d,
                                        classes: (0..<n).map { $0 % 2 == 0 ? "dog" : cat })
        for args in [["info", idx.path], ["query", idx.path, "--row", "0", "-k", "4"], ["metrics", idx.path]] {
            let r = try run(args)
            XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)")
            XCTAssertFalse(r.stdout.unicodeScalars.contains { $0.value == 0x202E }, "\(args): \(r.stdout)")
            XCTAssertTrue(r.stdout.contains("cat\\u{202E}A"), "\(args): \(r.stdout)")
        }
        let json = try run(["query", idx.path, "--row", "0", "-k", "4", "--json"])
        XCTAssertTrue(json.stdout.contains(cat), json.stdout)
        let csv = try run(["project", idx.path, "--components", "1", "--csv", "-"])
        XCTAssertTrue(csv.stdout.contains(cat), csv.stdout)
    }

    func testQueryJSONRankAndErrors() throws {
        let dir = try temporaryDirectory(self)
        let n = 60, d = 12
        let names = (0..<n).map { ["ant", "bee", "cat"][$0 % 3] }
        let idx = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 5), rows: n, dim: d, classes: names,
                                        head: (randomMatrix(rows: 3, dim: d, seed: 6), [0, 1, 2], ["ant", "bee", "cat"]))

        let q = try run(["query", idx.path, "--row", "4", "-k", "3", "--json"])
        XCTAssertEqual(q.status, 0, q.stderr)
        struct R: Decodable { var results: [ResultRow] }
        let parsed = try JSONDecoder().decode(R.self, from: Data(q.stdout.utf8))
        XCTAssertEqual(parsed.results.map(\.rank), [1, 2, 3])
        XCTAssertFalse(parsed.results.contains { $0.row == 4 })
        let api = try Index.open(idx).search(.row(4), options: { var o = SearchOptions(); o.k = 3; return o }())
        XCTAssertEqual(parsed.results, api)
        // Exact JSON keys promised in the README.
        let obj = try JSONSerialization.jsonObject(with: Data(q.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(Set(obj?.keys.map { $0 } ?? []), ["results", "schemaVersion"])
        XCTAssertEqual(Set((obj?["results"] as? [[String: Any]])?.first?.keys.map { $0 } ?? []), ["rank", "row", "path", "class", "score"])

        let table = try run(["query", idx.path, "--row", "4", "-k", "1000", "--include-self"])
        XCTAssertEqual(table.status, 0)
        XCTAssertEqual(table.stdout.split(separator: "\n").count, n + 1) // header + every row

        let r = try run(["rank", idx.path, "--prototype", "bee", "-k", "5", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)

        let bad = try run(["query", idx.path, "--row", "999"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stdout.isEmpty)
        XCTAssertTrue(bad.stderr.contains("out of range"), bad.stderr)

        // A negative number is read as the option's value and checked (it read as a missing value:
        // "Missing value for '-k <k>'", as if -1 were an option of its own).
        let negativeK = try run(["query", idx.path, "--row", "4", "-k", "-1"])
        XCTAssertEqual(negativeK.status, 64, negativeK.stderr)
        XCTAssertTrue(negativeK.stderr.contains("-k must be at least 1"), negativeK.stderr)
        let negativeRow = try run(["query", idx.path, "--row", "-3"])
        XCTAssertEqual(negativeRow.status, 1, negativeRow.stderr)
        XCTAssertTrue(negativeRow.stderr.contains("row -3 is out of range"), negativeRow.stderr)
        let negativeTimeout = try run(["metrics", idx.path, "--lock-timeout", "-1"])
        XCTAssertEqual(negativeTimeout.status, 64, negativeTimeout.stderr)
        XCTAssertTrue(negativeTimeout.stderr.contains("--lock-timeout must be a finite number of seconds, 0 or more"), negativeTimeout.stderr)

        let usage = try run(["query", idx.path])
        XCTAssertNotEqual(usage.status, 0)
        XCTAssertTrue(usage.stderr.contains("exactly one of"), usage.stderr)

        let missing = try run(["info", dir.appendingPathComponent("nope").path])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("no such index"), missing.stderr)

        let info = try run(["info", idx.path, "--json"])
        XCTAssertEqual(info.status, 0, info.stderr)
        let decoded = try JSONDecoder().decode(IndexInfo.self, from: Data(info.stdout.utf8))
        XCTAssertEqual(decoded.rows, n)
        XCTAssertEqual(decoded.classes.map(\.count), [20, 20, 20])
        XCTAssertEqual(decoded.prototypeSets.first?.count, 3)

        let verify = try run(["verify", idx.path])
        XCTAssertEqual(verify.status, 0, verify.stderr)
    }

    /// Fails on main: `demo --row` past the index was found only after the data set and the index
    /// were written. Now a usage error before anything is.
    func testDemoRowIsCheckedBeforeAnythingIsWritten() throws {
        let dir = try temporaryDirectory(self)
        let work = dir.appendingPathComponent("work")
        for row in ["50", "20"] {
            let r = try run(["demo", "--limit", "20", "--row", row, "--model", "none", "--workdir", work.path])
            XCTAssertEqual(r.status, 64, r.stderr)
            XCTAssertTrue(r.stderr.contains("--row must be a row of the demo's index: 0…19"), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: work.path))
        }
        // --limit 10 (one image a class) failed at the demo's fifth step, after writing four: the
        // silhouette is undefined there. Refused up front now.
        let ten = try run(["demo", "--limit", "10", "--model", "none", "--workdir", work.path])
        XCTAssertEqual(ten.status, 64, ten.stderr)
        XCTAssertTrue(ten.stderr.contains("--limit must be between 20 and 10000"), ten.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: work.path))
    }

    /// Fails on main: a port in use printed NIO's "bind(descriptor:ptr:bytes:): Address already in use) (errno: 98)".
    func testServeOnAPortInUseSaysSo() throws {
        let dir = try temporaryDirectory(self)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && listen(fd, 1) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        XCTAssertTrue(bound)
        let port = Int(UInt16(bigEndian: addr.sin_port))
        let r = try run(["serve", dir.path, "--port", "\(port)", "--quiet"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("error: cannot serve on 127.0.0.1:\(port): Address already in use (another program listens there"), r.stderr)
    }

    /// The binary run inside `script` by `shell -c` ("$0" "$@" is the command): exit status, how the
    /// shell ended, stderr.
    func runInShell(_ script: String, _ args: [String], shell: String = "/bin/sh") throws
        -> (status: Int32, reason: Process.TerminationReason, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: shell)
        p.arguments = ["-c", script, CLI.binary.path] + args
        let err = Pipe()
        p.standardError = err
        try p.run()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, p.terminationReason, String(decoding: e, as: UTF8.self))
    }

    /// Fails on main: results written to a closed or full stdout ended the process with a
    /// `try!` trap (SIGILL) in Foundation's FileHandle (JSON), or were lost with exit 0 (tables);
    /// with stdout closed, the next file opened took fd 1. Now: exit 1 and a message on stderr.
    func testUnwritableStdoutIsAnError() throws {
        let dir = try temporaryDirectory(self)
        let n = 12, d = 4
        let idx = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 3), rows: n, dim: d,
                                        classes: (0..<n).map { $0 % 2 == 0 ? "even" : "odd" })
        func shell(_ redirect: String, _ args: [String]) throws -> (status: Int32, reason: Process.TerminationReason, stderr: String) {
            try runInShell("exec \"$0\" \"$@\" \(redirect)", args)
        }
        for redirect in [">&-", ">/dev/full"] {
            // (Help and --version too: they exited 0 having shown nothing.)
            for args in [["query", idx.path, "--row", "1", "--json"], ["query", idx.path, "--row", "1"], ["info", idx.path, "--json"],
                         ["--version"], ["query", "--help"]] {
                let r = try shell(redirect, args)
                XCTAssertEqual(r.reason, .exit, "\(redirect) \(args): \(r.stderr)")
                XCTAssertEqual(r.status, 1, "\(redirect) \(args): \(r.stderr)")
                XCTAssertTrue(r.stderr.contains("cannot write the results"), "\(redirect) \(args): \(r.stderr)")
            }
        }
        // A writer whose change was made and whose summary could not be printed says both (a
        // script retrying `add` would find the rows "already in the index").
        let x2 = dir.appendingPathComponent("X-more.npy"), m2 = dir.appendingPathComponent("rows-more.csv")
        try NPYArray.write(shape: [1, 4], values: randomMatrix(rows: 1, dim: 4, seed: 77), to: x2)
        try "path,class\nmore/new.png,even\n".write(to: m2, atomically: true, encoding: .utf8)
        let rowsBefore = try Index.open(idx).rowCount
        let added = try shell(">/dev/full", ["add", idx.path, "--vectors", x2.path, "--manifest", m2.path])
        XCTAssertEqual(added.status, 1, added.stderr)
        XCTAssertTrue(added.stderr.contains("cannot write the results") && added.stderr.contains("the change was made before this error"), added.stderr)
        XCTAssertEqual(try Index.open(idx).rowCount, rowsBefore + 1)
        // An error with stderr closed: exit 1, no trap.
        let quiet = try shell("2>&-", ["query", idx.path, "--row", "99"])
        XCTAssertEqual(quiet.reason, .exit); XCTAssertEqual(quiet.status, 1)
        XCTAssertNoThrow(try Index.open(idx).verify())
    }

    /// Usage errors are usage errors (exit 64, stderr, nothing on stdout): `help NAME` for no
    /// command printed the root help with exit 0; `dataset mnist --out x` said "Unknown option
    /// '--out'"; option values the library refused (`--pixel-size 0`, `--crop 0`, `--std 0,0,0`,
    /// `--shrinkage 2`) exited 1 while the others exit 64; `--mean nan,nan,nan` said "needs 3
    /// finite values, got 3"; `--shard 1/1000000` quoted a rule the value meets (red team).
    func testUsageErrorsAreUsageErrors() throws {
        let dir = try temporaryDirectory(self)
        let idx = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 12, dim: 4, seed: 3), rows: 12, dim: 4,
                                        classes: (0..<12).map { $0 % 2 == 0 ? "even" : "odd" })
        let cases: [([String], String)] = [
            (["help", "nope"], "no command 'embedscope nope'"),
            (["dataset", "mnist", "--out", dir.appendingPathComponent("d").path], "no command 'embedscope dataset mnist'; embedscope dataset has: fashion-mnist"),
            (["build", dir.path, "--pixel-size", "0"], "--pixel-size 0 is out of range"),
            (["build", dir.path, "--model", "resnet18", "--crop", "0"], "--crop 0 is out of range"),
            (["build", dir.path, "--model", "resnet18", "--std", "0,0,0"], "--std values must be at least 1e-6"),
            (["build", dir.path, "--model", "resnet18", "--std", "-1,1,1"], "--std values must be at least 1e-6"),
            (["build", dir.path, "--model", "resnet18", "--std", "1e-45,1,1"], "--std values must be at least 1e-6"),
            (["help", "build", "nope"], "no command 'embedscope build nope'"),
            (["build", dir.path, "--model", "resnet18", "--mean", "nan,nan,nan"], "--mean needs finite values (R,G,B), got nan,nan,nan"),
            (["build", dir.path, "--shard", "1/1000000"], "n ≤ 65536"),
            (["project", idx.path, "--method", "lda", "--shrinkage", "2"], "--shrinkage must be in [0, 1]"),
        ]
        for (args, message) in cases {
            let r = try run(args)
            XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
            XCTAssertEqual(r.stdout, "", "\(args)")
            XCTAssertTrue(r.stderr.contains(message), "\(args): \(r.stderr)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("d").path))
        // A topic that exists is still help.
        let help = try run(["help", "dataset", "fashion-mnist"])
        XCTAssertEqual(help.status, 0, help.stderr)
        XCTAssertTrue(help.stdout.contains("USAGE: embedscope dataset fashion-mnist"), help.stdout)
    }

    /// A writer whose reader left (`remove … --json | true`) died by SIGPIPE when it printed its
    /// summary, after its change was made, and said nothing: a script would run it again. It says
    /// so now, and still ends by SIGPIPE (status 141, as `| head` expects). A reader stays silent.
    func testAWriterWhoseReaderLeftSaysTheChangeWasMade() throws {
        let dir = try temporaryDirectory(self)
        let n = 12, d = 4
        let idx = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 5), rows: n, dim: d,
                                        classes: (0..<n).map { $0 % 2 == 0 ? "even" : "odd" })
        // SIGPIPE as a shell gives it (its default action) — or ignored, as some runners start their
        // children (CI's does): then the write fails with EPIPE, the command says so and that the
        // change stays, and exits 1. `env` sets either (a shell cannot undo an inherited ignore).
        func piped(_ args: [String], ignored: Bool = false) throws -> (status: Int32, stderr: String) {
            // The reader is gone before the writer prints: `true` reads nothing and exits at once.
            let r = try runInShell("set -o pipefail; env --\(ignored ? "ignore" : "default")-signal=PIPE \"$0\" \"$@\" | true", args,
                                   shell: "/bin/bash")
            return (r.status, r.stderr)
        }
        let removed = try piped(["remove", idx.path, "--class", "odd", "--json"])
        XCTAssertEqual(removed.status, 141, removed.stderr)
        XCTAssertTrue(removed.stderr.contains("the output's reader left (SIGPIPE) after the change was made"), removed.stderr)
        XCTAssertTrue(removed.stderr.contains(idx.path), removed.stderr)
        XCTAssertEqual(try Index.open(idx).rowCount, n / 2)
        XCTAssertNoThrow(try Index.open(idx).verify())
        let removedIgnoring = try piped(["remove", idx.path, "--path", "img/even/0.png", "--json"], ignored: true)
        XCTAssertEqual(removedIgnoring.status, 1, removedIgnoring.stderr)
        XCTAssertTrue(removedIgnoring.stderr.contains("the change was made before this error"), removedIgnoring.stderr)
        XCTAssertEqual(try Index.open(idx).rowCount, n / 2 - 1)
        // A reader: no note, whatever it managed to write.
        let other = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 6), rows: n, dim: d,
                                          classes: (0..<n).map { $0 % 2 == 0 ? "even" : "odd" }, name: "read")
        let read = try piped(["query", other.path, "--row", "0", "-k", "5", "--json"])
        XCTAssertTrue([0, 141].contains(read.status), "\(read.status) \(read.stderr)")
        XCTAssertEqual(read.stderr, "")
    }

    /// `verify` on a path that holds no index printed its FAILED report (with --json, on stdout):
    /// that is the command's error, as for every other command — stderr, nothing on stdout.
    func testVerifyOfNoIndexIsAnError() throws {
        let dir = try temporaryDirectory(self)
        let file = dir.appendingPathComponent("file")
        try Data("x".utf8).write(to: file)
        for path in [dir.appendingPathComponent("none").path, dir.path, file.path, "/dev/null"] {
            for json in [false, true] {
                let r = try run(["verify", path] + (json ? ["--json"] : []))
                XCTAssertEqual(r.status, 1, r.stderr)
                XCTAssertEqual(r.stdout, "", "\(path) json \(json)")
                XCTAssertTrue(r.stderr.hasPrefix("error: ") && (r.stderr.contains("no ") || r.stderr.contains("an index is a directory")), r.stderr)
            }
        }
    }

    /// A query while the first build of an index runs said the build was "unfinished or
    /// interrupted" and to build again; a temporary folder whose writer still runs is named as such.
    func testAnIndexBeingBuiltIsNotCalledInterrupted() throws {
        let dir = try temporaryDirectory(self).appendingPathComponent("lk")
        // This test process stands for the running build (the name carries its pid).
        try FileManager.default.createDirectory(at: dir.appendingPathComponent(".tmp-gen-1-\(getpid())-12345"), withIntermediateDirectories: true)
        let r = try run(["query", dir.path, "--row", "1"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("a build (process \(getpid())) is writing the first one"), r.stderr)
        // A dead writer's folder: interrupted.
        try FileManager.default.removeItem(at: dir.appendingPathComponent(".tmp-gen-1-\(getpid())-12345"))
        try FileManager.default.createDirectory(at: dir.appendingPathComponent(".tmp-gen-1-\(exitedProcessID())-12345"), withIntermediateDirectories: true)
        let dead = try run(["query", dir.path, "--row", "1"])
        XCTAssertTrue(dead.stderr.contains("unfinished or interrupted build"), dead.stderr)
    }

    /// The progress line is cut to the terminal's width (a wrapped line left its first rows on the
    /// screen) and, on a terminal without escape sequences (`TERM=dumb`), cleared with spaces.
    func testProgressLineFitsTheTerminal() {
        let long = "neighbours (tiles): 32/36 (88%) · ETA 0s · 272/s"
        let cut = TerminalProgress.line(long, columns: 20, dumb: false, shown: 0)
        XCTAssertEqual(cut.bytes, "\r\u{1B}[K" + long.prefix(18) + "…")
        XCTAssertEqual(cut.shown, 19)
        let fits = TerminalProgress.line("abc", columns: 80, dumb: false, shown: 0)
        XCTAssertEqual(fits.bytes, "\r\u{1B}[Kabc")
        let dumb = TerminalProgress.line("abc", columns: 80, dumb: true, shown: 7)
        XCTAssertEqual(dumb.bytes, "\rabc    ")
        XCTAssertFalse(dumb.bytes.contains("\u{1B}"))
        XCTAssertEqual(dumb.shown, 3)
        // Wide characters take two columns (a label of them wrapped at 20 columns), and a control
        // character in a label (a file name) is shown escaped, not sent to the terminal.
        let wide = TerminalProgress.line("空間空間空間空間空間空間: 3/9", columns: 20, dumb: true, shown: 0)
        XCTAssertEqual(wide.bytes, "\r空間空間空間空間空…")
        XCTAssertEqual(wide.shown, 19)
        let esc = TerminalProgress.line("x\u{1B}[31mred.csv", columns: 80, dumb: true, shown: 0)
        XCTAssertFalse(esc.bytes.contains("\u{1B}"))
        XCTAssertTrue(esc.bytes.contains("x\\u{1B}[31mred.csv"), esc.bytes)
    }

    /// ArgumentParser wraps each line of a discussion on its own: a sentence written over several
    /// source lines printed as ragged lines (`build --help`: "… from --model (its" then
    /// "penultimate features), …"). Every command's help is read at 80 columns: no line of the
    /// text above USAGE is cut short where the next line continues its sentence.
    func testHelpTextIsWrappedAsParagraphs() throws {
        let root = try run(["--help"])
        XCTAssertEqual(root.status, 0, root.stderr)
        let lines = root.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("SUBCOMMANDS") })
        let commands = lines[(start + 1)...].compactMap { l -> String? in
            // A command's own line (two spaces in; its wrapped description is indented further, and
            // "See 'embedscope help …'" closes the list) — `help files;` used to print the root help.
            guard l.hasPrefix("  "), !l.hasPrefix("   "), let w = l.split(separator: " ").first,
                  w.allSatisfy({ $0.isLowercase || $0 == "-" }) else { return nil }
            return String(w)
        }
        XCTAssertGreaterThan(commands.count, 20, root.stdout)
        for command in [nil] + commands.map(Optional.some) {
            let r = try run(command.map { ["help", $0] } ?? ["--help"])
            XCTAssertEqual(r.status, 0, "\(command ?? "embedscope"): \(r.stderr)")
            let text = r.stdout.components(separatedBy: "\nUSAGE:")[0].split(separator: "\n", omittingEmptySubsequences: false)
            for (line, next) in zip(text, text.dropFirst()) where !next.isEmpty {
                // A line wrapped at 80 columns stops within a word's length of the edge.
                let cutShort = line.count < 60 && next.first.map { $0.isLowercase || "(-`".contains($0) } == true
                    && !next.hasPrefix("- ") && !line.isEmpty && !line.hasPrefix("OVERVIEW")
                    && !(line.last.map { ".:!?".contains($0) } ?? false)
                XCTAssertFalse(cutShort, "\(command ?? "embedscope") --help: a line cut short:\n\(line)\n\(next)")
            }
        }
    }

    func testMetricsCommand() throws {
        let dir = try temporaryDirectory(self)
        let n = 60, d = 12
        let names = (0..<n).map { ["ant", "bee", "cat"][$0 % 3] }
        let idx = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 8), rows: n, dim: d, classes: names)
        let api = try Index.open(idx).clusterScores(space: "embedding")

        let j = try run(["metrics", idx.path, "--json"])
        XCTAssertEqual(j.status, 0, j.stderr)
        let report = try JSONDecoder().decode(ClusterMetricsReport.self, from: Data(j.stdout.utf8))
        XCTAssertEqual(report.space, "embedding")
        XCTAssertEqual(report.classCount, 3)
        XCTAssertTrue(report.silhouette.exact)
        XCTAssertEqual(report.silhouette.mean, api.silhouette.mean, accuracy: 1e-12)
        XCTAssertEqual(report.daviesBouldin, api.daviesBouldin, accuracy: 1e-12)
        XCTAssertEqual(report.perClass.map(\.name), ["ant", "bee", "cat"])

        let table = try run(["metrics", idx.path])
        XCTAssertEqual(table.status, 0, table.stderr)
        for word in ["silhouette", "Davies-Bouldin", "Calinski-Harabasz", "ant", "bee", "cat"] {
            XCTAssertTrue(table.stdout.contains(word), "missing \(word) in\n\(table.stdout)")
        }

        let sampled = try run(["metrics", idx.path, "--sample", "20", "--seed", "3", "--json"])
        XCTAssertEqual(sampled.status, 0, sampled.stderr)
        let s = try JSONDecoder().decode(ClusterMetricsReport.self, from: Data(sampled.stdout.utf8))
        XCTAssertEqual(s.silhouette.sample, 20)
        XCTAssertEqual(s.silhouette.seed, 3)
        XCTAssertNotNil(s.silhouette.standardError)
        XCTAssertEqual(s.perClass.map(\.evaluated).reduce(0, +), 20)

        // One class: the metrics are undefined — a message on stderr, exit status 1.
        let one = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 10, dim: d, seed: 9), rows: 10, dim: d,
                                        classes: [String](repeating: "ant", count: 10), name: "one")
        let undefined = try run(["metrics", one.path])
        XCTAssertEqual(undefined.status, 1)
        XCTAssertTrue(undefined.stdout.isEmpty)
        XCTAssertTrue(undefined.stderr.contains("single class"), undefined.stderr)

        let usage = try run(["metrics", idx.path, "--seed", "3"])
        XCTAssertNotEqual(usage.status, 0)
        XCTAssertTrue(usage.stderr.contains("--sample"), usage.stderr)
    }
    func testReportCommand() throws {
        let dir = try temporaryDirectory(self)
        let (images, _, _) = try makeImageIndex(in: dir)
        // An imported index whose images do not exist (grey tiles) and a one-class index (metrics undefined: a note).
        let n = 30, d = 6
        let names = (0..<n).map { ["ant", "bee", "cat"][$0 % 3] }
        let imported = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 3), rows: n, dim: d, classes: names, name: "noimages")
        let one = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 8, dim: d, seed: 4), rows: 8, dim: d,
                                        classes: [String](repeating: "ant", count: 8), name: "one")
        let out = dir.appendingPathComponent("report")
        let r = try run(["report", images.path, imported.path, one.path, "--out", out.path, "--queries", "2", "-k", "4", "--seed", "7"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("index.html"), r.stdout)
        let html = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        for word in ["Comparison", "noimages", "one", "single class", "silhouette", "Nearest and farthest neighbours"] {
            XCTAssertTrue(html.contains(word), "missing \(word)")
        }
        let pictures = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("img").path).sorted()
        XCTAssertEqual(pictures.filter { $0.hasPrefix("1-contact") }.count, 2)
        XCTAssertEqual(pictures.filter { $0.hasPrefix("1-spaces") }.count, 2, "embedding-vs-pixel sheets for the index with both spaces")
        XCTAssertEqual(pictures.filter { $0.hasPrefix("2-spaces") }.count, 0)

        // Deterministic: the same command writes the same bytes.
        let again = dir.appendingPathComponent("again")
        XCTAssertEqual(try run(["report", images.path, imported.path, one.path, "--out", again.path, "--queries", "2", "-k", "4", "--seed", "7"]).status, 0)
        let html2 = try String(contentsOf: again.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertEqual(html.replacingOccurrences(of: out.path, with: ""), html2.replacingOccurrences(of: again.path, with: ""))
        for p in pictures {
            XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent("img/" + p)), try Data(contentsOf: again.appendingPathComponent("img/" + p)), p)
        }

        let refused = try run(["report", images.path, "--out", dir.path])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("not a report folder"), refused.stderr)
        let usage = try run(["report", images.path])
        XCTAssertNotEqual(usage.status, 0)
        XCTAssertTrue(usage.stderr.contains("--out"), usage.stderr)
    }
}
