#!/usr/bin/python3
"""Writes a 6000x4000 RGB PNG photo mosaic for the memory benchmark.

Usage: big_image.py OUT.png IMAGE.png...

The images, turned landscape and scaled to 1536x1024, fill a 4x4 grid (cycling through the list)
that is cropped to 6000x4000.
"""
import sys

from PIL import Image

W, H = 6000, 4000
TILE_W, TILE_H = 1536, 1024


def main():
    out, sources = sys.argv[1], sys.argv[2:]
    canvas = Image.new("RGB", (W, H))
    for i in range(16):
        tile = Image.open(sources[i % len(sources)]).convert("RGB")
        if tile.height > tile.width:
            tile = tile.transpose(Image.ROTATE_90)
        tile = tile.resize((TILE_W, TILE_H), Image.LANCZOS)
        canvas.paste(tile, ((i % 4) * TILE_W, (i // 4) * TILE_H))
    canvas.save(out, compress_level=1)


if __name__ == "__main__":
    main()
