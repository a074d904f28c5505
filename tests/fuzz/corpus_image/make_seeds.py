#!/usr/bin/env python3
"""Writes the seed corpus of the image fuzz target (tests/fuzz_image.cpp) into this folder.

Small valid files of every documented input format, with the variants whose decoder
code differs: PNG (8/16-bit, gray/RGB/alpha, palette with tRNS, 1-bit, Adam7
interlacing, every row filter), JPEG (baseline 4:2:0 and gray, progressive with
successive approximation, restart intervals), BMP (1/4/8-bit palettes, 16-bit bit
fields, 24-bit, 32-bit top-down V4 header) and TGA (true colour, gray, 16-bit,
colour-mapped, run-length encoded), and what image.cpp converts itself: EXIF
orientation (APP1) and 4-component JPEGs (CMYK and YCCK, Adobe APP14). Everything is
written here from first principles (struct + zlib; the JPEG encoder works in the
coefficient domain), so the seeds are deterministic and need no image library. tests/test_image.cpp checks every seed decodes.

Usage: tests/fuzz/corpus_image/make_seeds.py [OUT_DIR]   (default: this folder)
"""
import os
import struct
import sys
import zlib

W, H = 13, 11  # odd sizes: row padding, partial MCUs, partial bytes


def pixel(x, y, c):
    return (x * 37 + y * 91 + c * 53 + (x * y) % 7 * 11) & 255


# ---------------------------------------------------------------- PNG

def png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_filter(rows, bpp):
    """Applies filter type (y % 5) to each row: every filter stb must undo."""
    out, prev = b"", bytes(len(rows[0]))
    for y, row in enumerate(rows):
        f = y % 5
        enc = bytearray()
        for i, v in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 0:
                p = 0
            elif f == 1:
                p = a
            elif f == 2:
                p = b
            elif f == 3:
                p = (a + b) // 2
            else:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            enc.append((v - p) & 255)
        out += bytes([f]) + bytes(enc)
        prev = row
    return out


def png(color, depth, channels, w=W, h=H, interlace=False, extra=b""):
    bps = depth // 8 if depth >= 8 else 0

    def row_bytes(xs, y):
        if depth < 8:  # gray or palette index, packed MSB first
            vals = [pixel(x, y, 0) >> (8 - depth) for x in xs]
            bits = "".join(format(v, "0%db" % depth) for v in vals)
            bits += "0" * (-len(bits) % 8)
            return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
        r = bytearray()
        for x in xs:
            for c in range(channels):
                v = pixel(x, y, c)
                r += bytes([v]) if bps == 1 else struct.pack(">H", (v * 257 + x) & 0xFFFF)
        return bytes(r)

    bpp = max(1, bps * channels)
    if not interlace:
        raw = png_filter([row_bytes(range(w), y) for y in range(h)], bpp)
    else:
        raw = b""
        for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
                               (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]:
            xs, ys = list(range(x0, w, dx)), list(range(y0, h, dy))
            if xs and ys:
                raw += png_filter([row_bytes(xs, y) for y in ys], bpp)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 1 if interlace else 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra +
            png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))


# ---------------------------------------------------------------- BMP

def bmp(bpp, palette=0, top_down=False, v4=False, bitfields=None):
    rows = []
    for y in range(H):
        r = bytearray()
        if bpp < 8:
            bits = "".join(format(pixel(x, y, 0) % palette, "0%db" % bpp) for x in range(W))
            bits += "0" * (-len(bits) % 8)
            r += bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
        elif bpp == 8:
            r += bytes(pixel(x, y, 0) % palette for x in range(W))
        elif bpp == 16:
            for x in range(W):
                r += struct.pack("<H", (pixel(x, y, 0) >> 3) << 11 | (pixel(x, y, 1) >> 2) << 5 |
                                 pixel(x, y, 2) >> 3)
        else:
            for x in range(W):
                r += bytes([pixel(x, y, 2), pixel(x, y, 1), pixel(x, y, 0)])
                if bpp == 32:
                    r.append(pixel(x, y, 3))
        r += bytes(-len(r) % 4)
        rows.append(bytes(r))
    stored = rows if top_down else rows[::-1]  # bottom-up unless the height is negative
    data = b"".join(stored)
    hsz = 108 if v4 else 40
    compress = 3 if bitfields else 0
    masks = b"".join(struct.pack("<I", m) for m in bitfields) if bitfields else b""
    info = struct.pack("<IiiHHIIiiII", hsz, W, -H if top_down else H, 1, bpp, compress,
                       len(data), 2835, 2835, palette, 0)
    if v4:
        info += (masks + bytes(16 - len(masks)))[:16] + b"BGRs" + bytes(36 + 12)
        masks = b""
    pal = b"".join(bytes([i * 7 & 255, i * 13 & 255, i * 29 & 255, 0]) for i in range(palette))
    offset = 14 + len(info) + len(masks) + len(pal)
    return b"BM" + struct.pack("<IHHI", offset + len(data), 0, 0, offset) + info + masks + pal + data


