import EmbedScope
import Foundation

/// Image files reached only by row: the catalog's relative path under the index's recorded
/// data-set root, refused when it is absolute, has a `..` component, or resolves (symlinks
/// followed by realpath) to anything outside the root.
enum ImageAccess {
    /// Largest original image file served (bytes).
    static let maxFileBytes = 64 << 20

    static func file(row: Int, in s: ServedIndex) throws -> URL {
        guard row >= 0 && row < s.index.rowCount else {
            throw APIError.notFound("row \(row) is out of range (the index has rows 0…\(s.index.rowCount - 1))")
        }
        guard let root = s.datasetRoot else {
            throw APIError.notFound("this index records no data-set root, so its images cannot be served (rebuild or re-import it)")
        }
        guard let rec = try s.index.catalog.images(rows: [row])[row] else { throw APIError.notFound("row \(row) has no catalog entry") }
        return try resolve(rec.path, under: root)
    }

    /// The file of a catalog path under `root`, or an error if it would leave the root.
    static func resolve(_ path: String, under root: String) throws -> URL {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard !path.isEmpty, !path.hasPrefix("/"), !path.contains("\0"), !parts.contains(".."), !parts.contains("") else {
            throw APIError(.forbidden, "forbidden", "the catalog path of this row is not a plain relative path; it is not served")
        }
        guard let realRoot = realPath(root) else { throw APIError.notFound("the data-set root of this index no longer exists") }
        guard let real = realPath(root + "/" + path) else { throw APIError.notFound("the image file of this row is missing") }
        guard real.hasPrefix(realRoot.hasSuffix("/") ? realRoot : realRoot + "/") else {
            throw APIError(.forbidden, "forbidden", "the image file of this row resolves outside the data-set root; it is not served")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: real, isDirectory: &isDir), !isDir.boolValue else {
            throw APIError.notFound("the image file of this row is missing")
        }
        return URL(fileURLWithPath: real)
    }

    static func realPath(_ p: String) -> String? {
        guard let r = realpath(p, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }

    /// The original bytes and their media type (only PNG and JPEG are served).
    static func original(row: Int, in s: ServedIndex) throws -> (Data, String) {
        let url = try file(row: row, in: s)
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue ?? 0
        guard size <= maxFileBytes else { throw APIError(.contentTooLarge, "tooLarge", "the image file of this row is larger than \(maxFileBytes) bytes") }
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw APIError.notFound("the image file of this row cannot be read") }
        guard let type = mediaType(data) else { throw APIError(.unsupportedMediaType, "image", "the file of this row is not a PNG or JPEG image") }
        return (data, type)
    }

    static func mediaType(_ d: Data) -> String? {
        if d.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "image/png" }
        if d.starts(with: [0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        return nil
    }

    /// A PNG thumbnail whose longer side is `size` (never enlarged), antialiased.
    static func thumbnail(row: Int, size: Int, in s: ServedIndex) throws -> Data {
        try s.thumbnail(row: row, size: size) {
            let (data, _) = try original(row: row, in: s)
            let img = try decodeBounded(data, maxPixels: ImageDecoder.maxPixels, what: "row \(row)")
            let scale = min(1, Double(size) / Double(max(img.width, img.height)))
            let w = max(1, Int((Double(img.width) * scale).rounded())), h = max(1, Int((Double(img.height) * scale).rounded()))
            let px: [UInt8]
            if w == img.width && h == img.height { px = img.pixels } else {
                px = ImageResize.resize(img, width: w, height: h).map { UInt8(min(max($0.rounded(), 0), 255)) }
            }
            return try PNGWriter.encode(width: w, height: h, channels: 3, pixels: px)
        }
    }

    /// Width and height from a PNG or JPEG header, without decoding; nil if the header is not found.
    static func dimensions(_ d: Data) -> (width: Int, height: Int)? {
        let b = [UInt8](d.prefix(1 << 20))
        if b.count >= 24, mediaType(d) == "image/png" {
            func u32(_ i: Int) -> Int { Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3]) }
            return (u32(16), u32(20))
        }
        if mediaType(d) == "image/jpeg" {
            var i = 2
            while i + 9 < b.count {
                guard b[i] == 0xFF else { i += 1; continue }
                let m = b[i + 1]
                if m == 0xFF { i += 1; continue }
                if m == 0xD8 || m == 0x01 || (0xD0...0xD7).contains(m) { i += 2; continue }
                let len = Int(b[i + 2]) << 8 | Int(b[i + 3])
                if (0xC0...0xCF).contains(m) && m != 0xC4 && m != 0xC8 && m != 0xCC {
                    return (Int(b[i + 7]) << 8 | Int(b[i + 8]), Int(b[i + 5]) << 8 | Int(b[i + 6]))
                }
                i += 2 + len
            }
        }
        return nil
    }

    /// Decodes an image after checking, from its header, that it has at most `maxPixels` pixels.
    static func decodeBounded(_ data: Data, maxPixels: Int, what: String) throws -> RGBImage {
        guard !data.isEmpty else { throw APIError.badRequest("the upload is empty: send a PNG or JPEG file as the body") }
        guard mediaType(data) != nil else {
            throw APIError(.unsupportedMediaType, "image", "\(what) is not a PNG or JPEG image (its first bytes are no PNG or JPEG signature)")
        }
        if let (w, h) = dimensions(data) {
            guard w > 0, h > 0 else { throw APIError.badRequest("\(what) has a zero width or height") }
            guard w <= maxPixels / h else {
                throw APIError(.contentTooLarge, "tooLarge", "\(what) is \(w)×\(h) pixels, above the limit of \(maxPixels) pixels")
            }
        }
        do {
            return try ImageDecoder.decode(data: data, path: what)
        } catch let e as ImageError {
            throw APIError(e.kind == .tooLarge ? .contentTooLarge : .badRequest, "image", "\(what): \(e.reason)")
        }
    }
}
