import Dispatch
import Foundation
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeModels

/// The one pass over an image folder that `build` and a checkpoint sweep share: each image is
/// read and decoded once, its pixel vector and its network input are computed once, and every
/// target index (one per checkpoint; one for a plain build) gets the pixel row and its own
/// model's features of those same inputs.
extension FolderBuilder {
    /// One index being written by the pass.
    final class Target {
        let model: LoadedModel?
        let builder: IndexBuilder
        let pixels: SpaceWriter
        let embedding: SpaceWriter?
        var forwardSeconds = 0.0

        init(model: LoadedModel?, out: URL, req: BuildRequest) throws {
            self.model = model
            let builder = try IndexBuilder(destination: out, overwrite: req.force, protecting: [req.dataset])
            self.builder = builder
            let s = req.pixelSize
            pixels = try builder.beginSpace(name: "pixel", model: "pixels", dim: 3 * s * s, preprocessing: PixelSpace.describe(size: s))
            embedding = try model.map {
                try builder.beginSpace(name: "embedding", model: $0.extractor.name, dim: $0.extractor.featureDim,
                                       preprocessing: FolderBuilder.embeddingPreprocessing($0))
            }
        }
    }

    /// What the pass saw, shared by every target.
    struct Pass {
        var images: [ImageRecord] = []
        var skipped: [(path: String, reason: String)] = []
        var counts: [Int]
        /// Images decoded (each file once, however many targets).
        var decodes = 0
        /// Wall time of reading, decoding and preprocessing (both cores), summed over the batches
        /// (with `overlap`, that time runs beside the forward pass).
        var decodeSeconds = 0.0
    }

    /// Decodes every entry of `folder` once and appends its rows to every target.
    static func decodePass(_ folder: DatasetFolder, targets: [Target], req: BuildRequest, label: String, progress: ProgressSink) throws -> Pass {
        let s = req.pixelSize
        // One input recipe for every target: a sweep runs one architecture with one preprocessing.
        let prep = targets.first?.model?.preprocessing
        if let prep, targets.contains(where: { $0.model?.preprocessing != prep }) {
            throw EmbedScopeError(.invalidArgument, "the checkpoints of one build must share one preprocessing")
        }
        var result = Pass(counts: [Int](repeating: 0, count: folder.classes.count))
        let total = folder.entries.count
        progress.begin(label, total: total)
        defer { progress.end() }
        let batch = prep == nil ? 256 : max(1, req.batchSize)
        let ranges = stride(from: 0, to: total, by: batch).map { $0..<min(total, $0 + batch) }
        // Under `ulimit -v`, a clear error before the work: the batches in flight (each image's
        // pixel vector and network input), and one batch's images before they are joined.
        let perImage = 3 * s * s + (prep.map { 3 * $0.crop * $0.crop } ?? 0), images = min(batch, max(1, total))
        let inFlight = (req.overlap && ranges.count > 1 ? decodeAhead + 2 : 1) * images
        try AddressSpace.require((inFlight + images) * perImage * 4, for: "\(inFlight) decoded images in flight")
        // The decode stage (FolderBuilder+Pipeline): on its own thread, ahead of the forward pass,
        // unless the request asks for the stages one after the other.
        let decode: @Sendable (Range<Int>) -> DecodedBatch = { decodeBatch(folder, $0, pixelSize: s, prep: prep) }
        let ahead = req.overlap && ranges.count > 1 ? DecodeAhead(batches: ranges, depth: decodeAhead, decode: decode) : nil
        defer { ahead?.stop() }
        for range in ranges {
            let decoded = ahead?.next() ?? decode(range)
            let (start, end, results) = (range.lowerBound, range.upperBound, decoded.results)
            result.decodes += results.count
            result.decodeSeconds += decoded.seconds
            var good: [(entry: DatasetFolder.Entry, decoded: Decoded)] = []
            for (j, r) in results.enumerated() {
                let e = folder.entries[start + j]
                switch r {
                case .success(let d): good.append((e, d))
                case .failure(let err):
                    // Out of descriptors or memory: the process's limit, not the file's fault.
                    if EmbedScopeError.isResourceShortage(err) { throw err }
                    if req.strict {
                        throw EmbedScopeError(.dataset, "cannot use \(e.path): \(err)", path: req.dataset.path,
                                              hint: "remove or fix the file, or build without --strict to skip such files")
                    }
                    result.skipped.append((e.path, (err as? ImageError)?.reason ?? String(describing: err)))
                }
            }
            if !good.isEmpty {
                let inputs = decoded.inputs
                // Every target's features first: an image whose features have no direction (all
                // zeros, e.g. after a ReLU that silences it) is skipped in every target, as an
                // all-black image is, so that the sweep's indexes keep the same rows.
                var features: [[Float]?] = []
                var keep = [Bool](repeating: true, count: good.count)
                for target in targets {
                    guard let model = target.model, let embedding = target.embedding else { features.append(nil); continue }
                    let t = DispatchTime.now().uptimeNanoseconds
                    let f = try model.extractor.forward(inputs, count: good.count).features
                    target.forwardSeconds += Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
                    let d = embedding.dim
                    for (i, g) in good.enumerated() where keep[i] {
                        if let reason = try FeatureRowCheck.skipReason(f[(i * d)..<((i + 1) * d)], path: g.entry.path, folder: req.dataset.path,
                                                                         unchanged: "nothing was written") {
                            if req.strict {
                                throw EmbedScopeError(.dataset, "cannot use \(g.entry.path): \(reason)", path: req.dataset.path,
                                                      hint: "build without --strict to skip such images")
                            }
                            keep[i] = false
                            result.skipped.append((g.entry.path, reason))
                        }
                    }
                    features.append(f)
                }
                for (target, f) in zip(targets, features) {
                    for (i, g) in good.enumerated() where keep[i] { try target.pixels.append(g.decoded.vector, what: g.entry.path) }
                    guard let f, let embedding = target.embedding else { continue }
                    let d = embedding.dim
                    for (i, g) in good.enumerated() where keep[i] {
                        try f.withUnsafeBufferPointer { try embedding.append(UnsafeBufferPointer(rebasing: $0[(i * d)..<((i + 1) * d)]), what: "features of \(g.entry.path)") }
                    }
                }
                good = zip(good, keep).filter(\.1).map(\.0)
            }
            for g in good {
                result.images.append(ImageRecord(row: result.images.count, path: g.entry.path, classId: g.entry.classId, split: g.entry.split,
                                                 width: g.decoded.width, height: g.decoded.height, bytes: g.decoded.bytes, contentHash: g.decoded.hash))
                result.counts[g.entry.classId] += 1
            }
            progress.update(end)
        }
        guard !result.images.isEmpty else {
            throw FolderBuilder.noneDecoded("none of the \(total) images could be decoded", skipped: result.skipped, path: req.dataset.path)
        }
        return result
    }

