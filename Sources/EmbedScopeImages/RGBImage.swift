import EmbedScopeCore
/// An 8-bit RGB image held in memory: interleaved R, G, B bytes, row-major, no padding.
///
/// `pixels.count` is expected to be `width * height * 3`; `isWellFormed` checks it. The decoders
/// only produce well-formed images; code that builds one by hand should check it before use.
package struct RGBImage: Sendable, Equatable {
    package var width: Int
    package var height: Int
    /// Interleaved RGB, row-major: pixel (x, y) channel c is at `(y * width + x) * 3 + c`.
    package var pixels: [UInt8]

    package init(width: Int, height: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// True when both dimensions are non-negative and `pixels` holds exactly `width * height * 3` bytes.
    package var isWellFormed: Bool {
        guard width >= 0, height >= 0 else { return false }
        let (area, o1) = width.multipliedReportingOverflow(by: height)
        let (bytes, o2) = area.multipliedReportingOverflow(by: 3)
        return !o1 && !o2 && bytes == pixels.count
    }
}
