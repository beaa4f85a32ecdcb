import Dispatch
import Foundation
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeModels
import EmbedScopeAnalysis
import EmbedScopeReport

/// Which rows `remove` takes out.
public enum RowSelection: Sendable, Equatable {
    /// Rows with these paths (as stored in the catalog).
    case paths([String])
    /// Every row of these classes.
    case classes([String])
    /// These row numbers.
    case rows([Int])

    /// Row numbers from a file: one per line (blank lines and `#` comments ignored), or a CSV
    /// whose header names a `row` column (e.g. `rows.csv` of `export`).
    public static func readRows(from url: URL) throws -> RowSelection {
        .rows(try readRowNumbers(from: url))
    }

    /// The row numbers of a rows file (`remove --rows`, `query --rows`): one per line, LF or CRLF,
    /// blank lines and `#` comments (whole-line or trailing) ignored; or a CSV whose header names
    /// a `row` column (`export`'s rows.csv, the page's Export CSV).
    public static func readRowNumbers(from url: URL) throws -> [Int] {
        try RegularFile.requireRegularInput(url)
        var text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw EmbedScopeError(.io, "cannot read", path: url.path, underlying: error)
        }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }  // a byte-order mark, in either form
        // One row number per line (# comments), or a CSV whose header names a `row` column: that
        // one is read as RFC 4180 (quoted fields may hold commas and line breaks).
        let lines = text.split(whereSeparator: \.isNewline)
            .map { ($0.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "").trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard let first = lines.first else {
            throw EmbedScopeError(.invalidArgument, "no row numbers in the file", path: url.path, hint: "one row number per line")
        }
        var rows: [Int] = []
        if Int(first) != nil {
            for (k, line) in lines.enumerated() {
                guard let r = Int(line), r >= 0 else {
                    throw EmbedScopeError(.invalidArgument, "'\(line.prefix(60))' (line \(k + 1)) is not a row number", path: url.path)
                }
                rows.append(r)
            }
            return rows
        }
        // Blank and `#` comment lines before the header are skipped, as in the plain form.
        let records = try CSV.parse(text, path: url.path).drop { rec in
            rec.fields.allSatisfy { $0.trimmingCharacters(in: .whitespaces).isEmpty }
                || rec.fields[0].trimmingCharacters(in: .whitespaces).hasPrefix("#")
        }
        guard let header = records.first else {
            throw EmbedScopeError(.invalidArgument, "no row numbers in the file", path: url.path, hint: "one row number per line")
        }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let rowColumns = names.indices.filter { names[$0] == "row" }
        guard let column = rowColumns.first else {
            throw EmbedScopeError(.invalidArgument, "line 1 is '\(first.prefix(60))': neither a row number nor a CSV header with a `row` column", path: url.path)
        }
        guard rowColumns.count == 1 else {
            throw EmbedScopeError(.invalidArgument, "the header names a `row` column \(rowColumns.count) times: which one is meant?", path: url.path)
        }
        for rec in records.dropFirst() {
            if rec.fields.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) { continue } // blank line
            guard rec.fields.count > column, let r = Int(rec.fields[column].trimmingCharacters(in: .whitespaces)), r >= 0 else {
                let shown = rec.fields.count > column ? "'\(rec.fields[column].prefix(40))'" : "nothing"
                throw EmbedScopeError(.invalidArgument, "line \(rec.line) has \(shown) in the `row` column, not a row number", path: url.path)
            }
            rows.append(r)
        }
        guard !rows.isEmpty else {
            throw EmbedScopeError(.invalidArgument, "the CSV has a header but no rows", path: url.path)
        }
        return rows
    }
}

