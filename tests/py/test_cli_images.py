"""CLI tests of photos as users have them, through `gpen upscale` with the x1 RRDBNet
(rrdb_x1_tiny, which keeps the size): 1-pixel-wide images and the reflection padding of
images smaller than the network's multiple of 4, empty and cut files, a header declaring
30000x30000, CMYK JPEGs, 16-bit and gray+alpha PNGs, and EXIF orientation.

The network is not the identity, so most checks compare two runs: the file under test
against a plain PNG holding the pixels a viewer shows for it (the upright layout, the
RGB of the CMYK colours, the padded image the network should see). Everything is
written here: PNGs with zlib, BMP and TGA by hand, and JPEGs by a flat-block encoder
(DC coefficients only, so that every decoded pixel is known exactly), which also writes
the 4-component files no common encoder makes. tests/test_image.cpp checks the decoded
pixels themselves.

Needs GPEN_BIN and GPEN_TEST_MODELS_DIR (ctest sets both).
"""

import os
import resource
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import binary_info  # noqa: E402
import fixture_paths  # noqa: E402
from file_formats import read_png  # noqa: E402

BIN = os.environ.get("GPEN_BIN", "build/gpen")
MODELS = os.environ.get("GPEN_TEST_MODELS_DIR", "build/test_models")
MODEL = os.path.join(MODELS, "rrdb_x1_tiny.safetensors")


def gpen(*args, limit_as=None):
    def cap():
        if limit_as:
            resource.setrlimit(resource.RLIMIT_AS, (limit_as, limit_as))

    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=600,
                          preexec_fn=cap if limit_as else None)


def upscale(src, dst, *extra, **kw):
    return gpen("upscale", "-m", MODEL, "-i", src, "-o", dst, "--device", "cpu", *extra, **kw)


# ---------------------------------------------------------------- files

def png_bytes(w, h, ch, samples, depth=8):
    """A PNG of interleaved samples (row by row), 8 or 16 bits, 1 to 4 channels."""
    color = {1: 0, 2: 4, 3: 2, 4: 6}[ch]
    fmt = ">%dH" % (w * ch) if depth == 16 else "%dB" % (w * ch)
    rows = b"".join(b"\0" + struct.pack(fmt, *samples[y * w * ch:(y + 1) * w * ch])
                    for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) +
            chunk(b"IEND", b""))


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def bmp_bytes(w, h, rgb):
    """A 24-bit bottom-up BMP of interleaved RGB bytes."""
    stride = (w * 3 + 3) & ~3
    rows = b""
    for y in reversed(range(h)):
        row = bytearray()
        for x in range(w):
            r, g, b = rgb[(y * w + x) * 3:(y * w + x) * 3 + 3]
            row += bytes([b, g, r])
        rows += bytes(row) + bytes(stride - len(row))
    header = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(rows), 0, 0, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54 + len(rows), 0, 0, 54) + header + rows


def tga_bytes(w, h, rgb):
    """An uncompressed 24-bit top-down TGA."""
    px = b"".join(bytes([rgb[i + 2], rgb[i + 1], rgb[i]]) for i in range(0, w * h * 3, 3))
    return struct.pack("<BBBHHBHHHHBB", 0, 0, 2, 0, 0, 0, 0, 0, w, h, 24, 0x20) + px


