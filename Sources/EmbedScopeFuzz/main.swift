// embedscope-fuzz: mutates seeded valid inputs and runs the (release) `embedscope` binary on each,
// counting crashes (killed by a signal), hangs (> --timeout seconds) and exit-0 outputs that
// print `nan`/`inf`. Deterministic for a given --seed. Scripts/fuzz.sh runs it; CI runs the
// short pass (Scripts/test.sh), people run the long one (`Scripts/fuzz.sh --long`).
import EmbedScope
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var binary = ".build/release/embedscope"
    var seed: UInt64 = 1
    var perFormat = 40
    var timeout = 10.0
    var formats: [String] = Format.allCases.map(\.rawValue)
    var work = FileManager.default.temporaryDirectory.appendingPathComponent("embedscope-fuzz-\(getpid())").path
    var keep = false
    /// `--strict-answers`: a changed answer with exit 0 (damaged index files) is a finding, not only counted.
    var strictAnswers = false
    var fixtures = "Tests/EmbedScopeTests/Fixtures"
}

enum Format: String, CaseIterable {
    case vec, catalog, npy, csv, png, jpeg, pickle, zip
    /// A half-precision copy (`embedding.f16.vec`), metrics.json, an IDX data set file.
    case half, metrics, idx
}

@MainActor func usage() -> Never {
    print("""
    usage: embedscope-fuzz [--binary PATH] [--seed N] [--inputs N per format] [--timeout S]
                           [--formats vec,catalog,npy,csv,png,jpeg,pickle,zip,half,metrics,idx] [--work DIR] [--keep]
                           [--strict-answers]
    changed: runs on damaged index files (vec, catalog, half, metrics) that exited 0 with an answer other
    than the intact index's (numbers within 1e-4; info and verify left out); a finding with --strict-answers
    """)
    exit(2)
}

var opt = Options()
var args = Array(CommandLine.arguments.dropFirst())
while !args.isEmpty {
    let a = args.removeFirst()
    func value() -> String { if args.isEmpty { usage() }; return args.removeFirst() }
    switch a {
    case "--binary": opt.binary = value()
    case "--seed": opt.seed = UInt64(value()) ?? { usage() }()
    case "--inputs": opt.perFormat = Int(value()) ?? { usage() }()
    case "--timeout": opt.timeout = Double(value()) ?? { usage() }()
    case "--formats": opt.formats = value().split(separator: ",").map(String.init)
    case "--work": opt.work = value()
    case "--fixtures": opt.fixtures = value()
    case "--keep": opt.keep = true
    case "--strict-answers": opt.strictAnswers = true
    default: usage()
    }
}
guard FileManager.default.isExecutableFile(atPath: opt.binary) else {
    FileHandle.standardError.write(Data("embedscope-fuzz: no binary at \(opt.binary); run `swift build -c release` first\n".utf8))
    exit(2)
}

// MARK: - Running the binary

enum Outcome { case ok(String), error, crash(Int32), hang, nan }

/// Runs the binary with a timeout; a run past it is killed (SIGKILL) and counted as a hang.
@MainActor func runBinary(_ arguments: [String], cwd: URL) -> (Outcome, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: opt.binary)
    p.arguments = arguments
    p.currentDirectoryURL = cwd
    let outFile = cwd.appendingPathComponent(".stdout"), errFile = cwd.appendingPathComponent(".stderr")
    FileManager.default.createFile(atPath: outFile.path, contents: nil)
    FileManager.default.createFile(atPath: errFile.path, contents: nil)
    guard let out = try? FileHandle(forWritingTo: outFile), let err = try? FileHandle(forWritingTo: errFile) else { return (.error, "") }
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    let done = DispatchSemaphore(value: 0)
    p.terminationHandler = { _ in done.signal() }
    do { try p.run() } catch { return (.error, "cannot run: \(error)") }
    var hung = false
    if done.wait(timeout: .now() + opt.timeout) == .timedOut {
        hung = true
        kill(p.processIdentifier, SIGKILL)
        done.wait()
    }
    try? out.close(); try? err.close()
    let stdout = (try? String(contentsOf: outFile, encoding: .utf8)) ?? ""
    let stderr = (try? String(contentsOf: errFile, encoding: .utf8)) ?? ""
    if hung { return (.hang, stderr) }
    if p.terminationReason == .uncaughtSignal { return (.crash(p.terminationStatus), stderr) }
    if p.terminationStatus == 0 {
        // A non-finite number printed as a result: nan, -nan, inf, -inf as a word.
        if stdout.range(of: #"(?i)(^|[^a-z0-9_])-?(nan|inf|infinity)([^a-z0-9_]|$)"#, options: .regularExpression) != nil {
            return (.nan, stdout)
        }
        return (.ok(stdout.replacingOccurrences(of: cwd.path, with: "<dir>")), "")
    }
    return (.error, "")
}

