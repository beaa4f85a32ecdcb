import CZlib
import CJPEGShim
import EmbedScope
import EmbedScopeCore
import EmbedScopeImages
import Foundation
import XCTest

final class ImageDecoderTests: XCTestCase {
    /// Out of descriptors or memory is the process's shortage, not the file's: an error no skip
    /// may hide (the command line now refuses to start without room, `DescriptorRoom`, so this
    /// guards library callers and descriptors taken by others mid-run).
    func testAShortageIsNotAnUnreadableFile() {
        func kind(_ code: Int32) -> String {
            let e = ImageError.unreadable("/data/a.png", NSError(domain: NSPOSIXErrorDomain, code: Int(code)))
            if let es = e as? EmbedScopeError { return "\(es.kind)" }
            return (e as? ImageError).map { "image \($0.kind)" } ?? "other"
        }
        XCTAssertEqual(kind(EMFILE), "resourceLimit")
        XCTAssertEqual(kind(ENFILE), "resourceLimit")
        XCTAssertEqual(kind(ENOMEM), "outOfMemory")
        XCTAssertEqual(kind(EACCES), "image unreadable")
        XCTAssertEqual(kind(ENOENT), "image unreadable")
        let wrapped = NSError(domain: NSCocoaErrorDomain, code: 256, userInfo: [NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(EMFILE))])
        XCTAssertTrue(EmbedScopeError.isResourceShortage(ImageError.unreadable("/data/b.png", wrapped)))
    }

    /// Every fixture variant decodes to the pixels the fixture script computed.
    /// Tolerance: 0 for 8-bit PNGs and for JPEGs; 1 LSB against Pillow for 16-bit PNGs (Pillow keeps
    /// the high byte, libpng rounds), and 0 against round(v / 257).
    func testEveryVariantDecodesToExpectedPixels() throws {
        let expected = try ImageFixtures.expected()
        XCTAssertGreaterThanOrEqual(expected.count, 18)
        for (name, want) in expected.sorted(by: { $0.key < $1.key }) {
            let image = try ImageDecoder.decode(contentsOf: ImageFixtures.url(name))
            XCTAssertEqual(image.width, want.width, name)
            XCTAssertEqual(image.height, want.height, name)
            XCTAssertEqual(image.pixels.count, want.width * want.height * 3, name)
            guard image.pixels.count == want.rgb.count else { continue }
            let tolerance = want.bits == 16 ? 1 : 0
            assertPixels(image.pixels, want.rgb, tolerance: tolerance, name, "Pillow convention")
            if let rounded = want.rgb_rounded {
                assertPixels(image.pixels, rounded, tolerance: 0, name, "round(v / 257)")
            }
        }
    }

    private func assertPixels(_ observed: [UInt8], _ expected: [Int], tolerance: Int,
                              _ name: String, _ what: String, line: UInt = #line) {
        var worst = 0, worstIndex = 0
        for i in expected.indices where abs(Int(observed[i]) - expected[i]) > worst {
            worst = abs(Int(observed[i]) - expected[i])
            worstIndex = i
        }
        XCTAssertLessThanOrEqual(worst, tolerance, """
            \(name) (\(what)): byte \(worstIndex) (pixel \(worstIndex / 3), channel \(worstIndex % 3)): \
            expected \(expected[worstIndex]), observed \(observed[worstIndex]), tolerance \(tolerance)
            """, line: line)
    }

    func testFormatIsSniffedFromContentNotName() throws {
        let png = try ImageFixtures.data("rgb8.png")
        let jpeg = try ImageFixtures.data("rgb.jpg")
        let asPNG = try ImageDecoder.decode(data: png, path: "rgb8.png")
        XCTAssertEqual(try ImageDecoder.decode(data: png, path: "misnamed.jpg"), asPNG)
        let asJPEG = try ImageDecoder.decode(data: jpeg, path: "rgb.jpg")
        XCTAssertEqual(try ImageDecoder.decode(data: jpeg, path: "misnamed.png"), asJPEG)
        XCTAssertEqual(try ImageDecoder.decode(data: jpeg, path: "no-extension"), asJPEG)
    }

    func testGammaChunkIsIgnoredLikePillow() throws {
        let plain = try ImageDecoder.decode(contentsOf: ImageFixtures.url("rgba8.png"))
        let linear = try ImageDecoder.decode(contentsOf: ImageFixtures.url("rgba8_gamma_linear.png"))
        XCTAssertEqual(plain, linear)
    }

    func testBytesAfterIENDAreIgnored() throws {
        let png = try ImageFixtures.data("rgb8.png")
        let image = try ImageDecoder.decode(data: png, path: "rgb8.png")
        XCTAssertEqual(try ImageDecoder.decode(data: png + Data(repeating: 0x42, count: 100), path: "trailing.png"), image)
    }

    // MARK: - Typed errors

    func testTruncatedFilesAreTruncated() throws {
        assertKind(.truncated, "truncated.png")
        assertKind(.truncated, "truncated.jpg")
    }

    func testCorruptFilesAreCorrupt() throws {
        assertKind(.corrupt, "garbage.jpg")   // random bytes named .jpg
        assertKind(.corrupt, "bad_crc.png")   // IDAT CRC wrong
        assertKind(.corrupt, "bad_zlib.png")  // CRCs right, deflate stream damaged
        assertKind(.corrupt, "bad_sof.jpg")   // SOF length disagrees with its component count
    }

    /// CMYK and YCCK JPEGs (ImageNet's training set has some) decode to Pillow's `convert("RGB")`
    /// pixels exactly: their expected pixels are in expected.json with the others; this test keeps
    /// them there, and checks that the two files do not decode alike (the YCCK transform is applied).
    func testCMYKAndYCCKJPEGsDecodeAsPillowDoes() throws {
        let expected = try ImageFixtures.expected()
        let cmyk = try ImageDecoder.decode(contentsOf: ImageFixtures.url("cmyk.jpg"))
        let ycck = try ImageDecoder.decode(contentsOf: ImageFixtures.url("ycck.jpg"))
        for (name, image) in [("cmyk.jpg", cmyk), ("ycck.jpg", ycck)] {
            let want = try XCTUnwrap(expected[name], "\(name) missing from expected.json")
            XCTAssertEqual(image.width, want.width, name)
            XCTAssertEqual(image.pixels.map(Int.init), want.rgb, name)
        }
        XCTAssertNotEqual(cmyk.pixels, ycck.pixels)
    }

    func testCMYKConversionMatchesPillowsFormulaAtTheExtremes() {
        // Samples as libjpeg returns them (Adobe polarity: 255 = no ink).
        let cmyk: [UInt8] = [255, 255, 255, 255,   0, 0, 0, 0,   255, 255, 255, 0,   0, 128, 255, 128,   10, 200, 77, 255]
        var rgb = [UInt8](repeating: 0, count: 15)
        es_cmyk_to_rgb(cmyk, &rgb, 5)
        // white; full C+M+Y+K → black; full K → black; half K with C full / M half / Y none; no K.
        XCTAssertEqual(rgb, [255, 255, 255,   0, 0, 0,   0, 0, 0,   0, 64, 128,   10, 200, 77])
    }

    func testTwelveBitJPEGIsUnsupported() throws {
        var bytes = [UInt8](try ImageFixtures.data("rgb.jpg"))
        // Patch the SOF0 precision byte (marker, 2-byte length, precision) from 8 to 12.
        let sof = try XCTUnwrap((2..<bytes.count - 1).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 })
        XCTAssertEqual(bytes[sof + 4], 8)
        bytes[sof + 4] = 12
        XCTAssertThrowsError(try ImageDecoder.decode(data: Data(bytes), path: "twelve.jpg")) { error in
            XCTAssertEqual((error as? ImageError)?.kind, .unsupported, "\(error)")
        }
    }

    /// Errors say what the file is: a lossless (SOF3) JPEG is an unsupported variant, not a damaged
    /// file; a PNG whose compressed rows stop early (chunks and CRCs whole) is truncated; a JPEG cut
    /// before its frame header does not speak of a "0x0 image"; a file above `maxFileBytes` is
    /// refused before it is read (a 3 GB file padded behind a JPEG was read whole).
    func testErrorsNameWhatTheFileIs() throws {
        var jpeg = [UInt8](try ImageFixtures.data("rgb.jpg"))
        let sof = try XCTUnwrap((2..<jpeg.count - 1).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        jpeg[sof + 1] = 0xC3
        XCTAssertThrowsError(try ImageDecoder.decode(data: Data(jpeg), path: "lossless.jpg")) { error in
            XCTAssertEqual((error as? ImageError)?.kind, .unsupported, "\(error)")
        }
        XCTAssertThrowsError(try ImageDecoder.decode(data: try ImageFixtures.data("rgb.jpg").prefix(sof), path: "cut.jpg")) { error in
            XCTAssertEqual((error as? ImageError)?.kind, .truncated, "\(error)")
            XCTAssertFalse("\(error)".contains("0x0"), "\(error)")
        }

        // 16 × 16 RGB rows (filter byte + 48 samples), compressed, and only the first half of the stream kept.
        var rows: [UInt8] = []
        for y in 0..<16 {
            rows.append(0)
            for x in 0..<48 { rows.append(UInt8((x * 7 + y * 13) & 0xFF)) }
        }
        var bound = compressBound(uLong(rows.count))
        var z = [UInt8](repeating: 0, count: Int(bound))
        XCTAssertEqual(compress(&z, &bound, rows, uLong(rows.count)), Z_OK)
        z.removeSubrange(Int(bound)...)
        let ihdr: [UInt8] = [0, 0, 0, 16, 0, 0, 0, 16, 8, 2, 0, 0, 0]
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        let whole = signature + pngChunk("IHDR", ihdr) + pngChunk("IDAT", z) + pngChunk("IEND", [])
        XCTAssertEqual(try ImageDecoder.decode(data: Data(whole), path: "whole.png").width, 16)
        let cut = signature + pngChunk("IHDR", ihdr) + pngChunk("IDAT", Array(z.prefix(z.count / 2))) + pngChunk("IEND", [])
        XCTAssertThrowsError(try ImageDecoder.decode(data: Data(cut), path: "cut.png")) { error in
            XCTAssertEqual((error as? ImageError)?.kind, .truncated, "\(error)")
        }
        // Without IEND: the whole rows are read (as Pillow reads them); rows cut short are truncated,
        // with or without the IEND; no IDAT at all is truncated.
        let half = Array(z.prefix(z.count / 2)), rest = Array(z.suffix(from: z.count / 2))
        let noEnd = signature + pngChunk("IHDR", ihdr) + pngChunk("IDAT", half) + pngChunk("IDAT", rest)
        let read = try ImageDecoder.decode(data: Data(noEnd), path: "noend.png")
        XCTAssertEqual(read.pixels, try ImageDecoder.decode(data: Data(whole), path: "whole.png").pixels)
        for damaged in [signature + pngChunk("IHDR", ihdr) + pngChunk("IDAT", half), signature + pngChunk("IHDR", ihdr)] {
            XCTAssertThrowsError(try ImageDecoder.decode(data: Data(damaged), path: "cut.png")) { error in
                XCTAssertEqual((error as? ImageError)?.kind, .truncated, "\(error)")
            }
        }

        let dir = try temporaryDirectory(self)
        let big = dir.appendingPathComponent("big.jpg")
        try Data(jpeg).write(to: big)
        let fd = open(big.path, O_WRONLY)
        XCTAssertEqual(ftruncate(fd, off_t(ImageDecoder.maxFileBytes) + 1), 0)   // sparse: nothing written
        close(fd)
        XCTAssertThrowsError(try ImageDecoder.decode(contentsOf: big)) { error in
            XCTAssertEqual((error as? ImageError)?.kind, .tooLarge, "\(error)")
            XCTAssertTrue("\(error)".contains("1024 MiB"), "\(error)")
        }
    }

    func testTextFileIsNotAnImage() throws {
        assertKind(.notAnImage, "notes.txt")
    }

    func testOtherFormatsAreUnsupported() {
        let gif = Data("GIF89a".utf8) + Data(repeating: 0, count: 20)
        XCTAssertThrowsError(try ImageDecoder.decode(data: gif, path: "a.gif")) { error in
            XCTAssertEqual((error as? ImageError)?.kind, .unsupported)
            XCTAssertTrue("\(error)".contains("GIF"), "\(error)")
        }
    }

    func testEmptyFiles() {
        XCTAssertThrowsError(try ImageDecoder.decode(data: Data(), path: "a.png")) { error in
            XCTAssertEqual((error as? ImageError)?.kind, .truncated)
        }
        XCTAssertThrowsError(try ImageDecoder.decode(data: Data(), path: "a.txt")) { error in
            XCTAssertEqual((error as? ImageError)?.kind, .notAnImage)
        }
    }

    func testMissingFileAndDirectoryAreUnreadable() throws {
        let missing = try ImageFixtures.url("does-not-exist.png")
        XCTAssertThrowsError(try ImageDecoder.decode(contentsOf: missing)) { error in
            XCTAssertEqual((error as? ImageError)?.kind, .unreadable)
            XCTAssertTrue("\(error)".hasPrefix(missing.path + ": "), "\(error)")
        }
        XCTAssertThrowsError(try ImageDecoder.decode(contentsOf: ImageFixtures.directory())) { error in
            XCTAssertEqual((error as? ImageError)?.kind, .unreadable)
        }
    }

    func testImageAboveMaxPixelsIsRefusedBeforeDecoding() {
        // A header-only PNG claiming 20000 x 20000 (4e8 pixels > maxPixels).
        let ihdr: [UInt8] = [0, 0, 0x4E, 0x20, 0, 0, 0x4E, 0x20, 8, 2, 0, 0, 0]
        let bytes = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + pngChunk("IHDR", ihdr)
            + pngChunk("IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]) + pngChunk("IEND", [])
        XCTAssertThrowsError(try ImageDecoder.decode(data: Data(bytes), path: "huge.png")) { error in
            XCTAssertEqual((error as? ImageError)?.kind, .tooLarge, "\(error)")
        }
    }

    /// The pixel limit is Pillow's (it raises `DecompressionBombError` above twice
    /// `Image.MAX_IMAGE_PIXELS`), so a PyTorch pipeline and `build` read the same images: a 108 MP
    /// photo was refused at 10⁸.
    func testPixelLimitIsPillows() {
        XCTAssertEqual(ImageDecoder.maxPixels, 178_956_970)
        func header(_ w: Int, _ h: Int) -> Data {
            let be = { (v: Int) in [UInt8((v >> 24) & 255), UInt8((v >> 16) & 255), UInt8((v >> 8) & 255), UInt8(v & 255)] }
            return Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + pngChunk("IHDR", be(w) + be(h) + [8, 2, 0, 0, 0])
                + pngChunk("IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]) + pngChunk("IEND", []))
        }
        XCTAssertThrowsError(try ImageDecoder.decode(data: header(13_000, 13_765), path: "under.png")) { error in
            XCTAssertEqual((error as? ImageError)?.kind, .truncated, "read (its rows are missing), not refused: \(error)")
        }
        XCTAssertThrowsError(try ImageDecoder.decode(data: header(13_000, 13_766), path: "over.png")) { error in
            XCTAssertEqual((error as? ImageError)?.kind, .tooLarge, "\(error)")
        }
    }

    /// A valid PNG with a side above libpng's 1,000,000 limit was called corrupt ("Invalid IHDR
    /// data"); it is a clear `.unsupported` now, and one at the limit is read.
    func testPNGSideAboveLibpngLimitIsUnsupportedNotCorrupt() throws {
        func strip(_ height: Int) -> Data {
            var raw = [UInt8](repeating: 0, count: 2 * height)   // per row: filter 0, one gray byte
            for row in 0..<height { raw[2 * row + 1] = 7 }
            var out = [UInt8](repeating: 0, count: Int(compressBound(uLong(raw.count))))
            var n = uLongf(out.count)
            XCTAssertEqual(compress2(&out, &n, raw, uLong(raw.count), 9), Z_OK)
            let be = { (v: Int) in [UInt8((v >> 24) & 255), UInt8((v >> 16) & 255), UInt8((v >> 8) & 255), UInt8(v & 255)] }
            return Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + pngChunk("IHDR", be(1) + be(height) + [8, 0, 0, 0, 0])
                + pngChunk("IDAT", Array(out.prefix(Int(n)))) + pngChunk("IEND", []))
        }
        let image = try ImageDecoder.decode(data: strip(1_000_000), path: "strip.png")
        XCTAssertEqual(image.width, 1); XCTAssertEqual(image.height, 1_000_000)
        XCTAssertEqual(image.pixels[3 * 999_999], 7)
        XCTAssertThrowsError(try ImageDecoder.decode(data: strip(1_000_001), path: "strip.png")) { error in
            XCTAssertEqual((error as? ImageError)?.kind, .unsupported, "\(error)")
            XCTAssertTrue("\(error)".contains("at most 1000000 pixels per side"), "\(error)")
        }
    }

    /// Each scan of a progressive JPEG is a pass over the whole image: 3,000 scans in 535 KB took
    /// 45 s on 8000 x 8000 pixels. Past 500 scans (libjpeg-turbo's fuzzers' limit) the file is refused.
    func testProgressiveJPEGOfTooManyScansIsRefused() throws {
        let bytes = [UInt8](try ImageFixtures.data("rgb_progressive_17x11.jpg"))
        XCTAssertEqual(Array(bytes.suffix(2)), [0xFF, 0xD9])
        // The last scan, from its SOS marker to EOI (0xFF in scan data is always followed by 0x00 or RSTn).
        let sos = try XCTUnwrap((0..<(bytes.count - 1)).last { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xDA })
        let scan = Array(bytes[sos..<(bytes.count - 2)])
        func repeated(_ n: Int) -> Data { Data(Array(bytes[..<sos]) + (0..<n).flatMap { _ in scan } + [0xFF, 0xD9]) }
        let plain = try ImageDecoder.decode(data: Data(bytes), path: "p.jpg")
        let many = try ImageDecoder.decode(data: repeated(400), path: "p.jpg")   // a refinement scan again changes nothing
        XCTAssertEqual(many.width, plain.width); XCTAssertEqual(many.height, plain.height)
        XCTAssertThrowsError(try ImageDecoder.decode(data: repeated(600), path: "p.jpg")) { error in
            XCTAssertEqual((error as? ImageError)?.kind, .unsupported, "\(error)")
            XCTAssertTrue("\(error)".contains("more than 500 scans"), "\(error)")
        }
    }

    /// A file name's control characters are escaped where the name is shown: an escape sequence
    /// or a line feed in a name could colour the terminal or print a fake line.
    func testControlCharactersInNamesAreEscaped() {
        let error = ImageError(kind: .notAnImage, path: "a/evil\u{1B}[31mRED\nskipped fake.png", reason: "not an image")
        XCTAssertTrue(error.description.hasPrefix("a/evil\\u{1B}[31mRED\\u{A}skipped fake.png: "), error.description)
        XCTAssertFalse(error.description.unicodeScalars.contains { $0.value < 0x20 }, error.description)
        let line = "error: x\u{1B}]0;title\u{7}y\r\tz\u{9B}\u{202E}\nhint: w"
        XCTAssertEqual(line.terminalEscaped, "error: x\\u{1B}]0;title\\u{7}y\\u{D}\\u{9}z\\u{9B}\\u{202E}\nhint: w")
    }

    func testDescriptionSaysPathReasonAndAdvice() {
        let error = ImageError(kind: .truncated, path: "/data/cat.png", reason: "truncated PNG: the data ends at byte 10")
        XCTAssertTrue(error.description.hasPrefix("/data/cat.png: truncated PNG: the data ends at byte 10"))
        XCTAssertTrue(error.description.contains("copy it again"), error.description)
    }

    // MARK: - Robustness: damaged files throw typed errors, never crash

    func testEveryPrefixOfAPNGOrJPEGIsTruncatedOrCorrupt() throws {
        for name in ["rgb8.png", "rgba16.png", "rgb8_interlaced.png", "rgb.jpg", "rgb_progressive_17x11.jpg"] {
            let bytes = try ImageFixtures.data(name)
            // A PNG cut just before its IEND chunk holds the whole image: read as Pillow reads it.
            let iend = name.hasSuffix(".png") ? bytes.count - 12 : -1
            let whole = try ImageDecoder.decode(data: bytes, path: name)
            for cut in 0..<bytes.count {
                do {
                    let image = try ImageDecoder.decode(data: bytes.prefix(cut), path: name)
                    if cut == iend {
                        XCTAssertEqual(image.pixels, whole.pixels, name)
                        XCTAssertEqual([image.width, image.height], [whole.width, whole.height], name)
                        continue
                    }
                    XCTFail("\(name) cut to \(cut) of \(bytes.count) bytes decoded without error")
                } catch let error as ImageError {
                    XCTAssertTrue([.truncated, .corrupt].contains(error.kind), "\(name) cut at \(cut): \(error)")
                }
            }
        }
    }

    func testRandomByteDamageNeverCrashes() throws {
        let seed: UInt64 = 0xE5_1A_6E
        var rng = SeededGenerator(seed: seed)
        for name in ["rgb8.png", "palette8_trns.png", "gray16.png", "rgb.jpg", "gray.jpg"] {
            let original = [UInt8](try ImageFixtures.data(name))
            for trial in 0..<200 {
                var bytes = original
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    bytes[Int.random(in: 8..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                do {
                    let image = try ImageDecoder.decode(data: Data(bytes), path: name)
                    XCTAssertEqual(image.pixels.count, image.width * image.height * 3,
                                   "\(name) trial \(trial) seed \(seed)")
                } catch let error as ImageError {
                    XCTAssertFalse([.unreadable, .tooLarge].contains(error.kind),
                                   "\(name) trial \(trial) seed \(seed): \(error)")
                }
            }
        }
    }

    @discardableResult
    private func assertKind(_ kind: ImageError.Kind, _ name: String, line: UInt = #line) -> ImageError? {
        var caught: ImageError?
        do {
            let image = try ImageDecoder.decode(contentsOf: ImageFixtures.url(name))
            XCTFail("\(name) decoded (\(image.width)x\(image.height)), expected \(kind)", line: line)
        } catch let error as ImageError {
            caught = error
            XCTAssertEqual(error.kind, kind, "\(name): \(error)", line: line)
            XCTAssertTrue(error.description.contains(name), error.description, line: line)
        } catch {
            XCTFail("\(name): untyped error \(error)", line: line)
        }
        return caught
    }
}
