#!/usr/bin/python3
"""The accuracy contract of the bfloat16 level (avx512bf16) against float32 (avx512), measured.

Usage: precision.py --bin TOOLS_DIR --model MODEL.aecm [--qualities Q,Q,...] [--threads N] --out OUT.md IMAGE.png...

For every image and quality it encodes at the float32 level and at the bfloat16 level (AECIMG_CPU_MAX)
and decodes each file at its own level, and also decodes the float32 file at the bfloat16 level (a
file from a float32 encoder on a bfloat16 decoder).  It reports per quality the mean PSNR over the
images (RGB, 8 bits) at float32, the differences of the two bfloat16 cases from it, the change of
the files' total size, and the largest difference of a decoded sample between the levels.  The
default qualities are the model's nine trained rate points (0, 12.5, ..., 100, rounded).

It needs a CPU with AVX512-BF16: on one without it both levels are the same and it says so.
"""
import argparse
import os
import platform
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image


def run(cmd, level):
    env = dict(os.environ, AECIMG_CPU_MAX=level)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd), r.stderr))
    return r.stdout


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def cpu_name():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--qualities", default="0,13,25,38,50,63,75,88,100")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("images", nargs="+")
    args = p.parse_args()
    enc = os.path.join(args.bin, "aec-encode")
    dec = os.path.join(args.bin, "aec-decode")
    version = run([enc, "--version", "--model", args.model], "avx512bf16")
    if "kernels: avx512bf16" not in version:
        sys.exit("precision.py: this CPU or build has no avx512bf16 level:\n" + version)
    qualities = [int(q) for q in args.qualities.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        common = ["-f", "-j", str(args.threads), "--model", args.model]
        for q in qualities:
            sums = np.zeros(3)
            size = np.zeros(2)
            worst = 0
            worst_image = ""
            for path in args.images:
                ref = np.asarray(Image.open(path).convert("RGB"))
                files = {}
                for level in ("avx512", "avx512bf16"):
                    files[level] = os.path.join(tmp, level + ".aec")
                    run([enc, *common, "-e", "0", "-q", str(q), path, "-o", files[level]], level)
                out = []
                for f, level in (("avx512", "avx512"), ("avx512", "avx512bf16"), ("avx512bf16", "avx512bf16")):
                    ppm = os.path.join(tmp, "out.ppm")
                    run([dec, *common, files[f], "-o", ppm], level)
                    out.append(np.asarray(Image.open(ppm).convert("RGB")))
                sums += [psnr(ref, o) for o in out]
                size += [os.path.getsize(files["avx512"]), os.path.getsize(files["avx512bf16"])]
                d = int(np.abs(out[0].astype(int) - out[1].astype(int)).max())
                if d > worst:
                    worst, worst_image = d, os.path.basename(path)
            mean = sums / len(args.images)
            rows.append((q, mean[0], mean[1] - mean[0], mean[2] - mean[0], size[1] / size[0] - 1, worst, worst_image))
            print("q %d: %.4f dB, bf16 decode %+.4f dB, bf16 both %+.4f dB, size %+.3f%%, max sample diff %d (%s)"
                  % (q, mean[0], mean[1] - mean[0], mean[2] - mean[0], 100 * (size[1] / size[0] - 1), worst,
                     worst_image), flush=True)
    lines = [
        "# Accuracy of the bfloat16 level",
        "",
        "%s, %s; %d image(s), %d thread(s); %s." % (platform.machine(), cpu_name(), len(args.images), args.threads,
                                                    os.path.basename(args.model)),
        "",
        "Command: `bench/precision.py --bin TOOLS --model MODEL --qualities %s --threads %d --out OUT IMAGES`."
        % (args.qualities, args.threads),
        "",
        "float32: encode and decode at `AECIMG_CPU_MAX=avx512`; bf16 decode: the float32 file decoded at",
        "`avx512bf16`; bf16 both: encoded and decoded at `avx512bf16`.  PSNR is the mean over the images; size",
        "is the change of the bf16 encoder's total bytes; max diff the largest difference of one decoded",
        "sample between the float32 and the bf16 decoder on the same file.",
        "",
        "| quality | float32 PSNR dB | bf16 decode dB | bf16 both dB | bf16 size | max diff |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for q, base, dd, db, ds, worst, img in rows:
        lines.append("| %d | %.4f | %+.4f | %+.4f | %+.3f%% | %d (%s) |" % (q, base, dd, db, 100 * ds, worst, img))
    lines.append("")
    lines.append("Worst PSNR change: %+.4f dB (bf16 decode), %+.4f dB (bf16 both)." %
                 (min(r[2] for r in rows), min(r[3] for r in rows)))
    with open(args.out + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(args.out + ".tmp", args.out)


if __name__ == "__main__":
    main()
