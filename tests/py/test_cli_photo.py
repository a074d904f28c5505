"""CLI tests of whole photos: `gpen detect` and `gpen enhance` without --aligned.

The detector is the RetinaFace fixture (random weights, upstream's own outputs in
tests/data/retinaface/retinaface_mnet) converted by ctest into GPEN_TEST_MODELS_DIR, and
the restorer the tiny GPEN fixture: they prove the chain (detection as upstream,
batches across photos, paste-back, backgrounds, files and flags), not what trained
weights look like. With the real detector (tools/fetch_models.sh, models/) the Solvay
photo's 29 faces are found; without it that test skips.

Needs GPEN_BIN and GPEN_TEST_MODELS_DIR (ctest sets both).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_paths  # noqa: E402
from file_formats import read_png, write_png  # noqa: E402

BIN = os.environ.get("GPEN_BIN", "build/gpen")
MODELS = os.environ.get("GPEN_TEST_MODELS_DIR", "build/test_models")
ROOT = fixture_paths.ROOT
RF_SET = fixture_paths.fixture_dir("retinaface", "retinaface_mnet")
RF = os.path.join(MODELS, "retinaface_mnet.safetensors")
TINY = os.path.join(MODELS, "tiny64.safetensors")
PHOTO = os.path.join(RF_SET, "input.png")
with open(os.path.join(RF_SET, "meta.json")) as f:
    META = json.load(f)
# The fixture's threshold, as a decimal the CLI reads back to the same float32.
THRESHOLD = "%.9g" % META["confidence_threshold"]
REAL_DETECTOR = os.path.join(ROOT, "models", "retinaface-mnet.safetensors")


def gpen(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=900)


def pixels(path):
    w, h, ch, data = read_png(path)
    return np.frombuffer(data, np.uint8).reshape(h, w, ch)


class Detect(unittest.TestCase):
    def setUp(self):
        self.td = tempfile.TemporaryDirectory()
        self.dir = self.td.name

    def tearDown(self):
        self.td.cleanup()

    def test_faces_match_upstream(self):
        r = gpen("detect", "--detector", RF, "-i", PHOTO, "--threshold", THRESHOLD, "--json",
                 "--device", "cpu")
        self.assertEqual(r.returncode, 0, r.stderr)
        got = json.loads(r.stdout)
        dets = np.load(os.path.join(RF_SET, "dets.npy"))
        lms = np.load(os.path.join(RF_SET, "dets_landmarks.npy"))
        self.assertEqual((got["width"], got["height"]), (META["input_hw"][1], META["input_hw"][0]))
        self.assertEqual(len(got["faces"]), len(dets))
        # Upstream's order is by score; boxes printed to 0.01 px, scores to 1e-5. The
        # network runs in float32 against upstream's float64 (C++ tests bound it).
        for f, d, lm in zip(got["faces"], dets, lms):
            self.assertLess(np.abs(np.array(f["box"]) - d[:4]).max(), 0.02)
            self.assertLess(abs(f["score"] - d[4]), 1e-4)
            self.assertLess(np.abs(np.array(f["landmarks"]).reshape(-1) - lm).max(), 0.02)

    def test_draw_writes_a_new_file_only(self):
        out = os.path.join(self.dir, "drawn.png")
        r = gpen("detect", "--detector", RF, "-i", PHOTO, "--threshold", THRESHOLD, "--draw", out,
                 "--device", "cpu")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("74 faces", r.stdout)
        a, b = pixels(out), pixels(PHOTO)
        self.assertEqual(a.shape[:2], b.shape[:2])
        self.assertGreater(int((a[..., :3] != b[..., :3]).any(axis=2).sum()), 1000)
        copy = os.path.join(self.dir, "in.png")
        shutil.copy(PHOTO, copy)
        r = gpen("detect", "--detector", RF, "-i", copy, "--draw", copy, "--device", "cpu")
        self.assertEqual(r.returncode, 1)
        self.assertIn("inputs are never overwritten", r.stderr)

    def test_bench_says_a_detector_gives_no_image(self):
        r = gpen("bench", "--arch", "retinaface-mnet", "--device", "cpu")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("gives no image", r.stderr)

    def test_a_restorer_is_not_a_detector(self):
        r = gpen("detect", "--detector", TINY, "-i", PHOTO, "--device", "cpu")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a face detector", r.stderr)

    @unittest.skipUnless(os.path.isfile(REAL_DETECTOR),
                         "the real detector is not in models/ (run tools/fetch_models.sh)")
    def test_real_detector_finds_the_29_faces_of_solvay(self):
        solvay = os.path.join(fixture_paths.shared_dir(), "images", "solvay_conference_1927.png")
        if not os.path.isfile(solvay):
            self.skipTest("no %s" % solvay)
        r = gpen("detect", "--detector", REAL_DETECTOR, "-i", solvay, "--json", "--device", "cpu")
        self.assertEqual(r.returncode, 0, r.stderr)
        faces = json.loads(r.stdout)["faces"]
        self.assertEqual(len(faces), 29)
        for f in faces:
            x1, y1, x2, y2 = f["box"]
            self.assertTrue(25 < x2 - x1 < 60 and 30 < y2 - y1 < 70, f)  # heads of this photo
            self.assertGreater(f["score"], 0.9)
        out = os.path.join(self.dir, "solvay.png")
        r = gpen("enhance", "-m", TINY, "--detector", REAL_DETECTOR, "-i", solvay, "-o", out,
                 "--bg-upsampler", "bicubic", "--device", "cpu")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("29 faces", r.stderr)
        img = pixels(out)
        self.assertEqual(img.shape, (2 * 568, 2 * 1328, 4))  # RGBA kept


class Enhance(unittest.TestCase):
    def setUp(self):
        self.td = tempfile.TemporaryDirectory()
        self.dir = self.td.name

    def tearDown(self):
        self.td.cleanup()

    def enhance(self, inp, out, *extra, threshold=THRESHOLD, detector=RF):
        return gpen("enhance", "-m", TINY, "--detector", detector, "-i", inp, "-o", out, "--threshold",
                    threshold, "--device", "cpu", *extra)

    def test_whole_chain_restores_in_batches_and_pastes_back(self):
        out = os.path.join(self.dir, "o.png")
        faces = os.path.join(self.dir, "faces")
        # --upscale 1: the detector sees the photo at its own size, as upstream's fixture.
        r = self.enhance(PHOTO, out, "--bg-upsampler", "bicubic", "--batch", "16",
                         "--save-faces", faces, "--upscale", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("74 faces", r.stderr)
        self.assertIn("5 passes for 74 faces", r.stderr)
        self.assertIn("stages: decode", r.stderr)
        got = pixels(out)
        h, w = META["input_hw"]
        self.assertEqual(got.shape, (h, w, 3))
        self.assertEqual(len(os.listdir(faces)), 74)
        self.assertEqual(pixels(os.path.join(faces, "input_face0.png")).shape, (64, 128, 3))
        # Without faces the same command writes the background alone: the restored faces
        # changed the pixels near the faces and left the others as they were.
        bg = os.path.join(self.dir, "bg.png")
        r = self.enhance(PHOTO, bg, "--bg-upsampler", "bicubic", "--upscale", "1", threshold="1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("no face found", r.stderr)
        changed = (pixels(bg) != got).any(axis=2)
        self.assertTrue(0.01 < changed.mean() < 0.95, changed.mean())
        self.assertFalse(changed[:, :8].any() and changed[:, -8:].any() and changed[:8].any())

    def test_faces_of_a_folder_share_batches(self):
        src = os.path.join(self.dir, "in")
        os.mkdir(src)
        shutil.copy(PHOTO, os.path.join(src, "a.png"))
        shutil.copy(PHOTO, os.path.join(src, "b.png"))
        write_png(os.path.join(src, "c.png"), 40, 30, 3, lambda x, y: (128, 128, 128))
        out = os.path.join(self.dir, "out")
        r = self.enhance(src, out, "--bg-upsampler", "none", "--upscale", "1", "--batch", "10")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("148 in 3 photos", r.stderr)
        self.assertIn("15 passes for 148 faces", r.stderr)
        self.assertEqual(sorted(os.listdir(out)), ["a.png", "b.png", "c.png"])
        self.assertTrue((pixels(os.path.join(out, "a.png")) == pixels(os.path.join(out, "b.png"))).all())
        self.assertTrue((pixels(os.path.join(out, "c.png")) == 128).all())  # no face: as it was

    def test_save_faces_never_overwrites_an_input(self):
        src = os.path.join(self.dir, "in")
        os.mkdir(src)
        shutil.copy(PHOTO, os.path.join(src, "a.png"))
        shutil.copy(PHOTO, os.path.join(src, "a_face0.png"))  # what a.png's first face is named
        with open(os.path.join(src, "a_face0.png"), "rb") as f:
            before = f.read()
        out = os.path.join(self.dir, "out")
        r = self.enhance(src, out, "--bg-upsampler", "bicubic", "--save-faces", src)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("a_face0.png is an input; inputs are never overwritten", r.stderr)
        with open(os.path.join(src, "a_face0.png"), "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(os.listdir(out), ["a_face0.png"])

    def test_upscaler_backgrounds(self):
        for model, up in (("rrdb_x4_tiny", "4"), ("rrdb_x4_tiny", "2"), ("rrdb_x2_tiny", "2")):
            out = os.path.join(self.dir, "%s_%s.png" % (model, up))
            r = self.enhance(PHOTO, out, "--upscaler", os.path.join(MODELS, model + ".safetensors"),
                             "--upscale", up, "--tile-size", "128")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("upscaler: RRDBNet", r.stderr)
            h, w = META["input_hw"]
            self.assertEqual(pixels(out).shape, (int(up) * h, int(up) * w, 3), out)

    def test_only_faces_keeps_the_photo_outside_the_faces(self):
        out = os.path.join(self.dir, "o.png")
        r = self.enhance(PHOTO, out, "--only-faces", "--upscale", "1",
                         "--upscaler", os.path.join(MODELS, "rrdb_x4_tiny.safetensors"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("upscaler:", r.stderr)
        a, b = pixels(out), pixels(PHOTO)
        self.assertEqual(a.shape, b.shape)
        same = (a == b).all(axis=2)
        self.assertTrue(0.05 < same.mean() < 0.99, same.mean())

    def test_rgba_photo_keeps_its_alpha(self):
        w, h, ch, data = read_png(PHOTO)
        rgb = np.frombuffer(data, np.uint8).reshape(h, w, ch)
        src = os.path.join(self.dir, "rgba.png")
        write_png(src, w, h, 4, lambda x, y: (*rgb[y, x, :3], 200))
        out = os.path.join(self.dir, "o.png")
        r = self.enhance(src, out, "--bg-upsampler", "bicubic")
        self.assertEqual(r.returncode, 0, r.stderr)
        got = pixels(out)
        self.assertEqual(got.shape, (2 * h, 2 * w, 4))
        self.assertTrue((got[..., 3] == 200).all())

    def test_bad_flags_are_named(self):
        out = os.path.join(self.dir, "o.png")
        for extra, want in ((("--upscale", "3"), "--upscale 3"),
                            (("--alpha", "2"), "--alpha '2'"),
                            (("--alpha", "nan"), "--alpha 'nan'"),
                            (("--bg-upsampler", "lanczos"), "--bg-upsampler 'lanczos'"),
                            (("--bg-upsampler", "none"), "--bg-upsampler none keeps"),
                            (("--bg-upsampler", "rrdb", "--upscaler", TINY), "not an image upscaler"),
                            ):
            r = self.enhance(PHOTO, out, *extra)
            self.assertEqual(r.returncode, 1, extra)
            self.assertIn(want, r.stderr, extra)
            self.assertFalse(os.path.exists(out))
        for detector, want in ((TINY, "not a face detector"),
                               (os.path.join(self.dir, "missing"), "missing")):
            r = self.enhance(PHOTO, out, detector=detector)
            self.assertEqual(r.returncode, 1, detector)
            self.assertIn(want, r.stderr, detector)
        r = self.enhance(PHOTO, out, threshold="x")
        self.assertEqual(r.returncode, 1)
        self.assertIn("--threshold 'x'", r.stderr)
        r = gpen("enhance", "-m", RF, "--detector", RF, "-i", PHOTO, "-o", out, "--device", "cpu")
        self.assertEqual(r.returncode, 1)
        self.assertIn("is a retinaface model", r.stderr)


if __name__ == "__main__":
    unittest.main()
