import EmbedScopeCore
import EmbedScopeImages
/// Image → network input. The torchvision recipe: resize the short side (antialiased
/// bilinear; the long side is `Int(short × long / short_side)` as torchvision computes it),
/// center-crop a square (top/left offsets rounded as torchvision's `center_crop`), then
/// normalize each channel `(x − mean) / std` with x in [0, 255], planar CHW.
///
/// We keep the resized values in Float instead of rounding them to 8 bits as a PIL pipeline
/// does; the difference is ≤ 0.5/255 per pixel before normalization.
public struct Preprocessing: Sendable, Equatable, Codable {
    public var resizeShort: Int
    public var crop: Int
    public var mean: [Float]
    public var std: [Float]

    public init(resizeShort: Int, crop: Int, mean: [Float], std: [Float]) {
        self.resizeShort = resizeShort; self.crop = crop; self.mean = mean; self.std = std
    }

    /// EfficientNet-Lite0 (TensorFlow-trained weights): (x − 127) / 128. See
    /// docs/preprocessing.md for the evidence (the stem BatchNorm statistics).
    public static let efficientNetLite = Preprocessing(resizeShort: 256, crop: 224, mean: [127, 127, 127], std: [128, 128, 128])

    /// torchvision ImageNet models (ResNet): mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225) on [0, 1].
    public static let torchvisionImageNet = Preprocessing(resizeShort: 256, crop: 224,
                                                          mean: [0.485 * 255, 0.456 * 255, 0.406 * 255],
                                                          std: [0.229 * 255, 0.224 * 255, 0.225 * 255])

    public var summary: String {
        let m = mean.map { String(format: "%.3g", $0) }.joined(separator: ","), s = std.map { String(format: "%.3g", $0) }.joined(separator: ",")
        return "resize short side \(resizeShort) (antialiased bilinear), center crop \(crop), RGB, (x - [\(m)]) / [\(s)], x in [0,255]"
    }

    /// The resized size (width, height) before the crop, torchvision's rule.
    public func resizedSize(width w: Int, height h: Int) -> (Int, Int) {
        if w <= h { return (resizeShort, Int(Double(resizeShort) * Double(h) / Double(w))) }
        return (Int(Double(resizeShort) * Double(w) / Double(h)), resizeShort)
    }

    /// 3 × crop × crop planar floats, normalized.
    package func apply(_ image: RGBImage) -> [Float] {
        var out = [Float](repeating: 0, count: 3 * crop * crop)
        out.withUnsafeMutableBufferPointer { apply(image, into: $0.baseAddress!) }
        return out
    }

    /// Writes 3 × crop × crop planar floats at `out`. Only the cropped window of the resize is
    /// computed (`ImageResize.resize(_:width:height:columns:rows:)`, the same values).
    package func apply(_ image: RGBImage, into out: UnsafeMutablePointer<Float>) {
        let (rw, rh) = resizedSize(width: max(image.width, 1), height: max(image.height, 1))
        // Crop offsets as torchvision.transforms.functional.center_crop: int(round((size - crop) / 2)).
        // When the resized image is smaller than the crop (only if resizeShort < crop), it is padded with 0.
        let top = Int(((Double(rh - crop)) / 2).rounded(.toNearestOrEven))
        let left = Int(((Double(rw - crop)) / 2).rounded(.toNearestOrEven))
        let cols = max(0, left)..<max(max(0, left), min(rw, left + crop))
        let rows = max(0, top)..<max(max(0, top), min(rh, top + crop))
        let window = ImageResize.resize(image, width: rw, height: rh, columns: cols, rows: rows)
        let plane = crop * crop
        let inv = std.map { 1 / $0 }
        for y in 0..<crop {
            let sy = y + top
            for x in 0..<crop {
                let sx = x + left
                let inside = rows.contains(sy) && cols.contains(sx) && !window.isEmpty
                for c in 0..<3 {
                    let v: Float = inside ? window[((sy - rows.lowerBound) * cols.count + sx - cols.lowerBound) * 3 + c] : 0
                    out[c * plane + y * crop + x] = (v - mean[c]) * inv[c]
                }
            }
        }
    }
}
