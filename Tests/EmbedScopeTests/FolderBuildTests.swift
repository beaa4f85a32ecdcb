import CZlib
import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport

/// Writes root/<class>/... PNGs of solid colours; returns the root.
func makeFolder(_ dir: URL) throws -> URL {
    let root = dir.appendingPathComponent("data")
    let colours: [(String, String, [UInt8])] = [
        ("red", "a.png", [250, 10, 10]), ("red", "deep/b.png", [200, 30, 20]), ("red", "c.PNG", [255, 0, 40]),
        ("blue", "a.png", [10, 10, 250]), ("blue", "b.png", [30, 20, 200]),
    ]
    for (c, name, rgb) in colours {
        let url = root.appendingPathComponent(c).appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let px = (0..<(6 * 5)).flatMap { i in rgb.map { UInt8(clamping: Int($0) + (i % 3)) } }
        try PNGWriter.write(width: 6, height: 5, channels: 3, pixels: px, to: url)
    }
    try FileManager.default.createDirectory(at: root.appendingPathComponent("empty"), withIntermediateDirectories: true)
    try "not an image".write(to: root.appendingPathComponent("red/notes.txt"), atomically: true, encoding: .utf8)
    return root
}

final class FolderBuildTests: XCTestCase {
    func testBuildIndexesEveryImageWithSortedClassesAndPaths() throws {
        let dir = try temporaryDirectory(self)
        let root = try makeFolder(dir)
        var req = BuildRequest(dataset: root, out: dir.appendingPathComponent("idx"))
        req.pixelSize = 8
        let s = try FolderBuilder.run(req)
        XCTAssertEqual(s.rows, 5)
        XCTAssertEqual(s.classes, ["blue", "red"])          // "empty" has no images: not a class
        XCTAssertEqual(s.classCounts, [2, 3])
        XCTAssertTrue(s.skipped.isEmpty)
        XCTAssertEqual(s.ignoredFiles, 1)                    // notes.txt
        let idx = try Index.open(req.out)
        XCTAssertEqual(try idx.catalog.allImages().map(\.path), ["blue/a.png", "blue/b.png", "red/a.png", "red/c.PNG", "red/deep/b.png"])
        XCTAssertEqual(try idx.vectors(space: "pixel").dim, 3 * 8 * 8)
        XCTAssertNoThrow(try idx.verify())
        // Nearest neighbour of a red image in pixel space is red.
        var o = SearchOptions(); o.space = "pixel"; o.k = 2
        XCTAssertEqual(try idx.search(.path("red/a.png"), options: o).map(\.class), ["red", "red"])
        o.farthest = true
        XCTAssertEqual(try idx.search(.path("red/a.png"), options: o).first?.class, "blue")
    }