extension IndexGrowth {
    /// Removes rows from an index as one new generation: the remaining rows keep their order and
    /// are renumbered 0…n−1 in every space, norms file and the catalog; a class left without
    /// rows is dropped (ids renumbered, as a build of the folder without those images would
    /// number them). A selection naming a path, class or row that is not in the index is an
    /// error, and so is removing every row; nothing is changed then.
    public static func remove(index url: URL, _ selection: RowSelection, progress: ProgressSink = SilentProgress()) throws -> GrowthSummary {
        let t0 = DispatchTime.now()
        let lock = try IndexWriterLock.acquire(url, create: false)
        defer { lock.release() }
        let (builder, prepared) = try prepareRemove(url, selection, lock: lock, progress: progress)
        var summary = prepared
        try builder.commit()
        summary.seconds = Growth.seconds(since: t0)
        return summary
    }

    private static func prepareRemove(_ url: URL, _ selection: RowSelection, lock: IndexWriterLock, progress: ProgressSink) throws -> (IndexBuilder, GrowthSummary) {
        progress.begin("remove: reading the index", total: nil)   // (a million rows: seconds before the first count)
        let index = try Index.open(url)
        let meta = try index.catalog.meta()
        let old = try index.catalog.allImages()
        let oldClasses = try index.catalog.classes().map(\.name)
        var drop = Set<Int>()
        switch selection {
        case .paths(let paths):
            let byPath = Dictionary(old.map { ($0.path, $0.row) }, uniquingKeysWith: { a, _ in a })
            for p in paths {
                guard let r = byPath[p] else {
                    throw EmbedScopeError(.notFound, "no row with path '\(p)' in the index", path: url.path,
                                          hint: "paths are as `query --json` prints them (relative to the data-set root); nothing was changed")
                }
                drop.insert(r)
            }
        case .classes(let names):
            for c in names {
                guard let id = oldClasses.firstIndex(of: c) else {
                    throw EmbedScopeError(.notFound, "no class '\(c)' in the index (it has: \(oldClasses.prefix(12).joined(separator: ", ")))", path: url.path,
                                          hint: "nothing was changed")
                }
                for img in old where img.classId == id { drop.insert(img.row) }
            }
        case .rows(let rows):
            for r in rows {
                guard (0..<old.count).contains(r) else {
                    throw EmbedScopeError(.notFound, "row \(r) is not in the index (rows 0…\(old.count - 1))", path: url.path, hint: "nothing was changed")
                }
                drop.insert(r)
            }
        }
        guard !drop.isEmpty else {
            throw EmbedScopeError(.notFound, "nothing to remove", path: url.path, hint: "nothing was changed")
        }
        guard drop.count < old.count else {
            throw EmbedScopeError(.refused, "that would remove every row of the index", path: url.path,
                                  hint: "an index needs at least one image; delete the folder instead. Nothing was changed")
        }
        let kept = old.filter { !drop.contains($0.row) }
        // Classes that had rows and have none now are dropped; a class that had none stays (a
        // build keeps a class whose every image was skipped).
        let before = Set(old.map(\.classId)), after = Set(kept.map(\.classId))
        let classes = oldClasses.indices.filter { !before.contains($0) || after.contains($0) }
        let newId = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        var images: [ImageRecord] = [], sources: [RowSource] = []
        for img in kept {
            var rec = img
            rec.row = images.count
            rec.classId = newId[img.classId] ?? 0
            images.append(rec); sources.append(.stored(input: 0, row: img.row))
        }
        let sets = Growth.prototypeSets(of: index, meta: meta)
        let plan = ComposedGeneration(classes: classes.map { oldClasses[$0] }, images: images, sources: sources, meta: Growth.carriedMeta(meta),
                                      spaces: index.spaces, prototypeSets: sets.kept.map { (input: 0, name: $0) })
        let builder = try Growth.write(plan, inputs: [index], to: url, overwrite: true, lock: lock, progress: progress)
        var summary = GrowthSummary(index: url, rowsBefore: old.count, rowsAfter: images.count,
                                    paths: old.filter { drop.contains($0.row) }.map(\.path))
        summary.spaces = index.spaces.map { (name: $0.name, dim: $0.dim) }
        summary.droppedPrototypeSets = sets.dropped
        summary.classes = plan.classes
        return (builder, summary)
    }
}