// MARK: - Mutations

var rng = SplitMix64(seed: opt.seed)
@MainActor func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(rng.below(UInt64(n))) }

let interestingBytes: [UInt8] = [0, 1, 0x7F, 0x80, 0xFF, 0xFE, 0x40]
let interestingWords: [UInt64] = [0, 1, UInt64.max, UInt64(Int64.max), 1 << 31, 1 << 32, 1 << 60, 0x7FFF_FFFF, 0xFFFF_FFFF, 64, 1 << 40]
let interestingText = ["1152921504606846976", "-1", "0", "nan", "inf", "99999999999999999999", "2147483648", "'", ",", "\"", "\n", ""]

/// One to three random edits; half of the positions are in the first 128 bytes (headers).
@MainActor func mutate(_ input: [UInt8], text: Bool, csvText: Bool = false) -> [UInt8] {
    var b = input
    for _ in 0...below(3) {
        func pos() -> Int { b.isEmpty ? 0 : (below(2) == 0 ? below(min(b.count, 128)) : below(b.count)) }
        switch below(text ? 8 : 7) {
        case 0: // flip bits
            if b.isEmpty { continue }
            for _ in 0...below(8) { let p = pos(); b[p] ^= UInt8(1) << UInt8(below(8)) }
        case 1: // interesting bytes
            if b.isEmpty { continue }
            for _ in 0...below(4) { let p = pos(); b[p] = below(3) == 0 ? UInt8(below(256)) : interestingBytes[below(interestingBytes.count)] }
        case 2: // truncate
            b = Array(b.prefix(below(b.count + 1)))
        case 3: // a 4- or 8-byte integer, either endianness
            let w = interestingWords[below(interestingWords.count)]
            let size = below(2) == 0 ? 4 : 8, p = pos()
            for i in 0..<size where p + i < b.count {
                let shift = below(2) == 0 ? i : size - 1 - i
                b[p + i] = UInt8(truncatingIfNeeded: w >> (8 * UInt64(shift)))
            }
        case 4: // delete a chunk
            if b.isEmpty { continue }
            let p = pos(); b.removeSubrange(p..<min(b.count, p + 1 + below(64)))
        case 5: // duplicate a chunk
            if b.isEmpty { continue }
            let p = pos(), chunk = Array(b[p..<min(b.count, p + 1 + below(256))])
            b.insert(contentsOf: chunk, at: pos())
        case 6: // random bytes inserted
            b.insert(contentsOf: (0...below(16)).map { _ in UInt8(below(256)) }, at: pos())
        default: // text: replace a run of digits (or any position) with an interesting token
            let digits = b.indices.filter { b[$0] >= 0x30 && b[$0] <= 0x39 }
            // Not "nan"/"inf" in a manifest: a class or path named so would print as a false finding.
            let tokens = csvText ? interestingText.filter { $0 != "nan" && $0 != "inf" } : interestingText
            let tok = Array(tokens[below(tokens.count)].utf8)
            if let start = digits.isEmpty ? nil : digits[below(digits.count)] {
                var end = start
                while end < b.count && b[end] >= 0x30 && b[end] <= 0x39 { end += 1 }
                b.replaceSubrange(start..<end, with: tok)
            } else {
                b.insert(contentsOf: tok, at: pos())
            }
        }
    }
    return b
}

