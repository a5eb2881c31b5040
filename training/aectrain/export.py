"""Exports a training checkpoint to a model file, with its training record and PSNR checks.

    /usr/bin/python3 -m aectrain.export --run RUN_DIR --out ../models/default.aecm
"""
import argparse
import datetime
import json
import os
import shutil

import numpy as np
import torch
from PIL import Image

from . import modelfile, reference
from .model import AecModel

CHECK_QUALITIES = (10, 50, 90)


def load_checkpoint(run):
    ck = torch.load(os.path.join(run, "checkpoint.pt"), map_location="cpu")
    return AecModel.from_state(ck["model"], ck["n"], ck["m"], ck.get("analysis"), ck.get("channels", 3)).eval(), ck["step"]


def model_stride(args):
    spec = args.get("analysis") or [[0, 5, 2]] * 4
    return int(np.prod([stride for _, _, stride in spec]))


def training_record(run, step, name):
    args = json.load(open(os.path.join(run, "args.json")))
    return {
        "name": name,
        "description": "factorized-prior autoencoder, %s, N=%d M=%d, stride %d, gain-interpolated rate control"
                       % ("gray" if args.get("channels", 3) == 1 else "colour", args["n"], args["m"],
                          model_stride(args)),
        "data": ",".join(os.path.relpath(d, "..") if d.startswith("..") else d for d in args["data"]),
        "steps": step,
        "patch": args["patch"],
        "batch": args["batch"],
        "lr": args["lr"],
        "precision": args.get("precision", "fp32"),
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        **({"excluded_label": args["exclude_label"]} if args.get("exclude_label") is not None else {}),
    }


def psnr_checks(path, images):
    """check.IMAGE.qQ.psnr values measured with the reference codec on the written file."""
    mf = modelfile.ModelFile(path)
    out = {}
    for img in images:
        px = np.asarray(Image.open(img).convert("RGB" if mf.image_channels == 3 else "L"))
        for q in CHECK_QUALITIES:
            sym = reference.encode(mf, px, q)
            dec = reference.decode(mf, sym, q, px.shape[0], px.shape[1])
            out["check.%s.q%d.psnr" % (os.path.basename(img), q)] = "%.3f" % reference.psnr(px, dec)
    return out


def copy_logs(run, out):
    """The run's loss/bpp/PSNR logs go beside the model: MODEL.train.csv and MODEL.eval.csv."""
    stem = os.path.splitext(out)[0]
    for name in ("train.csv", "eval.csv"):
        src = os.path.join(run, name)
        if os.path.exists(src):
            shutil.copyfile(src, "%s.%s" % (stem, name))
            print("  log %s.%s" % (stem, name))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--name", default="aec-fp-n128")
    p.add_argument("--fp32", action="store_true", help="store float32 weights (default float16)")
    p.add_argument("--check-images", nargs="*", default=["../testimages/kodim05-crop.png"])
    args = p.parse_args(argv)
    torch.set_num_threads(os.cpu_count())

    model, step = load_checkpoint(args.run)
    meta = training_record(args.run, step, args.name)
    meta["lambdas"] = ",".join("%g" % v for v in model.lambdas.tolist())
    # The checks are measured on the file itself, so write it once without them, then with them.
    modelfile.write(model, args.out, meta, fp16=not args.fp32)
    meta.update(psnr_checks(args.out, args.check_images))
    digest = modelfile.write(model, args.out, meta, fp16=not args.fp32)
    print("wrote %s (%d bytes, sha256 %s, step %d)" % (args.out, os.path.getsize(args.out), digest, step))
    copy_logs(args.run, args.out)
    for k, v in meta.items():
        if k.startswith("check."):
            print("  %s = %s dB" % (k, v))


if __name__ == "__main__":
    main()
