import Foundation
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeAnalysis

/// One picture of an image sheet with the text printed under it.
public struct SheetTile: Sendable {
    /// nil draws a grey tile with `note` in it (a missing or unreadable image).
    package var image: RGBImage?
    /// Caption lines under the tile (class, score), each shortened to the tile's width.
    public var lines: [String]
    /// Text shown inside a grey tile.
    public var note: String?
    /// Frame colour (e.g. green: same class as the query; red: another class); nil: none.
    package var frame: RGB?

    package init(image: RGBImage?, lines: [String], note: String? = nil, frame: RGB? = nil) {
        self.image = image; self.lines = lines; self.note = note; self.frame = frame
    }
}

/// A query tile on the left and labelled rows of tiles beside it: the contact sheet (nearest
/// row, farthest row) and the embedding-vs-pixel sheet (one row per space). Rendered into an
/// RGB canvas with the bitmap font; written as PNG through libpng.
public struct ImageSheet: Sendable {
    public var title: String
    public var query: SheetTile
    public var rows: [(label: String, tiles: [SheetTile])]
    /// Side of each thumbnail in pixels.
    public var thumb = 96

    public init(title: String, query: SheetTile, rows: [(label: String, tiles: [SheetTile])], thumb: Int = 96) {
        self.title = title; self.query = query; self.rows = rows; self.thumb = thumb
    }

    static let margin = 12, gap = 8, frameWidth = 3, lineHeight = 14, columnGap = 28

    var captionLines: Int { max(query.lines.count, rows.flatMap(\.tiles).map(\.lines.count).max() ?? 0) }
    var cell: Int { thumb + 2 * Self.frameWidth }
    var rowHeight: Int { Self.lineHeight + 4 + cell + captionLines * Self.lineHeight + 10 }
    var top: Int { Self.margin + BitmapFont.fixed13.height + 10 }

    /// Pixel size of the rendered sheet.
    public var size: (width: Int, height: Int) {
        let most = max(1, rows.map(\.tiles.count).max() ?? 1)
        let width = Self.margin * 2 + cell + Self.columnGap + most * cell + (most - 1) * Self.gap
        let height = top + max(1, rows.count) * rowHeight + Self.margin - 10
        return (width, height)
    }

    package func render() -> Canvas {
        let (width, height) = size
        var c = Canvas(width: width, height: height)
        let font = BitmapFont.fixed13
        c.text(font.fit(title, pixels: width - 2 * Self.margin), x: Self.margin, y: Self.margin, color: Palette.ink)
        // The query, beside the first row.
        c.text("query", x: Self.margin, y: top, color: Palette.muted)
        draw(query, in: &c, x: Self.margin, y: top + Self.lineHeight + 4)
        let sx = Self.margin + cell + Self.columnGap / 2
        c.fill(x: sx, y: top, width: 1, height: max(1, rows.count) * rowHeight - 10, Palette.grid.darker)
        let x0 = Self.margin + cell + Self.columnGap
        for (r, row) in rows.enumerated() {
            let y = top + r * rowHeight
            c.text(font.fit(row.label, pixels: width - x0 - Self.margin), x: x0, y: y, color: Palette.muted)
            for (i, t) in row.tiles.enumerated() {
                draw(t, in: &c, x: x0 + i * (cell + Self.gap), y: y + Self.lineHeight + 4)
            }
            if row.tiles.isEmpty { c.text("(none)", x: x0, y: y + Self.lineHeight + 4 + cell / 2, color: Palette.muted) }
        }
        return c
    }

