import Dispatch
import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis

/// `build --weights a b c` / `--weights-dir`: three Lightning checkpoints of one ResNet-18
/// fine-tune (Scripts/make_sweep_fixtures.py: 12 pictures in 3 classes, checkpoints after 3, 6
/// and 12 steps, keys under `model.`), input 64×64 (`--resize 64 --crop 64`).
final class CheckpointSweepTests: XCTestCase {
    static func fixture(_ path: String) throws -> URL {
        let root = try XCTUnwrap(Bundle.module.resourceURL, "test bundle has no resources")
        return root.appendingPathComponent("Fixtures/sweep", isDirectory: true).appendingPathComponent(path)
    }
    var data: URL { get throws { try Self.fixture("data") } }
    var logs: URL { get throws { try Self.fixture("lightning_logs") } }
    static let options = ModelOptions(resize: 64, crop: 64)

    func request(out: URL) throws -> BuildRequest {
        var r = BuildRequest(dataset: try data, out: out)
        r.model = "resnet18"; r.modelOptions = Self.options; r.batchSize = 5  // 12 images: batches of 5, 5, 2
        return r
    }

    func embeddingRows(_ url: URL) throws -> [[Float]] {
        let idx = try Index.open(url)
        let v = try idx.vectors(space: "embedding")
        return (0..<v.rows).map { Array(v.row($0)) }
    }

    func testSweepDecodesOnceAndEachIndexEqualsItsOwnBuild() throws {
        let dir = try temporaryDirectory(self)
        let checkpoints = try CheckpointSweep.discover(try logs)
        XCTAssertEqual(checkpoints.map(\.lastPathComponent), ["epoch=0-step=3.ckpt", "epoch=1-step=6.ckpt", "epoch=3-step=12.ckpt"])

        let t0 = DispatchTime.now().uptimeNanoseconds
        let s = try CheckpointSweep.run(SweepRequest(build: try request(out: dir.appendingPathComponent("sweep")), checkpoints: checkpoints))
        let sweepSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        XCTAssertEqual(s.rows, 12)
        XCTAssertEqual(s.decodes, 12, "every image decoded once for three checkpoints")
        XCTAssertEqual(s.indexes.map(\.name), ["version_0-epoch=0-step=3", "version_0-epoch=1-step=6", "version_0-epoch=3-step=12"])
        XCTAssertEqual(s.indexes.map(\.checkpoint), [CheckpointInfo(epoch: 0, globalStep: 3, version: 0), CheckpointInfo(epoch: 1, globalStep: 6, version: 0),
                                                      CheckpointInfo(epoch: 3, globalStep: 12, version: 0)])
        XCTAssertEqual(s.indexes.map(\.keyPrefix.prefix), ["model.", "model.", "model."])

        var separateSeconds = 0.0, separateDecodes = 0
        var previous: [[Float]]? = nil
        for (i, e) in s.indexes.enumerated() {
            var r = try request(out: dir.appendingPathComponent("single-\(i)"))
            r.weights = checkpoints[i]
            let t = DispatchTime.now().uptimeNanoseconds
            let single = try FolderBuilder.run(r)
            separateSeconds += Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
            separateDecodes += single.decodes
            XCTAssertEqual(single.checkpoint, e.checkpoint)

            let a = try embeddingRows(e.index), b = try embeddingRows(r.out)
            XCTAssertEqual(a.count, 12); XCTAssertEqual(b.count, 12)
            var m = 0.0
            for (x, y) in zip(a, b) { m = maxKeepingNaN(m, maxAbsDifference(x, y)) }
            XCTAssertLessThanOrEqual(m, 1e-6, "\(e.name): sweep vs its own build")
            // The checkpoints differ (the fine-tune moved the weights).
            if let previous { XCTAssertGreaterThan(maxAbsDifference(previous.joined(), a.joined()), 1e-3, "\(e.name) equals the checkpoint before it") }
            previous = a

            let swept = try Index.open(e.index), own = try Index.open(r.out)
            XCTAssertEqual(try swept.catalog.allImages().map(\.path), try own.catalog.allImages().map(\.path))
            XCTAssertEqual(maxAbsDifference(try swept.vectors(space: "pixel").row(5), try own.vectors(space: "pixel").row(5)), 0)
            let meta = try swept.catalog.meta()
            XCTAssertEqual(meta[MetaKey.checkpointEpoch], String(e.checkpoint.epoch ?? -1))
            XCTAssertEqual(meta[MetaKey.checkpointStep], String(e.checkpoint.globalStep ?? -1))
            XCTAssertEqual(meta[MetaKey.checkpointVersion], "0")
            XCTAssertEqual(meta[MetaKey.keyPrefix], "model.")
            XCTAssertEqual(meta["weights"], checkpoints[i].standardizedFileURL.path)
            let prep = try JSONDecoder().decode(Preprocessing.self, from: Data(try XCTUnwrap(meta[MetaKey.preprocessing]).utf8))
            XCTAssertEqual(prep.crop, 64); XCTAssertEqual(prep.resizeShort, 64)
            XCTAssertEqual(swept.prototypeSets.map(\.name), ["head"])
            XCTAssertNoThrow(try swept.verify())
        }
        XCTAssertEqual(separateDecodes, 36)
        print(String(format: "sweep of 3 checkpoints over 12 images: %.2fs (decode %.3fs once); 3 separate builds: %.2fs", sweepSeconds, s.decodeSeconds, separateSeconds))
    }