// MARK: - Seeds

let fm = FileManager.default
let work = URL(fileURLWithPath: opt.work)
try? fm.removeItem(at: work)
try fm.createDirectory(at: work, withIntermediateDirectories: true)
let seeds = work.appendingPathComponent("seeds")
try fm.createDirectory(at: seeds, withIntermediateDirectories: true)
let fixtures = URL(fileURLWithPath: opt.fixtures)

@MainActor func makeSeeds() throws {
    var g = SplitMix64(seed: 7)
    let (n, d) = (30, 8)
    let classes = ["ant", "bee", "cat"]
    let x = (0..<(n * d)).map { _ in Float(g.gaussian()) }
    try NPYArray.write(shape: [n, d], values: x, to: seeds.appendingPathComponent("X.npy"))
    try NPYArray.write(shape: [d], values: Array(x[0..<d]), to: seeds.appendingPathComponent("q.npy"))
    try NPYArray.write(shape: [3, d], values: (0..<(3 * d)).map { _ in Float(g.gaussian()) }, to: seeds.appendingPathComponent("W.npy"))
    try NPYArray.write(shape: [3], values: [0.5, -1, 2], to: seeds.appendingPathComponent("b.npy"))
    try classes.joined(separator: "\n").write(to: seeds.appendingPathComponent("names.txt"), atomically: true, encoding: .utf8)
    var csv = "path,class,split\n"
    for i in 0..<n { csv += "img/\(classes[i % 3])/\(i).png,\(classes[i % 3]),\(i % 5 == 0 ? "test" : "train")\n" }
    try csv.write(to: seeds.appendingPathComponent("rows.csv"), atomically: true, encoding: .utf8)
    var r = ImportRequest(vectors: seeds.appendingPathComponent("X.npy"), manifest: seeds.appendingPathComponent("rows.csv"),
                          out: seeds.appendingPathComponent("index"))
    r.head = seeds.appendingPathComponent("W.npy"); r.bias = seeds.appendingPathComponent("b.npy")
    r.headClasses = seeds.appendingPathComponent("names.txt")
    r.pixels = false
    _ = try Importer.run(r)
    // The same with a half copy, and with metrics.json written (`metrics`).
    r.out = seeds.appendingPathComponent("half")
    r.storage = .f16
    _ = try Importer.run(r)
    let index = try Index.open(seeds.appendingPathComponent("index"))
    _ = try index.recordCluster(index.clusterScores(space: "embedding"), space: "embedding")
    // An IDX data set of 20 images of 6 × 5 and their labels (`dataset fashion-mnist --source`).
    func idx(_ shape: [Int], _ payload: [UInt8]) -> Data {
        var d = Data([0, 0, 8, UInt8(shape.count)])
        for v in shape { d.append(contentsOf: [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)]) }
        return d + Data(payload)
    }
    try idx([20, 6, 5], (0..<600).map { UInt8($0 * 7 % 256) }).write(to: seeds.appendingPathComponent("t10k-images-idx3-ubyte.gz"))
    try idx([20], (0..<20).map { UInt8($0 % 10) }).write(to: seeds.appendingPathComponent("t10k-labels-idx1-ubyte.gz"))
    // A pixels-only index of real images, for query --image.
    let data = seeds.appendingPathComponent("data")
    for (c, f) in [("a", "images/rgb8.png"), ("a", "images/gray8.png"), ("b", "images/rgb.jpg"), ("b", "images/palette8.png")] {
        let to = data.appendingPathComponent(c).appendingPathComponent((f as NSString).lastPathComponent)
        try fm.createDirectory(at: to.deletingLastPathComponent(), withIntermediateDirectories: true)
        try fm.copyItem(at: fixtures.appendingPathComponent(f), to: to)
    }
    _ = try FolderBuilder.run(BuildRequest(dataset: data, out: seeds.appendingPathComponent("pixels")))
}
do { try makeSeeds() } catch {
    FileHandle.standardError.write(Data("embedscope-fuzz: cannot make seeds: \(error)\n".utf8))
    exit(2)
}

