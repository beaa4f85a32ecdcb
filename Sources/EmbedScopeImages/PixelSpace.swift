import Foundation
import EmbedScopeCore

/// The raw-pixel baseline space. Definition (pinned by `PixelSpaceTests`):
/// 1. decode to 8-bit RGB (grayscale expanded, alpha composited on white);
/// 2. resize the whole image — no crop, aspect ratio not kept — to S×S with the antialiased
///    bilinear (triangle) filter of `ImageResize`;
/// 3. scale to [0, 1] (x / 255), no centering;
/// 4. flatten row-major, channels interleaved (y, x, RGB): dim = 3·S²;
/// 5. L2-normalize (the norm is kept). An all-black image has no direction and is refused.
package enum PixelSpace {
    package static let defaultSize = 32
    /// The sides `--pixel-size` may take (a 256 × 256 pixel vector is 196,608 floats).
    package static let sizes = 4...256

    /// The one check of `--pixel-size` (`build`, `import`, checkpoint sweeps), before any work.
    package static func checkSize(_ size: Int) throws {
        guard sizes.contains(size) else {
            throw EmbedScopeError(.invalidArgument, "--pixel-size \(size) is out of range (\(sizes.lowerBound)…\(sizes.upperBound))")
        }
    }

    package static func describe(size: Int) -> String {
        "RGB \(size)x\(size), whole image resized (antialiased bilinear, no crop), x/255, no centering, flattened HWC, L2-normalized"
    }

    /// The raw (not yet normalized) pixel vector of a decoded image.
    package static func vector(of image: RGBImage, size: Int) -> [Float] {
        var v = ImageResize.resize(image, width: size, height: size)
        for i in v.indices { v[i] = min(max(v[i], 0), 255) / 255 }
        return v
    }

    /// Decodes `images` (two at a time per core, in order) and writes the `pixel` space.
    /// If any image cannot be decoded the space is not written; the summary says which.
    package static func write(images: [URL], size: Int, builder: IndexBuilder, progress: ProgressSink) throws -> PixelSpaceSummary {
        let dim = 3 * size * size
        var failures: [(String, String)] = []
        var vectors = [[Float]?](repeating: nil, count: images.count)
        progress.begin("pixels", total: images.count)
        let batch = 512
        var start = 0
        while start < images.count {
            let end = min(images.count, start + batch)
            let results = parallelResults(end - start) { j in
                vector(of: try ImageDecoder.decode(contentsOf: images[start + j]), size: size)
            }
            for (j, r) in results.enumerated() {
                switch r {
                case .success(let v): vectors[start + j] = v
                case .failure(let e): failures.append((images[start + j].path, String(describing: e)))
                }
            }
            start = end
            progress.update(end)
        }
        progress.end()
        for (i, v) in vectors.enumerated() where v.map({ $0.allSatisfy { $0 == 0 } }) == true {
            failures.append((images[i].path, "all-black image: its pixel vector has no direction"))
        }
        guard failures.isEmpty else { return PixelSpaceSummary(size: size, written: false, failures: failures) }
        let w = try builder.beginSpace(name: "pixel", model: "pixels", dim: dim, preprocessing: describe(size: size))
        for (i, v) in vectors.enumerated() { try w.append(v!, what: "pixel vector of \(images[i].path)") }
        try w.finish()
        return PixelSpaceSummary(size: size, written: true, failures: [])
    }
}

public struct PixelSpaceSummary: Sendable {
    public var size: Int
    public var written: Bool
    public var failures: [(String, String)]
}