    /// The last checkpoint's features at 64×64 against PyTorch (float64) on the same files.
    func testLastCheckpointMatchesPyTorchAt64Pixels() throws {
        let model = try ModelRegistry.load("resnet18", weights: try logs.appendingPathComponent("version_0/checkpoints/epoch=3-step=12.ckpt"),
                                           datasetClasses: ["blue-square", "green-stripes", "red-disc"], options: Self.options)
        XCTAssertEqual(model.extractor.featureDim, 512)
        XCTAssertEqual(model.prototypeSet, "head")
        let reference = try NPYArray.read(contentsOf: try Self.fixture("features.npy"))
        XCTAssertEqual(reference.shape, [12, 512])
        let files = try FileManager.default.subpathsOfDirectory(atPath: try data.path).filter { $0.hasSuffix(".png") }.sorted()
        XCTAssertEqual(files.count, 12)
        let got = try Index.embed(images: files.map { try data.appendingPathComponent($0) }, with: model)
        var worst = 0.0
        for r in 0..<12 {
            let ref = reference.values[(r * 512)..<((r + 1) * 512)]
            let scale = ref.reduce(0) { Swift.max($0, abs(Double($1))) }
            worst = maxKeepingNaN(worst, maxAbsDifference(got[r], ref) / scale)
        }
        XCTAssertLessThanOrEqual(worst, 1e-4, "max |native − PyTorch| / max |PyTorch| per row")
    }

    /// `query --image` embeds with the preprocessing the build recorded (64×64 here, not the default 224).
    func testImageQueryUsesTheRecordedPreprocessing() throws {
        let dir = try temporaryDirectory(self)
        var r = try request(out: dir.appendingPathComponent("idx"))
        r.weights = try logs.appendingPathComponent("version_0/checkpoints/epoch=1-step=6.ckpt")
        _ = try FolderBuilder.run(r)
        let idx = try Index.open(r.out)
        let row = 7
        let path = try idx.catalog.allImages()[row].path
        let q = try idx.imageQueryVectors(images: [try data.appendingPathComponent(path)], space: nil)
        XCTAssertEqual(q.space, "embedding")
        let v = q.vectors[0]
        let n = v.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        XCTAssertLessThanOrEqual(maxAbsDifference(v.map { Double($0) / n }, try idx.vectors(space: "embedding").row(row)), 1e-6)
    }

