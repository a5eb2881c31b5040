#!/usr/bin/python3
"""Fashion-MNIST with the shipped domain model, through the installed tools: file sizes against PNG,
JPEG and WebP at matched PSNR, a softmax-regression classifier on `aec-decode --latents` against the
same classifier on raw pixels, and anomaly scores (AUROC) from a model trained without one class.

    /usr/bin/python3 bench/fashion.py --build build --model models/fashion.aecm \\
        [--anomaly-model /root/aec-runs/fashion-no9.aecm --anomaly-label 9] --out bench/results/fashion

Everything aec does here runs the real `aec-encode` / `aec-decode` of --build on PNG files of the
test split (the first --test images) and, for the classifier, the first --train images of the
training split.  JPEG is Pillow's libjpeg with optimized Huffman tables, WebP Pillow's libwebp with
method 6 (`cwebp -m 6`), PNG Pillow's with optimize.  Needs numpy, Pillow and torch (Debian:
python3-numpy python3-pil python3-torch).  Writes OUT/fashion.md and OUT/fashion.csv.
"""
import argparse
import io
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "training"))
from aectrain.data import read_idx_images, read_idx_labels  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot")


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def write_pngs(images, folder):
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i, a in enumerate(images):
        p = os.path.join(folder, "%05d.png" % i)
        Image.fromarray(a).save(p)
        paths.append(p)
    return paths


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit("failed (%d): %s\n%s" % (r.returncode, " ".join(cmd), r.stderr))
    return r.stdout


def aec_encode_folder(tools, model, quality, src, dst, jobs):
    """Encodes every PNG of src into dst/NAME.aec with one aec-encode (many inputs, --jobs)."""
    os.makedirs(dst, exist_ok=True)
    run([os.path.join(tools, "aec-encode"), "--model", model, "-q", str(quality), "--quiet", "-j", "1",
         "--jobs", str(jobs), "-f", src, "-o", dst + "/"])


def aec_decode_folder(tools, model, src, dst, jobs):
    os.makedirs(dst, exist_ok=True)
    run([os.path.join(tools, "aec-decode"), "--model", model, "--quiet", "-j", "1", "--jobs", str(jobs), "-f",
         src, "-o", dst + "/"])


def aec_point(tools, model, quality, images, png_dir, work, jobs):
    """(mean bytes, mean PSNR, per-image bytes, per-image MSE) of the test images at one quality."""
    enc = os.path.join(work, "q%d" % quality)
    dec = os.path.join(work, "q%d-dec" % quality)
    aec_encode_folder(tools, model, quality, png_dir, enc, jobs)
    aec_decode_folder(tools, model, enc, dec, jobs)
    sizes, mses, psnrs = [], [], []
    for i, a in enumerate(images):
        name = "%05d" % i
        sizes.append(os.path.getsize(os.path.join(enc, name + ".aec")))
        b = np.asarray(Image.open(os.path.join(dec, name + ".png")).convert("L"))
        mses.append(float(np.mean((a.astype(np.float64) - b) ** 2)))
        psnrs.append(psnr(a, b))
    return float(np.mean(sizes)), float(np.mean(psnrs)), np.array(sizes), np.array(mses)


def pillow_point(images, fmt, **params):
    sizes, psnrs = [], []
    for a in images:
        f = io.BytesIO()
        Image.fromarray(a).save(f, fmt, **params)
        sizes.append(f.tell())
        f.seek(0)
        psnrs.append(psnr(a, np.asarray(Image.open(f).convert("L"))))
    return float(np.mean(sizes)), float(np.mean(psnrs))


def bytes_at(points, target):
    """Mean bytes at mean PSNR `target`, interpolated linearly in log bytes between the two points
    around it (None when the curve does not reach it)."""
    pts = sorted(points, key=lambda p: p[1])
    for (b0, p0), (b1, p1) in zip(pts, pts[1:]):
        if p0 <= target <= p1 and p1 > p0:
            t = (target - p0) / (p1 - p0)
            return math.exp(math.log(b0) + t * (math.log(b1) - math.log(b0)))
    return None


