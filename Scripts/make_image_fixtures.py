#!/usr/bin/env python3
"""Generates the image-layer test fixtures in Tests/EmbedScopeTests/Fixtures/images/.

    python3 Scripts/make_image_fixtures.py      # needs numpy + Pillow (Scripts/setup.sh --bench)

Deterministic: every pixel comes from numpy's PCG64 seeded with SEED, PNG files are written by
the small encoder below (fixed zlib level, fixed filters), JPEG files by Pillow. Running it twice
gives identical bytes for the PNGs; the JPEGs depend only on Pillow's bundled libjpeg-turbo.

Outputs
  *.png / *.jpg / *.txt    one file per variant (see VARIANTS below and the error cases)
  expected.json            for each decodable file the RGB uint8 pixels the decoder must return
  resize.json              resize reference cases: input (base64 RGB bytes), output size, and the
                           float64 reference output of Pillow's BILINEAR-with-antialias formula

Definitions (the contract the Swift tests check)
  * PNG alpha is composited on white on the 8-bit values:
        out = (a*c + (255-a)*255 + 127) // 255          (a, c in 0...255)
    which is bit-identical to Pillow's Image.alpha_composite(white, im).convert("RGB")
    (checked exhaustively below for all 65536 (a, c) pairs).
  * 16-bit samples become 8-bit as Pillow reads them (high byte, v >> 8) -> key "rgb";
    "rgb_rounded" uses round(v / 257) instead (what libpng's png_set_scale_16 computes).
    The decoder goes through libpng, so the tests allow 1 LSB against "rgb" for 16-bit files.
  * gAMA is ignored (Pillow ignores it): rgba8_gamma_linear.png must decode like rgba8.png.
  * JPEG: expected pixels are what Pillow decodes (its bundled libjpeg-turbo, ISLOW IDCT,
    fancy upsampling) -- the same algorithm as the system libjpeg-turbo our shim links.
"""

import base64
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

SEED = 20240611
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "Tests", "EmbedScopeTests", "Fixtures", "images")
rng = np.random.Generator(np.random.PCG64(SEED))


# ----------------------------------------------------------------------------------------------
# Minimal PNG encoder (Pillow cannot write 16-bit RGB/RGBA, interlaced files or gAMA chunks).