# ---------------------------------------------------------------- TGA

def tga(kind, rle=False):
    """kind: rgb24, rgba32, gray8, rgb16, cmap8."""
    bpp = {"rgb24": 24, "rgba32": 32, "gray8": 8, "rgb16": 16, "cmap8": 8}[kind]
    pixels = []
    for y in range(H):
        for x in range(W):
            # runs of equal pixels so that run-length packets appear
            xx = x - x % 3
            if kind == "gray8":
                pixels.append(bytes([pixel(xx, y, 0)]))
            elif kind == "cmap8":
                pixels.append(bytes([pixel(xx, y, 0) % 16]))
            elif kind == "rgb16":
                pixels.append(struct.pack("<H", (pixel(xx, y, 0) >> 3) << 10 |
                                          (pixel(xx, y, 1) >> 3) << 5 | pixel(xx, y, 2) >> 3))
            else:
                p = bytes([pixel(xx, y, 2), pixel(xx, y, 1), pixel(xx, y, 0)])
                pixels.append(p + (bytes([pixel(xx, y, 3)]) if bpp == 32 else b""))
    if rle:
        data, i = b"", 0
        while i < len(pixels):
            n = 1
            while i + n < len(pixels) and n < 128 and pixels[i + n] == pixels[i]:
                n += 1
            if n > 1:
                data += bytes([0x80 | (n - 1)]) + pixels[i]
            else:
                n = 1
                while i + n < len(pixels) and n < 128 and pixels[i + n] != pixels[i + n - 1]:
                    n += 1
                data += bytes([n - 1]) + b"".join(pixels[i:i + n])
            i += n
    else:
        data = b"".join(pixels)
    cmap = kind == "cmap8"
    image_type = (1 if cmap else 3 if kind == "gray8" else 2) + (8 if rle else 0)
    palette = b"".join(bytes([i * 16, 255 - i * 16, i * 5]) for i in range(16)) if cmap else b""
    ident = b"gpen seed"
    header = struct.pack("<BBBHHBHHHHBB", len(ident), 1 if cmap else 0, image_type, 0,
                         16 if cmap else 0, 24 if cmap else 0, 0, 0, W, H, bpp,
                         (8 if bpp == 32 else 0) | 0x20)
    return header + ident + palette + data


# ---------------------------------------------------------------- JPEG

ZIGZAG = [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48,
          41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15,
          23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63]


class Bits:
    def __init__(self):
        self.out, self.acc, self.n = bytearray(), 0, 0

    def put(self, value, nbits):
        for i in range(nbits - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0)  # byte stuffing
                self.acc, self.n = 0, 0

    def flush(self):
        if self.n:
            self.put((1 << (8 - self.n)) - 1, 8 - self.n)  # pad with ones
        data, self.out = bytes(self.out), bytearray()
        return data


def category(v):
    return 0 if v == 0 else abs(v).bit_length()


def magnitude_bits(v, s):
    return v if v >= 0 else v + (1 << s) - 1


class Huffman:
    """All used symbols get codes of one length: short, valid, no all-ones code."""

    def __init__(self, symbols):
        self.symbols = sorted(set(symbols))
        self.length = max(1, len(self.symbols).bit_length())
        self.codes = {s: i for i, s in enumerate(self.symbols)}

    def put(self, bits, symbol):
        bits.put(self.codes[symbol], self.length)

    def dht(self, table_class, table_id):
        counts = [0] * 16
        counts[self.length - 1] = len(self.symbols)
        body = bytes([table_class << 4 | table_id]) + bytes(counts) + bytes(self.symbols)
        return b"\xff\xc4" + struct.pack(">H", 2 + len(body)) + body


