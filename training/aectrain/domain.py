"""Trains a model for your own images and exports it, in one command.

    /usr/bin/python3 -m aectrain.domain --data /usr/share/datasets/fashion-mnist \\
        --run /root/aec-runs/fashion --out ../models/fashion.aecm --name aec-fashion-n64

--data is an IDX dataset folder (the MNIST / Fashion-MNIST layout: train-images-idx3-ubyte[.gz],
whose training split alone is used) or folders of images.  The recipe follows the images:

| images | channels | transforms | rate points |
|---|---|---|---|
| IDX, or all smaller than 64 pixels a side (tiny) | gray for IDX and all-gray folders, else colour | N=64, M=64, total stride 4 (two 5x5 stride-2 convolutions; two 2x subpixel upsamplings), whole images, batch 64 | lambdas 0.0025 ... 0.08 |
| larger (photos) | as above | the shipped model's: N=128, M=192, stride 16, 128x128 patches, batch 8 | the shipped model's nine |

The run is resumable (run it again with the same arguments after a stop); when it reaches --steps
the model is exported with its training record and PSNR checks, and the tools load it with
`--model FILE`.  Options after `--` go to aectrain.train unchanged (e.g. `-- --lr 3e-4`).
"""
import argparse
import os
import sys

import numpy as np
from PIL import Image

from . import export, train
from .data import idx_training_files, list_images, read_idx_images

TINY_SIDE = 64
TINY = dict(n=64, m=64, analysis="64:5:2,64:5:2", lambdas="0.0025,0.005,0.01,0.02,0.04,0.08", batch=64,
            steps=25000, lr=5e-4, warmup=200)
PHOTO = dict(n=128, m=192, analysis=None, lambdas=None, batch=8, steps=60000, lr=5e-4, warmup=300)
CHECK_IMAGES = 4


def survey(roots):
    """(channels, largest side, smallest side, IDX folder or None) of the training data."""
    if len(roots) == 1 and os.path.isdir(roots[0]) and idx_training_files(roots[0]):
        images = read_idx_images(idx_training_files(roots[0])[0])
        return 1, max(images.shape[1:]), min(images.shape[1:]), roots[0]
    files = list_images(roots)
    if not files:
        raise SystemExit("aectrain.domain: no images under %s" % " ".join(roots))
    gray, largest, smallest = True, 0, None
    for f in files:
        with Image.open(f) as im:
            largest = max(largest, *im.size)
            smallest = min(smallest or min(im.size), *im.size)
            gray = gray and im.mode in ("1", "L", "LA", "I", "I;16")
    return (1 if gray else 3), largest, smallest, None


def check_images(run, roots, idx_root, holdout):
    """A few images for the exporter's PSNR checks: held-out IDX images written as PNG into the run
    directory, or the first images of the folders."""
    if idx_root is None:
        return list_images(roots)[:CHECK_IMAGES]
    images = read_idx_images(idx_training_files(idx_root)[0])[-holdout:][:CHECK_IMAGES]
    paths = []
    for i, a in enumerate(images):
        path = os.path.join(run, "check-%d.png" % i)
        Image.fromarray(np.ascontiguousarray(a)).save(path)
        paths.append(path)
    return paths


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", required=True, help="an IDX dataset folder, or image folders")
    p.add_argument("--run", required=True, help="run directory (resumed if it holds a checkpoint)")
    p.add_argument("--out", required=True, help="model file to write")
    p.add_argument("--name", required=True, help="the model's name, recorded in the files it makes")
    p.add_argument("--steps", type=int, default=0, help="training steps (default: the recipe's)")
    p.add_argument("--exclude-label", type=int, default=None,
                   help="IDX datasets: train without this class (for an anomaly test)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    args = p.parse_args(argv)

    channels, side, smallest, idx_root = survey(args.data)
    recipe = TINY if idx_root or side < TINY_SIDE else PHOTO
    holdout = 1000 if idx_root else 0
    print("aectrain.domain: %s images, largest side %d: the %s recipe" % (
        "gray" if channels == 1 else "colour", side, "tiny-image" if recipe is TINY else "photo"), flush=True)
    targs = ["--run", args.run, "--data", *args.data, "--channels", str(channels),
             "--n", str(recipe["n"]), "--m", str(recipe["m"]), "--batch", str(recipe["batch"]),
             "--steps", str(args.steps or recipe["steps"]), "--lr", str(recipe["lr"]),
             "--warmup", str(recipe["warmup"]), "--threads", str(args.threads), "--save-every", "500"]
    if recipe["analysis"]:
        targs += ["--analysis", recipe["analysis"]]
    if recipe["lambdas"]:
        targs += ["--lambdas", recipe["lambdas"]]
    if recipe is TINY:
        # Whole images from an IDX dataset; from folders, crops as large as the smallest image allows
        # in whole latent positions (stride 4).
        targs += ["--patch", str(side if idx_root else max(4, smallest - smallest % 4)), "--eval-every", "2500"]
    if holdout:
        targs += ["--holdout", str(holdout)]
    if args.exclude_label is not None:
        targs += ["--exclude-label", str(args.exclude_label)]
    train.main(targs + extra)
    export.main(["--run", args.run, "--out", args.out, "--name", args.name,
                 "--check-images", *check_images(args.run, args.data, idx_root, holdout)])


if __name__ == "__main__":
    main()
