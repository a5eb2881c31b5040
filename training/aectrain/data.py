"""Training patches from ../shared/data/train: random downscale of JPEG sources, crops and flips.

All sources are decoded once into memory (about 0.6 GB for the shared set); a patch then costs one
small resize.  Kodak is never read here.
"""
import os
import random

import numpy as np
import torch
from PIL import Image

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".ppm")


def list_images(roots):
    """Image files under the folders `roots` (a plain file in `roots` is taken as it is)."""
    files = []
    for root in roots:
        if os.path.isfile(root):
            if "kodak" in os.path.abspath(root).lower().split(os.sep):
                raise ValueError("refusing to train on Kodak: %s" % root)
            files.append(root)
            continue
        for dirpath, _, names in os.walk(root):
            if "kodak" in dirpath.lower().split(os.sep):
                raise ValueError("refusing to train on Kodak: %s" % dirpath)
            for n in sorted(names):
                if n.lower().endswith(IMAGE_EXTS):
                    files.append(os.path.join(dirpath, n))
    return sorted(files)


class PatchSource:
    def __init__(self, roots, patch=128, min_scale=0.6, max_scale=0.9, seed=0):
        self.patch = patch
        self.min_scale, self.max_scale = min_scale, max_scale
        self.rng = random.Random(seed)
        self.images = []
        for f in list_images(roots):
            im = Image.open(f).convert("RGB")
            is_jpeg = f.lower().endswith((".jpg", ".jpeg"))
            if min(im.size) >= patch:
                self.images.append((im, is_jpeg))
        if not self.images:
            raise ValueError("no training images of at least %d pixels under %s" % (patch, roots))

    def __len__(self):
        return len(self.images)

    def sample(self):
        im, is_jpeg = self.images[self.rng.randrange(len(self.images))]
        p = self.patch
        w, h = im.size
        # JPEG sources are downscaled so the model does not learn to reproduce blocking.
        s = self.rng.uniform(self.min_scale, self.max_scale) if is_jpeg else 1.0
        src = min(int(round(p / s)), w, h)
        x0 = self.rng.randrange(w - src + 1)
        y0 = self.rng.randrange(h - src + 1)
        crop = im.crop((x0, y0, x0 + src, y0 + src))
        if src != p:
            crop = crop.resize((p, p), Image.BICUBIC, reducing_gap=None)
        a = np.asarray(crop, dtype=np.uint8)
        if self.rng.random() < 0.5:
            a = a[:, ::-1]
        if self.rng.random() < 0.5:
            a = a[::-1]
        return a

    def batch(self, n):
        a = np.stack([self.sample() for _ in range(n)])
        return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float().div_(255.0)


def load_eval_images(paths):
    out = []
    for f in paths:
        a = np.asarray(Image.open(f).convert("RGB"), dtype=np.uint8)
        out.append(torch.from_numpy(a.copy()).permute(2, 0, 1).float().div_(255.0).unsqueeze(0))
    return out
