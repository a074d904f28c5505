"""CLI tests: exit codes, messages, inputs never overwritten, partial failures.

Needs GPEN_BIN (the built gpen) and GPEN_TEST_MODELS_DIR (converted fixtures); ctest
sets both. Face crops come from the tiny64 set in tests/data (always there); the
tiling test needs s128 from ../shared and is skipped when it is absent.
"""

import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_paths  # noqa: E402

BIN = os.environ.get("GPEN_BIN", "build/gpen")
MODELS = os.environ.get("GPEN_TEST_MODELS_DIR", "build/test_models")
TINY = os.path.join(MODELS, "tiny64.safetensors")
FACES = fixture_paths.fixture_dir("gpen", "tiny64") or "tiny64-not-found"  # ships in tests/data


def gpen(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True)


def png_rgba(path, w, h):
    rows = b"".join(b"\0" + b"".join(bytes([(x * 7) % 256, (y * 9) % 256, 77, 100 + x % 100]) for x in range(w)) for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def png_info(path):
    with open(path, "rb") as f:
        d = f.read(33)
    w, h, depth, color = struct.unpack(">IIBB", d[16:26])
    return w, h, depth, color


class Cli(unittest.TestCase):
    def setUp(self):
        self.td = tempfile.TemporaryDirectory()
        self.dir = self.td.name

    def tearDown(self):
        self.td.cleanup()

    def test_usage_and_unknown_command(self):
        r = gpen()
        self.assertEqual(r.returncode, 1)
        self.assertIn("usage: gpen COMMAND", r.stdout)
        r = gpen("frobnicate")
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown command 'frobnicate'", r.stderr)

    def test_unknown_flag_is_named(self):
        r = gpen("enhance", "--modle", TINY)
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown flag '--modle'", r.stderr)
        self.assertIn("--model", r.stderr)

    def test_info(self):
        r = gpen("info", TINY)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("parameters    261336", r.stdout)
        self.assertIn("channel_multiplier 1, narrow 0.0625", r.stdout)

    def test_info_on_corrupt_file_names_it(self):
        bad = os.path.join(self.dir, "bad.safetensors")
        with open(TINY, "rb") as f:
            data = f.read()
        with open(bad, "wb") as f:
            f.write(data[: len(data) // 3])
        r = gpen("info", bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn("bad.safetensors", r.stderr)
        self.assertIn("outside the data section", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_whole_photo_needs_a_detector(self):
        missing = os.path.join(self.dir, "no-detector.safetensors")
        r = gpen("enhance", "-m", TINY, "-i", os.path.join(FACES, "input0.png"), "-o",
                 os.path.join(self.dir, "o.png"), "--device", "cpu", "--detector", missing)
        self.assertEqual(r.returncode, 1)
        self.assertIn(missing, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "o.png")))

    def test_folder_with_a_bad_image_goes_on(self):
        src = os.path.join(self.dir, "in")
        os.mkdir(src)
        shutil.copy(os.path.join(FACES, "input0.png"), os.path.join(src, "a.png"))
        with open(os.path.join(src, "b.png"), "wb") as f:
            f.write(b"garbage")
        shutil.copy(os.path.join(FACES, "input1.png"), os.path.join(src, "c.png"))
        out = os.path.join(self.dir, "out")
        r = gpen("enhance", "-m", TINY, "-i", src, "-o", out, "--aligned", "--device", "cpu", "--batch", "2")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("b.png: not a readable image", r.stderr)
        self.assertEqual(sorted(os.listdir(out)), ["a.png", "c.png"])
        self.assertIn("[3/3]", r.stderr)
        self.assertIn("some failed", r.stderr)

    def test_input_is_never_overwritten(self):
        a = os.path.join(self.dir, "a.png")
        shutil.copy(os.path.join(FACES, "input0.png"), a)
        with open(a, "rb") as f:
            before = f.read()
        r = gpen("enhance", "-m", TINY, "-i", a, "-o", a, "--aligned", "--device", "cpu")
        self.assertEqual(r.returncode, 1)
        self.assertIn("never overwritten", r.stderr)
        r = gpen("enhance", "-m", TINY, "-i", self.dir, "-o", self.dir + "/", "--aligned", "--device", "cpu")
        self.assertEqual(r.returncode, 1)
        self.assertIn("is the input folder", r.stderr)
        with open(a, "rb") as f:
            self.assertEqual(f.read(), before)

    def test_rgba_input_keeps_alpha_and_resizes(self):
        p = os.path.join(self.dir, "rgba.png")
        png_rgba(p, 50, 40)  # not the model size: resized like upstream
        o = os.path.join(self.dir, "o.png")
        r = gpen("enhance", "-m", TINY, "-i", p, "-o", o, "--aligned", "--device", "cpu")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(png_info(o), (64, 64, 8, 6))  # RGBA out
        self.assertEqual([n for n in os.listdir(self.dir) if ".tmp." in n], [])

    def test_bad_flag_values(self):
        r = gpen("enhance", "-m", TINY, "-i", "x", "-o", "y", "--aligned", "--batch", "0")
        self.assertEqual(r.returncode, 1)
        self.assertIn("--batch '0' is not an integer in [1, 256]", r.stderr)
        r = gpen("bench", "--device", "tpu")
        self.assertEqual(r.returncode, 1)
        self.assertIn("--device 'tpu'", r.stderr)
        r = gpen("enhance", "-m", TINY, "-i", "x", "-o", "y", "--aligned", "--device", "cpu", "--precision", "fp16")
        self.assertEqual(r.returncode, 1)
        self.assertIn("fp16 needs --device cuda", r.stderr)


class Plan(unittest.TestCase):
    def test_plan_without_gpu_given_a_budget(self):
        r = gpen("plan", "--arch", "bfr512", "--device", "cuda", "--vram-budget", "2G", "--faces", "30", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        import json
        p = json.loads(r.stdout)
        self.assertEqual(p["device"], "cuda")
        self.assertGreaterEqual(p["batch"], 1)
        self.assertLessEqual(p["planned_peak_bytes"], 2 << 30)
        self.assertEqual(p["planned_peak_bytes"], sum(l["bytes"] for l in p["lines"]))

    def test_tiny_budget_names_the_minimum(self):
        r = gpen("plan", "--arch", "bfr1024", "--device", "cuda", "--vram-budget", "256M")
        self.assertEqual(r.returncode, 1)
        self.assertIn("the smallest configuration needs", r.stderr)

    def test_enhance_tiles_under_a_small_budget(self):
        s128 = fixture_paths.fixture_dir("gpen", "s128")
        if s128 is None:
            self.skipTest(fixture_paths.not_found("gpen", "s128"))
        with tempfile.TemporaryDirectory() as d:
            o = os.path.join(d, "o.png")
            # One thread: the OpenBLAS and process lines then do not depend on the machine's
            # cores. The process line depends on the build (the CUDA libraries' resident
            # pages), so the budget is the least the planner says any configuration needs,
            # which only tiling reaches.
            args = ["enhance", "-m", os.path.join(MODELS, "s128.safetensors"), "-i",
                    os.path.join(s128, "input0.png"), "-o", o, "--aligned", "--device", "cpu",
                    "--threads", "1", "--vram-budget"]
            r = gpen(*args, "16M")
            # The process line is measured when each run starts, so it moves by a few pages
            # between runs: a run refused for a minimum a little above the last one asks
            # again with the new minimum (a few tries at most).
            for _ in range(4):
                self.assertEqual(r.returncode, 1, r.stderr)
                m = re.search(r"the smallest configuration needs ([\d.]+) MiB", r.stderr)
                self.assertIsNotNone(m, r.stderr)
                # + 103 KiB: the message rounds to 0.1 MiB
                r = gpen(*args, "%dK" % int(float(m.group(1)) * 1024 + 103))
                if r.returncode == 0:
                    break
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("tiled from", r.stderr)
            self.assertTrue(os.path.exists(o))


if __name__ == "__main__":
    unittest.main()