    private func draw(_ t: SheetTile, in c: inout Canvas, x: Int, y: Int) {
        let f = Self.frameWidth
        if let frame = t.frame { c.stroke(x: x, y: y, width: cell, height: cell, thickness: f, frame) }
        if let img = t.image {
            c.fill(x: x + f, y: y + f, width: thumb, height: thumb, RGB(hex: 0xf4f4f4))
            c.draw(img, x: x + f, y: y + f, box: thumb)
        } else {
            c.fill(x: x + f, y: y + f, width: thumb, height: thumb, Palette.missing)
            let words = (t.note ?? "no image").split(separator: " ").map(String.init)
            // Wrap the note into the tile, word by word.
            var lines: [String] = [], current = ""
            let perLine = max(1, thumb / BitmapFont.fixed13.advance - 1)
            for w in words {
                if current.isEmpty { current = w } else if current.count + 1 + w.count <= perLine { current += " " + w } else { lines.append(current); current = w }
            }
            if !current.isEmpty { lines.append(current) }
            let shown = Array(lines.prefix(max(1, thumb / Self.lineHeight - 1)))
            let y0 = y + f + (thumb - shown.count * Self.lineHeight) / 2
            for (i, l) in shown.enumerated() { c.centredText(l, x: x + f, width: thumb, y: y0 + i * Self.lineHeight, color: Palette.ink) }
        }
        for (i, l) in t.lines.enumerated() {
            c.centredText(l, x: x, width: cell, y: y + cell + 3 + i * Self.lineHeight, color: i == 0 ? Palette.ink : Palette.muted)
        }
    }
}

extension RGB {
    var darker: RGB { RGB(UInt8(Double(r) * 0.8), UInt8(Double(g) * 0.8), UInt8(Double(b) * 0.8)) }
}

/// Finds and decodes the images of an index for sheets. A catalog path is tried, in order:
/// as given when absolute; under each root (`--images`, then the data-set root the index was
/// built from, which is how `query --path` resolves paths); relative to the working directory;
/// relative to the index's parent directory. Decoded images are cached.
public final class ImageResolver: Sendable {
    public let roots: [URL]
    private let cache = Locked<[String: Result<RGBImage, ResolveFailure>]>([:])

    public struct ResolveFailure: Error, Sendable { public var note: String }

    /// Decoded images larger than this (either side) are kept downscaled to it, so that a sheet
    /// of large photos holds thumbnails in memory, not full-size decodes.
    public let maxSide: Int

    public init(roots: [URL], maxSide: Int = 256) { self.roots = roots; self.maxSide = max(1, maxSide) }

    /// `img` scaled down (aspect kept, antialiased) so that neither side exceeds `maxSide`.
    func shrink(_ img: RGBImage) -> RGBImage {
        let side = max(img.width, img.height)
        guard side > maxSide else { return img }
        let scale = Double(maxSide) / Double(side)
        let w = max(1, Int((Double(img.width) * scale).rounded())), h = max(1, Int((Double(img.height) * scale).rounded()))
        let px = ImageResize.resize(img, width: w, height: h).map { UInt8(max(0, min(255, $0.rounded()))) }
        return RGBImage(width: w, height: h, pixels: px)
    }

    /// The file a catalog path refers to, or nil when none of the candidates exists.
    public func locate(_ path: String) -> URL? {
        let candidates: [URL] = path.hasPrefix("/") ? [URL(fileURLWithPath: path)] : roots.map { $0.appendingPathComponent(path) }
        return candidates.first { FileManager.default.fileExists(atPath: $0.path) }
    }

    /// The decoded image, or a short note for a grey tile ("missing file", "unreadable: …").
    package func image(_ path: String) -> Result<RGBImage, ResolveFailure> {
        if let r = cache.withLock({ $0[path] }) { return r }
        let r: Result<RGBImage, ResolveFailure>
        if let url = locate(path) {
            do { r = .success(shrink(try ImageDecoder.decode(contentsOf: url))) } catch let e as ImageError {
                r = .failure(ResolveFailure(note: Self.note(for: e.kind)))
            } catch {
                r = .failure(ResolveFailure(note: "unreadable image"))
            }
        } else {
            r = .failure(ResolveFailure(note: "image file not found"))
        }
        cache.withLock { $0[path] = r }
        return r
    }

    static func note(for kind: ImageError.Kind) -> String {
        switch kind {
        case .unreadable: return "cannot read the file"
        case .notAnImage: return "not an image"
        case .corrupt: return "corrupt image"
        case .truncated: return "truncated image"
        case .unsupported: return "unsupported image"
        case .tooLarge: return "image too large"
        }
    }
}

extension Index {
    /// An image resolver for this index: `extraRoot` first, then the data-set root recorded at
    /// build time, the working directory and the index's parent directory.
    public func imageResolver(extraRoot: URL? = nil, maxSide: Int = 256) -> ImageResolver {
        var roots: [URL] = []
        if let extraRoot { roots.append(extraRoot) }
        if let root = try? catalog.meta()["datasetRoot"] { roots.append(URL(fileURLWithPath: root)) }
        roots.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        roots.append(url.deletingLastPathComponent())
        return ImageResolver(roots: roots, maxSide: maxSide)
    }