    func testUndecodableImagesAreSkippedOrFailWithStrict() throws {
        let dir = try temporaryDirectory(self)
        let root = try makeFolder(dir)
        try Data("garbage, not a jpeg".utf8).write(to: root.appendingPathComponent("blue/broken.jpg"))
        let good = try Data(contentsOf: root.appendingPathComponent("red/a.png"))
        try good.prefix(good.count / 2).write(to: root.appendingPathComponent("red/truncated.png"))
        var req = BuildRequest(dataset: root, out: dir.appendingPathComponent("idx"))
        req.pixelSize = 8
        let s = try FolderBuilder.run(req)
        XCTAssertEqual(s.rows, 5)
        XCTAssertEqual(Set(s.skipped.map(\.path)), ["blue/broken.jpg", "red/truncated.png"])
        XCTAssertTrue(s.skipped.allSatisfy { !$0.reason.isEmpty })

        req.out = dir.appendingPathComponent("strict")
        req.strict = true
        XCTAssertThrowsKind(.dataset, try FolderBuilder.run(req))
        XCTAssertFalse(FileManager.default.fileExists(atPath: req.out.path), "strict failure must not leave an index")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }, [])
    }

    /// Names that are not valid UTF-8 (Latin-1 names from old archives): Foundation lists them with
    /// U+FFFD, a name that opens nothing. A class folder so named would vanish without a word; it is
    /// an error. A file so named is skipped with a reason that says why, not "does not exist".
    func testNamesThatAreNotUTF8AreReportedNotLost() throws {
        let dir = try temporaryDirectory(self)
        let root = try makeFolder(dir)
        let png = try Data(contentsOf: root.appendingPathComponent("red/a.png"))
        func create(_ relative: [UInt8], directory: Bool) {
            let path = Array((root.path + "/").utf8) + relative
            path.map { CChar(bitPattern: $0) }.withUnsafeBufferPointer { p in
                let cpath = Array(p) + [0]
                if directory {
                    XCTAssertEqual(mkdir(cpath, 0o755), 0)
                } else {
                    let fd = open(cpath, O_CREAT | O_WRONLY, 0o644)
                    XCTAssertGreaterThanOrEqual(fd, 0)
                    _ = png.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                    close(fd)
                }
            }
        }
        create(Array("red/caf".utf8) + [0xE9] + Array(".png".utf8), directory: false)   // Latin-1 "café.png"
        var req = BuildRequest(dataset: root, out: dir.appendingPathComponent("idx"))
        req.pixelSize = 8
        let s = try FolderBuilder.run(req)
        XCTAssertEqual(s.rows, 5)
        XCTAssertEqual(s.skipped.count, 1)
        XCTAssertTrue(s.skipped.first?.reason.contains("not valid UTF-8") ?? false, "\(s.skipped)")

        create(Array("gr".utf8) + [0xFC] + Array("n".utf8), directory: true)            // Latin-1 "grün"
        create(Array("gr".utf8) + [0xFC] + Array("n/a.png".utf8), directory: false)
        req.out = dir.appendingPathComponent("idx2")
        XCTAssertThrowsError(try FolderBuilder.run(req)) { error in
            XCTAssertEqual((error as? EmbedScopeError)?.kind, .dataset)
            XCTAssertTrue("\(error)".contains("gr\\xfcn"), "\(error)")
        }
    }

    /// Symlinked class folders and folders within a class are followed, as torchvision's
    /// `ImageFolder` follows them (they were left out without a word: a class on another disk
    /// vanished); the paths are those through the links. A link back to a folder holding it is an
    /// error naming the link, not an endless walk.
    func testSymlinkedFoldersAreFollowedAndLoopsRefused() throws {
        let dir = try temporaryDirectory(self)
        let root = try makeFolder(dir)
        let elsewhere = dir.appendingPathComponent("elsewhere")
        for (sub, name) in [("green", "a.png"), ("green", "b.png"), ("extra", "z.png")] {
            let url = elsewhere.appendingPathComponent(sub).appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try PNGWriter.write(width: 6, height: 5, channels: 3, pixels: [UInt8](repeating: 90, count: 90), to: url)
        }
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("green").path, withDestinationPath: "../elsewhere/green")
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("blue/more").path, withDestinationPath: elsewhere.appendingPathComponent("extra").path)
        var req = BuildRequest(dataset: root, out: dir.appendingPathComponent("idx"))
        req.pixelSize = 8
        let s = try FolderBuilder.run(req)
        XCTAssertEqual(s.rows, 8)
        XCTAssertEqual(s.classes, ["blue", "green", "red"])
        XCTAssertEqual(s.classCounts, [3, 2, 3])
        let index = try Index.open(dir.appendingPathComponent("idx"))
        XCTAssertEqual(try index.catalog.allImages().map(\.path),
                       ["blue/a.png", "blue/b.png", "blue/more/z.png", "green/a.png", "green/b.png", "red/a.png", "red/c.PNG", "red/deep/b.png"])
        // Where the links lead is recorded (the server serves images there too, nothing else outside).
        XCTAssertEqual(try index.catalog.meta()[MetaKey.datasetLinkedRoots],
                       ["extra", "green"].map { elsewhere.appendingPathComponent($0).resolvingSymlinksInPath().path }.joined(separator: "\n"))

        // Paths through the data set's links name its rows as the catalog does: `add` of a linked
        // folder (realpath led outside the root: refused), `query --path` with the root spelled
        // through a link to it.
        XCTAssertEqual(try IndexGrowth.prefixes([root.appendingPathComponent("green"), root.appendingPathComponent("blue/more/z.png")], root: root),
                       ["green", "blue/more/z.png"])
        let rootLink = dir.appendingPathComponent("rootlink")
        try fm.createSymbolicLink(at: rootLink, withDestinationURL: root)
        XCTAssertEqual(try index.row(for: .path(rootLink.appendingPathComponent("green/b.png").path)), 4)
        XCTAssertEqual(try index.row(for: .path(rootLink.appendingPathComponent("blue/more/z.png").path)), 2)

        for (link, target) in [("red/deep/up", ".."), ("red/root", "../.."), ("blue/self", ".")] {
            let at = root.appendingPathComponent(link)
            try fm.createSymbolicLink(atPath: at.path, withDestinationPath: target)
            req.out = dir.appendingPathComponent("idx-loop")
            XCTAssertThrowsError(try FolderBuilder.run(req), link) { error in
                XCTAssertEqual((error as? EmbedScopeError)?.kind, .dataset, link)
                XCTAssertTrue("\(error)".contains(at.path) && "\(error)".contains("link back"), "\(error)")
            }
            try fm.removeItem(at: at)
            XCTAssertFalse(fm.fileExists(atPath: req.out.path), link)
        }
    }

    /// A FIFO or a link to a device named like an image is skipped as "not a regular file" (no
    /// hang reading a FIFO, no endless read of /dev/zero, no misleading "permission" message).
    func testFilesThatAreNotRegularAreSkippedSayingSo() throws {
        let dir = try temporaryDirectory(self)
        let root = try makeFolder(dir)
        XCTAssertEqual(mkfifo(root.appendingPathComponent("red/fifo.png").path, 0o644), 0)
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("blue/zero.jpg").path, withDestinationPath: "/dev/zero")
        var req = BuildRequest(dataset: root, out: dir.appendingPathComponent("idx"))
        req.pixelSize = 8
        let s = try FolderBuilder.run(req)
        XCTAssertEqual(s.rows, 5)
        XCTAssertEqual(Set(s.skipped.map(\.path)), ["red/fifo.png", "blue/zero.jpg"])
        XCTAssertTrue(s.skipped.allSatisfy { $0.reason.contains("not a regular file") }, "\(s.skipped)")
        XCTAssertThrowsError(try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: "/dev/zero"))) { error in
            XCTAssertEqual((error as? ImageError)?.kind, .unreadable)
            XCTAssertTrue("\(error)".contains("not a regular file (a device)"), "\(error)")
        }
    }

    /// .webp / .bmp / .tif (torchvision's ImageFolder reads them) were left out without a word; now
    /// they are counted and said, and a folder of nothing else is an error that names them.
    func testImagesInFormatsNotReadAreCountedAndSaid() throws {
        let dir = try temporaryDirectory(self)
        let root = try makeFolder(dir)
        for name in ["red/x.webp", "red/y.WEBP", "blue/z.bmp"] { try Data("RIFF".utf8).write(to: root.appendingPathComponent(name)) }
        var req = BuildRequest(dataset: root, out: dir.appendingPathComponent("idx"))
        req.pixelSize = 8
        let s = try FolderBuilder.run(req)
        XCTAssertEqual(s.rows, 5)
        XCTAssertEqual(s.unreadImages, ["webp": 2, "bmp": 1])
        XCTAssertEqual(s.ignoredFiles, 4)   // notes.txt too
        XCTAssertEqual(DatasetFolder.describeUnread(s.unreadImages), "2 .webp, 1 .bmp files")

        let only = try folderOfOneFile(in: dir, "only", "cls/a.webp", "RIFF")
        XCTAssertThrowsError(try FolderBuilder.run(BuildRequest(dataset: only, out: dir.appendingPathComponent("i2")))) { error in
            XCTAssertEqual((error as? EmbedScopeError)?.kind, .dataset)
            XCTAssertTrue("\(error)".contains("only 1 .webp file"), "\(error)")
        }
    }

    /// A data set folder `name` under `dir` holding one file, `file` (a class folder and its name),
    /// with `contents`.
    func folderOfOneFile(in dir: URL, _ name: String, _ file: String, _ contents: String) throws -> URL {
        let root = dir.appendingPathComponent(name)
        let url = root.appendingPathComponent(file)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(contents.utf8).write(to: url)
        return root
    }

    /// A folder whose only images cannot be decoded says why for each (the skipped lines are
    /// printed only after a build that succeeds: a folder of one bad image said nothing else).
    func testNoImageDecodedSaysWhy() throws {
        let dir = try temporaryDirectory(self)
        let only = try folderOfOneFile(in: dir, "bad", "cls/a\u{1B}[31m.png", "not a picture")
        XCTAssertThrowsError(try FolderBuilder.run(BuildRequest(dataset: only, out: dir.appendingPathComponent("i")))) { error in
            XCTAssertEqual((error as? EmbedScopeError)?.kind, .dataset)
            XCTAssertTrue("\(error)".contains("none of the 1 images could be decoded (cls/a\\u{1B}[31m.png: "), "\(error)")
            XCTAssertTrue("\(error)".contains("neither the PNG nor the JPEG signature"), "\(error)")
        }
    }

    func testEmptyOrMissingFolderIsAClearError() throws {
        let dir = try temporaryDirectory(self)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("none/cls"), withIntermediateDirectories: true)
        XCTAssertThrowsKind(.dataset, try FolderBuilder.run(BuildRequest(dataset: dir.appendingPathComponent("none"), out: dir.appendingPathComponent("i"))))
        XCTAssertThrowsKind(.notFound, try FolderBuilder.run(BuildRequest(dataset: dir.appendingPathComponent("missing"), out: dir.appendingPathComponent("i"))))
    }

    func testExistingIndexIsKeptWithoutForce() throws {
        let dir = try temporaryDirectory(self)
        let root = try makeFolder(dir)
        var req = BuildRequest(dataset: root, out: dir.appendingPathComponent("idx"))
        req.pixelSize = 4
        _ = try FolderBuilder.run(req)
        XCTAssertThrowsKind(.alreadyExists, try FolderBuilder.run(req))
        req.force = true
        req.pixelSize = 6
        _ = try FolderBuilder.run(req)
        XCTAssertEqual(try Index.open(req.out).vectors(space: "pixel").dim, 3 * 36)
    }
}

