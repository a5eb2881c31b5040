#!/usr/bin/python3
"""verify_anchors.py: checks aec-bench's JPEG and PNG numbers against Pillow + numpy.

Re-encodes every image of an aec-bench CSV with Pillow at the settings aec-bench records
(JPEG: quality Q, 4:2:0, optimize=True, baseline tables; PNG: optimize=True, zlib level 9),
decodes with Pillow, computes the size and PSNR-RGB with numpy, and compares them with the CSV's
per-image rows and means.  Agreement: within 0.05 dB and 0.5 % of the size.  MS-SSIM is checked
too, on the JPEG at quality 50 of every image (metrics_ref.py's numpy MS-SSIM; within 1e-4).

Usage: /usr/bin/python3 bench/verify_anchors.py RESULTS.csv IMAGE_DIR > verify.txt
Exit status 0 when every row agrees, 1 otherwise.
"""
import csv
import io
import math
import os
import sys

import numpy as np
import PIL
from PIL import Image, features

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import metrics_ref  # noqa: E402  (beside this script)

MAX_DB = 0.05
MAX_SIZE = 0.005
MAX_MSSSIM = 1e-4
MSSSIM_QUALITY = 50


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def encode(img, codec, quality):
    buf = io.BytesIO()
    if codec == "jpeg":
        img.save(buf, "JPEG", quality=quality, subsampling=2, optimize=True)
    else:
        img.save(buf, "PNG", optimize=True, compress_level=9)
    return buf.getvalue()


def decode(data, mode):
    return np.asarray(Image.open(io.BytesIO(data)).convert(mode))


def measure(img, codec, quality):
    data = encode(img, codec, quality)
    return len(data), psnr(np.asarray(img), decode(data, img.mode))


def as_planes(a):
    return (a if a.ndim == 3 else a[:, :, None]).astype(np.float64)


def compare_msssim(rows, image_dir, out):
    """MS-SSIM of the JPEG at MSSSIM_QUALITY, image by image."""
    rows = [r for r in rows if r["codec"] == "jpeg" and r["quality"] == str(MSSSIM_QUALITY)
            and r["ms_ssim"]]
    worst, failures = 0.0, 0
    for row in rows:
        img = load(image_dir, row["image"])
        decoded = decode(encode(img, "jpeg", MSSSIM_QUALITY), img.mode)
        mine = metrics_ref.msssim(as_planes(np.asarray(img)), as_planes(decoded))
        err = abs(mine - float(row["ms_ssim"]))
        worst = max(worst, err)
        failures += err > MAX_MSSSIM
    out.write("MS-SSIM of JPEG q%d against metrics_ref.py: %d images, largest difference %.2e, "
              "%d outside %.0e\n" % (MSSSIM_QUALITY, len(rows), worst, failures, MAX_MSSSIM))
    return failures


def size_error(mine, theirs):
    return abs(mine - theirs) / theirs


def db_error(mine, theirs):
    if math.isinf(mine) and math.isinf(theirs):
        return 0.0
    return abs(mine - theirs)


def load(image_dir, name):
    img = Image.open(os.path.join(image_dir, name))
    return img.convert("L" if img.mode in ("L", "LA", "I;16", "I") else "RGB")


def compare_rows(rows, image_dir, out):
    """Per-image rows; returns {(codec, quality): [(size, psnr), ...]} for the means."""
    worst_db = worst_size = 0.0
    failures = 0
    mine = {}
    out.write("%-14s %-5s %4s %10s %10s %7s %9s %9s %7s\n" % (
        "image", "codec", "q", "bench B", "pillow B", "size %", "bench dB", "pillow dB", "d dB"))
    for row in rows:
        q = int(row["quality"]) if row["quality"] else None
        size, db = measure(load(image_dir, row["image"]), row["codec"], q)
        theirs_size, theirs_db = float(row["bytes"]), float(row["psnr_rgb"])
        e_size, e_db = size_error(size, theirs_size), db_error(db, theirs_db)
        worst_size, worst_db = max(worst_size, e_size), max(worst_db, e_db)
        bad = e_size > MAX_SIZE or e_db > MAX_DB
        failures += bad
        mine.setdefault((row["codec"], q), []).append((size, db))
        out.write("%-14s %-5s %4s %10d %10d %7.3f %9.3f %9.3f %7.4f%s\n" % (
            row["image"], row["codec"], q if q is not None else "-", theirs_size, size,
            100 * e_size, theirs_db, db, e_db, "  DISAGREES" if bad else ""))
    out.write("\nper image: %d rows, largest size difference %.3f %%, largest PSNR difference "
              "%.4f dB, %d outside the limits\n" % (len(rows), 100 * worst_size, worst_db, failures))
    return mine, failures


def compare_means(means, mine, out):
    failures = 0
    out.write("\nmeans (arithmetic mean of the per-image values):\n")
    for row in means:
        q = int(row["quality"]) if row["quality"] else None
        pts = mine.get((row["codec"], q), [])
        size = sum(p[0] for p in pts) / len(pts)
        db = sum(p[1] for p in pts) / len(pts)
        e_size = size_error(size, float(row["bytes"]))
        e_db = db_error(db, float(row["psnr_rgb"]))
        bad = e_size > MAX_SIZE or e_db > MAX_DB
        failures += bad
        out.write("  %-5s q %-3s bench %11.1f B %8.3f dB  pillow %11.1f B %8.3f dB  "
                  "(%.3f %%, %.4f dB)%s\n" % (
                      row["codec"], q if q is not None else "-", float(row["bytes"]),
                      float(row["psnr_rgb"]), size, db, 100 * e_size, e_db,
                      "  DISAGREES" if bad else ""))
    return failures


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[-2])
    with open(sys.argv[1], newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["codec"] in ("jpeg", "png")]
    out = sys.stdout
    out.write("verify_anchors.py: %s against Pillow %s (libjpeg %s, zlib %s) + numpy %s\n"
              "limits: %.2f dB, %.1f %% of the size, %.0e MS-SSIM\n\n" % (
                  sys.argv[1], PIL.__version__, features.version("jpg"),
                  features.version("zlib"), np.__version__, MAX_DB, 100 * MAX_SIZE, MAX_MSSSIM))
    per_image = [r for r in rows if r["kind"] == "image"]
    mine, failures = compare_rows(per_image, sys.argv[2], out)
    failures += compare_means([r for r in rows if r["kind"] == "mean"], mine, out)
    out.write("\n")
    failures += compare_msssim(per_image, sys.argv[2], out)
    out.write("\nresult: %s\n" % ("AGREE" if failures == 0 else "%d DISAGREE" % failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