def jpeg(components, sampling, progressive=False, restart=0, app=b"", jfif=True):
    """Coefficient-domain encoder. components: 1 (gray), 3 or 4; sampling: (h, v) of comp 0;
    app: APPn segments after SOI (and the JFIF APP0 unless jfif is False)."""
    hmax, vmax = sampling
    mcux, mcuy = -(-W // (8 * hmax)), -(-H // (8 * vmax))
    comps = []
    for ci in range(components):
        h, v = (sampling if ci == 0 else (1, 1))
        bw, bh = mcux * h, mcuy * v  # blocks covering whole MCUs
        blocks = {}
        for by in range(bh):
            for bx in range(bw):
                coef = [0] * 64
                coef[0] = ((bx * 5 + by * 3 + ci * 7) % 21) - 10
                for k in (1, 2, 5, 9, 20):
                    coef[k] = ((bx + by * 2 + k + ci) % 7) - 3
                blocks[(bx, by)] = coef
        cw, chh = -(-W * h // hmax), -(-H * v // vmax)
        comps.append(dict(id=ci + 1, h=h, v=v, blocks=blocks, bw=bw, bh=bh,
                          nbw=-(-cw // 8), nbh=-(-chh // 8)))

    def mcus(scan_comps):
        """Yields, per MCU, the (component, block) list in coding order."""
        if len(scan_comps) == 1:
            c = scan_comps[0]
            for by in range(c["nbh"]):
                for bx in range(c["nbw"]):
                    yield [(c, c["blocks"][(bx, by)])]
        else:
            for my in range(mcuy):
                for mx in range(mcux):
                    yield [(c, c["blocks"][(mx * c["h"] + x, my * c["v"] + y)])
                           for c in scan_comps for y in range(c["v"]) for x in range(c["h"])]

    def ac_symbols(coef, ss, se):
        """(symbol, value, size) triples for coefficients ss..se, with ZRL and EOB."""
        out, run = [], 0
        last = max([k for k in range(ss, se + 1) if coef[ZIGZAG[k]]] or [ss - 1])
        for k in range(ss, last + 1):
            v = coef[ZIGZAG[k]]
            if v == 0:
                run += 1
                continue
            while run > 15:
                out.append((0xF0, 0, 0))
                run -= 16
            s = category(v)
            out.append(((run << 4) | s, v, s))
            run = 0
        if last < se:
            out.append((0x00, 0, 0))  # EOB (EOBRUN 1 in progressive scans)
        return out

    segments = []

    def scan(scan_comps, ss, se, ah, al, kind):
        # Collect symbols first to build tables that hold exactly them.
        dc_syms, ac_syms = [], []
        pred = {id(c): 0 for c in scan_comps}
        for mcu in mcus(scan_comps):
            for c, coef in mcu:
                if kind == "dc":
                    dc = coef[0] >> al
                    dc_syms.append(category(dc - pred[id(c)]))
                    pred[id(c)] = dc
                elif kind == "ac":
                    ac_syms += [s for s, _, _ in ac_symbols(coef, ss, se)]
        tables = b""
        dc_table = Huffman(dc_syms or [0])
        ac_table = Huffman(ac_syms or [0])
        if kind == "dc":
            tables += dc_table.dht(0, 0)
        if kind == "ac":
            tables += ac_table.dht(1, 0)
        header = bytes([len(scan_comps)])
        for c in scan_comps:
            header += bytes([c["id"], 0x00])
        header += bytes([ss, se, (ah << 4) | al])
        sos = b"\xff\xda" + struct.pack(">H", 2 + len(header)) + header
        bits, data = Bits(), b""
        pred = {id(c): 0 for c in scan_comps}
        for i, mcu in enumerate(mcus(scan_comps)):
            if restart and i and i % restart == 0:
                data += bits.flush() + bytes([0xFF, 0xD0 + (i // restart - 1) % 8])
                pred = {id(c): 0 for c in scan_comps}
            for c, coef in mcu:
                if kind == "dc":
                    dc = coef[0] >> al
                    diff = dc - pred[id(c)]
                    pred[id(c)] = dc
                    s = category(diff)
                    dc_table.put(bits, s)
                    bits.put(magnitude_bits(diff, s), s)
                elif kind == "dc-refine":
                    bits.put((coef[0] >> al) & 1, 1)
                else:
                    for sym, v, s in ac_symbols(coef, ss, se):
                        ac_table.put(bits, sym)
                        bits.put(magnitude_bits(v, s), s)
        segments.append(tables + sos + data + bits.flush())

    names = comps
    if not progressive:
        # Baseline: one interleaved scan with DC and AC tables.
        dc_syms, ac_syms = [], []
        pred = {id(c): 0 for c in names}
        for mcu in mcus(names):
            for c, coef in mcu:
                dc_syms.append(category(coef[0] - pred[id(c)]))
                pred[id(c)] = coef[0]
                ac_syms += [s for s, _, _ in ac_symbols(coef, 1, 63)]
        dc_table, ac_table = Huffman(dc_syms), Huffman(ac_syms)
        header = bytes([len(names)]) + b"".join(bytes([c["id"], 0x00]) for c in names)
        header += bytes([0, 63, 0])
        bits, data = Bits(), b""
        pred = {id(c): 0 for c in names}
        for i, mcu in enumerate(mcus(names)):
            if restart and i and i % restart == 0:
                data += bits.flush() + bytes([0xFF, 0xD0 + (i // restart - 1) % 8])
                pred = {id(c): 0 for c in names}
            for c, coef in mcu:
                diff = coef[0] - pred[id(c)]
                pred[id(c)] = coef[0]
                s = category(diff)
                dc_table.put(bits, s)
                bits.put(magnitude_bits(diff, s), s)
                for sym, v, s in ac_symbols(coef, 1, 63):
                    ac_table.put(bits, sym)
                    bits.put(magnitude_bits(v, s), s)
        segments.append(dc_table.dht(0, 0) + ac_table.dht(1, 0) + b"\xff\xda" +
                        struct.pack(">H", 2 + len(header)) + header + data + bits.flush())
    else:
        scan(names, 0, 0, 0, 1, "dc")  # DC, first pass: all but the lowest bit
        for c in names:
            scan([c], 1, 5, 0, 0, "ac")
            scan([c], 6, 63, 0, 0, "ac")
        scan(names, 0, 0, 1, 0, "dc-refine")  # DC, last bit

    sof = bytes([8]) + struct.pack(">HH", H, W) + bytes([len(comps)])
    for c in comps:
        sof += bytes([c["id"], (c["h"] << 4) | c["v"], 0])
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + bytes([0]) + bytes([2] * 64)
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    out = b"\xff\xd8" + app + (app0 if jfif else b"") + dqt
    out += (b"\xff\xc2" if progressive else b"\xff\xc0") + struct.pack(">H", 2 + len(sof)) + sof
    if restart:
        out += b"\xff\xdd" + struct.pack(">HH", 4, restart)
    return out + b"".join(segments) + b"\xff\xd9"


def adobe(transform):
    """Adobe's APP14 segment: colour transform 0 (CMYK), 1 (YCbCr) or 2 (YCCK)."""
    return b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00" + bytes([transform])


def exif(orientation):
    """APP1 Exif, little-endian TIFF: IFD0 with Make and Orientation (SHORT)."""
    tiff = b"II\x2a\x00" + struct.pack("<IH", 8, 2)
    tiff += struct.pack("<HHI4s", 0x010F, 2, 4, b"Cam\0")
    tiff += struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    body = b"Exif\0\0" + tiff
    return b"\xff\xe1" + struct.pack(">H", 2 + len(body)) + body


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    seeds = {
        "rgb8.png": png(2, 8, 3),
        "rgba8_interlaced.png": png(6, 8, 4, interlace=True),
        "gray16.png": png(0, 16, 1),
        "gray_alpha8_empty_idat.png": png(4, 8, 2, extra=png_chunk(b"IDAT", b"")),
        "gray1.png": png(0, 1, 1),
        "palette4_trns.png": png(3, 4, 1, extra=png_chunk(b"PLTE", bytes(range(48))) +
                                 png_chunk(b"tRNS", bytes([0, 128, 255]))),
        "rgb16_trns.png": png(2, 16, 3, extra=png_chunk(b"tRNS", bytes(6))),
        "rgb24.bmp": bmp(24),
        "pal8.bmp": bmp(8, palette=20),
        "pal4.bmp": bmp(4, palette=16),
        "pal1.bmp": bmp(1, palette=2),
        "rgb565.bmp": bmp(16, bitfields=(0xF800, 0x07E0, 0x001F)),
        "rgba32_topdown_v4.bmp": bmp(32, top_down=True, v4=True,
                                     bitfields=(0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000)),
        "rgb24.tga": tga("rgb24"),
        "rgba32_rle.tga": tga("rgba32", rle=True),
        "gray8.tga": tga("gray8"),
        "rgb16.tga": tga("rgb16"),
        "cmap8.tga": tga("cmap8"),
        "cmap8_rle.tga": tga("cmap8", rle=True),
        "baseline_420.jpg": jpeg(3, (2, 2)),
        "baseline_gray.jpg": jpeg(1, (1, 1)),
        "baseline_restart.jpg": jpeg(3, (2, 1), restart=2),
        "progressive_420.jpg": jpeg(3, (2, 2), progressive=True),
        "exif6_420.jpg": jpeg(3, (2, 2), app=exif(6)),
        "cmyk_adobe.jpg": jpeg(4, (1, 1), app=adobe(0), jfif=False),
        "ycck_adobe_h2v1.jpg": jpeg(4, (2, 1), app=adobe(2) + exif(8), jfif=False),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print("%d seeds, %d bytes" % (len(seeds), sum(len(d) for d in seeds.values())))


if __name__ == "__main__":
    main()
