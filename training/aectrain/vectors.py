"""Writes the conformance vectors the C tests check: a tiny model, inputs and PyTorch outputs.

    /usr/bin/python3 -m aectrain.vectors --image ../testimages/kodim23.png --out ../tests/vectors

Vector file (little-endian): "AECV", u32 width, height, quality, latent channels, latent height,
latent width, then the input pixels (RGB, 8-bit), the latent symbols (int32, channel-planar) and the
decoded pixels (RGB, 8-bit), all as computed by aectrain.reference on the tiny model file.
"""
import argparse
import os
import struct

import numpy as np
import torch
from PIL import Image

from . import modelfile, reference
from .model import AecModel

QUALITIES = (0, 37, 100)
# The rate points the committed vectors were made with (the default model's first eight).
VECTOR_LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800)
# Latents this close to a rounding boundary could round either way under float reassociation.
MIN_BOUNDARY_DISTANCE = 2e-3


def tiny_model(seed, pixels):
    torch.manual_seed(seed)
    model = AecModel(n=8, m=12, lambdas=VECTOR_LAMBDAS)
    with torch.no_grad():
        # Gains spread so that the symbols span several values at every quality.
        model.log_gain.copy_(torch.linspace(0.5, 2.5, model.log_gain.shape[0]).view(-1, 1)
                             + 0.2 * torch.randn_like(model.log_gain))
        model.log_inv_gain.copy_(-model.log_gain)
        for mod in model.g_a.modules():
            if isinstance(mod, torch.nn.Conv2d):
                mod.weight.mul_(2.0)
        y = model.g_a(reference.to_tensor(pixels))
    fit_prior(model, y)
    return model.eval()


def fit_prior(model, y, steps=300):
    """Fits the untrained density to the latents, so the tables stay as small as real ones."""
    opt = torch.optim.Adam(model.prior.parameters(), lr=0.05)
    ones = torch.ones(1, y.shape[1], 1, 1)
    for _ in range(steps):
        noisy = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        loss = -torch.log2(model.prior.bin_likelihood(noisy, ones)).mean() + model.prior.aux_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()


def boundary_distance(mf, pixels, quality):
    """Smallest distance of any scaled latent to a .5 rounding boundary."""
    v = reference.scaled_latents(mf, pixels, quality)
    return float((torch.abs(v - torch.floor(v) - 0.5)).min())


def write_vector(path, pixels, quality, symbols, decoded):
    h, w = pixels.shape[:2]
    with open(path, "wb") as f:
        f.write(b"AECV" + struct.pack("<6I", w, h, quality, *symbols.shape))
        f.write(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())
        f.write(np.ascontiguousarray(symbols, dtype="<i4").tobytes())
        f.write(np.ascontiguousarray(decoded, dtype=np.uint8).tobytes())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", required=True, help="source photo; an odd-sized crop of it is used")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    src = np.asarray(Image.open(args.image).convert("RGB"))
    model_path = os.path.join(args.out, "tiny.aecm")
    for seed in range(100):
        pixels = src[101:101 + 45, 203:203 + 37]
        model = tiny_model(seed, pixels)
        modelfile.write(model, model_path, {"name": "tiny-test-%d" % seed, "description": "conformance only"},
                        fp16=False)
        mf = modelfile.ModelFile(model_path)
        dist = min(boundary_distance(mf, pixels, q) for q in QUALITIES)
        if dist >= MIN_BOUNDARY_DISTANCE:
            break
    else:
        raise SystemExit("no seed keeps the latents away from rounding boundaries")
    for q in QUALITIES:
        sym = reference.encode(mf, pixels, q)
        dec = reference.decode(mf, sym, q, pixels.shape[0], pixels.shape[1])
        write_vector(os.path.join(args.out, "tiny-q%d.vec" % q), pixels, q, sym, dec)
        inside = float(((dec > 0) & (dec < 255)).mean())
        print("q%d: symbols %s range %d..%d, decoded PSNR %.2f dB, %.0f%% of samples unclipped"
              % (q, sym.shape, sym.min(), sym.max(), reference.psnr(pixels, dec), 100 * inside))
    print("seed %d, closest latent to a rounding boundary: %.4f" % (seed, dist))


if __name__ == "__main__":
    main()
