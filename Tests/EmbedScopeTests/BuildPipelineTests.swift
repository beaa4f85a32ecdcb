import Foundation
import Synchronization
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels

/// `build` with the decode stage running ahead of the forward pass (FolderBuilder+Pipeline)
/// writes exactly what the stage-after-stage pass writes, and fails or skips exactly as it does.
final class BuildPipelineTests: XCTestCase {
    /// 11 seeded RGB PNGs of different sizes over three classes, with a corrupt JPEG, a
    /// truncated PNG and an all-black image in the middle of the stream (sorted order).
    func folder(_ dir: URL) throws -> URL {
        let root = dir.appendingPathComponent("data")
        var g = SeededGenerator(seed: 41)
        for i in 0..<11 {
            let cls = ["a", "b", "c"][i % 3]
            let url = root.appendingPathComponent(cls).appendingPathComponent(String(format: "img%02d.png", i))
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            let w = 20 + Int(g.next() % 30), h = 20 + Int(g.next() % 30)
            let px = (0..<(w * h * 3)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
            try PNGWriter.write(width: w, height: h, channels: 3, pixels: px, to: url)
        }
        try Data("garbage, not a jpeg".utf8).write(to: root.appendingPathComponent("b/img05b-broken.jpg"))
        let good = try Data(contentsOf: root.appendingPathComponent("a/img00.png"))
        try good.prefix(good.count / 2).write(to: root.appendingPathComponent("c/img02b-truncated.png"))
        try PNGWriter.write(width: 9, height: 7, channels: 3, pixels: [UInt8](repeating: 0, count: 9 * 7 * 3),
                            to: root.appendingPathComponent("a/img06b-black.png"))
        return root
    }

    /// ResNet-18 (the pooled-weight fixture) on 32×32 crops: a real forward pass, cheap in debug.
    func request(_ root: URL, out: URL, overlap: Bool) throws -> BuildRequest {
        var r = BuildRequest(dataset: root, out: out)
        r.model = "resnet18"
        r.weights = try ModelFixtures.url("resnet18_legacy.pth")
        r.modelOptions = ModelOptions(resize: 36, crop: 32)
        r.batchSize = 2          // 14 files: 7 batches, so the decoder runs ahead and waits on a full queue
        r.pixelSize = 8
        r.overlap = overlap
        return r
    }

    /// Runs `body` on another thread and fails (instead of hanging the suite) if it takes longer than `seconds`.
    func withDeadline<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () throws -> T) throws -> T {
        let box = Box<Result<T, any Error>>()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let r = Result { try body() }
            box.value.withLock { $0 = r }
            done.signal()
        }
        guard done.wait(timeout: .now() + seconds) == .success else {
            XCTFail("no answer within \(seconds) s: the pipeline hangs")
            throw EmbedScopeError(.invalidArgument, "deadline")
        }
        return try box.value.withLock { $0! }.get()
    }

    func files(_ index: URL) throws -> [String: Data] {
        let gen = index.appendingPathComponent("current").resolvingSymlinksInPath()
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: gen.path) where name != "catalog.sqlite" {
            out[name] = try Data(contentsOf: gen.appendingPathComponent(name))
        }
        return out
    }

    func testOverlappedBuildEqualsTheSequentialOneBitForBit() throws {
        let dir = try temporaryDirectory(self)
        let root = try folder(dir)
        let seq = try request(root, out: dir.appendingPathComponent("seq"), overlap: false)
        let ovl = try request(root, out: dir.appendingPathComponent("ovl"), overlap: true)
        let a = try withDeadline(300) { try FolderBuilder.run(seq) }
        let b = try withDeadline(300) { try FolderBuilder.run(ovl) }

        XCTAssertEqual(a.rows, 11)
        XCTAssertEqual(b.rows, a.rows)
        XCTAssertEqual(b.decodes, a.decodes)
        XCTAssertEqual(a.decodes, 14)
        XCTAssertEqual(b.classCounts, a.classCounts)
        XCTAssertEqual(a.skipped.map(\.path), ["a/img06b-black.png", "b/img05b-broken.jpg", "c/img02b-truncated.png"])
        XCTAssertEqual(b.skipped.map(\.path), a.skipped.map(\.path))
        XCTAssertEqual(b.skipped.map(\.reason), a.skipped.map(\.reason))
        XCTAssertEqual(b.spaces.map(\.name), a.spaces.map(\.name))
        XCTAssertEqual(b.spaces.map(\.dim), a.spaces.map(\.dim))

        let ia = try Index.open(seq.out), ib = try Index.open(ovl.out)
        XCTAssertEqual(try ib.catalog.allImages(), try ia.catalog.allImages())
        XCTAssertEqual(try ib.catalog.allImages().count, 11)
        XCTAssertNoThrow(try ib.verify())
        // Every vector, norm and prototype file, byte for byte.
        let fa = try files(seq.out), fb = try files(ovl.out)
        XCTAssertEqual(fa.keys.sorted(), fb.keys.sorted())
        XCTAssertTrue(fa.keys.contains { $0.hasPrefix("embedding") } && fa.keys.contains { $0.hasPrefix("pixel") }, "\(fa.keys.sorted())")
        for (name, data) in fa { XCTAssertTrue(fb[name] == data, "\(name) differs") }
    }

    func testStrictFailureMidStreamLeavesNoIndexAndDoesNotHang() throws {
        let dir = try temporaryDirectory(self)
        let root = try folder(dir)
        for overlap in [false, true] {
            var r = try request(root, out: dir.appendingPathComponent("strict-\(overlap)"), overlap: overlap)
            r.strict = true
            let req = r
            let message: String
            do {
                _ = try withDeadline(300) { try FolderBuilder.run(req) }
                XCTFail("strict build with a corrupt image succeeded (overlap \(overlap))")
                continue
            } catch let e as EmbedScopeError {
                XCTAssertEqual(e.kind, .dataset)
                message = e.description
            }
            // The first bad file in folder order, as before.
            XCTAssertTrue(message.contains("a/img06b-black.png"), message)
            XCTAssertFalse(FileManager.default.fileExists(atPath: r.out.path), "strict failure must not leave an index")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }, [])
    }

    /// The pipeline alone: batches come back in order, and stopping it early (the pass failed)
    /// joins the decoder thread after at most the batches it was allowed to run ahead.
    func testDecodeAheadKeepsOrderAndStopsEarly() throws {
        let ranges = (0..<20).map { ($0 * 3)..<($0 * 3 + 3) }
        let started = Counter()
        let decode: @Sendable (Range<Int>) -> FolderBuilder.DecodedBatch = { r in
            started.value.wrappingAdd(1, ordering: .relaxed)
            Thread.sleep(forTimeInterval: 0.002)
            return FolderBuilder.DecodedBatch(range: r, results: [], inputs: [Float(r.lowerBound)], seconds: 0)
        }
        let all = DecodeAhead(batches: ranges, depth: 2, decode: decode)
        var seen: [Range<Int>] = []
        while let b = all.next() { seen.append(b.range); XCTAssertEqual(b.inputs, [Float(b.range.lowerBound)]) }
        all.stop()
        all.stop()                                  // idempotent
        XCTAssertEqual(seen, ranges)
        XCTAssertEqual(started.value.load(ordering: .relaxed), 20)

        started.value.store(0, ordering: .relaxed)
        let early = DecodeAhead(batches: ranges, depth: 2, decode: decode)
        XCTAssertEqual(early.next()?.range, ranges[0])
        XCTAssertEqual(early.next()?.range, ranges[1])
        _ = try withDeadline(30) { early.stop(); return 0 }
        // Two taken, at most two ahead, and one the stop may have let in: never the whole list.
        XCTAssertLessThanOrEqual(started.value.load(ordering: .relaxed), 5)
    }
}

private final class Counter: Sendable { let value = Synchronization.Atomic<Int>(0) }
private final class Box<T: Sendable>: Sendable { let value = Locked<T?>(nil) }   // Locked: ThreadSanitizer sees it
