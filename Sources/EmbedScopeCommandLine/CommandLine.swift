import ArgumentParser
import EmbedScope
import Foundation
#if canImport(Glibc)
import Glibc
#endif

// What the command-line tools share (`embedscope`, `embedscope-bench`): JSON output in the one
// schema, errors to stderr with a non-zero exit, paths, progress on a terminal.

/// Flags shared by commands that print results.
package struct OutputOptions: ParsableArguments {
    package init() {}
    @Flag(name: .long, help: "Print JSON to stdout instead of a table.")
    package var json = false
}

/// The version of the JSON every command prints (docs/json.md, docs/json-schema.json).
package let jsonSchemaVersion = 2

/// Prints one command's result as JSON: the value's own fields plus `schemaVersion`, sorted
/// keys, missing values as `null` (`Core/Support/JSONNulls.swift`).
package func printJSON<T: Encodable>(_ value: T) throws {
    // JSONEncoder's bytes without its tree of values (`PrettyJSON`): a million rows' report
    // would take several times its size and, under `ulimit -v`, end by a signal.
    let out = try PrettyJSON.encode(Merged(value, SchemaVersion()))
    try out.append(UInt8(ascii: "\n"))
    // Nothing computed from an index file another program cut short is printed (`MappingDamage`).
    try MappingDamage.requireNone(since: commandMark.value)
    try StandardStreams.output(out)
}

/// Prints a large output built in a buffer (a CSV to stdout), after the same check as `printJSON`.
package func printBytes(_ out: OutputBytes) throws {
    try MappingDamage.requireNone(since: commandMark.value)
    try StandardStreams.output(out)
}

/// A top-level JSON object with `schemaVersion` added beside the value's own fields.
private struct SchemaVersion: Encodable {
    var schemaVersion = jsonSchemaVersion
}

/// Writes a line to stderr (notes, warnings), names' bidirectional and control characters shown as
/// `\u{202E}`, `\u{1B}` (`String.terminalEscaped`): a class or file name must not reorder the line
/// around it or send the terminal an escape sequence.
package func note(_ s: String) {
    StandardStreams.error(s.terminalEscaped + "\n")
}

/// Tuning variables set to a value they do not take are ignored (the default is used): said once,
/// as `EMBEDSCOPE_THREADS` and `EMBEDSCOPE_GEMM` say it, instead of silently.
func noteIgnoredTuning(_ env: [String: String] = ProcessInfo.processInfo.environment) {
    if let v = env["EMBEDSCOPE_SCAN_PREFETCH"], !(Int(v).map { (0...(1 << 24)).contains($0) } ?? false) {
        note("note: EMBEDSCOPE_SCAN_PREFETCH=\(v) is not a byte count from 0 to 16777216; ignored (the default is used)")
    }
    if let v = env["EMBEDSCOPE_HALF_PREFETCH"], v != "0", v != "1" {
        note("note: EMBEDSCOPE_HALF_PREFETCH=\(v) is neither 0 nor 1; ignored (the default is used)")
    }
    if let v = env["EMBEDSCOPE_HUGEPAGES"], v != "0", v != "1" {
        note("note: EMBEDSCOPE_HUGEPAGES=\(v) is neither 0 nor 1; large buffers are advised, as with 1")
    }
}

/// Runs a command body and turns an EmbedScopeError into a clean message + exit code 1; output
/// that could not be written (stdout closed or full) is such an error.
package func runCommand(_ body: () throws -> Void) throws {
    StandardStreams.reserveClosedDescriptors()
    InterruptCleanup.install()  // before any folder is made: an interrupted writer leaves nothing
    BLASThreads.stopIdleWorkers()
    commandMark.value = MappingDamage.mark()
    noteIgnoredTuning()
    do {
        // Every GEMM on OpenBLAS (`EMBEDSCOPE_GEMM=openblas`): its buffer now, under `ulimit -v`.
        if SGEMM.path == .openblas { try OpenBLASMemory.reserve(for: "EMBEDSCOPE_GEMM=openblas") }
        try body()
        // An index file cut short by another program while the command read it: a table printed
        // from it that stdout still holds is dropped (one already written is disowned by the error
        // and the exit status); JSON is never printed.
        do { try MappingDamage.requireNone(since: commandMark.value) } catch {
            StandardStreams.discardBufferedOutput()
            throw error
        }
        try StandardStreams.finishOutput() // a table `print`ed to a closed or full stdout is an error too
        // A signal came while the command ran (during its commit, say): the handler ends the
        // process by it, after its note; exiting 0 here first lost both (red team: `import
        // --force` and `merge` sometimes exited 0 silently when SIGTERM came during the commit).
        InterruptCleanup.holdIfInterrupted()
    } catch {
        InterruptCleanup.holdIfInterrupted()
        // A progress line still drawn (the step that failed) is cleared, not prefixed to the error.
        StandardStreams.clearErrorLine()
        if let e = error as? EmbedScopeError {
            note("error: \(e.description)")
            for change in CommittedChanges.all { note("note: the change was made before this error: \(change)") }
            throw ExitCode(1)
        } else if let e = error as? ImageError {
            note("error: \(e.description)")
            throw ExitCode(1)
        }
        throw error
    }
}

/// Where the running command's check for damaged index files starts (`MappingDamage.mark`).
private let commandMark = Locked(0)
private extension Locked where Value == Int {
    var value: Int {
        get { withLock { $0 } }
        set { withLock { $0 = newValue } }
    }
}

/// `--threads`: 1…1024 (work and memory grow with the count; a huge one never finished).
package func validateThreads(_ threads: Int?) throws {
    if let threads, !(1...1024).contains(threads) { throw ValidationError("--threads must be between 1 and 1024") }
}

/// A path from the command line, absolute and standardized. A relative one needs the current
/// folder: where that was removed (or moved out of reach), the command stops here with an error
/// that says so — before, `query ../idx` from a removed folder opened nothing and blamed the
/// index ("cannot read catalog … the index is damaged").
package func resolveURL(_ path: String) -> URL {
    if !path.hasPrefix("/") {
        guard let cwd = getcwd(nil, 0) else {
            let reason = String(cString: strerror(errno))
            InterruptCleanup.fail("cannot find '\(path)': the current folder is gone (\(reason)); it was removed or moved. "
                                  + "Change to an existing folder, or give an absolute path")
        }
        free(cwd)
    }
    return URL(fileURLWithPath: path).standardizedFileURL
}
