import Dispatch
import Foundation
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeModels
import EmbedScopeAnalysis
import EmbedScopeReport

/// What `add`, `remove` and `merge` did (one new generation each).
public struct GrowthSummary: Sendable {
    public var index: URL
    public var rowsBefore: Int
    public var rowsAfter: Int
    /// Paths of the rows added (add, merge) or removed (remove).
    public var paths: [String]
    /// Images of the data set already in the index (folder add).
    public var alreadyIndexed: Int = 0
    /// Images that could not be decoded and were skipped (folder add, as `build` skips them).
    public var skipped: [(path: String, reason: String)] = []
    /// Spaces written, with their dimensions.
    public var spaces: [(name: String, dim: Int)] = []
    /// Probe prototype sets dropped: trained on the old rows (`embedscope probe` again).
    public var droppedPrototypeSets: [String] = []
    /// Classes the index has now.
    public var classes: [String] = []
    /// Notes for the user (e.g. shards missing from a merge).
    public var notes: [String] = []
    public var seconds: Double = 0
}

/// Shared pieces of `add`, `remove` and `merge` (docs/index-format.md, "Rows added, removed,
/// merged"): every one writes a whole new generation through `IndexBuilder.writeComposed`
/// under the index's writer lock and switches `current` like every other writer; stored rows are
/// copied bit for bit, never recomputed; metrics.json is not carried over (it described the old
/// rows); probe sets (prototype sets with a recorded training split) are dropped.
enum Growth {
    /// Meta keys a probe records with its head (`ProbeSplitRecord.metaKey`).
    static let probeSplitPrefix = "probeSplit."
    /// Meta key of a shard index (`build --shard i/n`).
    static let shardKey = "shard"

    /// Bytewise order of UTF-8 strings: the order `DatasetFolder.scan` gives classes and files.
    static func bytewiseLess(_ a: String, _ b: String) -> Bool {
        Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8))
    }

    /// The order `build` gives rows: by class name, then path (both bytewise). Within a class,
    /// the scan's order (split folder, then the file's path below the class folder) is the
    /// bytewise order of the whole relative path, since split names are fixed words.
    static func buildOrderLess(_ a: (className: String, path: String), _ b: (className: String, path: String)) -> Bool {
        if a.className != b.className { return bytewiseLess(a.className, b.className) }
        return bytewiseLess(a.path, b.path)
    }

    /// The meta an edited index keeps: everything but the probes' split records (their sets are
    /// dropped) and the content hash (recomputed).
    static func carriedMeta(_ meta: [String: String]) -> [String: String] {
        meta.filter { !$0.key.hasPrefix(probeSplitPrefix) && $0.key != Catalog.contentHashKey }
    }

    /// Prototype sets kept (all but probes) and dropped (probes: trained on the old rows).
    static func prototypeSets(of index: Index, meta: [String: String]) -> (kept: [String], dropped: [String]) {
        let names = index.prototypeSets.map(\.name)
        let dropped = names.filter { meta[probeSplitPrefix + $0] != nil }
        return (names.filter { !dropped.contains($0) }, dropped)
    }

    /// Notes for prototype sets kept across a change of the class list: a head whose rows were
    /// named after the classes in order (build's rule when the head has one row per class) keeps
    /// those names, where a build from scratch of the new class list could not match them up
    /// and would name the rows 0…C−1 (held-out sweep: `add` of a first image of a new class).
    static func headNameNotes(_ index: Index, kept: [String], oldClasses: [String], newClasses: [String]) -> [String] {
        guard oldClasses != newClasses else { return [] }
        return kept.compactMap { name in
            guard let names = try? index.prototypes(set: name).records.sorted(by: { $0.idx < $1.idx }).map(\.name),
                  names == oldClasses else { return nil }
            return "note: prototype set '\(name)' keeps its \(names.count) rows named after the \(names.count) classes it was built with; "
                + "the index now has \(newClasses.count) classes, and a build from scratch would name those rows 0…\(names.count - 1)"
        }
    }

    /// Class list and id remapping for rows drawn from several class lists: the sorted union.
    /// Two spellings of one class name across the lists (an index's "café" in NFC, new images' in
    /// NFD) are refused: as Swift strings they are one key, and the new rows went into the old class.
    static func unionClasses(_ lists: [[String]], bytewise: Bool) throws -> [String] {
        if let (a, b) = UnicodeTwins.first(in: lists.joined()) {
            throw EmbedScopeError(.invalidArgument, "the class names \(UnicodeTwins.describe(a, b)) are two spellings of one name", hint: UnicodeTwins.hint)
        }
        let all = Set(lists.joined())
        return bytewise ? all.sorted(by: bytewiseLess) : all.sorted()
    }

    /// Writes `plan` into a new generation of `destination` and returns the builder, not yet
    /// committed. The caller lets go of `inputs` (returns from the function that opened them)
    /// and then calls `commit()`, so the old generation is no longer held and is removed at once.
    static func write(_ plan: ComposedGeneration, inputs: [Index], to destination: URL, overwrite: Bool,
                      lock: IndexWriterLock?, protecting: [URL] = [], progress: ProgressSink) throws -> IndexBuilder {
        let builder = try IndexBuilder(destination: destination, overwrite: overwrite, lock: lock, protecting: protecting)
        do {
            try builder.writeComposed(plan, inputs: inputs, progress: progress)
        } catch {
            builder.abort()
            throw error
        }
        return builder
    }

    /// `realpath` of a path (the path as given when it does not exist).
    static func canonical(_ url: URL) -> String {
        let p = url.standardizedFileURL.path
        return RealPath.of(p) ?? p
    }

    static func seconds(since t0: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9
    }
}