def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def filter_rows(rows: np.ndarray, bpp: int, first_filter: int) -> bytes:
    """rows: uint8 (h, rowbytes). Uses filter type (first_filter + y) % 5 so all five are exercised."""
    out = bytearray()
    prev = np.zeros(rows.shape[1], dtype=np.int32)
    for y in range(rows.shape[0]):
        cur = rows[y].astype(np.int32)
        left = np.concatenate([np.zeros(bpp, np.int32), cur[:-bpp]]) if rows.shape[1] > bpp else np.zeros_like(cur)
        upleft = np.concatenate([np.zeros(bpp, np.int32), prev[:-bpp]]) if rows.shape[1] > bpp else np.zeros_like(cur)
        ftype = (first_filter + y) % 5
        pred = [np.zeros_like(cur), left, prev, (left + prev) // 2, paeth(left, prev, upleft)][ftype]
        out.append(ftype)
        out += ((cur - pred) % 256).astype(np.uint8).tobytes()
        prev = cur
    return bytes(out)


def pack_samples(img: np.ndarray, depth: int) -> np.ndarray:
    """img: (h, w, channels) of sample values -> (h, rowbytes) uint8, big-endian, packed."""
    h, w, c = img.shape
    if depth == 16:
        return img.astype(">u2").reshape(h, w * c).view(np.uint8).reshape(h, w * c * 2)
    if depth == 8:
        return img.astype(np.uint8).reshape(h, w * c)
    assert c == 1
    per_byte = 8 // depth
    rowbytes = (w * depth + 7) // 8
    out = np.zeros((h, rowbytes), dtype=np.uint8)
    for x in range(w):
        shift = 8 - depth * (x % per_byte + 1)
        out[:, x // per_byte] |= (img[:, x, 0].astype(np.uint8) << shift)
    return out


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def encode_png(img, depth, color_type, palette=None, trns=None, gama=None, interlace=False) -> bytes:
    h, w, c = img.shape
    bpp = max(1, c * depth // 8)
    if interlace:
        raw = b""
        for i, (x0, y0, dx, dy) in enumerate(ADAM7):
            sub = img[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += filter_rows(pack_samples(sub, depth), bpp, i)
    else:
        raw = filter_rows(pack_samples(img, depth), bpp, 0)
    out = b"\x89PNG\r\n\x1a\n"
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 1 if interlace else 0))
    if gama is not None:
        out += chunk(b"gAMA", struct.pack(">I", gama))
    if palette is not None:
        out += chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    if trns is not None:
        out += chunk(b"tRNS", trns)
    out += chunk(b"IDAT", zlib.compress(raw, 9))
    out += chunk(b"IEND", b"")
    return out


# ----------------------------------------------------------------------------------------------
# Reference definitions

def composite_on_white(rgb8: np.ndarray, a8: np.ndarray) -> np.ndarray:
    a = a8.astype(np.int64)[..., None]
    c = rgb8.astype(np.int64)
    return ((a * c + (255 - a) * 255 + 127) // 255).astype(np.uint8)


def hi8(v16):
    return (v16.astype(np.int64) >> 8).astype(np.uint8)


def round8(v16):
    return ((v16.astype(np.int64) * 255 + 32767) // 65535).astype(np.uint8)


def check_composite_matches_pillow():
    a, c = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    rgba = np.stack([c, c, c, a], axis=-1).astype(np.uint8)
    im = Image.fromarray(rgba, "RGBA")
    white = Image.new("RGBA", im.size, (255, 255, 255, 255))
    pil = np.asarray(Image.alpha_composite(white, im).convert("RGB"))
    ours = composite_on_white(rgba[..., :3], rgba[..., 3])
    assert np.array_equal(pil, ours), "composite formula differs from Pillow"


def pillow_rgb(data: bytes) -> np.ndarray:
    im = Image.open(io.BytesIO(data))
    im.load()
    if im.mode == "I;16" or im.mode == "I":
        return np.repeat(hi8(np.asarray(im))[..., None], 3, axis=2)
    im = im.convert("RGBA")
    white = Image.new("RGBA", im.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, im).convert("RGB"))


# ----------------------------------------------------------------------------------------------
# Content

def smooth(h, w, c, maxval):
    """Gradient + seeded noise + both extremes, so clipping and rounding paths are exercised."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 37 + y * 11 + k * 50) % 97 / 96.0 for k in range(c)], axis=-1)
    noise = rng.random((h, w, c))
    v = np.clip(0.7 * base + 0.3 * noise, 0, 1) * maxval
    v = np.rint(v).astype(np.int64)
    v[0, 0] = 0
    v[-1, -1] = maxval
    return v


def alpha(h, w, maxval):
    a = rng.integers(0, maxval + 1, size=(h, w, 1), dtype=np.int64)
    a[0, 0, 0] = 0
    a[0, 1, 0] = maxval
    return a


def make_pngs():
    files = {}  # name -> (bytes, rgb expected (Pillow convention), rgb_rounded or None, sixteen)

    def add(name, data, rgb, rounded=None):
        files[name] = (data, rgb, rounded)

    g = smooth(5, 7, 1, 255)
    add("gray8.png", encode_png(g, 8, 0), np.repeat(g.astype(np.uint8), 3, axis=2))

    g1 = rng.integers(0, 2, size=(6, 9, 1))
    add("gray1.png", encode_png(g1, 1, 0), np.repeat((g1 * 255).astype(np.uint8), 3, axis=2))

    g16 = smooth(6, 9, 1, 65535)
    add("gray16.png", encode_png(g16, 16, 0),
        np.repeat(hi8(g16), 3, axis=2), np.repeat(round8(g16), 3, axis=2))

    # Gray with a tRNS colour key: the keyed gray level becomes fully transparent -> white.
    gk = smooth(5, 7, 1, 255)
    key = int(gk[2, 3, 0])
    ak = np.where(gk == key, 0, 255)
    add("gray8_trns.png", encode_png(gk, 8, 0, trns=struct.pack(">H", key)),
        composite_on_white(np.repeat(gk, 3, axis=2), ak[..., 0]))

    ga = smooth(5, 7, 1, 255)
    aa = alpha(5, 7, 255)
    add("gray_alpha8.png", encode_png(np.concatenate([ga, aa], axis=2), 8, 4),
        composite_on_white(np.repeat(ga, 3, axis=2), aa[..., 0]))

    ga16 = smooth(6, 9, 1, 65535)
    aa16 = alpha(6, 9, 65535)
    add("gray_alpha16.png", encode_png(np.concatenate([ga16, aa16], axis=2), 16, 4),
        composite_on_white(np.repeat(hi8(ga16), 3, axis=2), hi8(aa16)[..., 0]),
        composite_on_white(np.repeat(round8(ga16), 3, axis=2), round8(aa16)[..., 0]))

    rgb = smooth(6, 9, 3, 255)
    add("rgb8.png", encode_png(rgb, 8, 2), rgb.astype(np.uint8))
    add("rgb8_interlaced.png", encode_png(rgb, 8, 2, interlace=True), rgb.astype(np.uint8))

    rgb16 = smooth(5, 7, 3, 65535)
    add("rgb16.png", encode_png(rgb16, 16, 2), hi8(rgb16), round8(rgb16))

    rgba = smooth(5, 7, 3, 255)
    ra = alpha(5, 7, 255)
    rgba_bytes = np.concatenate([rgba, ra], axis=2)
    add("rgba8.png", encode_png(rgba_bytes, 8, 6), composite_on_white(rgba, ra[..., 0]))
    # Same pixels with gAMA = 1.0 (linear): libpng would gamma-correct, Pillow ignores it, so do we.
    add("rgba8_gamma_linear.png", encode_png(rgba_bytes, 8, 6, gama=100000),
        composite_on_white(rgba, ra[..., 0]))

    rgba16 = smooth(6, 9, 3, 65535)
    ra16 = alpha(6, 9, 65535)
    add("rgba16.png", encode_png(np.concatenate([rgba16, ra16], axis=2), 16, 6),
        composite_on_white(hi8(rgba16), hi8(ra16)[..., 0]),
        composite_on_white(round8(rgba16), round8(ra16)[..., 0]))

    pal = rng.integers(0, 256, size=(16, 3))
    idx = rng.integers(0, 16, size=(6, 9, 1))
    add("palette8.png", encode_png(idx, 8, 3, palette=pal), pal[idx[..., 0]].astype(np.uint8))
    add("palette4.png", encode_png(idx, 4, 3, palette=pal), pal[idx[..., 0]].astype(np.uint8))

    # tRNS shorter than the palette: entries past its end are opaque.
    trns = rng.integers(0, 256, size=12).astype(np.uint8)
    trns[0], trns[1] = 0, 255
    idx2 = rng.integers(0, 16, size=(5, 7, 1))
    full_a = np.concatenate([trns, np.full(4, 255, np.uint8)])
    add("palette8_trns.png", encode_png(idx2, 8, 3, palette=pal, trns=trns.tobytes()),
        composite_on_white(pal[idx2[..., 0]], full_a[idx2[..., 0]]))
    return files


def make_jpegs():
    files = {}
    y, x = np.mgrid[0:24, 0:32]
    base = np.stack([(x * 8) % 256, (y * 10) % 256, ((x + y) * 5) % 256], axis=-1)
    noise = rng.integers(-40, 41, size=(24, 32, 3))
    rgb = np.clip(base + noise, 0, 255).astype(np.uint8)
    im = Image.fromarray(rgb, "RGB")
    buf = io.BytesIO(); im.save(buf, "JPEG", quality=95)
    files["rgb.jpg"] = buf.getvalue()
    # Odd size (not a multiple of the 16x16 MCU): exercises edge upsampling.
    buf = io.BytesIO(); im.crop((0, 0, 17, 11)).save(buf, "JPEG", quality=95, progressive=True)
    files["rgb_progressive_17x11.jpg"] = buf.getvalue()
    buf = io.BytesIO(); im.convert("L").crop((0, 0, 9, 6)).save(buf, "JPEG", quality=95)
    files["gray.jpg"] = buf.getvalue()
    # CMYK (libjpeg writes an Adobe marker; Pillow reads every CMYK JPEG with Adobe's inverted polarity).
    buf = io.BytesIO(); im.crop((0, 0, 9, 6)).convert("CMYK").save(buf, "JPEG", quality=95)
    files["cmyk.jpg"] = buf.getvalue()
    # YCCK: the same file with its Adobe marker's transform byte set to 2 (libjpeg then reads the
    # components as YCCK and converts them to CMYK, in Pillow as in ours).
    cmyk = bytearray(files["cmyk.jpg"])
    adobe = cmyk.index(b"Adobe") - 4  # FF EE, 2-byte length, "Adobe", version, flags0, flags1, transform
    assert cmyk[adobe:adobe + 2] == b"\xff\xee" and cmyk[adobe + 15] == 0, "expected an Adobe marker with transform 0"
    cmyk[adobe + 15] = 2
    files["ycck.jpg"] = bytes(cmyk)
    expected = {name: pillow_rgb(data) for name, data in files.items()}
    return files, expected


def sof_offset(jpeg: bytes) -> int:
    i = 2
    while i < len(jpeg):
        assert jpeg[i] == 0xFF
        marker = jpeg[i + 1]
        length = struct.unpack(">H", jpeg[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            return i
        i += 2 + length
    raise ValueError("no SOF")


def sos_offset(jpeg: bytes) -> int:
    return jpeg.index(b"\xff\xda")


# ----------------------------------------------------------------------------------------------
# Resize reference: Pillow's ImagingResample coefficient formula, float64, no intermediate rounding.

def coeffs(in_size, out_size):
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 1.0 * filterscale
    m = np.zeros((out_size, in_size))
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        ws = []
        for x in range(xmin, xmax):
            t = abs((x - center + 0.5) * (1.0 / filterscale))  # Pillow: * ss, ss = 1 / filterscale
            ws.append(1.0 - t if t < 1.0 else 0.0)
        total = sum(ws)
        for x, wv in zip(range(xmin, xmax), ws):
            m[xx, x] = wv / total if total != 0 else 0.0
    return m


def resize_reference(img: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    h, w, _ = img.shape
    v = img.astype(np.float64)
    if out_w != w:
        v = np.einsum("ox,yxc->yoc", coeffs(w, out_w), v)
    if out_h != h:
        v = np.einsum("oy,yxc->oxc", coeffs(h, out_h), v)
    return v


def make_resize_cases():
    cases = []

    def add(name, img, out_w, out_h):
        img = img.astype(np.uint8)
        ref = resize_reference(img, out_w, out_h)
        pil = np.asarray(Image.fromarray(img, "RGB").resize((out_w, out_h), Image.Resampling.BILINEAR,
                                                             reducing_gap=None)).astype(np.float64)
        diff = float(np.abs(pil - ref).max())
        cases.append({
            "name": name,
            "width": int(img.shape[1]), "height": int(img.shape[0]),
            "pixels_base64": base64.b64encode(img.tobytes()).decode("ascii"),
            "out_width": out_w, "out_height": out_h,
            "expected": [round(float(v), 4) for v in ref.reshape(-1)],
            "pillow_uint8_max_abs_diff": diff,
        })
        print(f"  resize {name:28s} Pillow uint8 vs float64 reference: max |diff| = {diff:.3f}")

    small = rng.integers(0, 256, size=(6, 9, 3))
    add("up_9x6_to_13x11", small, 13, 11)
    add("down_9x6_to_4x3", small, 4, 3)
    add("identity_9x6", small, 9, 6)
    add("horizontal_only_9x6_to_5x6", small, 5, 6)
    add("vertical_only_9x6_to_9x2", small, 9, 2)
    add("non_integer_9x6_to_7x5", small, 7, 5)
    add("one_pixel_to_3x2", rng.integers(0, 256, size=(1, 1, 3)), 3, 2)
    add("row_5x1_to_2x3", rng.integers(0, 256, size=(1, 5, 3)), 2, 3)
    # MNIST-like: 28x28 gray digit-ish blob upscaled to 32x32.
    y, x = np.mgrid[0:28, 0:28]
    blob = np.clip(255 * np.exp(-((x - 14) ** 2 + (y - 13) ** 2) / 40.0) + rng.integers(0, 30, (28, 28)), 0, 255)
    blob[blob < 40] = 0
    add("mnist_28x28_to_32x32", np.repeat(blob[..., None], 3, axis=2), 32, 32)
    # Large reduction factor (12.8 x 12): ~27 taps per output, like 4000x3000 -> 341x256 (~25 taps).
    add("down_64x48_to_5x4", rng.integers(0, 256, size=(48, 64, 3)), 5, 4)
    return cases


# ----------------------------------------------------------------------------------------------

def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    check_composite_matches_pillow()

    expected = {}
    pngs = make_pngs()
    for name, (data, rgb, rounded) in pngs.items():
        with open(os.path.join(OUT, name), "wb") as fh:
            fh.write(data)
        pil = pillow_rgb(data)
        diff = int(np.abs(pil.astype(int) - rgb.astype(int)).max())
        assert diff == 0, f"{name}: Pillow decodes differently from the definition (max diff {diff})"
        h, w, _ = rgb.shape
        entry = {"width": w, "height": h, "bits": 16 if rounded is not None else 8,
                 "rgb": rgb.reshape(-1).astype(int).tolist()}
        if rounded is not None:
            entry["rgb_rounded"] = rounded.reshape(-1).astype(int).tolist()
        expected[name] = entry

    jpegs, jpeg_expected = make_jpegs()
    for name, data in jpegs.items():
        with open(os.path.join(OUT, name), "wb") as fh:
            fh.write(data)
    for name, rgb in jpeg_expected.items():
        h, w, _ = rgb.shape
        expected[name] = {"width": w, "height": h, "bits": 8, "rgb": rgb.reshape(-1).astype(int).tolist()}

    # Error cases.
    png = pngs["rgb8.png"][0]
    write = lambda n, d: open(os.path.join(OUT, n), "wb").write(d)
    write("truncated.png", png[: len(png) // 2])
    jpg = jpegs["rgb.jpg"]
    assert len(jpg) // 2 > sos_offset(jpg), "half of rgb.jpg should land in the entropy-coded data"
    write("truncated.jpg", jpg[: len(jpg) // 2])
    garbage = bytes(rng.integers(0, 256, size=300, dtype=np.uint8))
    assert garbage[:2] != b"\xff\xd8" and garbage[:4] != b"\x89PNG"
    write("garbage.jpg", garbage)
    write("notes.txt", b"This is a text file that happens to sit in an image folder.\n")
    # A PNG whose IDAT CRC is wrong (all chunks present, so it is corrupt, not truncated).
    i = png.index(b"IDAT")
    n = struct.unpack(">I", png[i - 4:i])[0]
    crc_at = i + 4 + n
    write("bad_crc.png", png[:crc_at] + bytes([png[crc_at] ^ 0xFF]) + png[crc_at + 1:])
    # A PNG whose zlib stream is damaged but whose CRCs are right.
    raw = bytearray(png[i + 4:i + 4 + n])
    raw[2:6] = b"\xff\xff\xff\xff"
    write("bad_zlib.png", png[:i - 4] + chunk(b"IDAT", bytes(raw)) + png[i + 4 + n + 4:])
    # A JPEG whose SOF segment length disagrees with its component count.
    s = sof_offset(jpg)
    length = struct.unpack(">H", jpg[s + 2:s + 4])[0]
    write("bad_sof.jpg", jpg[:s + 2] + struct.pack(">H", length + 3) + jpg[s + 4:])

    with open(os.path.join(OUT, "expected.json"), "w") as fh:
        json.dump(expected, fh, separators=(",", ":"), sort_keys=True)
    print("resize cases:")
    cases = make_resize_cases()
    with open(os.path.join(OUT, "resize.json"), "w") as fh:
        json.dump({"tolerance_abs": 1e-3, "cases": cases}, fh, separators=(",", ":"))

    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, to {os.path.relpath(OUT, ROOT)}")
    assert total < 100_000, "fixtures must stay under 100 KB"


if __name__ == "__main__":
    sys.exit(main())
