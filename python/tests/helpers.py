"""helpers: what the aecimg tests share: paths of the repository's test data, image loading, PSNR, the
built tools, and .aec files damaged on purpose."""

import math
import pathlib
import shutil
import struct
import subprocess
import zlib

import numpy as np
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parents[2]
IMAGES = REPO / "testimages"
TINY_MODEL = REPO / "tests" / "vectors" / "tiny.aecm"
EXAMPLES = REPO / "python" / "examples"


def load(name, mode=None):
    """A test image as a uint8 array (converted to `mode` when given)."""
    with Image.open(IMAGES / name) as im:
        if mode and im.mode != mode:
            im = im.convert(mode)
        return np.asarray(im).copy()


def psnr(a, b):
    """PSNR in dB of two uint8 arrays of one shape (inf when equal)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def chunks(data):
    """(type, offset of the data, length) of each chunk of a .aec file (doc/container.md)."""
    out, at = [], 8
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        out.append((kind.decode("ascii"), at + 8, length))
        at += 12 + length
    return out


def _varint(data, at):
    """(value, offset after it) of the LEB128 varint at `at`."""
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def compact_payload(data):
    """(offset, length) of the latent streams of a compact (version 2) .aec file, which start its
    body (doc/container.md section 9.2)."""
    count, at = _varint(data, 25)
    total = 0
    for _ in range(count):
        size, at = _varint(data, at)
        total += size
    for present in (data[13] & 7 in (2, 4), data[13] & 0x80):
        if present:
            at = _varint(data, at + 1)[1]
    return at + 4, total  # after the header CRC


def damage_payload(data):
    """data with one byte of the latent payload inverted and the CRC over it repaired (ADAT's in
    version 1, the body's in the compact form): a container that validates, with latents the entropy
    decoder must refuse."""
    b = bytearray(data)
    if data[8] >= 0x80:
        start, length = compact_payload(data)
        b[start + length // 2] ^= 0xFF
        b[-4:] = struct.pack(">I", zlib.crc32(b[start:-4]) & 0xFFFFFFFF)
        return bytes(b)
    kind, start, length = [c for c in chunks(data) if c[0] == "ADAT"][0]
    b[start + length // 2 + 4] ^= 0xFF
    crc = zlib.crc32(b[start - 4:start + length]) & 0xFFFFFFFF
    b[start + length:start + length + 4] = struct.pack(">I", crc)
    return bytes(b)


class Tools:
    """aec-encode and aec-decode, run with their exit status checked."""

    def __init__(self, path):
        self.encoder = shutil.which("aec-encode", path=path)
        self.decoder = shutil.which("aec-decode", path=path)

    def run(self, tool, *args):
        done = subprocess.run([tool] + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              check=False)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        return done.stdout.decode(errors="replace")

    def encode(self, *args):
        return self.run(self.encoder, "--quiet", *args)

    def decode(self, *args):
        return self.run(self.decoder, "--quiet", *args)
