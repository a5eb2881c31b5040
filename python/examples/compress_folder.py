#!/usr/bin/env python3
"""compress_folder.py: compresses every image of a folder with aec and prints, per image, its size, the
.aec file's bytes and bits per pixel, and the PSNR of the decoded image; then the totals.

    python3 compress_folder.py [-q QUALITY] [-o OUT_DIR] [-j THREADS] [--model FILE] FOLDER

Images are whatever Pillow reads (PNG, JPEG, PNM, ...), converted to L, LA, RGB or RGBA as aecimg.pillow
would save them.  PSNR is over the colour (or gray) channels; alpha is coded losslessly.  With -o the .aec
files are written there.  Threads encode images in parallel (each call releases the GIL).
"""

import argparse
import concurrent.futures
import math
import pathlib
import sys

import numpy as np
from PIL import Image

import aecimg
import aecimg.pillow


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def read(path):
    """The image as a uint8 array in a mode aec stores, or None if Pillow cannot read it."""
    try:
        with Image.open(path) as im:
            return np.asarray(aecimg.pillow.storable_image(im)), im.info.get("icc_profile")
    except (OSError, SyntaxError, ValueError):
        return None, None


def compress(path, args):
    pixels, icc = read(path)
    if pixels is None:
        return path, None
    data = aecimg.encode(pixels, quality=args.quality, model=args.model, icc=icc)
    decoded = aecimg.decode(data, model=args.model)
    colour = slice(0, -1) if pixels.ndim == 3 and pixels.shape[2] in (2, 4) else slice(None)
    if args.out_dir:
        (args.out_dir / (path.stem + ".aec")).write_bytes(data)
    return path, (pixels, data, psnr(pixels[..., colour], decoded[..., colour]))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=pathlib.Path)
    p.add_argument("-q", "--quality", type=int, default=aecimg.QUALITY_DEFAULT, help="0..100 (default 75)")
    p.add_argument("-o", "--out-dir", type=pathlib.Path, help="write the .aec files here")
    p.add_argument("-j", "--threads", type=int, default=2, help="images encoded at once (default 2)")
    p.add_argument("--model", help="model file (default: the tools' default model)")
    args = p.parse_args()
    if args.out_dir:
        args.out_dir.mkdir(parents=True, exist_ok=True)
    files = sorted(f for f in args.folder.iterdir() if f.is_file())
    print("%-24s %11s %4s %9s %7s %9s" % ("image", "size", "mode", "bytes", "bpp", "PSNR"))
    count = pixels_total = bytes_total = raw_total = 0
    psnr_sum = 0.0
    with concurrent.futures.ThreadPoolExecutor(max(1, args.threads)) as pool:
        for path, result in pool.map(lambda f: compress(f, args), files):
            if result is None:
                print("%s: skipped (not an image Pillow reads)" % path.name, file=sys.stderr)
                continue
            pixels, data, quality = result
            h, w = pixels.shape[:2]
            mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[1 if pixels.ndim == 2 else pixels.shape[2]]
            print("%-24s %11s %4s %9d %7.3f %6.2f dB" % (path.name, "%dx%d" % (w, h), mode, len(data),
                                                         8.0 * len(data) / (w * h), quality))
            count += 1
            pixels_total += w * h
            bytes_total += len(data)
            raw_total += pixels.size
            psnr_sum += quality
    if count:
        print("total: %d images, %d raw bytes -> %d bytes (%.3f bpp, %.1fx smaller), mean PSNR %.2f dB"
              % (count, raw_total, bytes_total, 8.0 * bytes_total / pixels_total, raw_total / bytes_total,
                 psnr_sum / count))
    return 0 if count else 1


if __name__ == "__main__":
    sys.exit(main())
