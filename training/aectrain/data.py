"""Training patches from ../shared/data/train: random downscale of JPEG sources, crops and flips.

All sources are decoded once into memory (about 0.6 GB for the shared set); a patch then costs one
small resize.  Kodak is never read here.
"""
import gzip
import os
import random
import struct

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
    def __init__(self, roots, patch=128, min_scale=0.6, max_scale=0.9, seed=0, channels=3):
        self.patch = patch
        self.min_scale, self.max_scale = min_scale, max_scale
        self.rng = random.Random(seed)
        self.images = []
        for f in list_images(roots):
            im = Image.open(f).convert("RGB" if channels == 3 else "L")
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
        if a.ndim == 3:
            a = a[:, :, :, None]
        return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float().div_(255.0)


def read_idx_images(path):
    """The images of an IDX file (MNIST, Fashion-MNIST; gzip or plain): N x H x W uint8."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 16:
        raise ValueError("%s: not an IDX image file (too short)" % path)
    magic, n, h, w = struct.unpack(">IIII", data[:16])
    if magic != 0x803 or len(data) != 16 + n * h * w:
        raise ValueError("%s: not an IDX file of 8-bit images (magic %#x, %d bytes)" % (path, magic, len(data)))
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, h, w)


def read_idx_labels(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic != 0x801 or len(data) != 8 + n:
        raise ValueError("%s: not an IDX label file" % path)
    return np.frombuffer(data, dtype=np.uint8, offset=8)


def idx_training_files(root):
    """(images, labels) IDX files of a dataset's training split under `root`, or None: the
    MNIST / Fashion-MNIST layout (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz])."""
    for ext in (".gz", ""):
        images = os.path.join(root, "train-images-idx3-ubyte" + ext)
        labels = os.path.join(root, "train-labels-idx1-ubyte" + ext)
        if os.path.isfile(images):
            return images, labels if os.path.isfile(labels) else None
    return None


class ArraySource:
    """Whole small images held as one array (an IDX dataset's training split): a batch is a random
    draw of images, mirrored left-right at random.  `exclude_label` leaves one class out (for the
    anomaly test: a model that has never seen that class)."""

    def __init__(self, root, seed=0, exclude_label=None, holdout=0):
        files = idx_training_files(root)
        if files is None:
            raise ValueError("%s: no train-images-idx3-ubyte[.gz]" % root)
        images = read_idx_images(files[0])
        if exclude_label is not None:
            if files[1] is None:
                raise ValueError("%s: no labels to leave class %d out by" % (root, exclude_label))
            images = images[read_idx_labels(files[1]) != exclude_label]
        # The last `holdout` images are kept out of training, for the periodic evaluation.
        self.images = images[:len(images) - holdout]
        self.holdout = images[len(images) - holdout:]
        self.rng = np.random.default_rng(seed)

    def batch(self, n):
        idx = self.rng.integers(0, len(self.images), n)
        a = self.images[idx]
        flip = self.rng.random(n) < 0.5
        a = np.where(flip[:, None, None], a[:, :, ::-1], a)
        return torch.from_numpy(np.ascontiguousarray(a)).unsqueeze(1).float().div_(255.0)


def make_source(roots, patch, seed, channels, exclude_label=None, holdout=0):
    """An IDX dataset folder (one root) gives an ArraySource; image folders a PatchSource."""
    if len(roots) == 1 and os.path.isdir(roots[0]) and idx_training_files(roots[0]):
        if channels != 1:
            raise ValueError("%s holds gray IDX images: train it with --channels 1" % roots[0])
        return ArraySource(roots[0], seed, exclude_label, holdout)
    if exclude_label is not None:
        raise ValueError("--exclude-label needs an IDX dataset with labels")
    return PatchSource(roots, patch, seed=seed, channels=channels)


def load_eval_images(paths, channels=3):
    out = []
    for f in paths:
        a = np.asarray(Image.open(f).convert("RGB" if channels == 3 else "L"), dtype=np.uint8)
        if a.ndim == 2:
            a = a[:, :, None]
        out.append(torch.from_numpy(a.copy()).permute(2, 0, 1).float().div_(255.0).unsqueeze(0))
    return out