    func testKeyPrefixIsFoundGivenOrRefused() throws {
        let t = Tensor(shape: [1], data: [1])
        let backbone: StateDict = ["model.backbone.conv1.weight": t, "model.backbone.bn1.weight": t, "model.backbone.layer1.0.conv1.weight": t,
                                   "model.head.weight": t, "criterion.weight": t]
        let anchors = ["conv1.weight", "bn1.weight", "layer1.0.conv1.weight"]
        let (sd, p) = try StateDictPrefix.select(backbone, anchors: anchors, given: nil, model: "resnet18", path: "x")
        XCTAssertEqual(p, KeyPrefix(prefix: "model.backbone.", detected: true, ignoredKeys: ["criterion.weight", "model.head.weight"]))
        XCTAssertEqual(Set(sd.keys), ["conv1.weight", "bn1.weight", "layer1.0.conv1.weight"])
        // Given: only the keys under it are kept; a prefix no key has is refused, naming the one found.
        let (given, gp) = try StateDictPrefix.select(backbone, anchors: anchors, given: "model.", model: "resnet18", path: "x")
        XCTAssertEqual(given.count, 4); XCTAssertFalse(gp.detected); XCTAssertEqual(gp.ignoredKeys, ["criterion.weight"])
        XCTAssertThrowsKind(.checkpoint, try StateDictPrefix.select(backbone, anchors: anchors, given: "module.", model: "resnet18", path: "x"))
        // Plain keys stay as they are; two copies of the network are refused (choose with --strip-prefix).
        let plain: StateDict = ["conv1.weight": t, "bn1.weight": t, "layer1.0.conv1.weight": t]
        XCTAssertEqual(try StateDictPrefix.select(plain, anchors: anchors, given: nil, model: "resnet18", path: "x").1.prefix, "")
        var two = StateDict()
        for k in plain.keys { two["model." + k] = t; two["ema." + k] = t }
        XCTAssertThrowsKind(.checkpoint, try StateDictPrefix.select(two, anchors: anchors, given: nil, model: "resnet18", path: "x"))
        // A real checkpoint: Lightning keys under model., found or given.
        let ckpt = try logs.appendingPathComponent("version_0/checkpoints/epoch=0-step=3.ckpt")
        XCTAssertEqual(try ModelRegistry.load("resnet18", weights: ckpt, options: ModelOptions(stripPrefix: "model.", crop: 64)).keyPrefix.prefix, "model.")
        XCTAssertThrowsKind(.checkpoint, try ModelRegistry.load("resnet18", weights: ckpt, options: ModelOptions(stripPrefix: "module.", crop: 64)))
        // The prefix without its dot: said so (the error was "not a resnet18: … unexpected keys (.bn1.bias, …)").
        XCTAssertThrowsError(try ModelRegistry.load("resnet18", weights: ckpt, options: ModelOptions(stripPrefix: "model", crop: 64))) { e in
            XCTAssertTrue((e as? EmbedScopeError)?.hint?.contains("--strip-prefix 'model.'") == true, "\(e)")
        }
    }

