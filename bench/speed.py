#!/usr/bin/python3
"""aec-encode / aec-decode against the same model run by PyTorch, at 1 thread and at all threads, at
every kernel level of aec this machine has.

Usage: speed.py --bin TOOLS_DIR --model MODEL.aecm [--quality Q] [--runs N] [--levels L,L,...]
                --out OUT.md IMAGE.png...

PyTorch runs training/aectrain/reference.py on the tensors of the model file: replicate padding,
analysis, gain and rounding (encode); inverse gain, synthesis, clamping and conversion to 8 bits
(decode).  That is the transform work only: no PNG reading, no entropy coding, no container.
aec is timed twice per level (AECIMG_CPU_MAX): its library stage as `-v` reports it (transforms,
quantizer, entropy coding and container: more work than PyTorch does), and the whole command as a
user runs it (process start, model loading and preparation, PNG reading; for decode, writing a PNG;
encode at the lowest effort, no refinement).  In a build tree the commands are the programs libtool
builds in TOOLS_DIR/.libs, run with that tree's library, as installed commands run: not libtool's
wrapper scripts, whose shell costs more than the decoding.  Each figure is the best of --runs per
image, summed over the images.  OpenBLAS sgemm (2048^3 through torch.mm) is reported as the
matrix-multiply rate the same library reaches on this machine.  --levels defaults to every level
the machine has (of c, avx2, avx512, avx512bf16).

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


LEVELS = ("c", "avx2", "avx512", "avx512bf16")


def tool_env(args, level):
    """The environment that runs the real programs of a build tree at kernel level `level`."""
    env = dict(os.environ, AECIMG_CPU_MAX=level)
    lib = os.path.join(args.bin, "..", "src", ".libs")
    if os.path.isdir(os.path.join(args.bin, ".libs")) and os.path.isdir(lib):
        env["LD_LIBRARY_PATH"] = os.path.abspath(lib) + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH")
                                                          else "")
    return env


def tool(args, name):
    real = os.path.join(args.bin, ".libs", name)
    return real if os.path.isfile(real) else os.path.join(args.bin, name)


def run_tool(cmd, stage, env):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd), r.stderr))
    return stage_seconds(r.stderr, stage), wall


def aec_times(args, image, threads, level, tmp):
    aec, png = os.path.join(tmp, "x.aec"), os.path.join(tmp, "x.png")
    common = ["-v", "-f", "-j", str(threads), "--model", args.model]
    enc = [tool(args, "aec-encode"), *common, "-e", "0", "-q", str(args.quality), image, "-o", aec]
    dec = [tool(args, "aec-decode"), *common, aec, "-o", png]
    env = tool_env(args, level)
    e = min(run_tool(enc, "encode", env) for _ in range(args.runs))
    d = min(run_tool(dec, "decode", env) for _ in range(args.runs))
    return e, d


def machine_levels(args):
    """The levels the machine has: each one --version names when asked for it."""
    have = []
    for level in LEVELS:
        r = subprocess.run([tool(args, "aec-encode"), "--version", "--model", args.model], capture_output=True,
                           text=True, env=tool_env(args, level))
        if "kernels: %s\n" % level in r.stdout:
            have.append(level)
    return have


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


def measure(args, mf, images, threads, levels):
    """Totals for one thread count; run in a child whose environment fixed the BLAS threads."""
    torch.set_num_threads(threads)
    totals = dict(mp=0.0, pt_e=0.0, pt_d=0.0, aec={level: dict(e=0.0, d=0.0, e_wall=0.0, d_wall=0.0)
                                                  for level in levels})
    with tempfile.TemporaryDirectory() as tmp:
        for path in images:
            pixels = np.asarray(Image.open(path).convert("RGB"))
            for level in levels:
                (e, ew), (d, dw) = aec_times(args, path, threads, level, tmp)
                for key, v in (("e", e), ("e_wall", ew), ("d", d), ("d_wall", dw)):
                    totals["aec"][level][key] += v
            pe, pd = torch_times(mf, pixels, args.quality, args.runs)
            totals["mp"] += pixels.shape[0] * pixels.shape[1] / 1e6
            totals["pt_e"] += pe
            totals["pt_d"] += pd
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
        "Command: `bench/speed.py --bin TOOLS --model %s --quality %d --runs %d --levels %s IMAGES` "
        "(`make bench-speed`)." % (os.path.relpath(args.model), args.quality, args.runs, ",".join(args.level_list)),
        "Machine load when it ran (1, 5, 15 minutes): %s." % " ".join("%.2f" % v for v in os.getloadavg()),
        "",
        "| threads | level | direction | aec library MP/s | aec whole command MP/s | PyTorch MP/s "
        "| aec library / PyTorch | aec command / PyTorch |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for threads, t in rows:
        for level in args.level_list:
            a = t["aec"][level]
            for name, lib, cmd, p in (("encode", a["e"], a["e_wall"], t["pt_e"]),
                                      ("decode", a["d"], a["d_wall"], t["pt_d"])):
                lines.append("| %d | %s | %s | %.2f | %.2f | %.2f | %.2fx | %.2fx |" % (
                    threads, level, name, mp / lib, mp / cmd, mp / p, p / lib, p / cmd))
    lines += ["", "OpenBLAS sgemm 2048^3 through torch.mm: " + ", ".join(
        "%.0f GFLOP/s at %d thread(s)" % (t["sgemm"], threads) for threads, t in rows) + "."]
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", required=True, help="directory holding aec-encode and aec-decode")
    p.add_argument("--model", required=True)
    p.add_argument("--quality", type=int, default=75)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--levels", help="comma-separated kernel levels (default: every one the machine has)")
    p.add_argument("--out", required=True)
    p.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("images", nargs="+")
    args = p.parse_args()
    args.level_list = args.levels.split(",") if args.levels else machine_levels(args)
    if args.worker:
        json.dump(measure(args, modelfile.ModelFile(args.model), args.images, args.worker, args.level_list),
                  sys.stdout)
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
