"""Independent readers and writers of the files the tests check: safetensors (json +
numpy, nothing of the converter's) and 8-bit PNG (zlib only, filters undone by hand), so
that what gpen and tools/convert.py write is checked by code that shares nothing with them.
"""

import json
import struct
import zlib

import numpy as np


def read_safetensors(path, skip_padding=False):
    """(metadata, {name: array}, header, data start); skip_padding leaves out the
    "__pad__.N" filler entries."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__")
    base = 8 + n
    dt = {"F32": "<f4", "F16": "<f2", "U8": "u1"}
    out = {}
    for name, e in header.items():
        if skip_padding and name.startswith("__pad__."):
            continue
        b, en = e["data_offsets"]
        out[name] = np.frombuffer(data[base + b:base + en], dtype=dt[e["dtype"]]).reshape(e["shape"])
    return meta, out, header, base


def read_png(path):
    """(width, height, channels, bytes) of an 8-bit, non-interlaced PNG."""
    with open(path, "rb") as f:
        d = f.read()
    i, idat = 8, b""
    while i < len(d):
        n = struct.unpack(">I", d[i:i + 4])[0]
        tag, body = d[i + 4:i + 8], d[i + 8:i + 8 + n]
        if tag == b"IHDR":
            w, h, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8, "the PNG is %d-bit" % depth
        elif tag == b"IDAT":
            idat += body
        i += 12 + n
    ch = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    raw, stride, out, prev = zlib.decompress(idat), w * ch, bytearray(), bytearray(w * ch)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - ch] if x >= ch else 0
            b, c = prev[x], (prev[x - ch] if x >= ch else 0)
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += line
        prev = line
    return w, h, ch, bytes(out)


def write_png(path, w, h, ch, pixel):
    """An 8-bit RGB (ch 3) or RGBA (ch 4) PNG whose pixel (x, y) is pixel(x, y)."""
    color = {3: 2, 4: 6}[ch]
    rows = b"".join(b"\0" + b"".join(bytes(pixel(x, y)) for x in range(w)) for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