final class PixelSpaceTests: XCTestCase {
    /// Pins the definition: x/255, no centering, (y, x, RGB) order, then L2 normalization.
    func testDefinitionIsPinned() throws {
        let img = RGBImage(width: 2, height: 2, pixels: [255, 0, 0, 0, 255, 0, 0, 0, 255, 51, 102, 153])
        let raw = PixelSpace.vector(of: img, size: 2) // same size: the resize is the identity
        let expected: [Float] = [1, 0, 0, 0, 1, 0, 0, 0, 1, 0.2, 0.4, 0.6]
        XCTAssertLessThanOrEqual(maxAbsDifference(raw, expected), 1e-6, "\(raw) vs \(expected)")
        var v = raw
        let n = try Normalize.toUnit(&v, what: "test")
        XCTAssertEqual(n, (3 + 0.04 + 0.16 + 0.36).squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(v[0], Float(1 / n), accuracy: 1e-6)
    }

    func testDownscaleAveragesAColourBlock() {
        // A 4x4 image of one grey level resizes to the same level everywhere.
        let img = RGBImage(width: 4, height: 4, pixels: [UInt8](repeating: 128, count: 48))
        let v = PixelSpace.vector(of: img, size: 2)
        XCTAssertEqual(v.count, 12)
        for x in v { XCTAssertEqual(x, 128 / 255, accuracy: 1e-5) }
    }
}

final class FashionMNISTTests: XCTestCase {
    func testExportWritesRealPNGsMatchingTheIDXFiles() throws {
        let src = FashionMNIST.defaultDirectory
        guard FileManager.default.fileExists(atPath: src.appendingPathComponent("t10k-images-idx3-ubyte.gz").path) else {
            throw XCTSkip("dataset-fashion-mnist is not installed (Scripts/setup.sh installs it)")
        }
        let dir = try temporaryDirectory(self)
        let out = dir.appendingPathComponent("fm")
        let s = try FashionMNIST.export(split: .test, limit: 40, to: out)
        XCTAssertEqual(s.written, 40)
        XCTAssertEqual(s.perClass.reduce(0, +), 40)
        let images = try IDXArray.read(src.appendingPathComponent("t10k-images-idx3-ubyte.gz"))
        let labels = try IDXArray.read(src.appendingPathComponent("t10k-labels-idx1-ubyte.gz"))
        XCTAssertEqual(images.shape, [10000, 28, 28])
        XCTAssertEqual(labels.shape, [10000])
        // --limit is stratified: 4 of each class, seeded; files keep their IDX position in the name.
        XCTAssertEqual(s.perClass, [Int](repeating: 4, count: 10))
        let chosen = StratifiedLimit.select(labels: labels.bytes.map(Int.init), limit: 40, seed: 0)
        XCTAssertEqual(chosen.count, 40)
        for i in [chosen[0], chosen[17], chosen[39]] {
            let cls = FashionMNIST.classNames[Int(labels.bytes[i])]
            let img = try ImageDecoder.decode(contentsOf: out.appendingPathComponent(cls).appendingPathComponent(String(format: "test-%05d.png", i)))
            XCTAssertEqual(img.width, 28); XCTAssertEqual(img.height, 28)
            let gray = Array(images.bytes[(i * 784)..<((i + 1) * 784)])
            XCTAssertEqual(img.pixels, gray.flatMap { [$0, $0, $0] }, "image \(i)")
        }
        XCTAssertThrowsKind(.alreadyExists, try FashionMNIST.export(split: .test, limit: 5, to: out))
        // A file in the way is named a file (it was called "folder exists").
        let file = dir.appendingPathComponent("afile")
        try Data("x".utf8).write(to: file)
        XCTAssertThrowsError(try FashionMNIST.export(split: .test, limit: 5, to: file)) { error in
            XCTAssertEqual((error as? EmbedScopeError)?.kind, .alreadyExists)
            XCTAssertTrue("\(error)".contains("a file with this name exists"), "\(error)")
        }
        XCTAssertEqual(try Data(contentsOf: file), Data("x".utf8))
        XCTAssertThrowsKind(.notFound, try IDXArray.read(dir.appendingPathComponent("missing.gz")))
    }
}

/// IDX files a user's `--source` folder may hold: crafted, cut short, inflating to far more
/// than their header says, or not files at all. A clear error each, and the payload is read no
/// further than the header's size (before, everything gzread gave was read into memory first:
/// a small `.gz` inflating to tens of gigabytes ended in the out-of-memory kill).
final class IDXTests: XCTestCase {
    func idx(_ shape: [Int], payload: Int, fill: UInt8 = 7) -> Data {
        var d = Data([0, 0, 8, UInt8(shape.count)])
        for s in shape { d.append(contentsOf: [UInt8(s >> 24 & 255), UInt8(s >> 16 & 255), UInt8(s >> 8 & 255), UInt8(s & 255)]) }
        d.append(Data(repeating: fill, count: payload))
        return d
    }