    /// The error when no image could be used, with why for the first few (the skipped lines are
    /// printed only after a build that succeeds: a folder of one bad image said nothing else).
    package static func noneDecoded(_ what: String, skipped: [(path: String, reason: String)], path: String) -> EmbedScopeError {
        let reasons = skipped.prefix(3).map { "\($0.path.displayEscaped): \($0.reason)" }.joined(separator: "; ")
        return EmbedScopeError(.dataset, what + (reasons.isEmpty ? "" : " (\(reasons)\(skipped.count > 3 ? "; …" : ""))"), path: path)
    }

    /// Finishes one target's spaces, prototype set and catalog, and commits it.
    static func commit(_ target: Target, pass: Pass, folder: DatasetFolder, req: BuildRequest)
        throws -> (spaces: [(name: String, dim: Int)], prototypeSet: (name: String, count: Int, namesFrom: String)?) {
        // A class whose every image was skipped keeps its id (ids stay ImageFolder's) with zero rows.
        try target.pixels.finish()
        var spaces = [("pixel", target.pixels.dim)]
        var meta = ["created": isoNow(), "source": "build", "datasetRoot": req.dataset.standardizedFileURL.path]
        if !folder.linkedRoots.isEmpty { meta[MetaKey.datasetLinkedRoots] = folder.linkedRoots.joined(separator: "\n") }
        var protoSummary: (String, Int, String)?
        if let model = target.model, let embedding = target.embedding {
            try embedding.finish()
            spaces.insert(("embedding", embedding.dim), at: 0)
            // A headless backbone (no classifier in the checkpoint) gives embeddings only.
            if model.extractor.classCount > 0 {
                let head = model.extractor.head
                try target.builder.addPrototypeSet(name: model.prototypeSet, space: "embedding", dim: embedding.dim,
                                                   source: "\(model.extractor.name) classifier head (\(model.weights.lastPathComponent))",
                                                   names: model.headNames, weights: head.weights, bias: head.bias)
                protoSummary = (model.prototypeSet, model.headNames.count, model.headNamesSource)
            }
            meta["model"] = model.extractor.name
            meta["weights"] = model.weights.standardizedFileURL.path
            meta["weightsHash"] = try IndexGrowth.fileHash(model.weights)
            meta.merge(CheckpointMeta.entries(model), uniquingKeysWith: { $1 })
        }
        if let shard = req.shard { meta[Growth.shardKey] = shard.description }
        if let storage = req.storage {
            for (name, _) in spaces { try target.builder.writeHalfCopy(space: name, storage: storage) }
        }
        try target.builder.setImages(classes: folder.classes, images: pass.images, meta: meta)
        try target.builder.commit()
        return (spaces, protoSummary)
    }
}