def flat_jpeg(blocks_w, blocks_h, values, segments=b""):
    """A baseline JPEG of flat 8x8 blocks: values[c][b] is component c's sample in block b
    (row-major). Every component 1x1, DC only, quantisers 8: samples are exactly values."""
    nc, w, h = len(values), blocks_w * 8, blocks_h * 8
    j = b"\xff\xd8" + segments + b"\xff\xdb\x00\x43\x00" + bytes([8] * 64)
    j += b"\xff\xc0" + struct.pack(">HBHHB", 8 + 3 * nc, 8, h, w, nc)
    j += b"".join(bytes([c + 1, 0x11, 0]) for c in range(nc))
    # DC: categories 0..11 as 4-bit codes 0..11; AC: EOB only, the 1-bit code 0.
    j += b"\xff\xc4" + struct.pack(">H", 2 + 1 + 16 + 12) + bytes([0, 0, 0, 0, 12] + [0] * 12)
    j += bytes(range(12))
    j += b"\xff\xc4" + struct.pack(">H", 2 + 1 + 16 + 1) + bytes([0x10, 1] + [0] * 15 + [0])
    j += b"\xff\xda" + struct.pack(">HB", 6 + 2 * nc, nc)
    j += b"".join(bytes([c + 1, 0]) for c in range(nc)) + bytes([0, 63, 0])
    bits = []
    pred = [0] * nc
    for b in range(blocks_w * blocks_h):
        for c in range(nc):
            dc = values[c][b] - 128
            diff, pred[c] = dc - pred[c], dc
            cat = abs(diff).bit_length()
            bits += [(cat >> i) & 1 for i in range(3, -1, -1)]
            mag = diff if diff >= 0 else diff + (1 << cat) - 1
            bits += [(mag >> i) & 1 for i in range(cat - 1, -1, -1)]
            bits.append(0)  # EOB
    bits += [1] * (-len(bits) % 8)
    data = bytearray()
    for i in range(0, len(bits), 8):
        byte = int("".join(map(str, bits[i:i + 8])), 2)
        data.append(byte)
        if byte == 0xFF:
            data.append(0)
    return j + bytes(data) + b"\xff\xd9"


def adobe(transform):
    return b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00" + bytes([transform])


def exif(orientation):
    """APP1 Exif: big-endian TIFF, IFD0 holding Orientation (SHORT) only."""
    tiff = b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1,
                                                                    orientation, 0) + b"\0" * 4
    body = b"Exif\0\0" + tiff
    return b"\xff\xe1" + struct.pack(">H", 2 + len(body)) + body