    /// `data` gzip-compressed, then `zeros` more zero bytes in the same stream.
    func gzip(_ data: Data, zeros: Int, to url: URL) throws {
        let gz = try XCTUnwrap(gzopen(url.path, "wb"))
        _ = data.withUnsafeBytes { gzwrite(gz, $0.baseAddress, UInt32($0.count)) }
        let block = [UInt8](repeating: 0, count: 1 << 20)
        for _ in 0..<(zeros >> 20) { _ = block.withUnsafeBytes { gzwrite(gz, $0.baseAddress, UInt32($0.count)) } }
        XCTAssertEqual(gzclose(gz), Z_OK)
    }

    func expectError(_ url: URL, _ needle: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try IDXArray.read(url), file: file, line: line) { e in
            XCTAssertEqual((e as? EmbedScopeError)?.kind, .dataset, "\(e)", file: file, line: line)
            XCTAssertTrue("\(e)".contains(needle), "\(e)", file: file, line: line)
        }
    }

    func testCraftedIDXFilesAreClearErrors() throws {
        let dir = try temporaryDirectory(self)
        let good = dir.appendingPathComponent("good.gz")
        try gzip(idx([3, 4, 5], payload: 60), zeros: 0, to: good)
        let a = try IDXArray.read(good)
        XCTAssertEqual(a.shape, [3, 4, 5])
        XCTAssertEqual(a.bytes, [UInt8](repeating: 7, count: 60))
        let plain = dir.appendingPathComponent("plain")
        try idx([2, 3], payload: 6).write(to: plain)
        XCTAssertEqual(try IDXArray.read(plain).bytes.count, 6, "uncompressed IDX is read too")

        // 64 MiB of zeros after a 4-byte payload: refused after the 5th byte, not after all of them.
        let bomb = dir.appendingPathComponent("bomb.gz")
        try gzip(idx([1, 2, 2], payload: 4), zeros: 64 << 20, to: bomb)
        XCTAssertLessThan(try XCTUnwrap(FileManager.default.attributesOfItem(atPath: bomb.path)[.size] as? Int), 1 << 20)
        expectError(bomb, "longer than 4 bytes")
        // A header announcing more than an IDX data set may hold: refused before any allocation.
        let huge = dir.appendingPathComponent("huge")
        try idx([60000, 40000, 40000], payload: 16).write(to: huge)
        expectError(huge, "more than the 1024 MiB")
        let overflow = dir.appendingPathComponent("overflow")
        try idx([0x7fffffff, 0x7fffffff, 0x7fffffff], payload: 0).write(to: overflow)
        expectError(overflow, "overflows")
        let short = dir.appendingPathComponent("short")
        try idx([2, 2, 2], payload: 5).write(to: short)
        expectError(short, "IDX payload is 5 bytes, shape [2, 2, 2] needs 8")
        let cutHeader = dir.appendingPathComponent("cut")
        try idx([2, 2, 2], payload: 0).prefix(9).write(to: cutHeader)
        expectError(cutHeader, "truncated IDX header")
        let notIDX = dir.appendingPathComponent("text")
        try Data("hello".utf8).write(to: notIDX)
        expectError(notIDX, "bad magic")
        // A FIFO in the file's place is refused (gzopen waited for a writer for ever).
        let fifo = dir.appendingPathComponent("fifo")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        XCTAssertThrowsError(try IDXArray.read(fifo)) { XCTAssertTrue("\($0)".contains("FIFO"), "\($0)") }
    }

