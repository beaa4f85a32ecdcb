import Foundation
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeAnalysis

/// The report's data-quality section: near-duplicate groups (leakage first) and likely
/// mislabels, each with image sheets.
public struct QualitySection: Sendable {
    public var space: String
    public var threshold: Double
    public var rows: Int
    public var pairCount: Int
    public var leakagePairs: Int
    public var differentClassPairs: Int
    public var groupCount: Int
    /// Up to `shown` groups: leakage first, then mixed labels, then larger.
    public var groups: [DuplicateReport.Group]
    /// One sheet per shown group: its first image, then the others.
    public var duplicateSheets: [ImageSheet] = []
    /// nil with `mislabelNote` when the mislabel search was not possible (one class, …).
    public var mislabels: MislabelReport?
    public var mislabelNote: String?
    /// One sheet per shown candidate: the image, then its nearest neighbours.
    public var mislabelSheets: [ImageSheet] = []
}

extension Index {
    /// Duplicates (`threshold` in `space`) and mislabels of this index for the report, with
    /// sheets for the first `shown` groups and candidates.
    func qualitySection(space: String, threshold: Double = 0.98, shown: Int = 4, neighbours: Int, resolver: ImageResolver,
                        thumb: Int, seed: UInt64, progress: ProgressSink) throws -> QualitySection {
        let d = try duplicates(space: space, threshold: threshold, progress: progress)
        var q = QualitySection(space: space, threshold: threshold, rows: d.rows, pairCount: d.pairCount, leakagePairs: d.leakagePairs,
                               differentClassPairs: d.differentClassPairs, groupCount: d.groups.count, groups: Array(d.groups.prefix(shown)))
        for g in q.groups {
            let first = g.images[0]
            func tile(_ i: DuplicateReport.Image, caption: String, frame: RGB?) -> SheetTile {
                let lines = [i.class, caption]
                switch resolver.image(i.path) {
                case .success(let img): return SheetTile(image: img, lines: lines, frame: frame)
                case .failure(let f): return SheetTile(image: nil, lines: lines, note: f.note, frame: frame)
                }
            }
            let others = g.images.dropFirst().map { i in
                tile(i, caption: i.split ?? "row \(i.row)", frame: i.split != first.split ? Palette.bad : (i.class != first.class ? Palette.bad : Palette.good))
            }
            let flags = [g.leakage ? "LEAKAGE across splits" : nil, g.differentClass ? "labels differ" : nil].compactMap { $0 }.joined(separator: ", ")
            q.duplicateSheets.append(ImageSheet(
                title: "\(g.images.count) near-duplicates · cosine \(String(format: "%.4f–%.4f", g.minScore, g.maxScore)) in \(space)" + (flags.isEmpty ? "" : " · " + flags),
                query: tile(first, caption: first.split ?? "row \(first.row)", frame: Palette.ink),
                rows: [("the others (red frame: another split or another label)", Array(others.prefix(10)))], thumb: thumb))
        }
        do {
            var o = MislabelOptions()
            o.space = space; o.seed = seed; o.limit = 20
            o.k = max(1, min(10, rowCount - 1))
            o.folds = max(2, min(5, rowCount / 2))
            let m = try mislabels(options: o, progress: progress)
            q.mislabels = m
            for c in m.candidates.prefix(shown) {
                var so = SearchOptions(); so.space = space; so.k = neighbours
                let near = try search(.row(c.row), options: so)
                let label = c.class
                let nearTiles = near.map { r -> SheetTile in
                    let lines = [r.class, String(format: "%.4f", r.score)]
                    let frame = r.class == label ? Palette.good : Palette.bad
                    switch resolver.image(r.path) {
                    case .success(let img): return SheetTile(image: img, lines: lines, frame: frame)
                    case .failure(let f): return SheetTile(image: nil, lines: lines, note: f.note, frame: frame)
                    }
                }
                let qLines = ["label: \(c.class)", "suggested: \(c.suggested)"]
                let qt: SheetTile
                switch resolver.image(c.path) {
                case .success(let img): qt = SheetTile(image: img, lines: qLines, frame: Palette.ink)
                case .failure(let f): qt = SheetTile(image: nil, lines: qLines, note: f.note, frame: Palette.ink)
                }
                q.mislabelSheets.append(ImageSheet(
                    title: "row \(c.row) · \(c.path) · labelled \(c.class), evidence says \(c.suggested) (score \(String(format: "%.3f", c.score)))",
                    query: qt, rows: [("nearest \(near.count) in \(space) (green: labelled \(label) too)", nearTiles)], thumb: thumb))
            }
        } catch let e as EmbedScopeError where e.kind == .undefined || e.kind == .invalidArgument {
            q.mislabelNote = e.message
        }
        return q
    }
}