    /// `count` seeded query rows, from as many different classes as possible (a seeded shuffle
    /// of the classes, then a seeded row of each), in class order of the shuffle.
    public func sampleQueryRows(count: Int, seed: UInt64) throws -> [Int] {
        guard count > 0, rowCount > 0 else { return [] }
        let ids = try catalog.classIds()
        var byClass: [Int32: [Int]] = [:]
        for (r, c) in ids.enumerated() { byClass[c, default: []].append(r) }
        var classes = byClass.keys.sorted()
        var g = SplitMix64(seed: seed)
        for i in stride(from: classes.count - 1, to: 0, by: -1) { classes.swapAt(i, Int(g.below(UInt64(i + 1)))) }
        var picked: [Int] = [], taken = Set<Int>()
        while picked.count < min(count, rowCount) {
            for c in classes where picked.count < min(count, rowCount) {
                let rows = byClass[c]!.filter { !taken.contains($0) }
                guard !rows.isEmpty else { continue }
                let r = rows[Int(g.below(UInt64(rows.count)))]
                picked.append(r); taken.insert(r)
            }
        }
        return picked
    }

    private func tile(row: Int, path: String, className: String, caption: String, frame: RGB?, resolver: ImageResolver) -> SheetTile {
        switch resolver.image(path) {
        case .success(let img): return SheetTile(image: img, lines: [className, caption], frame: frame)
        case .failure(let f): return SheetTile(image: nil, lines: [className, caption], note: f.note, frame: frame)
        }
    }

    private func tiles(_ hits: [ResultRow], queryClass: String, resolver: ImageResolver) -> [SheetTile] {
        hits.map {
            tile(row: $0.row, path: $0.path, className: $0.class, caption: String(format: "%.4f", $0.score),
                 frame: $0.class == queryClass ? Palette.good : Palette.bad, resolver: resolver)
        }
    }

    private func queryTile(row: Int, resolver: ImageResolver) throws -> (SheetTile, ResultRow) {
        let q = try describe([(row, 1.0)])[0]
        return (tile(row: row, path: q.path, className: q.class, caption: "row \(row)", frame: Palette.ink, resolver: resolver), q)
    }

    /// The query image, its `k` nearest and its `k` farthest neighbours in `space`; each tile
    /// framed green when its class is the query's, red otherwise, with class and cosine under it.
    public func contactSheet(row: Int, space: String, k: Int, resolver: ImageResolver, thumb: Int = 96) throws -> ImageSheet {
        let (qt, q) = try queryTile(row: row, resolver: resolver)
        var o = SearchOptions(); o.space = space; o.k = k
        let near = try search(.row(row), options: o)
        o.farthest = true
        let far = try search(.row(row), options: o)
        return ImageSheet(title: "\(q.class) · \(q.path) · space \(space) · cosine", query: qt,
                          rows: [("nearest \(near.count) in \(space)", tiles(near, queryClass: q.class, resolver: resolver)),
                                 ("farthest \(far.count) in \(space)", tiles(far, queryClass: q.class, resolver: resolver))],
                          thumb: thumb)
    }

    /// The query image with its `k` nearest neighbours in each of `spaces` (embedding, then
    /// pixel), one row per space.
    public func spacesSheet(row: Int, spaces names: [String], k: Int, resolver: ImageResolver, thumb: Int = 96) throws -> ImageSheet {
        let (qt, q) = try queryTile(row: row, resolver: resolver)
        var rows: [(label: String, tiles: [SheetTile])] = []
        for s in names {
            var o = SearchOptions(); o.space = s; o.k = k
            let near = try search(.row(row), options: o)
            let same = near.filter { $0.class == q.class }.count
            rows.append(("nearest \(near.count) in \(s) (\(same)/\(near.count) same class)", tiles(near, queryClass: q.class, resolver: resolver)))
        }
        return ImageSheet(title: "\(q.class) · \(q.path) · " + names.joined(separator: " vs "), query: qt, rows: rows, thumb: thumb)
    }
}
