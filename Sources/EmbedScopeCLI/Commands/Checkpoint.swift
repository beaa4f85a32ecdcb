import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Checkpoint: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "checkpoint", abstract: "Read a PyTorch checkpoint (.pth/.pt/.ckpt): list its tensors, optionally export each as .npy.",
            discussion: reflow("""
            Reads both torch.save formats without Python and without running code from the file.
            Scripts/check_checkpoint.py compares the export against torch.load.
            """))

        @Argument(help: "Checkpoint file.") var file: String
        @Option(help: "Key prefix to strip (default: a prefix 'model.' or 'module.' that every key has; '' keeps keys).")
        var stripPrefix: String?
        @Option(help: "Directory to write one float32 <name>.npy per tensor into (created if missing).") var export: String?
        @Option(name: .customLong("repeat"), parsing: .unconditional, help: "Load this many times and report the median time.") var repeats = 1
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard repeats >= 1 else { throw ValidationError("--repeat must be at least 1") }
        }

        struct Report: Encodable {
            struct Entry: Encodable { var name: String, shape: [Int] }
            var file: String
            var tensors: [Entry]
            var values: Int
            var loadMs: Double
            var repeats: Int
        }

        func run() throws {
            try runCommand {
                let url = resolveURL(file)
                var stateDict = StateDict()
                var times: [Double] = []
                for _ in 0..<repeats {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    stateDict = try TorchCheckpoint.load(contentsOf: url, stripPrefix: stripPrefix)
                    times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                }
                let names = stateDict.keys.sorted()
                let report = Report(file: url.path, tensors: names.map { .init(name: $0, shape: stateDict[$0]?.shape ?? []) },
                                    values: stateDict.values.reduce(0) { $0 + $1.count },
                                    loadMs: times.sorted()[times.count / 2], repeats: repeats)
                if let export {
                    let dir = resolveURL(export)
                    // Names are checked before the folder is created: a refusal leaves nothing behind.
                    let fileNames = try CheckpointExport.fileNames(names, in: dir)
                    do {
                        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                    } catch {
                        throw EmbedScopeError(.io, "cannot create the export directory", path: dir.path, underlying: error)
                    }
                    for name in names {
                        guard let t = stateDict[name], let fileName = fileNames[name] else { continue }
                        try NPYArray.write(shape: t.shape, values: t.data, to: dir.appendingPathComponent(fileName))
                    }
                    // Said if the listing cannot be printed after it (a full stdout, a reader gone).
                    CommittedChanges.record("\(dir.path) holds the \(names.count) tensors as .npy")
                }
                if output.json {
                    try printJSON(report)
                } else {
                    // Names come from the file: control characters are escaped, never sent to the terminal.
                    for entry in report.tensors { print("\(entry.name.escapedForDisplay)  \(entry.shape)") }
                    print(String(format: "%d tensors, %d values, loaded in %.1f ms", names.count, report.values, report.loadMs)
                          + (repeats > 1 ? " (median of \(repeats))" : ""))
                }
            }
        }
    }
}