    /// A data set of no images, or of images without pixels, is an error naming it, and nothing is
    /// written (it wrote an empty folder, or failed with "cannot encode a 28x0 image (this is a bug…)").
    func testASourceWithoutPixelsIsRefused() throws {
        let dir = try temporaryDirectory(self)
        for (name, images, labels) in [("none", [0, 28, 28], [0]), ("flat", [5, 0, 28], [5]), ("thin", [5, 28, 0], [5])] {
            let src = dir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: src, withIntermediateDirectories: true)
            try gzip(idx(images, payload: images.reduce(1, *)), zeros: 0, to: src.appendingPathComponent("t10k-images-idx3-ubyte.gz"))
            try gzip(idx(labels, payload: labels[0], fill: 1), zeros: 0, to: src.appendingPathComponent("t10k-labels-idx1-ubyte.gz"))
            let out = dir.appendingPathComponent("out-\(name)")
            XCTAssertThrowsError(try FashionMNIST.export(split: .test, limit: nil, to: out, source: src), name) { e in
                XCTAssertEqual((e as? EmbedScopeError)?.kind, .dataset, "\(name): \(e)")
                XCTAssertTrue("\(e)".contains("nothing to write"), "\(name): \(e)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), name)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }, [], name)
        }
    }
}

final class ImportPixelSpaceTests: XCTestCase {
    /// Import computes the pixel space from the manifest's images, identical to `build`'s.
    func testImportComputesTheSamePixelSpaceAsBuild() throws {
        let dir = try temporaryDirectory(self)
        let root = try makeFolder(dir)
        var breq = BuildRequest(dataset: root, out: dir.appendingPathComponent("built"))
        breq.pixelSize = 8
        _ = try FolderBuilder.run(breq)
        let built = try Index.open(breq.out)
        let images = try built.catalog.allImages()
        let names = try built.classNames()
        // Manifest beside the data root, with paths relative to it.
        var csv = "path,class\n"
        for im in images { csv += "data/\(im.path),\(names[im.classId]!)\n" }
        let manifest = dir.appendingPathComponent("rows.csv")
        try csv.write(to: manifest, atomically: true, encoding: .utf8)
        let x = dir.appendingPathComponent("X.npy")
        try NPYArray.write(shape: [images.count, 4], values: randomMatrix(rows: images.count, dim: 4, seed: 1), to: x)
        var r = ImportRequest(vectors: x, manifest: manifest, out: dir.appendingPathComponent("imported"))
        r.pixelSize = 8
        let s = try Importer.run(r)
        XCTAssertEqual(s.pixelSpace?.written, true)
        let imported = try Index.open(r.out)
        XCTAssertEqual(imported.spaces.map(\.name), ["embedding", "pixel"])
        let a = try built.vectors(space: "pixel"), b = try imported.vectors(space: "pixel")
        for i in 0..<images.count { XCTAssertEqual(Array(a.row(i)), Array(b.row(i)), "row \(i)") }
    }
}
