import EmbedScope
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Image files reached only by row: the catalog's relative path under the index's recorded
/// data-set root, refused when it is absolute, has a `..` component, or resolves (symlinks
/// followed by realpath) to anything outside the root — or outside the folders `build` recorded
/// that the data set's own symlinks lead to (`MetaKey.datasetLinkedRoots`: class folders linked
/// from another disk are served; nothing else outside the root is).
enum ImageAccess {
    /// Largest original image file served (bytes).
    static let maxFileBytes = 64 << 20

    /// Refuses a row outside 0..<rowCount (404), before anything is looked up by it.
    static func checkRow(_ row: Int, in s: ServedIndex) throws {
        guard row >= 0 && row < s.index.rowCount else {
            throw APIError.notFound("row \(row) is out of range (the index has rows 0…\(s.index.rowCount - 1))")
        }
    }

    static func file(row: Int, in s: ServedIndex) throws -> URL {
        try checkRow(row, in: s)
        guard let root = s.datasetRoot else {
            throw APIError.notFound("this index records no data-set root, so its images cannot be served (rebuild or re-import it)")
        }
        guard let rec = try s.index.catalog.images(rows: [row])[row] else { throw APIError.notFound("row \(row) has no catalog entry") }
        return try resolve(rec.path, under: root, linked: s.linkedRoots)
    }

    /// The file of a catalog path under `root`, or an error if it would leave the root.
    static func resolve(_ path: String, under root: String, linked: [String] = []) throws -> URL {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard !path.isEmpty, !path.hasPrefix("/"), !path.contains("\0"), !parts.contains(".."), !parts.contains("") else {
            throw APIError(.forbidden, "forbidden", "the catalog path of this row is not a plain relative path; it is not served")
        }
        guard let realRoot = RealPath.of(root) else { throw APIError.notFound("the data-set root of this index no longer exists") }
        guard let real = RealPath.of(root + "/" + path) else { throw APIError.notFound("the image file of this row is missing") }
        guard servable(real, root: realRoot, linked: linked) else {
            throw APIError(.forbidden, "forbidden", "the image file of this row resolves outside the data-set root; it is not served")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: real, isDirectory: &isDir), !isDir.boolValue else {
            throw APIError.notFound("the image file of this row is missing")
        }
        return URL(fileURLWithPath: real)
    }


    /// Whether a resolved file path may be served: under the data-set root, or under a folder its
    /// own links led to when it was scanned.
    static func servable(_ real: String, root realRoot: String, linked: [String]) -> Bool {
        RealPath.isInside(real, realRoot) || linked.contains { RealPath.isInside(real, $0) }
    }

