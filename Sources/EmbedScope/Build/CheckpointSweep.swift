import Dispatch
import Foundation
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeModels

/// `build DATASET --model M --weights a.ckpt b.ckpt …` / `--weights-dir lightning_logs/`: several
/// checkpoints of one architecture over one data set. Every image is decoded and preprocessed
/// once (`FolderBuilder.decodePass`); each batch of inputs runs through every checkpoint in turn,
/// and each checkpoint gets its own index `OUT/<name>` (name: `CheckpointSweep.names`), with the
/// same rows, catalog and pixel space as the others, and its epoch / step / version in `meta`.
/// One index per checkpoint, rather than one index with a space per checkpoint, keeps every
/// command as it is (`compare OUT/*`, `report`, `query --image`, `probe`: one model per index)
/// at the cost of repeating the catalog and the pixel space (3·32·32 floats per image) per checkpoint.
public struct SweepRequest: Sendable {
    /// The data set, the model, the options; `out` is the folder that receives one index per checkpoint.
    public var build: BuildRequest
    /// The checkpoints, in order (`CheckpointSweep.discover` sorts a folder's).
    public var checkpoints: [URL]
    public init(build: BuildRequest, checkpoints: [URL]) { self.build = build; self.checkpoints = checkpoints }
}

public struct SweepSummary: Sendable {
    public struct Entry: Sendable {
        /// The index folder's name under `out`, and its path.
        public var name: String
        public var index: URL
        public var weights: URL
        public var checkpoint: CheckpointInfo
        public var keyPrefix: KeyPrefix
        public var forwardSeconds: Double
        public var spaces: [(name: String, dim: Int)]
        public var prototypeSet: (name: String, count: Int, namesFrom: String)?
    }
    public var rows: Int
    public var classes: [String]
    public var classCounts: [Int]
    public var skipped: [(path: String, reason: String)]
    public var ignoredFiles: Int
    /// Images left out because their format is not read here (.webp, .bmp, …): count per extension.
    public var unreadImages: [String: Int] = [:]
    /// Images decoded: once each, whatever the number of checkpoints.
    public var decodes: Int
    /// Wall time of reading, decoding and preprocessing the images (the part a sweep shares).
    public var decodeSeconds: Double
    public var seconds: Double
    public var indexes: [Entry]
}

public enum CheckpointSweep {
    /// Checkpoint files of a folder: `*.pth`, `*.pt`, `*.ckpt` directly in it, and every
    /// `version_<k>/checkpoints/*.ckpt` (PyTorch Lightning's `lightning_logs/` layout). Sorted:
    /// loose files first, then by version number, then by file name with digit runs compared as
    /// numbers (`epoch=2` before `epoch=10`).
    public static func discover(_ dir: URL) throws -> [URL] {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue else {
            throw EmbedScopeError(.notFound, "--weights-dir is not a folder", path: dir.path)
        }
        func list(_ d: URL) -> [String] { ((try? fm.contentsOfDirectory(atPath: d.path)) ?? []).filter { !$0.hasPrefix(".") } }
        func isFile(_ u: URL) -> Bool { var d: ObjCBool = false; return fm.fileExists(atPath: u.path, isDirectory: &d) && !d.boolValue }
        var found: [(version: Int, name: String, url: URL)] = []
        for name in list(dir) {
            let u = dir.appendingPathComponent(name)
            if ["pth", "pt", "ckpt"].contains(u.pathExtension.lowercased()), isFile(u) { found.append((-1, name, u)) }
            if name.hasPrefix("version_"), let k = Int(name.dropFirst("version_".count)), k >= 0 {
                let ckpts = u.appendingPathComponent("checkpoints")
                for c in list(ckpts) where c.lowercased().hasSuffix(".ckpt") {
                    let f = ckpts.appendingPathComponent(c)
                    if isFile(f) { found.append((k, c, f)) }
                }
            }
        }
        guard !found.isEmpty else {
            throw EmbedScopeError(.notFound, "no checkpoints in the folder (looked for *.pth, *.pt, *.ckpt and version_*/checkpoints/*.ckpt)", path: dir.path)
        }
        return found.sorted { a, b in
            a.version != b.version ? a.version < b.version : naturalLess(a.name, b.name)
        }.map(\.url)
    }

    /// Index names: the file name without its extension, after `version_<k>-` when the file is in
    /// a Lightning version folder; a name seen before gets the first of `-2`, `-3`, … that is no
    /// other checkpoint's name (`m.pt`, `m.pth`, `m-2.ckpt` → `m`, `m-3`, `m-2`). The names are
    /// distinct by construction (compared byte for byte, as a case-sensitive file system
    /// compares them): two indexes in one folder would otherwise wait on each other's writer lock.
    public static func names(for checkpoints: [URL]) -> [String] {
        let bases = checkpoints.map { url in
            var base = url.deletingPathExtension().lastPathComponent
            if let k = CheckpointInfo.version(of: url) { base = "version_\(k)-" + base }
            if base.hasPrefix(".") || base.isEmpty { base = "checkpoint" + base }
            return base
        }
        // Every checkpoint's own name is reserved first, so a suffix never takes it.
        var taken = Set(bases.map { Array($0.utf8) })
        var first = Set<[UInt8]>()
        var next: [[UInt8]: Int] = [:]
        return bases.map { base in
            let bytes = Array(base.utf8)
            if first.insert(bytes).inserted { return base }
            var n = next[bytes] ?? 2
            while taken.contains(Array("\(base)-\(n)".utf8)) { n += 1 }
            next[bytes] = n + 1
            let name = "\(base)-\(n)"
            taken.insert(Array(name.utf8))
            return name
        }
    }

