import EmbedScope
import Foundation
import XCTest

final class PNGWriterTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("PNGWriterTests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    func testRGBRoundTripIsExact() throws {
        let seed: UInt64 = 11
        var rng = SeededGenerator(seed: seed)
        for (w, h) in [(1, 1), (7, 5), (64, 3), (200, 150)] {
            let pixels = (0..<(w * h * 3)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let data = try PNGWriter.encode(width: w, height: h, channels: 3, pixels: pixels)
            let image = try ImageDecoder.decode(data: data, path: "roundtrip.png")
            XCTAssertEqual(image, RGBImage(width: w, height: h, pixels: pixels), "\(w)x\(h) seed \(seed)")
        }
    }

    func testGrayRoundTripExpandsToRGB() throws {
        let gray = (0..<(16 * 16)).map { UInt8($0) }
        let data = try PNGWriter.encode(width: 16, height: 16, channels: 1, pixels: gray)
        let image = try ImageDecoder.decode(data: data, path: "gray.png")
        XCTAssertEqual(image.pixels, gray.flatMap { [$0, $0, $0] })
    }

    func testWriteIsAtomicAndReplacesExistingFile() throws {
        let url = scratch.appendingPathComponent("out.png")
        try PNGWriter.write(width: 2, height: 1, channels: 3, pixels: [1, 2, 3, 4, 5, 6], to: url)
        try PNGWriter.write(width: 1, height: 1, channels: 1, pixels: [77], to: url)
        XCTAssertEqual(try ImageDecoder.decode(contentsOf: url), RGBImage(width: 1, height: 1, pixels: [77, 77, 77]))
        // No temporary files left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path), ["out.png"])
    }

    func testInvalidArgumentsAreRejected() {
        let cases: [(Int, Int, Int, [UInt8])] = [
            (2, 2, 2, [UInt8](repeating: 0, count: 8)),   // channels
            (2, 2, 3, [UInt8](repeating: 0, count: 11)),  // pixel count
            (0, 2, 3, []),                                // empty
            (-1, 2, 1, []),
        ]
        for (w, h, c, pixels) in cases {
            XCTAssertThrowsError(try PNGWriter.encode(width: w, height: h, channels: c, pixels: pixels)) { error in
                XCTAssertEqual((error as? ImageWriteError)?.kind, .invalidInput, "\(w)x\(h)x\(c): \(error)")
            }
        }
    }

    func testWriteIntoMissingDirectoryFails() {
        let url = scratch.appendingPathComponent("no/such/dir/out.png")
        XCTAssertThrowsError(try PNGWriter.write(width: 1, height: 1, channels: 1, pixels: [0], to: url)) { error in
            XCTAssertEqual((error as? ImageWriteError)?.kind, .ioFailed, "\(error)")
            XCTAssertTrue("\(error)".hasPrefix(url.path), "\(error)")
        }
    }
}