    func testPreprocessingOptionsAreChecked() throws {
        let base = Preprocessing.torchvisionImageNet
        let p = try ModelOptions(resize: 80, crop: 64, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]).preprocessing(from: base, model: "resnet18")
        XCTAssertEqual(p, Preprocessing(resizeShort: 80, crop: 64, mean: [127.5, 127.5, 127.5], std: [63.75, 63.75, 63.75]))
        XCTAssertEqual(try ModelOptions().preprocessing(from: base, model: "resnet18"), base, "no flags: the model's default")
        XCTAssertThrowsKind(.invalidArgument, try ModelOptions(resize: 50, crop: 64).preprocessing(from: base, model: "resnet18"))
        XCTAssertThrowsKind(.invalidArgument, try ModelOptions(std: [1, 0, 1]).preprocessing(from: base, model: "resnet18"))
        XCTAssertThrowsKind(.invalidArgument, try ModelOptions(mean: [1, 1]).preprocessing(from: base, model: "resnet18"))
        XCTAssertEqual(try ModelOptions(crop: 128).preprocessing(from: .efficientNetLite, model: "efficientnet-lite0").crop, 128, "efficientnet-lite0 takes any crop ≥ 32")
        // Recorded and read back exactly.
        let back = ModelOptions.recorded(preprocessing: ModelOptions.record(p), prefix: "model.")
        XCTAssertEqual(try back.preprocessing(from: base, model: "resnet18"), p)
        XCTAssertEqual(back.stripPrefix, "model.")
    }

    func testCheckpointFolderOrderAndNames() throws {
        let dir = try temporaryDirectory(self)
        let fm = FileManager.default
        for f in ["b.pth", "a.pt", "notes.txt", "version_10/checkpoints/epoch=2-step=5.ckpt", "version_2/checkpoints/epoch=10-step=50.ckpt",
                  "version_2/checkpoints/epoch=9-step=45.ckpt", "version_2/checkpoints/last.ckpt", "version_2/hparams.yaml"] {
            let u = dir.appendingPathComponent(f)
            try fm.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data().write(to: u)
        }
        let found = try CheckpointSweep.discover(dir)
        let rel = found.map { $0.path.replacingOccurrences(of: dir.standardizedFileURL.path + "/", with: "").replacingOccurrences(of: dir.path + "/", with: "") }
        XCTAssertEqual(rel, ["a.pt", "b.pth", "version_2/checkpoints/epoch=9-step=45.ckpt", "version_2/checkpoints/epoch=10-step=50.ckpt",
                             "version_2/checkpoints/last.ckpt", "version_10/checkpoints/epoch=2-step=5.ckpt"])
        XCTAssertEqual(CheckpointSweep.names(for: found), ["a", "b", "version_2-epoch=9-step=45", "version_2-epoch=10-step=50", "version_2-last", "version_10-epoch=2-step=5"])
        XCTAssertEqual(CheckpointSweep.names(for: [URL(fileURLWithPath: "/x/m.pth"), URL(fileURLWithPath: "/y/m.pth")]), ["m", "m-2"])
        XCTAssertThrowsKind(.notFound, try CheckpointSweep.discover(dir.appendingPathComponent("version_2/checkpoints/nothing")))
    }

    /// A suffix never takes another checkpoint's name (two indexes in one folder would wait on
    /// each other's writer lock forever); names differing in case are distinct, as on Linux.
    func testGeneratedNamesNeverCollideWithOtherCheckpointsNames() {
        func names(_ files: [String]) -> [String] { CheckpointSweep.names(for: files.map { URL(fileURLWithPath: "/w/" + $0) }) }
        XCTAssertEqual(names(["m.pt", "m.pth", "m-2.ckpt"]), ["m", "m-3", "m-2"])
        XCTAssertEqual(names(["m-2.ckpt", "m.pt", "m.pth"]), ["m-2", "m", "m-3"])
        XCTAssertEqual(names(["m.pt", "m.pth", "m.ckpt", "m-2.pt", "m-2.pth", "m-3.pt"]), ["m", "m-4", "m-5", "m-2", "m-2-2", "m-3"])
        XCTAssertEqual(names(["M.pt", "m.pt", "m.pth"]), ["M", "m", "m-2"])
        for files in [["a.pt", "a.pth", "a-2.ckpt", "a-3.pt", "a-2.pth", "a-2-2.pt"], ["x.pt", "x-2.pt", "x.pth", "x-2.pth", "x.ckpt"]] {
            let n = names(files)
            XCTAssertEqual(Set(n).count, n.count, "\(files) → \(n)")
        }
    }

    /// The sweep repro: m.pt, m.pth, m-2.ckpt (one state dict) made the sweep wait for its own lock.
    func testSweepOfCollidingFileNamesBuildsOneIndexEach() throws {
        let dir = try temporaryDirectory(self)
        let weights = dir.appendingPathComponent("weights")
        try FileManager.default.createDirectory(at: weights, withIntermediateDirectories: true)
        let ckpt = try logs.appendingPathComponent("version_0/checkpoints/epoch=0-step=3.ckpt")
        for name in ["m.pt", "m.pth", "m-2.ckpt"] { try FileManager.default.copyItem(at: ckpt, to: weights.appendingPathComponent(name)) }
        var r = try request(out: dir.appendingPathComponent("sweep"))
        r.limit = 3
        let s = try CheckpointSweep.run(SweepRequest(build: r, checkpoints: try CheckpointSweep.discover(weights)))
        XCTAssertEqual(s.indexes.map(\.name), ["m-2", "m", "m-3"])
        XCTAssertEqual(s.indexes.map(\.weights.lastPathComponent), ["m-2.ckpt", "m.pt", "m.pth"])
        for e in s.indexes { XCTAssertEqual(try Index.open(e.index).catalog.allImages().count, 3, e.name) }
    }

    /// A checkpoint of the sweep that is not the model is named: "not a resnet34: … unexpected keys"
    /// did not say which of the files it was.
    func testTheFailingCheckpointOfASweepIsNamed() throws {
        let dir = try temporaryDirectory(self)
        let checkpoints = try CheckpointSweep.discover(try logs)
        var r = try request(out: dir.appendingPathComponent("sweep"))
        r.model = "resnet34"
        do {
            _ = try CheckpointSweep.run(SweepRequest(build: r, checkpoints: checkpoints))
            XCTFail("resnet18 checkpoints are not a resnet34")
        } catch let e as EmbedScopeError {
            XCTAssertEqual(e.path, checkpoints[0].path, e.description)
            XCTAssertTrue(e.message.contains("not a resnet34"), e.message)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("sweep").path))
    }

    /// The CLI end to end: `build --weights-dir` then `compare` with weights, epoch and per-class deltas.
    func testCLISweepThenCompareShowsWeightsEpochAndPerClassDeltas() throws {
        let dir = try temporaryDirectory(self)
        let out = dir.appendingPathComponent("sweep")
        let b = try CLI.run(["build", try data.path, "--model", "resnet18", "--weights-dir", try logs.path, "--resize", "64", "--crop", "64",
                             "--out", out.path, "--json"])
        XCTAssertEqual(b.status, 0, b.stderr)
        struct Built: Decodable {
            struct Entry: Decodable { var name: String; var index: String; var epoch: Int?; var globalStep: Int?; var version: Int?; var keyPrefix: String }
            var rows: Int; var decodes: Int; var indexes: [Entry]
        }
        let schema = try JSONSchemaTests.loadSchema()
        func validate(_ output: String, _ def: String) throws {
            let value = try JSONSerialization.jsonObject(with: Data(output.utf8))
            var errors: [String] = []
            schema.validate(value, try XCTUnwrap(schema.defs[def] as? [String: Any]), at: def, into: &errors)
            XCTAssertEqual(errors, [], "\(def) does not match docs/json-schema.json")
        }
        try validate(b.stdout, "buildSweep")
        let built = try JSONDecoder().decode(Built.self, from: Data(b.stdout.utf8))
        XCTAssertEqual(built.rows, 12); XCTAssertEqual(built.decodes, 12)
        XCTAssertEqual(built.indexes.map(\.globalStep), [3, 6, 12]); XCTAssertEqual(built.indexes.map(\.epoch), [0, 1, 3])
        let paths = built.indexes.map(\.index)

        let text = try CLI.run(["compare"] + paths + ["--baseline", "version_0-epoch=3-step=12"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("epoch=1-step=6.ckpt"), text.stdout)
        XCTAssertTrue(text.stdout.contains("per-class silhouette / precision@10 in space 'embedding' against version_0-epoch=3-step=12"), text.stdout)
        XCTAssertTrue(text.stdout.contains("red-disc"), text.stdout)

        let j = try CLI.run(["compare"] + paths + ["--json", "--no-compute"])
        XCTAssertEqual(j.status, 0, j.stderr)
        struct Compared: Decodable {
            struct Row: Decodable { var index: String; var space: String; var weights: String?; var epoch: Int?; var globalStep: Int? }
            struct Value: Decodable { var index: String; var silhouette: Double?; var precisionAtK: Double?; var deltaSilhouette: Double?; var deltaPrecisionAtK: Double? }
            struct ClassRow: Decodable { var name: String; var values: [Value] }
            struct PerClass: Decodable { var space: String; var baseline: String; var k: Int?; var indexes: [String]; var classes: [ClassRow] }
            var entries: [Row]; var perClass: [PerClass]
        }
        try validate(j.stdout, "compare")
        let c = try JSONDecoder().decode(Compared.self, from: Data(j.stdout.utf8))
        let emb = c.entries.filter { $0.space == "embedding" }.sorted { ($0.globalStep ?? 0) < ($1.globalStep ?? 0) }
        XCTAssertEqual(emb.map(\.weights), ["epoch=0-step=3.ckpt", "epoch=1-step=6.ckpt", "epoch=3-step=12.ckpt"])
        XCTAssertEqual(emb.map(\.epoch), [0, 1, 3])
        XCTAssertEqual(c.perClass.map(\.space), ["embedding"])
        let p = try XCTUnwrap(c.perClass.first)
        XCTAssertEqual(p.baseline, "version_0-epoch=0-step=3"); XCTAssertEqual(p.k, 10)
        XCTAssertEqual(p.classes.map(\.name), ["blue-square", "green-stripes", "red-disc"])
        // Deltas are each index minus the baseline, which is first with Δ 0; the text run above
        // recorded precision@10 per class, so --no-compute finds it.
        let metrics = try [0, 1, 2].map { try XCTUnwrap(try Index.open(URL(fileURLWithPath: paths[$0])).readMetrics()) }
        for row in p.classes {
            XCTAssertEqual(row.values.count, 3)
            XCTAssertEqual(row.values[0].deltaSilhouette, 0); XCTAssertEqual(row.values[0].deltaPrecisionAtK, 0)
            for (i, v) in row.values.enumerated() {
                let s = try XCTUnwrap(metrics[i].spaces["embedding"]?.cluster?.perClass.first { $0.name == row.name }?.silhouette ?? nil)
                XCTAssertEqual(try XCTUnwrap(v.silhouette), s, accuracy: 1e-12)
                XCTAssertEqual(try XCTUnwrap(v.deltaSilhouette), s - (try XCTUnwrap(row.values[0].silhouette)), accuracy: 1e-12)
                XCTAssertNotNil(v.precisionAtK)
            }
        }
        // compare --csv: the table, one empty line, then the same per-class values and deltas in long form.
        let csv = try CLI.run(["compare"] + paths + ["--csv", "--no-compute"])
        XCTAssertEqual(csv.status, 0, csv.stderr)
        let blocks = csv.stdout.components(separatedBy: "\n\n")
        XCTAssertEqual(blocks.count, 2, csv.stdout)
        let perClassLines = (blocks.last ?? "").split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(perClassLines.first, ["space", "baseline", "class", "index", "k", "silhouette", "precision_at_k", "delta_silhouette", "delta_precision_at_k"])
        XCTAssertEqual(perClassLines.count, 1 + p.classes.count * 3)
        for row in p.classes {
            for v in row.values {
                let line = try XCTUnwrap(perClassLines.first { $0.count == 9 && $0[2] == row.name && $0[3] == v.index }, "\(row.name) \(v.index)")
                XCTAssertEqual(line[0], "embedding"); XCTAssertEqual(line[1], p.baseline); XCTAssertEqual(line[4], "10")
                XCTAssertEqual(Double(line[5]), v.silhouette); XCTAssertEqual(Double(line[6]), v.precisionAtK)
                XCTAssertEqual(Double(line[7]), v.deltaSilhouette); XCTAssertEqual(Double(line[8]), v.deltaPrecisionAtK)
            }
        }

        // The report's comparison names the weights and epoch/step, and tables per-class deltas.
        let reportDir = dir.appendingPathComponent("report")
        let rep = try CLI.run(["report"] + paths + ["--out", reportDir.path, "--no-quality", "--queries", "1"])
        XCTAssertEqual(rep.status, 0, rep.stderr)
        let html = try String(contentsOf: reportDir.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("<td>epoch=3-step=12.ckpt</td><td class=\"num\">3</td><td class=\"num\">12</td>"), "comparison row with weights, epoch, step")
        XCTAssertTrue(html.contains("Per-class change against version_0-epoch=0-step=3 (space embedding)"))
        XCTAssertTrue(html.contains("<th class=\"num\">Δ version_0-epoch=3-step=12</th>"))
    }
}
