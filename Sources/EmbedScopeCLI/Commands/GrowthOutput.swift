import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

/// The JSON and text `add`, `remove` and `merge` print.
struct GrowthJSON: Encodable {
    var index: String
    var rowsBefore: Int
    var rowsAfter: Int
    var added: [String]
    var removed: [String]
    var alreadyIndexed: Int
    var skipped: [[String]]
    var spaces: [String: Int]
    var classes: [String]
    var droppedPrototypeSets: [String]
    var metricsJSON: String
    var notes: [String]
    var seconds: Double
}

func printGrowth(_ s: GrowthSummary, verb: String, json: Bool) throws {
    for (p, why) in s.skipped.prefix(20) { note("skipped \(p): \(why)") }
    if s.skipped.count > 20 { note("… and \(s.skipped.count - 20) more skipped") }
    for n in s.notes { note(n) }
    if !s.droppedPrototypeSets.isEmpty {
        note("note: probe set(s) \(s.droppedPrototypeSets.joined(separator: ", ")) dropped: trained on the old rows; run `embedscope probe` again")
    }
    if json {
        try printJSON(GrowthJSON(index: s.index.path, rowsBefore: s.rowsBefore, rowsAfter: s.rowsAfter,
                                 added: verb == "removed" ? [] : s.paths, removed: verb == "removed" ? s.paths : [],
                                 alreadyIndexed: s.alreadyIndexed, skipped: s.skipped.map { [$0.path, $0.reason] },
                                 spaces: Dictionary(s.spaces.map { ($0.name, $0.dim) }, uniquingKeysWith: { a, _ in a }),
                                 classes: s.classes, droppedPrototypeSets: s.droppedPrototypeSets,
                                 metricsJSON: "dropped (it described the old rows; measuring commands write a new one)",
                                 notes: s.notes, seconds: s.seconds))
        return
    }
    print(String(format: "%@ %d row(s): %@ now has %d rows (was %d) in %d classes, %.1fs", verb, s.paths.count, s.index.path, s.rowsAfter, s.rowsBefore, s.classes.count, s.seconds))
    if s.alreadyIndexed > 0 { print("\(s.alreadyIndexed) image(s) were already in the index") }
    print("spaces: " + s.spaces.map { "\($0.name) (dim \($0.dim))" }.joined(separator: ", ") + "; metrics.json dropped (it described the old rows)")
}
