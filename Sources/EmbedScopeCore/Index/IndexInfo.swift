import Foundation

/// The summary `embedscope info` prints.
public struct IndexInfo: Codable, Sendable {
    public struct Space: Codable, Sendable {
        public var name, model, preprocessing, file: String; public var dim, rows, bytes: Int
        /// `f32`, or `f16` / `bf16` when the space has a half-precision copy that queries scan.
        public var storage: String
    }
    public struct Class: Codable, Sendable { public var id: Int; public var name: String; public var count: Int }
    public struct PrototypeSet: Codable, Sendable { public var name, space, source: String; public var count: Int; public var sample: [String] }
    public var path: String
    public var formatVersion: String
    public var rows: Int
    public var spaces: [Space]
    public var classes: [Class]
    public var prototypeSets: [PrototypeSet]
    public var files: [String: Int]
    public var totalBytes: Int
    public var meta: [String: String]

    public static func collect(_ idx: Index) throws -> IndexInfo {
        let counts = try idx.catalog.classCounts()
        let files = fileSizes(idx)
        var version = "\(VectorFileHeader.currentMajor).\(VectorFileHeader.currentMinor)"
        let spaces = try idx.spaces.map { s -> Space in
            let f = try idx.vectors(space: s.name)
            version = "\(f.header.major).\(f.header.minor)"
            return Space(name: s.name, model: s.model, preprocessing: s.preprocessing, file: s.file, dim: s.dim, rows: s.rows, bytes: f.fileSize,
                         storage: idx.halfStorage[s.name]?.rawValue ?? "f32")
        }
        let sets = try idx.prototypeSets.map { p in
            PrototypeSet(name: p.name, space: p.space, source: p.source, count: p.count,
                         sample: try idx.catalog.prototypes(inSet: p.name).prefix(5).map(\.name))
        }
        return IndexInfo(path: idx.url.path, formatVersion: version, rows: idx.rowCount, spaces: spaces,
                         classes: try idx.catalog.classes().map { Class(id: $0.id, name: $0.name, count: counts[$0.id] ?? 0) },
                         prototypeSets: sets, files: files, totalBytes: files.values.reduce(0, +), meta: try idx.catalog.meta())
    }

    /// The index directory's files and their sizes now (metrics.json and a half copy come and go
    /// while an index is served).
    public static func fileSizes(_ idx: Index) -> [String: Int] {
        var files: [String: Int] = [:]
        let names = (try? FileManager.default.contentsOfDirectory(atPath: idx.directory.path)) ?? []
        for n in names.sorted() where !n.hasPrefix(".") {
            let a = try? FileManager.default.attributesOfItem(atPath: idx.directory.appendingPathComponent(n).path)
            files[n] = (a?[.size] as? NSNumber)?.intValue ?? 0
        }
        return files
    }

    public var text: String {
        var s = ["index \(path)  (format \(formatVersion), \(rows) images, \(ByteCount.format(totalBytes)))"]
        s.append("spaces:")
        for sp in spaces {
            s.append("  \(sp.name.padded(to: 12)) dim \(sp.dim)  rows \(sp.rows)  \(ByteCount.format(sp.bytes))  model \(sp.model)"
                     + (sp.storage == "f32" ? "" : "  storage f32 + \(sp.storage) copy (scanned)"))
            s.append("  \(String(repeating: " ", count: 12)) \(sp.preprocessing)")
        }
        s.append("classes (\(classes.count)):")
        for c in classes { s.append("  \(String(format: "%3d", c.id))  \(c.name.displayEscaped.padded(to: 24)) \(c.count)") }
        if prototypeSets.isEmpty { s.append("prototype sets: none") } else {
            s.append("prototype sets:")
            for p in prototypeSets {
                s.append("  \(p.name): \(p.count) prototypes in space \(p.space), from \(p.source) (\(p.sample.joined(separator: ", "))\(p.count > p.sample.count ? ", …" : ""))")
            }
        }
        s.append("files:")
        for (n, b) in files.sorted(by: { $0.key < $1.key }) { s.append("  \(n.padded(to: 28)) \(ByteCount.format(b))") }
        return s.joined(separator: "\n")
    }
}

package enum ByteCount {
    package static func format(_ b: Int) -> String {
        let d = Double(b)
        if d < 1024 { return "\(b) B" }
        if d < 1024 * 1024 { return String(format: "%.1f KiB", d / 1024) }
        if d < 1024 * 1024 * 1024 { return String(format: "%.1f MiB", d / 1048576) }
        return String(format: "%.2f GiB", d / 1073741824)
    }
}
