#!/usr/bin/env python3
"""Test setup: write images stb cannot write itself (16-bit PNGs) into OUT_DIR.

rgb16.png: 7x5 RGB, 16 bits per channel, value (x*1000 + y*100 + c*10 + 1).
gray16.png: 7x5 gray, 16 bits, value x*9000 + y.
"""
import os
import struct
import sys
import zlib

import numpy as np


def write_png16(path, arr):
    h, w = arr.shape[:2]
    ch = 1 if arr.ndim == 2 else arr.shape[2]
    color = {1: 0, 3: 2, 4: 6}[ch]
    raw = b"".join(b"\0" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    y, x = np.mgrid[0:5, 0:7]
    rgb = np.stack([x * 1000 + y * 100 + c * 10 + 1 for c in range(3)], axis=-1)
    write_png16(os.path.join(out, "rgb16.png"), rgb)
    write_png16(os.path.join(out, "gray16.png"), x * 9000 + y)
    return 0


if __name__ == "__main__":
    sys.exit(main())
