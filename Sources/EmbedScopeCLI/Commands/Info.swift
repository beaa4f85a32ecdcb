import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "info", abstract: "What an index holds: spaces, classes, prototype sets, files; or, with --system, this machine's CPU, BLAS and kernels.")

        @Argument(help: "Index directory (not with --system).") var index: String?
        @Flag(help: "CPU model and features, BLAS library, version and core, the kernel each hot path uses, threads.")
        var system = false
        @OptionGroup var output: OutputOptions

        func validate() throws {
            if system && index != nil { throw ValidationError("give either an index or --system, not both") }
            if !system && index == nil { throw ValidationError("give an index directory (or --system for this machine's kernels)") }
        }

        func run() throws {
            try runCommand {
                if system {
                    let info = SystemInfo.collect()
                    if output.json { try printJSON(info) } else { print(info.text) }
                    return
                }
                let report = try IndexInfo.collect(Index.open(resolveURL(index ?? "")))
                if output.json { try printJSON(report) } else { print(report.text) }
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify", abstract: "Check everything: file checksums and sizes, the catalog (SQLite integrity, foreign keys, content checksum), the catalog against the vector files, finite values, metrics.json.",
            discussion: "Reads every byte. Exit status 0 only when every check passed; --json lists every check.")
        @Argument(help: "Index directory.") var index: String
        @OptionGroup var output: OutputOptions

        func run() throws {
            try runCommand {
                // metrics.json is derived data (any measuring command rewrites it), but `compare
                // --no-compute` and the report read it: a damaged one is reported here too.
                let url = resolveURL(index)
                // A path that holds no index at all (none there, a folder of something else) is the
                // command's error, on stderr as for every other command; the report (FAILED lines,
                // --json) is for an index and its damage.
                var isFolder: ObjCBool = false
                if !FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) || !isFolder.boolValue {
                    // A file (/dev/null, a FIFO) or nothing: an index is a folder.
                    _ = try Index.open(url)
                    throw EmbedScopeError(.notFound, "not an index: an index is a folder", path: url.path)
                }
                do { _ = try IndexDirectory.openGeneration(url) } catch let e as EmbedScopeError where e.kind == .notFound {
                    _ = try Index.open(url)   // its "no such index" error
                } catch {}   // damage ('current' names a missing generation, …): the report says it
                let report = Index.verifyReport(url, also: [("metrics-file", MetricsRecord.fileName, { _ = try $0.readMetrics() })])
                // A check that could not run for want of memory says nothing about the index:
                // that is the command's error, not a FAILED line.
                if let f = report.failures.first(where: { $0.kind == EmbedScopeError.Kind.outOfMemory.rawValue }) {
                    throw EmbedScopeError(.outOfMemory, "cannot verify: " + (f.message ?? "out of memory"))
                }
                if output.json { try printJSON(report) } else if report.ok { print(report.text) } else { note(report.text) }
                if !report.ok { throw ExitCode(1) }
            }
        }
    }
}