class Images(unittest.TestCase):
    def setUp(self):
        self.td = tempfile.TemporaryDirectory()
        self.dir = self.td.name

    def tearDown(self):
        self.td.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def run_ok(self, src, dst, *extra):
        r = upscale(src, dst, *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def assert_close(self, a, b, what, tol=1):
        self.assertEqual(len(a), len(b), what)
        worst = max((abs(x - y) for x, y in zip(a, b)), default=0)
        self.assertLessEqual(worst, tol, what)

    # 1. 1x1, 1x5000 and 5000x1, and the reflection of images smaller than 4.
    def test_thin_images_match_their_padded_equivalents(self):
        # RRDBNet x1 pads to a multiple of 4 by reflection (edge-replicated below 2):
        # rows r0 -> r0 r0 r0 r0, r0 r1 -> r0 r1 r0 r1, r0 r1 r2 -> r0 r1 r2 r1.
        # The output of the small image must be the top-left of the padded image's.
        def px(x, y):
            return [(x * 37 + y * 11) % 256, (x * 5 + 90) % 256, (y * 29 + x) % 256]

        def reflect(i, n):  # numpy's 'reflect'; a single row or column is repeated
            if n == 1:
                return 0
            while i < 0 or i >= n:
                i = -i if i < 0 else 2 * (n - 1) - i
            return i

        self.assertEqual([reflect(i, 2) for i in range(4)], [0, 1, 0, 1])
        self.assertEqual([reflect(i, 3) for i in range(4)], [0, 1, 2, 1])
        cases = [(1, 1), (5000, 1), (1, 5000), (2, 2), (7, 2), (2, 9), (3, 3), (6, 3)]
        for w, h in cases:
            pw, ph = (w + 3) // 4 * 4, (h + 3) // 4 * 4
            small = sum((px(x, y) for y in range(h) for x in range(w)), [])
            padded = sum((px(reflect(x, w), reflect(y, h)) for y in range(ph) for x in range(pw)),
                         [])
            write(self.path("s.png"), png_bytes(w, h, 3, small))
            write(self.path("p.png"), png_bytes(pw, ph, 3, padded))
            self.run_ok(self.path("s.png"), self.path("s_out.png"))
            self.run_ok(self.path("p.png"), self.path("p_out.png"))
            sw, sh, sc, s = read_png(self.path("s_out.png"))
            self.assertEqual((sw, sh, sc), (w, h, 3), (w, h))
            _, _, _, p = read_png(self.path("p_out.png"))
            top_left = b"".join(p[(y * pw) * 3:(y * pw + w) * 3] for y in range(h))
            self.assert_close(s, top_left, "%dx%d" % (w, h))

    # 2. Empty and cut files: reported by name, skipped, the others still written.
    def test_empty_and_cut_files_are_reported_by_name(self):
        src, dst = self.path("in"), self.path("out")
        os.mkdir(src)
        rgb = [(i * 7) % 256 for i in range(33 * 17 * 3)]
        files = {"png": png_bytes(33, 17, 3, rgb), "bmp": bmp_bytes(33, 17, rgb),
                 "tga": tga_bytes(33, 17, rgb),
                 "jpg": flat_jpeg(5, 3, [[(b * 13) % 256 for b in range(15)]] * 3)}
        bad = []
        for ext, data in files.items():
            write(os.path.join(src, "good." + ext), data)
            write(os.path.join(src, "empty." + ext), b"")
            write(os.path.join(src, "cut." + ext), data[:len(data) // 2])
            bad += ["empty." + ext, "cut." + ext]
        r = upscale(src, dst)
        self.assertEqual(r.returncode, 2, r.stderr)
        for name in bad:
            line = [ln for ln in r.stderr.splitlines() if os.path.join(src, name) + ":" in ln]
            self.assertEqual(len(line), 1, (name, r.stderr))
            self.assertIn("skipped", line[0])
            self.assertFalse(os.path.exists(os.path.join(dst, name)), name)
        self.assertIn("the file is empty", r.stderr)
        for ext in files:
            self.assertTrue(os.path.exists(os.path.join(dst, "good." + ext)), ext)
        # A single empty file: the same message, and nothing written.
        r = upscale(os.path.join(src, "empty.jpg"), self.path("one.png"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(os.path.join(src, "empty.jpg") + ": not a readable image (the file is empty)",
                      r.stderr)
        self.assertFalse(os.path.exists(self.path("one.png")))

    # 3. A header declaring 30000x30000: refused from the header, naming --max-pixels.
    def test_huge_header_is_refused_before_allocation(self):
        head = png_bytes(1, 1, 3, [0, 0, 0])
        ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
        data = head[:8] + struct.pack(">I", 13) + b"IHDR" + ihdr + \
            struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)) + head[33:]
        write(self.path("huge.png"), data)
        # 4 GiB of address space: the 2.7 GB of samples (10.8 GB as floats) cannot fit.
        # (Not under a sanitizer, whose shadow memory needs more address space than that.)
        limit = None if binary_info.sanitized(BIN) else 4 << 30
        r = upscale(self.path("huge.png"), self.path("o.png"), limit_as=limit)
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertIn(self.path("huge.png") + ": image is 30000x30000 (900.0 megapixels), "
                      "more than the limit of 40.0 megapixels", r.stderr)
        self.assertIn("--max-pixels 900000000", r.stderr)
        self.assertFalse(os.path.exists(self.path("o.png")))

    # 4. CMYK JPEGs: upscaled as the RGB a viewer shows (inverted CMYK, times K).
    def test_cmyk_jpeg_upscales_like_its_rgb(self):
        cmyk = [[255, 0, 255, 215], [255, 255, 55, 175], [255, 255, 55, 95], [255, 255, 255, 195]]
        for name, seg in (("adobe", adobe(0)), ("plain", b"")):
            write(self.path(name + ".jpg"), flat_jpeg(2, 2, cmyk, seg))
        rgb = []
        for y in range(16):
            for x in range(16):
                b = (y // 8) * 2 + x // 8
                rgb += [round(cmyk[c][b] * cmyk[3][b] / 255) for c in range(3)]
        write(self.path("rgb.png"), png_bytes(16, 16, 3, rgb))
        self.run_ok(self.path("rgb.png"), self.path("rgb_out.png"))
        want = read_png(self.path("rgb_out.png"))
        for name in ("adobe", "plain"):
            self.run_ok(self.path(name + ".jpg"), self.path(name + "_out.png"))
            got = read_png(self.path(name + "_out.png"))
            self.assertEqual(got[:3], (16, 16, 3))
            self.assert_close(got[3], want[3], name, tol=2)
        # A CMYK JPEG written by libjpeg (through Pillow), as Photoshop writes them.
        fixture = os.path.join(fixture_paths.data_dir(), "images", "cmyk_adobe.jpg")
        self.run_ok(fixture, self.path("pil_out.png"))
        self.assertEqual(read_png(self.path("pil_out.png"))[:3], (16, 16, 3))

    # 5. 16-bit PNGs: decoded at full precision; the output is an 8-bit PNG.
    def test_16bit_png_is_read_whole_and_written_8bit(self):
        w, h = 9, 6
        for ch in (3, 1):
            v8 = [(i * 29 + 7) % 256 for i in range(w * h * ch)]
            write(self.path("a8.png"), png_bytes(w, h, ch, v8))
            write(self.path("a16.png"), png_bytes(w, h, ch, [v * 257 for v in v8], depth=16))
            self.run_ok(self.path("a8.png"), self.path("a8_out.png"))
            self.run_ok(self.path("a16.png"), self.path("a16_out.png"))
            a8, a16 = read_png(self.path("a8_out.png")), read_png(self.path("a16_out.png"))
            self.assertEqual(a16[:3], (w, h, 3))  # 8-bit RGB PNG (read_png checks the depth)
            # v * 257 / 65535 == v / 255: the very same input, so the very same output.
            self.assertEqual(a16[3], a8[3], ch)

    # 6. Gray + alpha: gray in the three channels, alpha kept.
    def test_gray_alpha_png_keeps_alpha(self):
        w, h = 11, 5
        ga = sum(([(i * 23) % 256, 255 - (i * 5) % 256] for i in range(w * h)), [])
        rgba = sum(([ga[2 * i]] * 3 + [ga[2 * i + 1]] for i in range(w * h)), [])
        write(self.path("ga.png"), png_bytes(w, h, 2, ga))
        write(self.path("rgba.png"), png_bytes(w, h, 4, rgba))
        self.run_ok(self.path("ga.png"), self.path("ga_out.png"))
        self.run_ok(self.path("rgba.png"), self.path("rgba_out.png"))
        got, want = read_png(self.path("ga_out.png")), read_png(self.path("rgba_out.png"))
        self.assertEqual(got[:3], (w, h, 4))
        self.assertEqual(got[3], want[3])
        self.assertEqual(got[3][3::4], bytes(ga[1::2]))  # x1: alpha exactly as given

    # 7. EXIF orientation: the network sees the upright image; the output is upright.
    def test_exif_orientation_upscales_the_upright_image(self):
        levels = [20, 60, 100, 140, 180, 220]  # blocks A..F, stored as ABC / DEF
        upright = {1: "ABC/DEF", 2: "CBA/FED", 3: "FED/CBA", 4: "DEF/ABC",
                   5: "AD/BE/CF", 6: "DA/EB/FC", 7: "FC/EB/DA", 8: "CF/BE/AD"}
        for o, layout in upright.items():
            write(self.path("o.jpg"), flat_jpeg(3, 2, [levels], exif(o)))
            rows = layout.split("/")
            bw, bh = len(rows[0]), len(rows)
            gray = [levels[ord(rows[y // 8][x // 8]) - ord("A")]
                    for y in range(bh * 8) for x in range(bw * 8)]
            write(self.path("o.png"), png_bytes(bw * 8, bh * 8, 1, gray))
            self.run_ok(self.path("o.jpg"), self.path("jpeg_out.png"))
            self.run_ok(self.path("o.png"), self.path("png_out.png"))
            got, want = read_png(self.path("jpeg_out.png")), read_png(self.path("png_out.png"))
            self.assertEqual(got[:3], (bw * 8, bh * 8, 3), o)
            self.assert_close(got[3], want[3], "orientation %d" % o)


if __name__ == "__main__":
    unittest.main()