@MainActor func seedFiles(_ format: Format) -> [URL] {
    switch format {
    // An index's files live in the generation `current` names (docs/index-format.md).
    case .vec: return ["embedding.vec", "embedding.norms.vec", "prototypes-head.vec"].map { seeds.appendingPathComponent("index/current/" + $0) }
    case .catalog: return [seeds.appendingPathComponent("index/current/catalog.sqlite")]
    case .npy: return ["X.npy", "q.npy", "W.npy"].map { seeds.appendingPathComponent($0) }
    case .csv: return [seeds.appendingPathComponent("rows.csv")]
    case .png: return ["rgb8.png", "palette8_trns.png", "gray16.png", "rgb8_interlaced.png"].map { fixtures.appendingPathComponent("images/" + $0) }
    case .jpeg: return ["rgb.jpg", "gray.jpg", "rgb_progressive_17x11.jpg"].map { fixtures.appendingPathComponent("images/" + $0) }
    case .pickle: return ["tiny_legacy.pt", "views_legacy.pt", "dtypes_legacy.pt"].map { fixtures.appendingPathComponent("checkpoints/" + $0) }
    case .zip: return ["tiny_zip.pt", "views_zip.pt", "lightning.ckpt"].map { fixtures.appendingPathComponent("checkpoints/" + $0) }
    case .half: return [seeds.appendingPathComponent("half/current/embedding.f16.vec")]
    case .metrics: return [seeds.appendingPathComponent("index/current/metrics.json")]
    // Uncompressed (gzread reads both): the mutations reach the header and payload themselves.
    case .idx: return ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"].map { seeds.appendingPathComponent($0) }
    }
}

/// Copies a directory's entries (a fresh, writable copy of a seed index: its `current` link,
/// relative, and the generation folder it names).
@MainActor func copyDir(_ from: URL, _ to: URL) throws {
    try fm.createDirectory(at: to, withIntermediateDirectories: true)
    for name in try fm.contentsOfDirectory(atPath: from.path) where !name.hasPrefix(".") {
        try fm.copyItem(at: from.appendingPathComponent(name), to: to.appendingPathComponent(name))
    }
}

