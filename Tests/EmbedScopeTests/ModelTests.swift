import Foundation
import Synchronization
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport

/// Whole-model behaviour on seeded synthetic weights (no checkpoint needed): the ways a batch
/// can be executed agree, state dicts are validated with messages that name the key, and
/// heads of any size are accepted.
final class ModelTests: XCTestCase {
    static let effnet = SyntheticWeights.efficientNetLite0(classes: 7)

    func testEfficientNetExecutionPathsAgree() throws {
        let two = try EfficientNetLite0(stateDict: Self.effnet, threads: 2)
        let one = try EfficientNetLite0(stateDict: Self.effnet, threads: 1)
        XCTAssertEqual(two.classCount, 7)
        XCTAssertEqual(two.featureDim, 1280)
        let n = 3, per = 3 * 224 * 224
        let x = seededFloats(n * per, seed: 42)
        // n = 3 on 2 threads: one image per worker, the third with every layer split across both.
        let a = try two.forward(x, count: n)
        let b = try one.forward(x, count: n)
        XCTAssertEqual(a.features.count, n * 1280)
        XCTAssertEqual(a.logits.count, n * 7)
        XCTAssertTrue(a.features.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 6 }, "features are means of ReLU6 outputs")
        XCTAssertGreaterThan(a.features.reduce(0, +), 0, "features are not all zero")
        // Different row splits make OpenBLAS sum in a different order: float32 noise, relative
        // to the magnitudes (features up to 6).
        let featureTol = 1e-5 * max(1, a.features.map { abs($0) }.max() ?? 0)
        let logitTol = 5e-5 * max(1, a.logits.map { abs($0) }.max() ?? 0)
        XCTAssertLessThanOrEqual(ModelKernelTests.maxDiff(a.features, b.features), featureTol, "2 threads vs 1")
        XCTAssertLessThanOrEqual(ModelKernelTests.maxDiff(a.logits, b.logits), logitTol, "2 threads vs 1")
        let last = try two.forward(Array(x[(2 * per)...]), count: 1)
        XCTAssertLessThanOrEqual(ModelKernelTests.maxDiff(last.features, Array(a.features[(2 * 1280)...])), featureTol, "alone vs in a batch")
        // Images are independent: a different first image leaves the others' outputs unchanged.
        var x2 = x
        for i in 0..<per { x2[i] = -x2[i] }
        let c = try two.forward(x2, count: n)
        XCTAssertGreaterThan(ModelKernelTests.maxDiff(Array(c.features[..<1280]), Array(a.features[..<1280])), 1e-3)
        XCTAssertLessThanOrEqual(ModelKernelTests.maxDiff(Array(c.features[1280...]), Array(a.features[1280...])), featureTol)
        // The head is the classifier: logits = features · Wᵀ + b.
        let (w, bias) = two.head
        XCTAssertEqual(w.count, 7 * 1280)
        for j in 0..<7 {
            let l = (0..<1280).reduce(Double(bias[j])) { $0 + Double(a.features[$1]) * Double(w[j * 1280 + $1]) }
            XCTAssertEqual(Double(a.logits[j]), l, accuracy: 1e-3, "logit \(j) from the head")
        }
        // Profiling returns the same numbers and a breakdown.
        let p = try two.profiledForward(Array(x[(2 * per)...]), count: 1)
        XCTAssertEqual(p.features, last.features)
        XCTAssertEqual(p.profile.layers.count, 7)
        XCTAssertGreaterThan(p.profile.total, 0)
        let empty = try two.forward([], count: 0)
        XCTAssertTrue(empty.features.isEmpty && empty.logits.isEmpty)
    }

    /// Machines with more cores than this one split the work more ways: a batch into more workers
    /// (some with one image, some with none), a lone image's layers into more parts (bands,
    /// channel parts) than some layers have. Every thread count gives the 1-thread features bit for
    /// bit (the splits never change a sum's order), at batch 1 and at a batch that leaves workers
    /// uneven. The logits too, except where a worker's share of the batch changes the classifier's
    /// kernel (one image: the dot kernel; several: packed panels, another order of the same sums):
    /// there within float32 rounding.
    func testModelsGiveTheSameBitsOnAnyThreadCount() throws {
        let per = 3 * 224 * 224
        let x = seededFloats(5 * per, seed: 44)
        let effOne = try EfficientNetLite0(stateDict: Self.effnet, threads: 1)
        for n in [1, 5] {
            let ref = try effOne.forward(Array(x[..<(n * per)]), count: n)
            XCTAssertFalse(ref.features.contains { !$0.isFinite } || ref.logits.contains { !$0.isFinite })
            for threads in [3, 4, 7, 16] {
                let m = try EfficientNetLite0(stateDict: Self.effnet, threads: threads)
                let r = try m.forward(Array(x[..<(n * per)]), count: n)
                XCTAssertEqual(r.features.map(\.bitPattern), ref.features.map(\.bitPattern), "EfficientNet-Lite0, batch \(n), \(threads) threads")
                if n == 1 {
                    XCTAssertEqual(r.logits.map(\.bitPattern), ref.logits.map(\.bitPattern), "EfficientNet-Lite0 logits, \(threads) threads")
                } else {
                    XCTAssertEqual(r.logits.count, ref.logits.count)
                    let tol = 1e-5 * max(1, ref.logits.map { abs($0) }.max() ?? 0)
                    XCTAssertLessThanOrEqual(ModelKernelTests.maxDiff(r.logits, ref.logits), tol, "EfficientNet-Lite0 logits, batch \(n), \(threads) threads")
                }
            }
        }
        let sd = SyntheticWeights.resnet(.r18, classes: 5)
        let resOne = try ResNet(depth: .r18, stateDict: sd, threads: 1)
        for (n, threads) in [(1, 3), (1, 8), (3, 5)] {
            let ref = try resOne.forward(Array(x[..<(n * per)]), count: n)
            let r = try ResNet(depth: .r18, stateDict: sd, threads: threads).forward(Array(x[..<(n * per)]), count: n)
            XCTAssertFalse(ref.features.contains { !$0.isFinite })
            XCTAssertEqual(r.features.map(\.bitPattern), ref.features.map(\.bitPattern), "ResNet-18, batch \(n), \(threads) threads")
            XCTAssertEqual(r.logits.count, ref.logits.count)
            let tol = 1e-5 * max(1, ref.logits.map { abs($0) }.max() ?? 0)
            XCTAssertLessThanOrEqual(ModelKernelTests.maxDiff(r.logits, ref.logits), tol, "ResNet-18 logits, batch \(n), \(threads) threads")
        }
    }

    func testEfficientNetValidatesTheStateDict() throws {
        var sd = Self.effnet
        sd["_blocks.3._bn1.weight"] = nil
        XCTAssertThrowsKind(.notFound, try EfficientNetLite0(stateDict: sd), "missing key")
        do {
            _ = try EfficientNetLite0(stateDict: sd)
        } catch let e as EmbedScopeError {
            XCTAssertEqual(e.message, "this checkpoint is not an efficientnet-lite0: 1 missing key (_blocks.3._bn1.weight)")
        }
        // Every missing key is counted (not only the first), with the first five named, and the
        // keys the model did not read are listed beside them.
        sd = Self.effnet
        let gone = ["_blocks.3._bn1.weight", "_blocks.5._depthwise_conv.weight", "_blocks.9._bn2.running_var",
                    "_blocks.12._project_conv.weight", "_bn1.bias", "_conv_head.weight", "_fc.bias"]
        for k in gone { sd[k] = nil }
        sd["extra.weight"] = Tensor(shape: [1], data: [0])
        do {
            _ = try EfficientNetLite0(stateDict: sd)
            XCTFail("missing keys must be refused")
        } catch let e as EmbedScopeError {
            XCTAssertEqual(e.kind, .notFound)
            XCTAssertTrue(e.message.contains("7 missing keys ("), e.message)
            XCTAssertTrue(e.message.contains("1 unexpected key (extra.weight)"), e.message)
            XCTAssertEqual(gone.filter { e.message.contains($0) }.count, 5, e.message)
        }

        sd = Self.effnet
        sd["_conv_stem.weight"] = Tensor(shape: [32, 3, 5, 5], data: [Float](repeating: 0, count: 32 * 75))
        do {
            _ = try EfficientNetLite0(stateDict: sd)
            XCTFail("a 5×5 stem must be refused")
        } catch let e as EmbedScopeError {
            XCTAssertEqual(e.kind, .shapeMismatch)
            XCTAssertEqual(e.message, "this checkpoint is not an efficientnet-lite0: _conv_stem.weight has shape [32, 3, 5, 5], expected [32, 3, 3, 3]")
        }

        // Saved from DataParallel: every key prefixed with "module.".
        let prefixed = StateDict(uniqueKeysWithValues: Self.effnet.map { ("module." + $0.key, $0.value) })
        do {
            _ = try EfficientNetLite0(stateDict: prefixed)
            XCTFail("prefixed keys must be refused")
        } catch let e as EmbedScopeError {
            XCTAssertEqual(e.kind, .notFound)
            XCTAssertTrue(e.hint?.contains("module.") == true, "hint: \(e.hint ?? "none")")
        }

        sd = Self.effnet
        sd["_fc.weight"] = Tensor(shape: [7, 1000], data: [Float](repeating: 0, count: 7000))
        XCTAssertThrowsKind(.shapeMismatch, try EfficientNetLite0(stateDict: sd), "fc with the wrong input width")

        sd = Self.effnet
        sd["_blocks.0._bn1.running_var"] = Tensor(shape: [32], data: [Float](repeating: -1, count: 32))
        XCTAssertThrowsKind(.invalidArgument, try EfficientNetLite0(stateDict: sd), "negative variance")

        // A ResNet state dict is not an EfficientNet.
        XCTAssertThrowsKind(.notFound, try EfficientNetLite0(stateDict: SyntheticWeights.resnet(.r18, classes: 3, random: false)))
    }

    func testEfficientNetChecksTheInput() throws {
        let m = try EfficientNetLite0(stateDict: Self.effnet)
        XCTAssertThrowsKind(.shapeMismatch, try m.forward([Float](repeating: 0, count: 3 * 224 * 224 - 1), count: 1))
        XCTAssertThrowsKind(.shapeMismatch, try m.forward([Float](repeating: 0, count: 3 * 224 * 224), count: 2))
        XCTAssertThrowsKind(.invalidArgument, try m.forward([], count: -1))
    }

    /// The batch runner's workers take runs of images from a shared counter: every image exactly
    /// once, runs of at most `group` that never grow, shrinking to single images at the end, with
    /// any number of threads claiming at once.
    func testWorkersClaimEveryImageOnce() {
        for (end, group, workers) in [(32, 8, 2), (32, 4, 2), (7, 8, 2), (1, 4, 2), (0, 4, 2), (100, 8, 3), (5, 1, 2), (9, 4, 1)] {
            let next = Synchronization.Atomic<Int>(0)
            var runs: [Range<Int>] = []
            while let r = claimImages(next, end: end, group: group, workers: workers) { runs.append(r) }
            let what = "end \(end), group \(group), workers \(workers): \(runs)"
            XCTAssertEqual(runs.first?.lowerBound ?? 0, 0, what)
            XCTAssertEqual(runs.last?.upperBound ?? 0, end, what)
            XCTAssertTrue(zip(runs, runs.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound && $0.count >= $1.count }, what)
            XCTAssertTrue(runs.allSatisfy { !$0.isEmpty && $0.count <= group }, what)
            if end > 0 { XCTAssertEqual(runs.last?.count, 1, what) }
            if end >= group * workers { XCTAssertEqual(runs.first?.count, group, what) }
        }
        // Threads racing for 1,000 images: each claimed once.
        let next = Synchronization.Atomic<Int>(0)
        var seen = [Int](repeating: 0, count: 1000)
        seen.withUnsafeMutableBufferPointer { counts in
            let c = counts
            parallelFor(4) { _ in
                while let r = claimImages(next, end: 1000, group: 3, workers: 4) { for i in r { c[i] += 1 } }
            }
        }
        XCTAssertEqual(seen, [Int](repeating: 1, count: 1000))
    }

    /// The helpers kept awake between layers: every part of every job runs exactly once, before
    /// `run` returns; a job posted while another is running is refused (the caller falls back);
    /// more parts than threads are claimed in turn.
    /// A team lives as long as the process (its helpers hold it unowned), as `SpinTeam.shared` does.
    static let oneCoreTeam = SpinTeam(helpers: 1)
    func testSpinTeamRunsEveryPartOnce() throws {
        // On one usable core there is no shared team (the network splits nothing); a team of one
        // helper is made here so its logic is tested there too (this test failed under taskset -c 0).
        XCTAssertEqual(SpinTeam.shared == nil, CPUBudget.spinningThreads < 2)
        let team = SpinTeam.shared ?? Self.oneCoreTeam
        for parts in [1, 2, 3, 7] {
            for _ in 0..<500 {
                var hits = [Int](repeating: 0, count: parts)
                let ran = hits.withUnsafeMutableBufferPointer { h in
                    let h = h
                    return team.run(parts) { i in h[i] += 1 }
                }
                XCTAssertTrue(ran)
                XCTAssertEqual(hits, [Int](repeating: 1, count: parts), "parts \(parts)")
            }
        }
        // A job inside a job is refused, not deadlocked.
        var inner: Bool?
        XCTAssertTrue(team.run(1) { _ in inner = team.run(2) { _ in } })
        XCTAssertEqual(inner, false)
        // Callers on several threads at once: each job either ran whole or was refused.
        let whole = Synchronization.Atomic<Int>(0), refused = Synchronization.Atomic<Int>(0)
        parallelFor(4) { _ in
            for _ in 0..<200 {
                let count = Synchronization.Atomic<Int>(0)
                if team.run(2, { _ in count.add(1, ordering: .relaxed) }) {
                    if count.load(ordering: .relaxed) == 2 { whole.add(1, ordering: .relaxed) }
                } else {
                    refused.add(1, ordering: .relaxed)
                }
            }
        }
        XCTAssertEqual(whole.load(ordering: .relaxed) + refused.load(ordering: .relaxed), 800)
        XCTAssertGreaterThan(whole.load(ordering: .relaxed), 0)
    }

    func testResNet18ExecutionPathsAgree() throws {
        let sd = SyntheticWeights.resnet(.r18, classes: 5)
        let two = try ResNet(depth: .r18, stateDict: sd, threads: 2)
        let one = try ResNet(depth: .r18, stateDict: sd, threads: 1)
        XCTAssertEqual(two.name, "resnet18")
        XCTAssertEqual(two.featureDim, 512)
        XCTAssertEqual(two.classCount, 5)
        // n = 2 on 2 threads: one image per worker; on 1 thread: a group of 2; alone: split layers.
        let n = 2, per = 3 * 224 * 224
        let x = seededFloats(n * per, seed: 43)
        let a = try two.forward(x, count: n)
        let b = try one.forward(x, count: n)
        XCTAssertTrue(a.features.allSatisfy { $0.isFinite && $0 >= 0 })
        XCTAssertGreaterThan(a.features.reduce(0, +), 0)
        let tol = 1e-5 * max(1, a.features.map { abs($0) }.max() ?? 0)
        XCTAssertLessThanOrEqual(ModelKernelTests.maxDiff(a.features, b.features), tol)
        XCTAssertLessThanOrEqual(ModelKernelTests.maxDiff(a.logits, b.logits), 1e-5 * max(1, a.logits.map { abs($0) }.max() ?? 0))
        let first = try two.forward(Array(x[..<per]), count: 1)
        XCTAssertLessThanOrEqual(ModelKernelTests.maxDiff(first.features, Array(a.features[..<512])), tol)
    }

    func testResNetValidatesTheStateDict() throws {
        var sd = SyntheticWeights.resnet(.r50, classes: 10, random: false)
        XCTAssertEqual(try ResNet(depth: .r50, stateDict: sd).featureDim, 2048)
        sd["layer4.2.conv3.weight"] = nil
        do {
            _ = try ResNet(depth: .r50, stateDict: sd)
            XCTFail("missing key must be refused")
        } catch let e as EmbedScopeError {
            XCTAssertEqual(e.kind, .notFound)
            XCTAssertEqual(e.message, "this checkpoint is not a resnet50: 1 missing key (layer4.2.conv3.weight)")
        }
        // A ResNet-18 state dict is neither a ResNet-34 (missing blocks) nor a ResNet-50 (shapes).
        let r18 = SyntheticWeights.resnet(.r18, classes: 10, random: false)
        XCTAssertThrowsKind(.notFound, try ResNet(depth: .r34, stateDict: r18))
        XCTAssertThrowsKind(.shapeMismatch, try ResNet(depth: .r50, stateDict: r18))
        XCTAssertEqual(try ResNet(depth: .r34, stateDict: SyntheticWeights.resnet(.r34, classes: 2, random: false)).classCount, 2)
        // A NaN or infinite weight (a diverged run) is refused at load, by name: it was found only as
        // "features of <the first image> contain NaN", with the hint to drop that vector.
        for bad in [Float.nan, .infinity, -.infinity] {
            var w = SyntheticWeights.resnet(.r18, classes: 10, random: false)
            var t = try XCTUnwrap(w["layer1.0.conv1.weight"])
            t.data[5] = bad
            w["layer1.0.conv1.weight"] = t
            do {
                _ = try ResNet(depth: .r18, stateDict: w)
                XCTFail("a \(bad) weight must be refused")
            } catch let e as EmbedScopeError {
                XCTAssertEqual(e.kind, .checkpoint)
                XCTAssertTrue(e.message.contains("layer1.0.conv1.weight[5]") && e.message.contains("must be finite"), e.message)
            }
        }
    }

    /// A head fine-tuned as nn.Sequential(nn.Dropout, nn.Linear) — keys fc.1.weight / fc.1.bias —
    /// is that Linear layer (it was refused as "not a resnet18: 2 unexpected keys"); a head of two
    /// layers with weights is refused by name, not read as a headless backbone.
    func testResNetReadsADropoutLinearHead() throws {
        let plain = SyntheticWeights.resnet(.r18, classes: 7)
        var sequential = plain
        sequential["fc.1.weight"] = plain["fc.weight"]; sequential["fc.1.bias"] = plain["fc.bias"]
        sequential["fc.weight"] = nil; sequential["fc.bias"] = nil
        let a = try ResNet(depth: .r18, stateDict: plain), b = try ResNet(depth: .r18, stateDict: sequential)
        XCTAssertEqual(b.classCount, 7)
        XCTAssertEqual(b.head.weights, a.head.weights)
        XCTAssertEqual(b.head.bias, a.head.bias)
        var twoLayers = sequential
        twoLayers["fc.3.weight"] = plain["fc.weight"]; twoLayers["fc.3.bias"] = plain["fc.bias"]
        do {
            _ = try ResNet(depth: .r18, stateDict: twoLayers)
            XCTFail("a two-layer head must be refused")
        } catch let e as EmbedScopeError {
            XCTAssertTrue(e.message.contains("head `fc` is not one linear layer"), e.message)
        }
    }
}
