import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

/// A space as the growth commands list it (docs/json.md: lists of objects, not maps).
struct SpaceDimJSON: Encodable { var name: String; var dim: Int }
/// A skipped image: its path and why.
struct SkippedJSON: Encodable { var path: String; var reason: String }

/// The JSON and text `add` and `remove` print.
struct GrowthJSON: Encodable {
    var index: String
    var rowsBefore: Int
    var rowsAfter: Int
    var added: [String]
    var removed: [String]
    var alreadyIndexed: Int
    var skipped: [SkippedJSON]
    var spaces: [SpaceDimJSON]
    /// As `info --json` lists them: id, name, count, read back from the index just written.
    var classes: [IndexInfo.Class]
    var droppedPrototypeSets: [String]
    var metricsJSON: String
    var notes: [String]
    var seconds: Double
}

func printGrowth(_ s: GrowthSummary, verb: String, json: Bool) throws {
    for (p, why) in s.skipped.prefix(20) { note("skipped \(p.displayEscaped): \(why)") }
    if s.skipped.count > 20 { note("… and \(s.skipped.count - 20) more skipped") }
    for n in s.notes { note(n) }
    if !s.droppedPrototypeSets.isEmpty {
        note("note: \(s.droppedPrototypeSets.count == 1 ? "probe set" : "probe sets") \(s.droppedPrototypeSets.joined(separator: ", ")) dropped: trained on the old rows; run `embedscope probe` again")
    }
    if json {
        try printJSON(GrowthJSON(index: s.index.path, rowsBefore: s.rowsBefore, rowsAfter: s.rowsAfter,
                                 added: verb == "removed" ? [] : s.paths, removed: verb == "removed" ? s.paths : [],
                                 alreadyIndexed: s.alreadyIndexed, skipped: s.skipped.map { SkippedJSON(path: $0.path, reason: $0.reason) },
                                 spaces: s.spaces.map { SpaceDimJSON(name: $0.name, dim: $0.dim) },
                                 classes: IndexInfo.collect(Index.open(s.index)).classes, droppedPrototypeSets: s.droppedPrototypeSets,
                                 metricsJSON: "dropped (it described the old rows; measuring commands write a new one)",
                                 notes: s.notes, seconds: s.seconds))
        return
    }
    print("\(verb) \(counted(s.paths.count, "row")): \(s.index.path) now has \(counted(s.rowsAfter, "row")) (was \(s.rowsBefore)) in \(counted(s.classes.count, "class")), " + String(format: "%.1fs", s.seconds))
    if s.alreadyIndexed > 0 { print("\(counted(s.alreadyIndexed, "image")) \(s.alreadyIndexed == 1 ? "was" : "were") already in the index") }
    print("spaces: " + s.spaces.map { "\($0.name) (dim \($0.dim))" }.joined(separator: ", ") + "; metrics.json dropped (it described the old rows)")
}