/// Writes the mutated input where the command expects it and returns the command lines to run.
@MainActor func prepare(_ format: Format, seed: URL, bytes: [UInt8], in dir: URL) throws -> [[String]] {
    let data = Data(bytes)
    switch format {
    case .vec, .catalog:
        let idx = dir.appendingPathComponent("index")
        try copyDir(seeds.appendingPathComponent("index"), idx)
        try data.write(to: idx.appendingPathComponent("current").appendingPathComponent(seed.lastPathComponent))
        let row = String(below(34))
        return [["info", "index"], ["query", "index", "--row", row, "-k", "5"], ["query", "index", "--row", row, "--farthest", "--json"],
                ["rank", "index", "--prototype", "bee", "-k", "3"], ["verify", "index"], ["metrics", "index"]]
    case .npy:
        let name = seed.lastPathComponent
        for f in ["X.npy", "q.npy", "W.npy", "b.npy", "names.txt", "rows.csv"] {
            try fm.copyItem(at: seeds.appendingPathComponent(f), to: dir.appendingPathComponent(f))
        }
        try data.write(to: dir.appendingPathComponent(name))
        if name == "q.npy" { return [["query", seeds.appendingPathComponent("index").path, "--vector", "q.npy", "-k", "3"]] }
        return [["import", "--vectors", "X.npy", "--manifest", "rows.csv", "--out", "out", "--head", "W.npy", "--bias", "b.npy",
                 "--head-classes", "names.txt", "--no-pixels"], ["query", "out", "--row", "1", "-k", "3"], ["rank", "out", "--prototype", "ant", "-k", "2"]]
    case .csv:
        try fm.copyItem(at: seeds.appendingPathComponent("X.npy"), to: dir.appendingPathComponent("X.npy"))
        try data.write(to: dir.appendingPathComponent("rows.csv"))
        return [["import", "--vectors", "X.npy", "--manifest", "rows.csv", "--out", "out", "--no-pixels"], ["query", "out", "--row", "0", "-k", "3"]]
    case .png, .jpeg:
        let folder = dir.appendingPathComponent("data/x")
        try fm.createDirectory(at: folder, withIntermediateDirectories: true)
        let name = "input." + (format == .png ? "png" : "jpg")
        try data.write(to: folder.appendingPathComponent(name))
        try fm.copyItem(at: fixtures.appendingPathComponent("images/rgb8.png"), to: folder.appendingPathComponent("ok.png"))
        return [["build", "data", "--out", "idx"], ["query", seeds.appendingPathComponent("pixels").path, "--image", "data/x/" + name, "-k", "2"]]
    case .pickle, .zip:
        try data.write(to: dir.appendingPathComponent(seed.lastPathComponent))
        return [["checkpoint", seed.lastPathComponent]]
    case .half:
        let idx = dir.appendingPathComponent("index")
        try copyDir(seeds.appendingPathComponent("half"), idx)
        try data.write(to: idx.appendingPathComponent("current").appendingPathComponent(seed.lastPathComponent))
        let row = String(below(34))
        return [["info", "index"], ["query", "index", "--row", row, "-k", "5"], ["query", "index", "--row", row, "--farthest", "--json"],
                ["verify", "index"]]
    case .metrics:
        let idx = dir.appendingPathComponent("index")
        try copyDir(seeds.appendingPathComponent("index"), idx)
        try data.write(to: idx.appendingPathComponent("current").appendingPathComponent(seed.lastPathComponent))
        return [["info", "index", "--json"], ["verify", "index"], ["compare", "index"], ["metrics", "index", "--json"]]
    case .idx:
        let src = dir.appendingPathComponent("source")
        try fm.createDirectory(at: src, withIntermediateDirectories: true)
        for f in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
            try fm.copyItem(at: seeds.appendingPathComponent(f), to: src.appendingPathComponent(f))
        }
        try data.write(to: src.appendingPathComponent(seed.lastPathComponent))
        return [["dataset", "fashion-mnist", "--source", "source", "--out", "out"]]
    }
}

// MARK: - The pass

struct Counts { var inputs = 0, runs = 0, errors = 0, crashes = 0, hangs = 0, nans = 0, changed = 0 }

/// The answer oracle for damaged index files: a command that exits 0 on a damaged index must print
/// what it prints on the intact one (damage that does not change the answer: free SQLite space,
/// padding) — anything else is a changed answer given as if nothing were wrong. Each command line
/// is run once on an intact copy of the seed; `info` and `verify` are left out (they describe
/// the files, and `verify` is itself the check).
var intactAnswers: [String: String] = [:]

/// The same answer: the same text around the numbers and every number within 1e-4 of the
/// intact one. Damage below the scans' unit-length tolerance (a few low mantissa bits of one
/// value) moves a score by about that much and only `verify`'s checksum sees it; the text output
/// prints 4 decimals, JSON all of a float's digits (docs/index-format.md, "Rows of the wrong length").
func sameAnswer(_ a: String, _ b: String) -> Bool {
    if a == b { return true }
    let number = #/-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/#
    func split(_ s: String) -> (text: [Substring], numbers: [Double]) {
        var text: [Substring] = [], numbers: [Double] = []
        var at = s.startIndex
        for m in s.matches(of: number) {
            text.append(s[at..<m.range.lowerBound])
            numbers.append(Double(s[m.range]) ?? .nan)
            at = m.range.upperBound
        }
        text.append(s[at...])
        return (text, numbers)
    }
    let x = split(a), y = split(b)
    guard x.text == y.text, x.numbers.count == y.numbers.count else { return false }
    return zip(x.numbers, y.numbers).allSatisfy { abs($0 - $1) <= 1e-4 }
}
@MainActor func intactAnswer(_ format: Format, _ cmd: [String]) -> String? {
    guard [.vec, .catalog, .half, .metrics].contains(format), let verb = cmd.first, !["info", "verify"].contains(verb) else { return nil }
    let key = "\(format.rawValue) " + cmd.joined(separator: " ")
    if let a = intactAnswers[key] { return a }
    let dir = work.appendingPathComponent("intact")
    try? fm.removeItem(at: dir)
    guard (try? fm.createDirectory(at: dir, withIntermediateDirectories: true)) != nil,
          (try? copyDir(seeds.appendingPathComponent(format == .half ? "half" : "index"), dir.appendingPathComponent("index"))) != nil,
          case .ok(let out) = runBinary(cmd, cwd: dir).0 else { return nil }
    intactAnswers[key] = out
    return out
}
var totals: [String: Counts] = [:]
let findings = work.appendingPathComponent("findings")
let started = Date()
var failed = false