def latents(tools, model, aec_dir, count, work):
    """Features: `aec-decode --latents` of each file, flattened (N x C*H*W)."""
    out = []
    for i in range(count):
        npy = os.path.join(work, "lat.npy")
        run([os.path.join(tools, "aec-decode"), "--model", model, "--quiet", "-j", "1", "-f",
             os.path.join(aec_dir, "%05d.aec" % i), "-o", os.path.join(work, "lat.png"), "--latents", npy])
        out.append(np.load(npy).ravel())
    return np.stack(out).astype(np.float32)


def softmax_regression(xtr, ytr, xte, yte, steps=300, decay=1e-4):
    """Test accuracy of multinomial logistic regression (standardized features, L2 weight decay,
    L-BFGS): the same classifier for every feature set."""
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr = torch.from_numpy((xtr - mu) / sd)
    xte = torch.from_numpy((xte - mu) / sd)
    ytr = torch.from_numpy(ytr.astype(np.int64))
    w = torch.zeros(xtr.shape[1], 10, requires_grad=True)
    b = torch.zeros(10, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xtr @ w + b, ytr) + decay * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float(((xte @ w + b).argmax(1).numpy() == yte).mean())


def auroc(scores, positive):
    """Area under the ROC curve: the probability that a positive outscores a negative (ties half)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    s = scores[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    npos = int(positive.sum())
    nneg = len(scores) - npos
    return float((ranks[positive].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build")
    p.add_argument("--model", default="models/fashion.aecm")
    p.add_argument("--data", default=DATA)
    p.add_argument("--test", type=int, default=1000, help="test images (the first of the test split)")
    p.add_argument("--train", type=int, default=5000, help="training images for the classifier")
    p.add_argument("--qualities", default="0,10,20,30,40,50,60,70,80,90,100")
    p.add_argument("--class-quality", type=int, default=None,
                   help="quality of the classifier's files (default: the lowest reaching 30 dB)")
    p.add_argument("--anomaly-model", default="", help="a model trained without --anomaly-label")
    p.add_argument("--anomaly-label", type=int, default=9)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", default="bench/results/fashion")
    args = p.parse_args()
    tools = os.path.join(args.build, "tools")

    test = read_idx_images(os.path.join(args.data, "t10k-images-idx3-ubyte.gz"))[:args.test]
    test_y = read_idx_labels(os.path.join(args.data, "t10k-labels-idx1-ubyte.gz"))[:args.test]
    train = read_idx_images(os.path.join(args.data, "train-images-idx3-ubyte.gz"))[:args.train]
    train_y = read_idx_labels(os.path.join(args.data, "train-labels-idx1-ubyte.gz"))[:args.train]
    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="aec-fashion.")
    test_dir = os.path.join(work, "test")
    write_pngs(test, test_dir)

    rows = []  # codec, setting, mean bytes, mean PSNR
    aec_points, per_quality, per_image = [], {}, {}
    for q in (int(v) for v in args.qualities.split(",")):
        b, ps, sizes, mses = aec_point(tools, args.model, q, test, test_dir, os.path.join(work, "aec"), args.jobs)
        aec_points.append((b, ps))
        per_quality[q] = (b, ps)
        per_image[q] = (sizes, mses)
        rows.append(("aec", "q%d" % q, b, ps))
        print("aec q%d: %.1f bytes, %.2f dB" % (q, b, ps), flush=True)
    png = float(np.mean([len(encode_png(a)) for a in test]))
    rows.append(("PNG", "optimize", png, float("inf")))
    jpeg_points, webp_points = [], []
    for q in (10, 20, 30, 40, 50, 60, 70, 80, 90, 95):
        b, ps = pillow_point(test, "JPEG", quality=q, optimize=True)
        jpeg_points.append((b, ps))
        rows.append(("JPEG", "q%d" % q, b, ps))
    for q in (0, 5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90):
        b, ps = pillow_point(test, "WEBP", quality=q, method=6)
        webp_points.append((b, ps))
        rows.append(("WebP", "q%d" % q, b, ps))

    with open(os.path.join(args.out, "fashion.csv"), "w") as f:
        f.write("codec,setting,mean_bytes,mean_psnr\n")
        for r in rows:
            f.write("%s,%s,%.1f,%.3f\n" % r)

    lines = ["# Fashion-MNIST with `%s`" % os.path.basename(args.model), "",
             "    /usr/bin/python3 bench/fashion.py %s" % " ".join(sys.argv[1:]), "",
             "The first %d images of the test split, each a 28x28 gray PNG; mean whole-file bytes and mean "
             "PSNR of the 8-bit output (aec: `aec-encode --model %s -q Q`, then `aec-decode`)." % (
                 args.test, os.path.basename(args.model)), "",
             "| codec | bytes at 30 dB | bytes at 32 dB | bytes at 35 dB |", "|---|---:|---:|---:|"]
    for name, pts in (("aec", aec_points), ("JPEG (optimized Huffman)", jpeg_points), ("WebP (method 6)", webp_points)):
        cells = []
        for t in (30, 32, 35):
            v = bytes_at(pts, t)
            cells.append("%.1f" % v if v else "-")
        lines.append("| %s | %s |" % (name, " | ".join(cells)))
    lines.append("| PNG (lossless, optimize) | %.1f | | |" % png)
    lines += ["", "| aec quality | mean bytes | mean PSNR |", "|---:|---:|---:|"]
    lines += ["| %d | %.1f | %.2f dB |" % (q, b, ps) for q, (b, ps) in sorted(per_quality.items())]

    cq = args.class_quality
    if cq is None:
        cq = min((q for q, (b, ps) in per_quality.items() if ps >= 30), default=max(per_quality))
    if cq not in per_quality:
        raise SystemExit("--class-quality %d must be one of --qualities" % cq)
    train_dir = os.path.join(work, "train")
    write_pngs(train, train_dir)
    aec_encode_folder(tools, args.model, cq, train_dir, os.path.join(work, "train-aec"), args.jobs)
    xtr = latents(tools, args.model, os.path.join(work, "train-aec"), len(train), work)
    xte = latents(tools, args.model, os.path.join(work, "aec", "q%d" % cq), len(test), work)
    acc_lat = softmax_regression(xtr, train_y, xte, test_y)
    acc_px = softmax_regression(train.reshape(len(train), -1).astype(np.float32), train_y,
                                test.reshape(len(test), -1).astype(np.float32), test_y)
    lines += ["", "## Latents as features", "",
              "Softmax regression (standardized features, L2 1e-4, L-BFGS 300 iterations), trained on the "
              "first %d training images, tested on the %d test images:" % (len(train), len(test)), "",
              "| features | dimensions | test accuracy |", "|---|---:|---:|",
              "| raw pixels | %d | %.2f%% |" % (train[0].size, 100 * acc_px),
              "| `aec-decode --latents` at quality %d | %d | %.2f%% |" % (cq, xtr.shape[1], 100 * acc_lat)]
    print("classifier: pixels %.4f, latents %.4f" % (acc_px, acc_lat), flush=True)

    if args.anomaly_model:
        positive = test_y == args.anomaly_label
        _, _, sizes, mses = aec_point(tools, args.anomaly_model, cq, test, test_dir, os.path.join(work, "anom"),
                                      args.jobs)
        full_sizes, full_mses = per_image[cq]
        lines += ["", "## Anomaly scores", "",
                  "`%s` was trained without class %d (%s); the test images of that class are the anomalies "
                  "(%d of %d).  Scores at quality %d: the file's bytes, and the squared error of `aec-decode`'s "
                  "output." % (os.path.basename(args.anomaly_model), args.anomaly_label,
                               CLASSES[args.anomaly_label], int(positive.sum()), len(test), cq), "",
                  "| model | AUROC by bytes | AUROC by error |", "|---|---:|---:|",
                  "| trained without class %d | %.3f | %.3f |" % (args.anomaly_label, auroc(sizes.astype(float), positive),
                                                             auroc(mses, positive)),
                  "| the shipped model (all classes), for reference | %.3f | %.3f |" % (
                      auroc(full_sizes.astype(float), positive), auroc(full_mses, positive))]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "fashion.md"), "w") as f:
        f.write(text)
    print(text)


def encode_png(a):
    f = io.BytesIO()
    Image.fromarray(a).save(f, "PNG", optimize=True)
    return f.getvalue()


if __name__ == "__main__":
    main()
