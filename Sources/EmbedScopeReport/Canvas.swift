import Foundation
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeAnalysis

/// An 8-bit RGB drawing surface for image sheets: rectangles, images scaled into boxes, and
/// bitmap text. Everything is clipped to the canvas; nothing here can fail.
package struct Canvas: Sendable {
    package var image: RGBImage
    package var width: Int { image.width }
    package var height: Int { image.height }

    package init(width: Int, height: Int, background: RGB = .white) {
        var px = [UInt8](repeating: 0, count: max(0, width) * max(0, height) * 3)
        for i in stride(from: 0, to: px.count, by: 3) {
            px[i] = background.r; px[i + 1] = background.g; px[i + 2] = background.b
        }
        image = RGBImage(width: max(0, width), height: max(0, height), pixels: px)
    }

    @inline(__always) package mutating func set(_ x: Int, _ y: Int, _ c: RGB) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        image.pixels[i] = c.r; image.pixels[i + 1] = c.g; image.pixels[i + 2] = c.b
    }

    package mutating func fill(x: Int, y: Int, width w: Int, height h: Int, _ c: RGB) {
        let x0 = max(0, x), y0 = max(0, y), x1 = min(width, x + w), y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        for yy in y0..<y1 { for xx in x0..<x1 { set(xx, yy, c) } }
    }

    /// A rectangle outline `thickness` pixels wide, drawn inside the box.
    package mutating func stroke(x: Int, y: Int, width w: Int, height h: Int, thickness t: Int, _ c: RGB) {
        fill(x: x, y: y, width: w, height: t, c)
        fill(x: x, y: y + h - t, width: w, height: t, c)
        fill(x: x, y: y, width: t, height: h, c)
        fill(x: x + w - t, y: y, width: t, height: h, c)
    }

    /// Draws `img` scaled to fit a `box`×`box` square at (x, y), aspect kept, centred, with
    /// the project's antialiased resize.
    package mutating func draw(_ img: RGBImage, x: Int, y: Int, box: Int) {
        guard img.isWellFormed, img.width > 0, img.height > 0, box > 0 else { return }
        let scale = Double(box) / Double(max(img.width, img.height))
        let w = max(1, Int((Double(img.width) * scale).rounded())), h = max(1, Int((Double(img.height) * scale).rounded()))
        let px = ImageResize.resize(img, width: w, height: h)
        let ox = x + (box - w) / 2, oy = y + (box - h) / 2
        for yy in 0..<h {
            for xx in 0..<w {
                let i = (yy * w + xx) * 3
                set(ox + xx, oy + yy, RGB(byte(px[i]), byte(px[i + 1]), byte(px[i + 2])))
            }
        }
    }

    @inline(__always) private func byte(_ v: Float) -> UInt8 { UInt8(max(0, min(255, v.rounded()))) }

    /// Draws `text` with its top-left corner at (x, y); returns the x after the last glyph.
    @discardableResult
    package mutating func text(_ text: String, x: Int, y: Int, color: RGB, font: BitmapFont = .fixed13) -> Int {
        var cx = x
        for ch in text {
            let rows = font.rows(of: ch)
            for (dy, bits) in rows.enumerated() where bits != 0 {
                for dx in 0..<font.advance where bits & (0x80 >> UInt8(dx)) != 0 { set(cx + dx, y + dy, color) }
            }
            cx += font.advance
        }
        return cx
    }

    /// Text centred horizontally in [x, x + width), shortened to fit.
    package mutating func centredText(_ s: String, x: Int, width w: Int, y: Int, color: RGB, font: BitmapFont = .fixed13) {
        let t = font.fit(s, pixels: w)
        text(t, x: x + (w - font.width(of: t)) / 2, y: y, color: color, font: font)
    }

    /// PNG bytes through the project's libpng writer.
    package func pngData() throws -> Data {
        try PNGWriter.encode(width: width, height: height, channels: 3, pixels: image.pixels)
    }
}

/// An 8-bit sRGB colour.
package struct RGB: Sendable, Equatable, Hashable {
    package var r: UInt8, g: UInt8, b: UInt8
    package init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }
    package init(hex: UInt32) { self.init(UInt8(hex >> 16 & 0xFF), UInt8(hex >> 8 & 0xFF), UInt8(hex & 0xFF)) }
    package static let white = RGB(255, 255, 255)
    package static let black = RGB(0, 0, 0)
    package var css: String { String(format: "#%02x%02x%02x", r, g, b) }
}

/// Colours of the pictures: matplotlib's tab20 order (the ten tab10 colours first, then their
/// light variants), so ten classes get ten distinct strong colours and twenty stay distinguishable.
package enum Palette {
    package static let tab20: [RGB] = [
        0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf,
        0xaec7e8, 0xffbb78, 0x98df8a, 0xff9896, 0xc5b0d5, 0xc49c94, 0xf7b6d2, 0xc7c7c7, 0xdbdb8d, 0x9edae5,
    ].map(RGB.init(hex:))

    /// Colour of class `i`; beyond 20 classes colours repeat (the legend says so).
    package static func color(_ i: Int) -> RGB { tab20[((i % tab20.count) + tab20.count) % tab20.count] }

    package static let ink = RGB(hex: 0x222222)
    package static let muted = RGB(hex: 0x666666)
    package static let grid = RGB(hex: 0xe5e5e5)
    package static let good = RGB(hex: 0x2ca02c)
    package static let bad = RGB(hex: 0xd62728)
    package static let missing = RGB(hex: 0xbbbbbb)
}