for name in opt.formats {
    guard let format = Format(rawValue: name) else { usage() }
    var c = Counts()
    let seedList = seedFiles(format)
    let seedBytes = seedList.map { (try? [UInt8](Data(contentsOf: $0))) ?? [] }
    for i in 0..<opt.perFormat {
        let s = i % seedList.count
        let bytes = mutate(seedBytes[s], text: format == .csv || format == .npy || format == .metrics, csvText: format == .csv)
        let dir = work.appendingPathComponent("case")
        try? fm.removeItem(at: dir)
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        let commands: [[String]]
        do { commands = try prepare(format, seed: seedList[s], bytes: bytes, in: dir) } catch {
            FileHandle.standardError.write(Data("embedscope-fuzz: cannot prepare \(name) #\(i): \(error)\n".utf8))
            exit(2)
        }
        c.inputs += 1
        for cmd in commands {
            c.runs += 1
            var (outcome, detail) = runBinary(cmd, cwd: dir)
            var what: String?
            switch outcome {
            case .ok(let out):
                if let intact = intactAnswer(format, cmd), !sameAnswer(out, intact) {
                    c.changed += 1
                    if opt.strictAnswers { what = "a changed answer with exit 0" }
                    detail = "intact: " + intact.prefix(300) + "\ndamaged: " + out.prefix(300)
                }
            case .error: c.errors += 1
            case .crash(let sig): c.crashes += 1; what = "crash (signal \(sig))"
            case .hang: c.hangs += 1; what = "hang (> \(opt.timeout) s)"
            case .nan: c.nans += 1; what = "non-finite output with exit 0"
            }
            if let what {
                failed = true
                let keep = findings.appendingPathComponent("\(name)-\(i)")
                try? fm.createDirectory(at: keep, withIntermediateDirectories: true)
                try? Data(bytes).write(to: keep.appendingPathComponent(seedList[s].lastPathComponent))
                print("FOUND \(what): \(name) input \(i) (seed file \(seedList[s].lastPathComponent)), `embedscope \(cmd.joined(separator: " "))` — kept in \(keep.path)")
                print(detail.split(separator: "\n").prefix(5).map { "    " + $0 }.joined(separator: "\n"))
            }
        }
    }
    totals[name] = c
}

print("embedscope-fuzz: seed \(opt.seed), \(opt.perFormat) inputs per format, timeout \(opt.timeout) s, binary \(opt.binary), \(String(format: "%.0f", Date().timeIntervalSince(started))) s")
print("format    inputs   runs  refused  crashes  hangs  nan  changed")
for name in opt.formats {
    let c = totals[name] ?? Counts()
    print(name.padding(toLength: 8, withPad: " ", startingAt: 0) + String(format: "%8d %6d %8d %8d %6d %4d %8d", c.inputs, c.runs, c.errors, c.crashes, c.hangs, c.nans, c.changed))
}
if !opt.keep { try? fm.removeItem(at: work.appendingPathComponent("case")); try? fm.removeItem(at: seeds) }
if failed { print("FAILED: see FOUND lines above (inputs kept under \(findings.path))"); exit(1) }
if !opt.keep { try? fm.removeItem(at: work) }