    /// The original bytes and their media type (only PNG and JPEG are served).
    ///
    /// `resolve` checks a path, and a folder on it can be swapped for a symlink before the file is
    /// opened (a red-team pass read a file outside the root 141 times in 7,900 requests while a
    /// folder was exchanged with a link in a loop). So the file is opened first and what was
    /// opened is checked: the descriptor's own path (`/proc/self/fd/N`, resolved by the kernel)
    /// must be under the root, and it must be a regular file.
    static func original(row: Int, in s: ServedIndex) throws -> (Data, String, String) {
        let url = try file(row: row, in: s)
        guard let root = s.datasetRoot, let realRoot = RealPath.of(root) else { throw APIError.notFound("the data-set root of this index no longer exists") }
        let fd = open(url.path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw APIError.notFound("the image file of this row cannot be read") }
        defer { close(fd) }
        guard let opened = RealPath.of("/proc/self/fd/\(fd)"), servable(opened, root: realRoot, linked: s.linkedRoots) else {
            throw APIError(.forbidden, "forbidden", "the image file of this row resolves outside the data-set root; it is not served")
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw APIError.notFound("the image file of this row is missing") }
        let tag = stamp(st)
        guard st.st_size <= maxFileBytes else { throw APIError(.contentTooLarge, "tooLarge", "the image file of this row is larger than \(maxFileBytes) bytes") }
        var data = Data(count: Int(st.st_size))
        var done = 0
        let ok = data.withUnsafeMutableBytes { b -> Bool in
            while done < b.count {
                let n = read(fd, b.baseAddress! + done, b.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                done += n
            }
            return true
        }
        guard ok else { throw APIError.notFound("the image file of this row cannot be read") }
        guard let type = mediaType(data) else { throw APIError(.unsupportedMediaType, "image", "the file of this row is not a PNG or JPEG image") }
        return (data, type, tag)
    }

    /// A file's identity for the answers made from it (inode, size, modification time): an image
    /// file replaced in the data set while the index stays the same generation is another answer
    /// (its ETag was the generation alone: a changed picture came back 304).
    static func stamp(_ st: stat) -> String {
        String(UInt64(st.st_ino), radix: 36) + "-" + String(UInt64(bitPattern: Int64(st.st_size)), radix: 36) + "-"
            + String(UInt64(bitPattern: Int64(st.st_mtim.tv_sec) &* 1_000_000_000 &+ Int64(st.st_mtim.tv_nsec)), radix: 36)
    }

    /// The stamp of a row's file as it is now (for the thumbnail cache's key).
    static func fileStamp(row: Int, in s: ServedIndex) throws -> String {
        let url = try file(row: row, in: s)
        var st = stat()
        guard stat(url.path, &st) == 0 else { throw APIError.notFound("the image file of this row is missing") }
        return stamp(st)
    }

    static func mediaType(_ d: Data) -> String? {
        if d.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "image/png" }
        if d.starts(with: [0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        return nil
    }

    /// A PNG thumbnail whose longer side is `size` (never enlarged), antialiased.
    /// With the stamp of the file it was made from.
    static func thumbnail(row: Int, size: Int, in s: ServedIndex) throws -> (Data, String) {
        try checkRow(row, in: s)  // before the cache: a row out of range is never answered from it
        let tag = try fileStamp(row: row, in: s)
        return (try s.thumbnail(row: row, size: size, file: tag) {
            let (data, _, _) = try original(row: row, in: s)
            let img = try decodeBounded(data, maxPixels: ImageDecoder.maxPixels, what: "row \(row)")
            let scale = min(1, Double(size) / Double(max(img.width, img.height)))
            let w = max(1, Int((Double(img.width) * scale).rounded())), h = max(1, Int((Double(img.height) * scale).rounded()))
            let px: [UInt8]
            if w == img.width && h == img.height { px = img.pixels } else {
                px = ImageResize.resize(img, width: w, height: h).map { UInt8(min(max($0.rounded(), 0), 255)) }
            }
            return try PNGWriter.encode(width: w, height: h, channels: 3, pixels: px)
        }, tag)
    }

    /// Width and height from a PNG's IHDR chunk or a JPEG's frame header (SOF), without
    /// decoding; nil if the header does not give them. A JPEG's marker segments are walked over
    /// the whole body as libjpeg reads them (bytes between segments skipped, each segment
    /// jumped by its length), so no amount of APPn data ahead of the SOF hides it; a scan (SOS)
    /// or the end (EOI) before any SOF is a JPEG libjpeg refuses, and gives nil.
    static func dimensions(_ d: Data) -> (width: Int, height: Int)? {
        let type = mediaType(d)
        return d.withUnsafeBytes { (b: UnsafeRawBufferPointer) -> (width: Int, height: Int)? in
            func u16(_ i: Int) -> Int { Int(b[i]) << 8 | Int(b[i + 1]) }
            func u32(_ i: Int) -> Int { u16(i) << 16 | u16(i + 2) }
            if type == "image/png" {
                // Signature (8), then the first chunk, which must be IHDR: length 13, "IHDR", width, height.
                guard b.count >= 24, u32(8) == 13, b[12..<16].elementsEqual("IHDR".utf8) else { return nil }
                return (u32(16), u32(20))
            }
            guard type == "image/jpeg" else { return nil }
            var i = 2  // after SOI
            while i + 1 < b.count {
                guard b[i] == 0xFF else { i += 1; continue }  // stray bytes between segments
                let m = b[i + 1]
                if m == 0xFF { i += 1; continue }  // fill byte
                if m == 0x00 || m == 0x01 || m == 0xD8 || (0xD0...0xD7).contains(m) { i += 2; continue }  // stuffed zero, TEM, SOI, RSTn: no length
                if m == 0xDA || m == 0xD9 { return nil }  // a scan or the end before any frame header
                guard i + 4 <= b.count else { return nil }
                let len = u16(i + 2)
                guard len >= 2 else { return nil }
                if (0xC0...0xCF).contains(m) && m != 0xC4 && m != 0xC8 && m != 0xCC {
                    // SOFn: length, precision, height, width.
                    guard len >= 8, i + 9 <= b.count else { return nil }
                    return (u16(i + 7), u16(i + 5))
                }
                i += 2 + len
            }
            return nil
        }
    }

    /// Decodes an image after checking, from its header, that it has at most `maxPixels` pixels.
    static func decodeBounded(_ data: Data, maxPixels: Int, what: String) throws -> RGBImage {
        guard !data.isEmpty else { throw APIError.badRequest("the upload is empty: send a PNG or JPEG file as the body") }
        guard mediaType(data) != nil else {
            throw APIError(.unsupportedMediaType, "image", "\(what) is not a PNG or JPEG image (its first bytes are no PNG or JPEG signature)")
        }
        // No size from the header: refused, never decoded unbounded.
        guard let (w, h) = dimensions(data) else {
            throw APIError(.badRequest, "image", "\(what) has no readable size in its header (a PNG's first chunk must be IHDR, a JPEG needs a frame header (SOF) before its first scan): it is not decoded")
        }
        guard w > 0, h > 0 else { throw APIError.badRequest("\(what) has a zero width or height") }
        guard w <= maxPixels / h else {
            throw APIError(.contentTooLarge, "tooLarge", "\(what) is \(w)×\(h) pixels, above the limit of \(maxPixels) pixels")
        }
        do {
            return try ImageDecoder.decode(data: data, path: what)
        } catch let e as ImageError {
            throw APIError(e.kind == .tooLarge ? .contentTooLarge : .badRequest, "image", "\(what): \(e.reason)")
        }
    }
}
