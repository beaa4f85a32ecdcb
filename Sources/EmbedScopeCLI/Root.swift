import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

@main
struct Root: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embedscope",
        abstract: "Embedding similarity search for image datasets.",
        discussion: reflow("""
        Start with `embedscope demo`. An index is a directory: one memory-mapped vector file per
        space (embedding, pixel, …), prototype sets from classifier heads, and catalog.sqlite.
        """),
        version: "0.1.0",
        subcommands: [Demo.self, Dataset.self, Build.self, Import.self, Add.self, Remove.self, Merge.self, Export.self, Query.self, Rank.self, Info.self, Verify.self, Metrics.self, Versus.self, Evaluate.self, Probe.self, Project.self, Compare.self, Duplicates.self, Mislabels.self, Uniqueness.self, Representativeness.self, Report.self, Serve.self, Checkpoint.self]
    )

    /// ArgumentParser's own `main`, after fds 0–2 are made safe (`StandardStreams`): a command
    /// run with stdout closed must not write its results into the next file it opens.
    static func main() async {
        // Under `ulimit -s`, before anything else: threads get the usual 8 MiB stacks, and where
        // the main thread's stack cannot grow to that, everything runs on a thread of its own
        // (`StackLimit`; the main thread only waits for it).
        let pending: (any AsyncParsableCommand)?
        if StackLimit.raise() {
            let box = CommandBox()
            StackLimit.run { box.command = start() }
            pending = box.command
        } else {
            pending = start()
        }
        guard var command = pending else { return }
        do {
            try await command.run()
        } catch {
            // The message (usage, help) is rendered by reflection: on a full stack too.
            StackLimit.run { Root.exit(withError: error) }
        }
    }

    /// Everything up to the run of an asynchronous command (`serve`), which is returned; a
    /// synchronous command has run when this returns nil. Ends the process on an error.
    private static func start() -> (any AsyncParsableCommand)? {
        // Under `ulimit -v` / `-u` the process has already started again with OpenBLAS on one
        // thread, before any library ran (Sources/CStart/start.c, `AddressSpace`).
        // Under `ulimit -f`, a write past the limit is an error (EFBIG: "File too large") that the
        // writer reports and cleans up after, not SIGXFSZ ending the process mid-write.
        signal(SIGXFSZ, SIG_IGN)
        StandardStreams.reserveClosedDescriptors()
        do {
            try AddressSpace.requireWorkingRoom()
            // Under `ulimit -u` (or a pids limit), before the first thing that starts a thread:
            // libdispatch would wait for ever for a thread it cannot create (`ThreadRoom`).
            try ThreadRoom.require()
            // Under `ulimit -n`, before the first dispatch source: libdispatch stops the process
            // when it finds no descriptor free (`DescriptorRoom`).
            try DescriptorRoom.require()
        } catch {
            note("error: \(EmbedScopeError.describe(error))")
            exit(withError: ExitCode(1))
        }
        if let message = unknownCommand(Array(CommandLine.arguments.dropFirst())) {
            note("Error: \(message)\n  See 'embedscope --help' for the commands.")
            exit(withError: ExitCode.validationFailure)
        }
        do {
            var command = try parseAsRoot()
            if let asyncCommand = command as? AsyncParsableCommand { return asyncCommand }
            try command.run()
            return nil
        } catch {
            // Help and --version are printed here, so that one that cannot be written (stdout
            // closed or full) is an error, not exit 0 with nothing shown.
            if exitCode(for: error) == .success {
                Swift.print(fullMessage(for: error))
                do { try StandardStreams.finishOutput() } catch {
                    note("error: \(EmbedScopeError.describe(error))")
                    exit(withError: ExitCode(1))
                }
                exit(withError: ExitCode.success)
            }
            exit(withError: error)
        }
    }
}

