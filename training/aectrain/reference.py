"""PyTorch reference of the C codec's arithmetic, run on the tensors of a model file.

It follows the C pipeline step by step (replicate padding to the total stride, analysis, gain and
offset, round half to even, inverse gain, synthesis, clamp, crop, floor(255 v + 0.5)), so the C
engine can be checked against it: latent symbols exactly, pixels within a small tolerance.
"""
import numpy as np
import torch
import torch.nn.functional as F

from .modelfile import OPS


def _run(mf, net, x):
    for lnet, op, p, t in mf.layers:
        if lnet != net:
            continue
        if op == OPS["conv"]:
            w = torch.from_numpy(mf.tensors[mf.tensor_names[t[0]]])
            b = torch.from_numpy(mf.tensors[mf.tensor_names[t[1]]])
            x = F.conv2d(x, w, b, stride=p[3], padding=p[2] // 2)
        elif op in (OPS["gdn"], OPS["igdn"]):
            beta = torch.from_numpy(mf.tensors[mf.tensor_names[t[0]]])
            gamma = torch.from_numpy(mf.tensors[mf.tensor_names[t[1]]])
            c = beta.shape[0]
            norm = torch.sqrt(F.conv2d(x * x, gamma.view(c, c, 1, 1), beta))
            x = x * norm if op == OPS["igdn"] else x / norm
        elif op == OPS["pixel_shuffle"]:
            x = F.pixel_shuffle(x, p[0])
    return x


def to_tensor(pixels):
    """HxWxC (or HxW gray) uint8 -> 1xCxHxW float in [0, 1]."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return torch.from_numpy(np.array(pixels, dtype=np.uint8)).permute(2, 0, 1).float().div(255.0).unsqueeze(0)


@torch.no_grad()
def scaled_latents(mf, pixels, quality):
    """gain * y - offset (M x h x w float tensor) of an HxWxC uint8 image: what encode rounds."""
    x = to_tensor(pixels)
    h, w = x.shape[2:]
    s = mf.stride
    x = F.pad(x, (0, (-w) % s, 0, (-h) % s), mode="replicate")
    y = _run(mf, 0, x)[0]
    gain = torch.from_numpy(mf.rates[quality, 0]).view(-1, 1, 1)
    offset = torch.from_numpy(mf.rates[quality, 2]).view(-1, 1, 1)
    return y * gain - offset


def encode(mf, pixels, quality):
    """Latent symbols (M x h x w int32 numpy) of an HxWxC uint8 image."""
    return torch.round(scaled_latents(mf, pixels, quality)).to(torch.int32).numpy()


@torch.no_grad()
def decode(mf, symbols, quality, height, width):
    """HxWx3 (colour model) or HxW (gray model) uint8 image from latent symbols."""
    k = torch.from_numpy(symbols).float()
    inv = torch.from_numpy(mf.rates[quality, 1]).view(-1, 1, 1)
    offset = torch.from_numpy(mf.rates[quality, 2]).view(-1, 1, 1)
    x = _run(mf, 1, ((k + offset) * inv).unsqueeze(0))[0, :, :height, :width]
    v = torch.floor(x.clamp(0, 1) * 255 + 0.5).permute(1, 2, 0).to(torch.uint8).numpy()
    return v[:, :, 0] if v.shape[2] == 1 else v


def code_length_bits(mf, symbols, quality):
    """Ideal code length of the symbols under the file's integer tables (escapes: table part only)."""
    bits = 0.0
    total = float(1 << mf.precision)
    for c in range(symbols.shape[0]):
        first, freq = mf.table(quality, c)
        idx = symbols[c].ravel() - first
        inside = (idx >= 0) & (idx < len(freq) - 1)
        f = np.where(inside, freq[np.clip(idx, 0, len(freq) - 2)], freq[-1]).astype(np.float64)
        bits += float(-np.log2(f / total).sum())
    return bits


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)
