#!/usr/bin/env python3
"""Writes the hand-made seeds of fuzz/corpus (see fuzz/README.md for where the others come from).

fuzz_model: the committed tiny model (tests/vectors/tiny.aecm, 311 KiB) is too large to mutate
quickly, so this writes models of about 5 KB (doc/model-format.md) that still have every operation
and both tensor types:

  analysis:  conv 3->4 (k3, stride 2), GDN 4, conv 4->1 (k1)
  synthesis: conv 1->12 (k3), inverse GDN 12, pixel shuffle 2

with one latent channel, total stride 2, 101 qualities and small CDF tables; and the same for a gray
model (image channels 1: conv 1->4 first, conv 1->4, inverse GDN 4 and pixel shuffle to 1 last).

fuzz_image: small PNM variants (plain and raw bitmaps, plain gray and colour, 16-bit, PAM with
alpha and with a tuple type) and a 16-bit PNG with an Adam7 interlace and a tRNS chunk, each
behind the harness's mode byte.

Usage:  python3 fuzz/make_seeds.py fuzz/corpus
Only the standard library is needed; the output is the same on every run.
"""
import hashlib
import os
import struct
import sys
import zlib


def f16(v):
    return struct.pack("<e", v)


def f32(v):
    return struct.pack("<f", v)


def tensor(name, dims, values, half):
    out = struct.pack("<H", len(name)) + name.encode() + bytes([2 if half else 1, len(dims)])
    out += b"".join(struct.pack("<I", d) for d in dims)
    out += b"".join((f16 if half else f32)(v) for v in values)
    return out


def count(dims):
    n = 1
    for d in dims:
        n *= d
    return n


def build(latent=1, symbols=4, precision=12, meta=b"name=fuzz-seed\n", image=3):
    # (net, op, params, [(name, dims, value, half)]): weights are small deterministic numbers.
    out4 = 4 * image
    layers = [
        (0, 1, (image, 4, 3, 2), [("a0.w", (4, image, 3, 3), 0.01, True), ("a0.b", (4,), 0.0, False)]),
        (0, 2, (4, 0, 0, 0), [("a1.beta", (4,), 1.0, False), ("a1.gamma", (4, 4), 0.1, True)]),
        (0, 1, (4, latent, 1, 1), [("a2.w", (latent, 4, 1, 1), 0.5, True), ("a2.b", (latent,), 0.0, True)]),
        (1, 1, (latent, out4, 3, 1), [("s0.w", (out4, latent, 3, 3), 0.02, True), ("s0.b", (out4,), 0.5, False)]),
        (1, 3, (out4, 0, 0, 0), [("s1.beta", (out4,), 1.0, True), ("s1.gamma", (out4, out4), 0.01, True)]),
        (1, 4, (2, 0, 0, 0), []),
    ]
    tens, arch = [], []
    for net, op, p, ts in layers:
        idx = []
        for name, dims, value, half in ts:
            idx.append(len(tens))
            vals = [value * (1 + (i % 5)) / 5 if "gamma" in name or ".w" in name else value
                    for i in range(count(dims))]
            tens.append(tensor(name, dims, vals, half))
        idx += [0xFFFFFFFF] * (2 - len(idx))
        arch.append(struct.pack("<BBH4I2I", net, op, 0, *p, *idx))
    arch_payload = struct.pack("<4I", image, latent, 2, len(arch)) + b"".join(arch)
    tens_payload = struct.pack("<I", len(tens))
    for t in tens:
        tens_payload += t + b"\0" * ((4 - (len(tens_payload) + len(t)) % 4) % 4)
    rate = struct.pack("<2I", 101, latent)
    for q in range(101):
        g = 1.0 + q / 10
        rate += b"".join(f32(g) for _ in range(latent)) + b"".join(f32(1 / g) for _ in range(latent))
        rate += b"".join(f32(0.0) for _ in range(latent))
    freqs, index = [], b""
    total = 1 << precision
    for q in range(101):
        for c in range(latent):
            table = [total // (symbols + 1)] * symbols
            table.append(total - sum(table))  # escape
            index += struct.pack("<iII", -(symbols // 2), symbols, len(freqs))
            freqs += table
    cdfs = struct.pack("<4I", precision, 101, latent, len(freqs)) + index
    cdfs += b"".join(struct.pack("<H", f) for f in freqs)

    out = bytearray(b"\x89AECM\r\n\x1a" + struct.pack("<2I", 1, 5))
    for tag, payload in ((b"META", meta), (b"ARCH", arch_payload), (b"TENS", tens_payload),
                         (b"RATE", rate), (b"CDFS", cdfs)):
        out += tag + struct.pack("<IQ", 0, len(payload)) + payload
        out += b"\0" * ((8 - len(out) % 8) % 8)
    out += hashlib.sha256(out).digest()
    return bytes(out)


def png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png16(w=5, h=3):
    """16-bit RGB, Adam7 interlaced, with a tRNS colour: expansion, scaling and interlace paths."""
    def row(y, xs):
        return b"\0" + b"".join(struct.pack(">3H", x * 4000, y * 9000, 65535 - x * 100) for x in xs)
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        xs = list(range(x0, w, dx))
        if xs:
            raw += b"".join(row(y, xs) for y in range(y0, h, dy))
    ihdr = struct.pack(">2I5B", w, h, 16, 2, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"tRNS", struct.pack(">3H", 0, 0, 65535))
            + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))


def pnm_seeds():
    return {
        "p1.pbm": b"P1\n# plain bitmap\n5 2\n10101\n0 1 0 1 0\n",
        "p2.pgm": b"P2\n3 2\n1000\n0 500 1000\n1 2 3\n",
        "p3.ppm": b"P3 2 1 255 255 0 0 0 255 0\n",
        "p4.pbm": b"P4\n10 2\n\xa5\xc0\x5a\x40",
        "p5-16.pgm": b"P5\n2 2\n65535\n" + bytes([0, 0, 1, 2, 0x80, 0, 0xff, 0xff]),
        "p6.ppm": b"P6\n2 1\n15\n" + bytes([1, 2, 3, 15, 14, 13]),
        "p7-ga.pam": b"P7\nWIDTH 2\nHEIGHT 1\nDEPTH 2\nMAXVAL 255\nTUPLTYPE GRAYSCALE_ALPHA\nENDHDR\n"
                     + bytes([10, 255, 20, 0]),
        "p7-rgba16.pam": b"P7\nWIDTH 1\nHEIGHT 1\nDEPTH 4\nMAXVAL 1023\nENDHDR\n" + bytes([0, 1, 2, 0, 3, 255, 1, 0]),
    }


def write(outdir, name, data):
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, name), "wb") as f:
        f.write(data)
    print(f"{os.path.join(outdir, name)}: {len(data)} bytes")


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus"
    write(os.path.join(top, "fuzz_model"), "min-model.aecm", build())
    write(os.path.join(top, "fuzz_model"), "min-model-p16.aecm",
          build(symbols=2, precision=16, meta=b"name=p16\ndescription=x\n"))
    write(os.path.join(top, "fuzz_model"), "min-model-gray.aecm", build(image=1, meta=b"name=fuzz-gray\n"))
    image = os.path.join(top, "fuzz_image")
    # Mode byte 0: imageio_read sniffs the format; 4: straight to the PNG reader.
    write(image, "png16-adam7-trns.png", b"\0" + png16())
    write(image, "direct-png16.png", b"\4" + png16(2, 2))
    for name, data in pnm_seeds().items():
        write(image, name, b"\0" + data)


if __name__ == "__main__":
    main()
