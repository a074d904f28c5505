"""CLI tests of `gpen upscale` (RRDBNet): the fixture images through the whole command,
families kept apart, folders, odd sizes and alpha.

Needs GPEN_BIN and GPEN_TEST_MODELS_DIR (ctest sets both); the rrdb sets ship in
tests/data. The fixture outputs are upstream's float64 result clipped and rounded to 8
bits; ours, computed in float32 (relative L2 about 1e-7 before rounding), must give the
same PNG except where a value lies within float rounding of a .5 level: at most 1 level
on at most 0.1% of values.
"""

import json
import math
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_paths  # noqa: E402
from file_formats import read_png, write_png  # noqa: E402

BIN = os.environ.get("GPEN_BIN", "build/gpen")
MODELS = os.environ.get("GPEN_TEST_MODELS_DIR", "build/test_models")


def gpen(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=600)


class Upscale(unittest.TestCase):
    def setUp(self):
        self.td = tempfile.TemporaryDirectory()
        self.dir = self.td.name

    def tearDown(self):
        self.td.cleanup()

    def test_fixture_images_match_upstream(self):
        for s in ("x1", "x2", "x4"):
            name = "rrdb_%s_tiny" % s
            src = fixture_paths.fixture_dir("rrdb", name)
            self.assertIsNotNone(src, name)
            out = os.path.join(self.dir, s + ".png")
            r = gpen("upscale", "-m", os.path.join(MODELS, name + ".safetensors"), "-i",
                     os.path.join(src, "input.png"), "-o", out, "--device", "cpu")
            self.assertEqual(r.returncode, 0, r.stderr)
            got, want = read_png(out), read_png(os.path.join(src, "output.png"))
            self.assertEqual(got[:3], want[:3], name)
            diff = [abs(a - b) for a, b in zip(got[3], want[3])]
            self.assertLessEqual(max(diff), 1, name)
            self.assertLessEqual(sum(d > 0 for d in diff), len(diff) // 1000, name)

    def test_families_are_kept_apart(self):
        img = os.path.join(fixture_paths.fixture_dir("rrdb", "rrdb_x2_tiny"), "input.png")
        r = gpen("upscale", "-m", os.path.join(MODELS, "tiny64.safetensors"), "-i", img, "-o",
                 os.path.join(self.dir, "o.png"))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("is a gpen model", r.stderr)
        self.assertIn("hint: ", r.stderr)
        r = gpen("enhance", "-m", os.path.join(MODELS, "rrdb_x2_tiny.safetensors"), "-i", img, "-o",
                 os.path.join(self.dir, "o.png"), "--aligned")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("is a rrdbnet model", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "o.png")))

    def test_folder_of_odd_sizes_with_alpha(self):
        src, dst = os.path.join(self.dir, "in"), os.path.join(self.dir, "out")
        os.mkdir(src)
        sizes = [(13, 7), (13, 7), (9, 22), (1, 1)]  # two of one size batch together
        for i, (w, h) in enumerate(sizes):
            write_png(os.path.join(src, "i%d.png" % i), w, h, 4,
                      lambda x, y: ((x * 37) % 256, (y * 53) % 256, 90, 255 - x))
        with open(os.path.join(src, "bad.png"), "wb") as f:
            f.write(b"not a png")
        r = gpen("upscale", "-m", os.path.join(MODELS, "rrdb_x1_tiny.safetensors"), "-i", src, "-o",
                 dst, "--device", "cpu")
        self.assertEqual(r.returncode, 2, r.stderr)  # bad.png was skipped
        self.assertIn("bad.png", r.stderr)
        for i, (w, h) in enumerate(sizes):
            got = read_png(os.path.join(dst, "i%d.png" % i))
            self.assertEqual(got[:3], (w, h, 4))  # x1 keeps the size, alpha kept
            alpha = got[3][3::4]
            self.assertEqual(alpha[0], 255)  # column 0 of the input alpha
        self.assertFalse(os.path.exists(os.path.join(dst, "bad.png")))

    def test_info_and_bench_know_rrdbnet(self):
        r = gpen("info", os.path.join(MODELS, "rrdb_x4_tiny.safetensors"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("family        rrdbnet", r.stdout)
        self.assertIn("RRDBNet x4 (16 features, 2 blocks, growth 8", r.stdout)
        r = gpen("bench", "--arch", "rrdb-tiny", "--device", "cpu", "--size", "24x16", "--iters", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ms per input megapixel", r.stdout)
        self.assertIn("RESULT impl=gpen net=rrdbnet", r.stdout)
        r = gpen("plan", "--arch", "realesrgan-x4plus", "--device", "cuda", "--vram-budget", "8G",
                 "--size", "320x240")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("the whole image as one tile", r.stdout)
        # A 12-megapixel photo at x4 plans within 2 GB on CUDA, in tiles.
        r = gpen("plan", "--arch", "realesrgan-x4plus", "--device", "cuda", "--vram-budget", "2G",
                 "--size", "4000x3000", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        plan = json.loads(r.stdout)
        self.assertGreater(plan["tiles"], 1)
        self.assertLessEqual(plan["run"]["planned_peak_bytes"], 2 * 1024 ** 3 - plan["run"]["margin_bytes"])
        r = gpen("bench", "--arch", "rrdb-tiny", "--size", "24x")
        self.assertEqual(r.returncode, 1)
        self.assertIn("--size '24x' is not WIDTHxHEIGHT", r.stderr)

    def test_small_tiles_name_the_budget_of_larger_ones(self):
        # Just above the smallest budget the planner falls back to 16-pixel tiles, which
        # recompute the image about 25 times (a pad of 32 on each side); the plan says so
        # and names the budget at which tiles at least halve that, and that budget plans
        # them (plan's pass has all of --vram-budget). CUDA plans need no GPU given a
        # budget and hold no process line, so the figures do not move from run to run.
        args = ("plan", "--arch", "realesrgan-x4plus", "--device", "cuda", "--size", "2000x1500")
        r = gpen(*args, "--vram-budget", "1M")
        self.assertEqual(r.returncode, 1, r.stderr)
        need = float(re.search(r"needs ([0-9.]+) MiB", r.stderr).group(1))
        r = gpen(*args, "--vram-budget", "%dM" % (math.ceil(need) + 1))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"of 16x16 input pixels.*; 2[0-9.]+x the image's pixels computed")
        m = re.search(r"notice: tiles this small recompute the image [0-9.]+x over; tiles of "
                      r"(\d+) pixels \([0-9.]+x\) would need (\d+) MiB for this pass, (\d+) MiB "
                      r"more than it had", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        small = json.loads(gpen(*args, "--vram-budget", "%dM" % (math.ceil(need) + 1),
                                "--json").stdout)
        self.assertGreaterEqual(small["work"], 4)
        self.assertEqual(small["larger_tile"], int(m.group(1)))
        self.assertEqual(int(m.group(2)) - int(m.group(3)), math.ceil(need) + 1)
        r = gpen(*args, "--vram-budget", m.group(2) + "M", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        larger = json.loads(r.stdout)
        self.assertLessEqual(larger["work"], small["work"] / 2)
        self.assertLessEqual(larger["run"]["planned_peak_bytes"],
                             int(m.group(2)) * 1024 ** 2 - larger["run"]["margin_bytes"])
        if larger["work"] < 4:
            self.assertEqual(larger["larger_tile"], 0)
        # The whole image in one tile computes it once and suggests nothing.
        r = gpen(*args, "--vram-budget", "64G", "--json")
        whole = json.loads(r.stdout)
        self.assertEqual((whole["tiles"], whole["work"], whole["larger_tile"]), (1, 1, 0))


class UpscaleTiles(unittest.TestCase):
    """Tiles, chained passes and post-processing from the command line."""

    def setUp(self):
        self.td = tempfile.TemporaryDirectory()
        self.dir = self.td.name
        self.img = os.path.join(self.dir, "in.png")
        write_png(self.img, 61, 45, 3, lambda x, y: ((x * 37 + y) % 256, (y * 53) % 256, (x * y) % 256))
        self.x4 = os.path.join(MODELS, "rrdb_x4_tiny.safetensors")
        self.x2 = os.path.join(MODELS, "rrdb_x2_tiny.safetensors")

    def tearDown(self):
        self.td.cleanup()

    def up(self, out, *flags):
        r = gpen("upscale", "-m", self.x4, "-i", self.img, "-o", os.path.join(self.dir, out),
                 "--device", "cpu", *flags)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r, read_png(os.path.join(self.dir, out))

    def test_tiles_equal_the_whole_image_with_enough_pad(self):
        r0, whole = self.up("whole.png", "--tile-size", "0")
        self.assertIn("the whole image as one tile", r0.stderr)
        r1, tiled = self.up("tiled.png", "--tile-size", "16", "--tile-pad", "40", "--tile-batch", "5")
        self.assertIn("tiles: 12 (4 x 3)", r1.stderr)
        self.assertIn("5 tiles per run", r1.stderr)
        self.assertRegex(r1.stderr, r"tile 12/12, [\d.]+ s, about 0 s left")
        self.assertEqual(whole[:3], tiled[:3])
        diff = [abs(a - b) for a, b in zip(whole[3], tiled[3])]
        self.assertLessEqual(max(diff), 1)
        self.assertLessEqual(sum(d > 0 for d in diff), len(diff) // 1000)
        self.assertEqual(r1.stderr.count("tiles: "), 1)  # the plan is printed once

    def test_save_tiles(self):
        tiles = os.path.join(self.dir, "tiles")
        self.up("o.png", "--tile-size", "32", "--tile-pad", "8", "--save-tiles", tiles)
        names = sorted(os.listdir(tiles))
        self.assertEqual(names, ["tile_0_0.png", "tile_0_1.png", "tile_1_0.png", "tile_1_1.png"])
        w, h, ch, _ = read_png(os.path.join(tiles, "tile_1_1.png"))
        self.assertEqual(ch, 3)
        self.assertGreater(w, 32 * 4)  # the window's output: core and context

    def test_chained_passes_and_outscale(self):
        r = gpen("upscale", "-m", self.x4, "-m", self.x2, "-i", self.img, "-o",
                 os.path.join(self.dir, "x8.png"), "--device", "cpu", "--tile-size", "32")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("pass 2 of 2", r.stderr)
        self.assertEqual(read_png(os.path.join(self.dir, "x8.png"))[:3], (61 * 8, 45 * 8, 3))
        _, out = self.up("x3.png", "--outscale", "3.5")
        self.assertEqual(out[:3], (round(61 * 3.5), round(45 * 3.5), 3))
        _, out = self.up("hf.png", "--hf-suppress")
        self.assertEqual(out[:3], (61 * 4, 45 * 4, 3))

    def test_bad_tile_flags_are_named(self):
        for flags, text in ((["--tile-size", "8"], "--tile-size 8 is smaller than 16"),
                            (["--tile-pad", "-1"], "--tile-pad"),
                            (["--tile-batch", "0"], "--tile-batch"),
                            (["--outscale", "0"], "--outscale '0'"),
                            (["--outscale", "abc"], "--outscale 'abc'")):
            r = gpen("upscale", "-m", self.x4, "-i", self.img, "-o", os.path.join(self.dir, "o.png"), *flags)
            self.assertEqual(r.returncode, 1, flags)
            self.assertIn(text, r.stderr)
        r = gpen("enhance", "-m", os.path.join(MODELS, "tiny64.safetensors"), "-m", self.x4, "-i",
                 self.img, "-o", os.path.join(self.dir, "o.png"), "--aligned")
        self.assertEqual(r.returncode, 1)
        self.assertIn("given twice", r.stderr)

    def test_budget_too_small_for_any_tile(self):
        r = gpen("upscale", "-m", self.x4, "-i", self.img, "-o", os.path.join(self.dir, "o.png"),
                 "--device", "cpu", "--vram-budget", "1M")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("too small", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "o.png")))


if __name__ == "__main__":
    unittest.main()
