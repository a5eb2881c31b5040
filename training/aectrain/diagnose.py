"""Where a model loses quality: its transforms, or the rounding of the latents.

    /usr/bin/python3 -m aectrain.diagnose (--run RUN | --model FILE) IMAGE... [--rates 0,3,7]

For each rate point, the PSNR of the synthesis fed the unrounded latents (what the transforms alone can
do) next to the PSNR with rounded latents (what the codec gets).  When the two are close at the high
rates, more bits cannot help: the transforms need training, not the rate control.
"""
import argparse
import math
import os

import torch

from . import modelfile
from .data import load_eval_images
from .model import AecModel


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="run directory: its checkpoint.pt")
    src.add_argument("--model", help="model file")
    p.add_argument("images", nargs="+")
    p.add_argument("--rates", default="0,3,7", help="rate indices")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def load(args):
    if args.model:
        mf = modelfile.ModelFile(args.model)
        return mf.to_torch(), int(mf.meta.get("steps", 0))
    ck = torch.load(os.path.join(args.run, "checkpoint.pt"), map_location="cpu")
    return AecModel.from_state(ck["model"], ck["n"], ck["m"], ck.get("analysis"), ck.get("channels", 3)).eval(), ck["step"]


def psnr(a, b):
    return -10 * math.log10(max(float(((a - b) ** 2).mean()), 1e-12))


def synthesize(model, latents, h, w):
    """The 8-bit image the decoder would write."""
    x_hat = model.g_s(latents)[:, :, :h, :w].clamp(0, 1)
    return torch.round(x_hat * 255) / 255


@torch.no_grad()
def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    model, step = load(args)
    images = load_eval_images(args.images)
    print("step %d, %d images" % (step, len(images)))
    for i in (int(v) for v in args.rates.split(",")):
        gain, inv_gain = model.gains_at(torch.full((1,), float(i)))
        g, ig = gain.view(1, -1, 1, 1), inv_gain.view(1, -1, 1, 1)
        mu = model.prior.medians.view(1, -1, 1, 1) * g
        cont = rounded = 0.0
        for x in images:
            h, w = x.shape[2:]
            xp = torch.nn.functional.pad(x, (0, (-w) % 16, 0, (-h) % 16), mode="replicate")
            y = model.g_a(xp) * g
            cont += psnr(synthesize(model, y * ig, h, w), x)
            rounded += psnr(synthesize(model, (torch.round(y - mu) + mu) * ig, h, w), x)
        n = len(images)
        print("rate %d: unrounded latents %.2f dB, rounded %.2f dB" % (i, cont / n, rounded / n))


if __name__ == "__main__":
    main()