/// A command name that names no command, where ArgumentParser would not say so: `help NAME …`
/// printed the root help with exit 0 for a NAME that is no command, and a command group's
/// unknown subcommand followed by an option (`dataset mnist --out x`) was "Unknown option
/// '--out'". Nil: nothing to say here (ArgumentParser reports the rest).
func unknownCommand(_ args: [String]) -> String? {
    var words: ArraySlice<String>
    var command: ParsableCommand.Type = Root.self
    var names = ["embedscope"]
    if args.first == "help" {
        words = args.dropFirst()
    } else {
        // A group (a command with subcommands) below the root: its next word must name one of them.
        guard let first = args.first,
              let group = Root.configuration.subcommands.first(where: { $0._commandName == first }),
              !group.configuration.subcommands.isEmpty, group.configuration.defaultSubcommand == nil else { return nil }
        command = group
        names.append(first)
        words = args.dropFirst().prefix(1)
    }
    for word in words {
        if word.hasPrefix("-") { return nil }   // options: ArgumentParser's to check
        if word == "help" && names == ["embedscope"] { return nil }   // `help help`: ArgumentParser's own
        let subcommands = command.configuration.subcommands
        // A command's own arguments — but after `help` every word is a command's name.
        if subcommands.isEmpty {
            return args.first == "help" ? "no command '\((names + [word]).joined(separator: " "))'; \(names.joined(separator: " ")) has no subcommands" : nil
        }
        guard let sub = subcommands.first(where: { $0._commandName == word }) else {
            let known = subcommands.map { $0._commandName }.joined(separator: ", ")
            return "no command '\((names + [word]).joined(separator: " "))'; \(names.joined(separator: " ")) has: \(known)"
        }
        command = sub
        names.append(word)
    }
    return nil
}

/// What the thread that starts a command under a small stack limit hands back (`StackLimit.run`:
/// the main thread waits for it, and the join orders these accesses): an asynchronous command
/// still to run, nil when the command has run.
private final class CommandBox: @unchecked Sendable {
    var command: (any AsyncParsableCommand)?
}

/// Every table and summary this module prints goes through here: names come from users' files,
/// and a bidirectional control in one ("cat\u{202E}gpj.exe" reads as "catexe.jpg") reorders the
/// terminal line around it, so each is shown as `\u{202E}` — as the report and the page show
/// them; control characters but the line feed (an escape sequence in a name) as `\u{1B}`
/// (`terminalEscaped`). JSON keeps names exactly (`printJSON`), and so do the CSVs (`Swift.print`).
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
    Swift.print(items.map { "\($0)" }.joined(separator: separator).terminalEscaped, terminator: terminator)
}

func formatTable(_ rows: [ResultRow]) -> String {
    guard !rows.isEmpty else { return "(no results)" }
    // Measured as shown (escaped), so the columns line up.
    let paths = rows.map(\.path.displayEscaped), classes = rows.map(\.class.displayEscaped)
    let pw = min(60, max(4, paths.map(\.count).max() ?? 4))
    let cw = max(5, classes.map(\.count).max() ?? 5)
    var lines = ["rank    row  " + "path".padded(to: pw) + "  " + "class".padded(to: cw) + "    score"]
    for (i, r) in rows.enumerated() {
        var p = paths[i]
        if p.count > pw { p = "…" + p.suffix(pw - 1) }
        lines.append(String(format: "%4d %6d  ", r.rank, r.row) + p.padded(to: pw) + "  "
                     + classes[i].padded(to: cw) + String(format: "  %7.4f", r.score))
    }
    return lines.joined(separator: "\n")
}

struct ResultsJSON: Encodable {
    var results: [ResultRow]
}

/// Records results in the index's metrics.json; a failure to write it is a warning (the
/// results themselves are printed either way), a damaged file that was replaced a note.
func recordMetrics(_ body: () throws -> Bool) throws {
    do {
        if try body() { note("note: metrics.json was damaged and has been rewritten") }
    } catch let e as EmbedScopeError {
        note("warning: results not recorded in metrics.json: \(e.description)")
    }
}