    /// Digit runs compare as numbers, the rest as bytes.
    static func naturalLess(_ a: String, _ b: String) -> Bool {
        func parts(_ s: String) -> [(Bool, String)] {
            var out: [(Bool, String)] = []
            for c in s {
                let d = c.isASCII && c.isNumber
                if let last = out.last, last.0 == d { out[out.count - 1].1.append(c) } else { out.append((d, String(c))) }
            }
            return out
        }
        let pa = parts(a), pb = parts(b)
        for (x, y) in zip(pa, pb) where x.1 != y.1 {
            if x.0 && y.0 {
                let tx = x.1.drop { $0 == "0" }, ty = y.1.drop { $0 == "0" }
                if tx.count != ty.count { return tx.count < ty.count }
                if tx != ty { return tx < ty }
                return x.1 < y.1
            }
            return x.1 < y.1
        }
        return pa.count != pb.count ? pa.count < pb.count : a < b
    }

    public static func run(_ req: SweepRequest, progress: ProgressSink = SilentProgress()) throws -> SweepSummary {
        let t0 = DispatchTime.now()
        let b = req.build
        guard let modelName = b.model else {
            throw EmbedScopeError(.invalidArgument, "a checkpoint sweep needs --model", hint: "e.g. --model resnet18")
        }
        guard !req.checkpoints.isEmpty else { throw EmbedScopeError(.invalidArgument, "a checkpoint sweep needs at least one checkpoint") }
        try PixelSpace.checkSize(b.pixelSize)
        try IndexDirectory.refuseOverlap(b.out, protecting: [b.dataset])
        if case .index = IndexDirectory.classify(b.out) {
            throw EmbedScopeError(.refused, "--out of a checkpoint sweep is the folder that receives one index per checkpoint, and this is an index",
                                  path: b.out.path, hint: "choose another --out, e.g. its parent folder")
        }
        var folder = try DatasetFolder.scan(b.dataset)
        if let limit = b.limit {
            folder.entries = StratifiedLimit.select(labels: folder.entries.map(\.classId), limit: limit, seed: b.limitSeed).map { folder.entries[$0] }
        }
        if let shard = b.shard { folder.entries = try shard.select(folder.entries, root: b.dataset) }
        // Every checkpoint is read before anything is written: a wrong one fails the sweep early.
        let models = try req.checkpoints.map { file in
            // The error names the checkpoint of the several that failed ("not a resnet18: 80
            // unexpected keys" did not say which).
            try EmbedScopeError.naming(file.path) {
                try ModelRegistry.load(modelName, weights: file, datasetClasses: folder.classes, options: b.modelOptions)
            }
        }
        let names = names(for: req.checkpoints)
        // Two targets in one folder would deadlock on the index writer lock: never build them.
        guard Set(names.map { Array($0.utf8) }).count == names.count else {
            throw EmbedScopeError(.invalidArgument, "two checkpoints of the sweep would be written to one index (names \(names.joined(separator: ", ")))", path: b.out.path)
        }
        do {
            try FileManager.default.createDirectory(at: b.out, withIntermediateDirectories: true)
        } catch {
            throw EmbedScopeError(.io, "cannot create the output folder", path: b.out.path, underlying: error)
        }
        let targets = try zip(models, names).map { model, name in
            try FolderBuilder.Target(model: model, out: b.out.appendingPathComponent(name), req: b)
        }
        let pass = try FolderBuilder.decodePass(folder, targets: targets, req: b,
                                                label: "build (\(modelName), \(counted(models.count, "checkpoint")))", progress: progress)
        var entries: [SweepSummary.Entry] = []
        for (i, target) in targets.enumerated() {
            let (spaces, proto) = try FolderBuilder.commit(target, pass: pass, folder: folder, req: b)
            entries.append(.init(name: names[i], index: b.out.appendingPathComponent(names[i]), weights: models[i].weights,
                                 checkpoint: models[i].checkpoint, keyPrefix: models[i].keyPrefix, forwardSeconds: target.forwardSeconds,
                                 spaces: spaces, prototypeSet: proto))
        }
        return SweepSummary(rows: pass.images.count, classes: folder.classes, classCounts: pass.counts, skipped: pass.skipped,
                            ignoredFiles: folder.ignored, unreadImages: folder.unreadImages, decodes: pass.decodes, decodeSeconds: pass.decodeSeconds,
                            seconds: Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9, indexes: entries)
    }
}
