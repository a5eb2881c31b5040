#!/usr/bin/python3
"""aec-encode / aec-decode against the same model run by PyTorch, at 1 thread and at all threads.

Usage: speed.py --bin TOOLS_DIR --model MODEL.aecm [--quality Q] [--runs N] --out OUT.md IMAGE.png...

PyTorch runs training/aectrain/reference.py on the tensors of the model file: replicate padding,
analysis, gain and rounding (encode); inverse gain, synthesis, clamping and conversion to 8 bits
(decode).  That is the transform work only: no PNG reading, no entropy coding, no container.
aec is timed twice: its library stage as `-v` reports it (transforms, quantizer, entropy coding and
container: more work than PyTorch does), and the whole command (process start, model loading, PNG
reading and, for decode, writing a PPM).  Each figure is the best of --runs per image, summed over
the images.  OpenBLAS sgemm (2048^3 through torch.mm) is reported as the matrix-multiply rate the
same library reaches on this machine.

Each thread count is measured in a child process whose OMP_NUM_THREADS and OPENBLAS_NUM_THREADS are
set before torch loads: torch.set_num_threads() alone leaves OpenBLAS's own pool at every core.
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "training"))
from aectrain import modelfile, reference  # noqa: E402


def best_of(runs, fn):
    best = float("inf")
    out = None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def stage_seconds(stderr, stage):
    m = re.search(r"\b%s ([0-9.]+) s" % stage, stderr)
    if not m:
        raise RuntimeError("no '%s' time in: %s" % (stage, stderr))
    return float(m.group(1))


def run_tool(cmd, stage):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd), r.stderr))
    return stage_seconds(r.stderr, stage), wall


def aec_times(args, image, threads, tmp):
    aec, ppm = os.path.join(tmp, "x.aec"), os.path.join(tmp, "x.ppm")
    common = ["-v", "-f", "-j", str(threads), "--model", args.model]
    enc = [os.path.join(args.bin, "aec-encode"), *common, "-q", str(args.quality), image, "-o", aec]
    dec = [os.path.join(args.bin, "aec-decode"), *common, aec, "-o", ppm]
    e = min(run_tool(enc, "encode") for _ in range(args.runs))
    d = min(run_tool(dec, "decode") for _ in range(args.runs))
    return e, d


def torch_times(mf, pixels, quality, runs):
    h, w = pixels.shape[:2]
    te, symbols = best_of(runs, lambda: reference.encode(mf, pixels, quality))
    td, _ = best_of(runs, lambda: reference.decode(mf, symbols, quality, h, w))
    return te, td


def sgemm_gflops(n=2048, runs=5):
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    t, _ = best_of(runs, lambda: torch.mm(a, b))
    return 2.0 * n ** 3 / t * 1e-9


def blas_name():
    m = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    return m.group(1) if m else "its BLAS"


def cpu_name():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def measure(args, mf, images, threads):
    """Totals for one thread count; run in a child whose environment fixed the BLAS threads."""
    torch.set_num_threads(threads)
    totals = dict(mp=0.0, aec_e=0.0, aec_d=0.0, aec_e_wall=0.0, aec_d_wall=0.0, pt_e=0.0, pt_d=0.0)
    with tempfile.TemporaryDirectory() as tmp:
        for path in images:
            pixels = np.asarray(Image.open(path).convert("RGB"))
            (e, ew), (d, dw) = aec_times(args, path, threads, tmp)
            pe, pd = torch_times(mf, pixels, args.quality, args.runs)
            totals["mp"] += pixels.shape[0] * pixels.shape[1] / 1e6
            for key, v in (("aec_e", e), ("aec_e_wall", ew), ("aec_d", d), ("aec_d_wall", dw), ("pt_e", pe),
                           ("pt_d", pd)):
                totals[key] += v
    totals["sgemm"] = sgemm_gflops()
    return totals


def report(args, rows, n_images):
    mp = rows[0][1]["mp"]
    lines = [
        "# Speed: aec against PyTorch on the same weights",
        "",
        "%s, %s, %d cores; %s; PyTorch %s with %s, its OpenMP and BLAS threads set to each row's count; %s." % (
            platform.machine(), cpu_name(), os.cpu_count(), time.strftime("%Y-%m-%d", time.gmtime()),
            torch.__version__, blas_name(),
            os.path.basename(args.model)),
        "%d images, %.2f megapixels in all, quality %d; best of %d runs per image." % (
            n_images, mp, args.quality, args.runs),
        "",
        "Command: `bench/speed.py --bin TOOLS --model %s --quality %d --runs %d IMAGES` (`make bench-speed`)." % (
            os.path.relpath(args.model), args.quality, args.runs),
        "",
        "| threads | direction | aec library MP/s | aec whole command MP/s | PyTorch MP/s | aec library / PyTorch "
        "| aec command / PyTorch |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for threads, t in rows:
        for name, a, aw, p in (("encode", t["aec_e"], t["aec_e_wall"], t["pt_e"]),
                               ("decode", t["aec_d"], t["aec_d_wall"], t["pt_d"])):
            lines.append("| %d | %s | %.2f | %.2f | %.2f | %.2fx | %.2fx |" % (
                threads, name, mp / a, mp / aw, mp / p, p / a, p / aw))
    lines += ["", "OpenBLAS sgemm 2048^3 through torch.mm: " + ", ".join(
        "%.0f GFLOP/s at %d thread(s)" % (t["sgemm"], threads) for threads, t in rows) + "."]
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", required=True, help="directory holding aec-encode and aec-decode")
    p.add_argument("--model", required=True)
    p.add_argument("--quality", type=int, default=75)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", required=True)
    p.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("images", nargs="+")
    args = p.parse_args()
    if args.worker:
        json.dump(measure(args, modelfile.ModelFile(args.model), args.images, args.worker), sys.stdout)
        return
    rows = []
    for threads in sorted({1, os.cpu_count() or 1}):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
        child = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", str(threads)] + sys.argv[1:],
                               env=env, capture_output=True, text=True)
        if child.returncode != 0:
            sys.exit(child.stderr)
        rows.append((threads, json.loads(child.stdout)))
    text = report(args, rows, len(args.images))
    with open(args.out + ".tmp", "w") as f:
        f.write(text)
    os.replace(args.out + ".tmp", args.out)
    print(text, end="")


if __name__ == "__main__":
    main()
