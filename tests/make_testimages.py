#!/usr/bin/python3
"""Regenerates the synthetic fixtures in testimages/ from two Kodak photos.

Usage: tests/make_testimages.py KODAK_DIR [OUT_DIR]   (OUT_DIR defaults to testimages/)

Everything is cut from kodim05-crop.png (a 256x256 crop of kodim05) so that tests/test_imageio.c
can check each odd format against the crop's pixels.  PNGs are assembled here by hand rather than
with PIL, which cannot write 16-bit RGB, Adam7 or explicit palette+tRNS files.  The output only
depends on the inputs (and zlib/libjpeg for the compressed bytes), not on any random state.
"""
import shutil
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

CROP_BOX = (320, 128, 576, 384)  # left, top, right, bottom in kodim05 (768x512)
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def luma(rgb):
    """Rec.601 luma with integer rounding; the C test computes the same formula."""
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    return ((299 * r + 587 * g + 114 * b + 500) // 1000).astype(np.uint8)


def chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def pack_rows(samples, bit_depth):
    """Filter-type-0 scanlines of an (h, w, spp) array at the given bit depth."""
    out = bytearray()
    for row in samples.reshape(samples.shape[0], -1):
        out.append(0)
        if bit_depth == 16:
            out += row.astype(">u2").tobytes()
        elif bit_depth == 8:
            out += row.astype(np.uint8).tobytes()
        else:
            per_byte = 8 // bit_depth
            padded = list(row) + [0] * (-len(row) % per_byte)
            for i in range(0, len(padded), per_byte):
                byte = 0
                for v in padded[i:i + per_byte]:
                    byte = byte << bit_depth | int(v)
                out.append(byte)
    return bytes(out)


def png_bytes(samples, color_type, bit_depth, interlace=False, plte=None, trns=None, icc=None):
    """A PNG file holding samples, an (h, w, spp) integer array (palette indices for type 3)."""
    h, w = samples.shape[:2]
    if interlace:
        raw = b"".join(pack_rows(samples[y0::dy, x0::dx], bit_depth)
                       for x0, y0, dx, dy in ADAM7 if samples[y0::dy, x0::dx].size)
    else:
        raw = pack_rows(samples, bit_depth)
    out = b"\x89PNG\r\n\x1a\n"
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, int(interlace)))
    if icc is not None:
        out += chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc, 9))
    if plte is not None:
        out += chunk(b"PLTE", bytes(np.asarray(plte, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        out += chunk(b"tRNS", bytes(trns))
    out += chunk(b"IDAT", zlib.compress(raw, 9))
    return out + chunk(b"IEND", b"")


def pnm_bytes(samples):
    h, w, spp = samples.shape
    return b"P%d\n%d %d\n255\n" % (6 if spp == 3 else 5, w, h) + samples.astype(np.uint8).tobytes()


def alpha_ramp(h, w):
    """A diagonal 0..255 ramp; the C test recomputes it."""
    y, x = np.mgrid[0:h, 0:w]
    return ((x * 255 // (w - 1) + y * 255 // (h - 1)) // 2).astype(np.uint8)


def rgb16(rgb):
    """16-bit samples that round back to rgb (|offset| <= 128 < 257 / 2) but not when truncated."""
    h, w, _ = rgb.shape
    y, x, c = np.mgrid[0:h, 0:w, 0:3]
    offset = (x * 7 + y * 13 + c * 5) % 257 - 128
    return np.clip(rgb.astype(np.int64) * 257 + offset, 0, 65535)


def palette_image(rgb):
    """16-colour palette image with the first 8 entries made translucent (alpha 0, 32, ... 224)."""
    quant = Image.fromarray(rgb).quantize(colors=16, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    plte = np.array(quant.getpalette()[:48]).reshape(16, 3)
    indices = np.array(quant)[..., None]
    return png_bytes(indices, 3, 4, plte=plte, trns=[32 * i for i in range(8)])


def synthetic(crop, icc):
    gray = luma(crop)[..., None]
    files = {
        "rgb-1x1.png": png_bytes(crop[:1, :1], 2, 8),
        "rgb-1x37.png": png_bytes(crop[:37, :1], 2, 8),
        "rgb-37x1.png": png_bytes(crop[:1, :37], 2, 8),
        "rgb-31x17.png": png_bytes(crop[:17, :31], 2, 8),
        "gray-28x28.png": png_bytes(gray[:28, :28], 0, 8),
        "ga-64x48.png": png_bytes(np.dstack([gray[:48, :64], alpha_ramp(48, 64)]), 4, 8),
        "rgba-61x45.png": png_bytes(np.dstack([crop[:45, :61], alpha_ramp(45, 61)]), 6, 8),
        "rgb16-64x40.png": png_bytes(rgb16(crop[:40, :64]), 2, 16),
        "palette-trns-50x30.png": palette_image(np.ascontiguousarray(crop[:30, :50])),
        "gray1-33x20.png": png_bytes((gray[:20, :33] >= 128).astype(np.uint8), 0, 1),
        "interlaced-45x33.png": png_bytes(crop[:33, :45], 2, 8, interlace=True),
        "icc-48x32.png": png_bytes(crop[:32, :48], 2, 8, icc=icc),
        "rgb-40x30.ppm": pnm_bytes(crop[:30, :40]),
        "gray-40x30.pgm": pnm_bytes(gray[:30, :40]),
    }
    return files


def save_jpegs(crop, icc, out):
    Image.fromarray(np.ascontiguousarray(crop[:64, :96])).save(out / "rgb-96x64.jpg", quality=90, icc_profile=icc)
    Image.fromarray(luma(crop[:64, :96])).save(out / "gray-96x64.jpg", quality=90)
    Image.fromarray(np.ascontiguousarray(crop[:16, :16])).convert("CMYK").save(out / "cmyk-16x16.jpg", quality=90)


def main():
    kodak = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parent.parent / "testimages"
    out.mkdir(exist_ok=True)
    shutil.copyfile(kodak / "kodim23.png", out / "kodim23.png")
    Image.open(kodak / "kodim05.png").convert("RGB").crop(CROP_BOX).save(out / "kodim05-crop.png", optimize=True)
    crop = np.array(Image.open(out / "kodim05-crop.png").convert("RGB"))
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    icc = icc[:24] + struct.pack(">6H", 2000, 1, 1, 0, 0, 0) + icc[36:]  # lcms stamps today's date
    for name, data in synthetic(crop, icc).items():
        (out / name).write_bytes(data)
    save_jpegs(crop, icc, out)


if __name__ == "__main__":
    main()
