#!/usr/bin/python3
"""bd_check.py: aec against WebP and JPEG computed without aec-bench, as a second opinion on its
Bjontegaard deltas.

Every point comes from the installed-style tools and Pillow: aec is `aec-encode` (the options
given after --, default none: the default effort) then `aec-decode` of each image, whole-file
bytes; WebP is Pillow's libwebp with method 6 (what `cwebp -m 6` runs), JPEG Pillow's libjpeg with
optimized Huffman tables and 4:2:0.  PSNR-RGB of the 8-bit output is computed here with numpy, the
mean over images at each quality is the curve, and the BD-rate is the classic Bjontegaard one: a
cubic polynomial fit of log10(bpp) against PSNR, integrated over the overlapping PSNR range (unlike
aec-bench's PCHIP).

    /usr/bin/python3 bench/bd_check.py --tools build/tools IMAGE_DIR [-- AEC_ENCODE_OPTIONS...]

Prints the mean curves and the BD-rates; needs numpy and Pillow (Debian: python3-numpy python3-pil).
"""
import argparse
import io
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

from verify_anchors import psnr  # bench/, this script's folder, is on sys.path

AEC_QUALITIES = (0, 12, 25, 37, 50, 62, 75, 87, 100)
ANCHOR_QUALITIES = (10, 20, 30, 40, 50, 60, 70, 80, 90, 95)


def aec_point(tools, options, image, a, quality, work):
    f, png = os.path.join(work, "x.aec"), os.path.join(work, "x.png")
    subprocess.run([os.path.join(tools, "aec-encode"), "--quiet", "-f", "-q", str(quality), *options, image, "-o", f],
                   check=True)
    subprocess.run([os.path.join(tools, "aec-decode"), "--quiet", "-f", f, "-o", png], check=True)
    return os.path.getsize(f), psnr(a, np.asarray(Image.open(png).convert("RGB")))


def pillow_point(a, fmt, **params):
    f = io.BytesIO()
    Image.fromarray(a).save(f, fmt, **params)
    size = f.tell()
    f.seek(0)
    return size, psnr(a, np.asarray(Image.open(f).convert("RGB")))


def bd_rate(anchor, test):
    """Bjontegaard delta rate (%) of test against anchor, each a list of (bpp, psnr)."""
    (ra, pa), (rt, pt) = (np.array(c).T for c in (anchor, test))
    fa, ft = np.polyfit(pa, np.log10(ra), 3), np.polyfit(pt, np.log10(rt), 3)
    lo, hi = max(pa.min(), pt.min()), min(pa.max(), pt.max())
    ia, it = np.polyint(fa), np.polyint(ft)
    diff = ((np.polyval(it, hi) - np.polyval(it, lo)) - (np.polyval(ia, hi) - np.polyval(ia, lo))) / (hi - lo)
    return (10 ** diff - 1) * 100, lo, hi


def main():
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tools", default="build/tools")
    p.add_argument("images")
    args = p.parse_args(argv)
    names = sorted(n for n in os.listdir(args.images) if n.lower().endswith(".png"))
    curves = {"aec": {q: [] for q in AEC_QUALITIES}, "webp": {q: [] for q in ANCHOR_QUALITIES},
              "jpeg": {q: [] for q in ANCHOR_QUALITIES}}
    with tempfile.TemporaryDirectory() as work:
        for n in names:
            path = os.path.join(args.images, n)
            a = np.asarray(Image.open(path).convert("RGB"))
            px = a.shape[0] * a.shape[1]
            for q in AEC_QUALITIES:
                size, db = aec_point(args.tools, extra, path, a, q, work)
                curves["aec"][q].append((8 * size / px, db))
            for q in ANCHOR_QUALITIES:
                size, db = pillow_point(a, "WEBP", quality=q, method=6)
                curves["webp"][q].append((8 * size / px, db))
                size, db = pillow_point(a, "JPEG", quality=q, optimize=True, subsampling=2)
                curves["jpeg"][q].append((8 * size / px, db))
            print("%s done" % n, file=sys.stderr, flush=True)
    mean = {c: [tuple(np.mean(v, axis=0)) for _, v in sorted(pts.items())] for c, pts in curves.items()}
    print("images: %d from %s; aec-encode options: %s" % (len(names), args.images, " ".join(extra) or "(none)"))
    for c, pts in mean.items():
        print("%-5s " % c + "  ".join("%.4f bpp %.2f dB" % pt for pt in pts))
    for anchor in ("jpeg", "webp"):
        rate, lo, hi = bd_rate(mean[anchor], mean["aec"])
        print("aec against %s (cubic fit, %.2f..%.2f dB): BD-rate %+.2f%%" % (anchor, lo, hi, rate))


if __name__ == "__main__":
    main()
