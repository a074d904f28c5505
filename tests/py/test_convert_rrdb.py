"""RRDBNet (Real-ESRGAN) conversion: the tiny checkpoints, wrappers, inference, the real model.

The three tests/data/rrdb/rrdb_x{1,2,4}_tiny checkpoints ({'params_ema': sd}, as
upstream ships them) must convert without --key, with metadata equal to each set's
meta.json and tensors equal to the checkpoint's, read back by an independent reader.
Wrappers are chosen as Real-ESRGAN's inference does (params_ema, else params);
hyperparameters are inferred from shapes (scale from conv_first's in-channels) and
refused outside the ranges. When tools/fetch_models.sh has filled models/.cache
(GPEN_MODELS_CACHE overrides it), the released realesrgan-x4plus ncnn model is
converted too and compared with its .bin, read here independently.
Run: python3 -m unittest tests/py/test_convert_rrdb.py (ctest runs test_convert*.py).
"""

import collections
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, HERE)

import archs  # noqa: E402
import convert  # noqa: E402
import fixture_paths  # noqa: E402
from file_formats import read_safetensors  # noqa: E402
import torchlike  # noqa: E402
from pth_reader import load_checkpoint  # noqa: E402

SETS = ("rrdb_x1_tiny", "rrdb_x2_tiny", "rrdb_x4_tiny")
HP_KEYS = ("scale", "num_in_ch", "num_out_ch", "num_feat", "num_block", "num_grow_ch")
CACHE = os.environ.get("GPEN_MODELS_CACHE", os.path.join(ROOT, "models", ".cache"))


def sha256(*paths):
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def random_sd(hp, seed=3):
    rng = np.random.default_rng(seed)
    return collections.OrderedDict((k, rng.standard_normal(s).astype(np.float32) * 0.1)
                                   for k, s in archs.rrdbnet_table(hp).items())


def tree_of(sd, tag):
    return collections.OrderedDict((k, torchlike.tensor(v, f"{tag}{i}"))
                                   for i, (k, v) in enumerate(sd.items()))


HP = dict(family="rrdbnet", scale=4, num_in_ch=3, num_out_ch=3, num_feat=4, num_block=1,
          num_grow_ch=2)


class Case(unittest.TestCase):
    def setUp(self):
        self.td = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.td.cleanup()

    def path(self, name):
        return os.path.join(self.td.name, name)

    def save(self, tree, name="m.pth"):
        torchlike.save_zip(tree, self.path(name))
        return self.path(name)


class TinyCheckpoints(Case):
    def test_each_set_converts_with_its_metadata_and_tensors(self):
        for s in SETS:
            d = fixture_paths.fixture_dir("rrdb", s)
            if d is None:
                self.skipTest(fixture_paths.not_found("rrdb", s))
            with open(os.path.join(d, "meta.json")) as f:
                want = json.load(f)
            src = os.path.join(d, "model.pth")
            tree, ref = load_checkpoint(src)
            self.assertEqual(list(tree), ["params_ema"])
            ref = {k[len("params_ema."):]: v for k, v in ref.items()}
            for dtype in ("fp32", "fp16"):
                with self.subTest(set=s, dtype=dtype):
                    dst = self.path(f"{s}.{dtype}.safetensors")
                    hp = convert.convert(src, dst, dtype=dtype, quiet=True)
                    meta, got, header, base = read_safetensors(dst, skip_padding=True)
                    for k in HP_KEYS:
                        self.assertEqual(hp[k], want[k], k)
                        self.assertEqual(meta[k], str(want[k]), k)
                    self.assertEqual(meta["family"], "rrdbnet")
                    self.assertEqual(meta["dtype"], dtype)
                    self.assertEqual(meta["source_file"], "model.pth")
                    self.assertEqual(meta["source_sha256"], sha256(src))
                    self.assertNotIn("lr_mlp", meta)
                    self.assertEqual(list(got), list(ref))  # upstream's state_dict order
                    np_dt = np.float32 if dtype == "fp32" else np.float16
                    for k, v in ref.items():
                        np.testing.assert_array_equal(got[k], v.astype(np_dt), err_msg=k)
                    for k, e in header.items():
                        if not k.startswith("__pad__."):
                            self.assertEqual((base + e["data_offsets"][0]) % 64, 0, k)

    def test_cli_says_which_state_dict(self):
        d = fixture_paths.fixture_dir("rrdb", "rrdb_x4_tiny")
        if d is None:
            self.skipTest(fixture_paths.not_found("rrdb", "rrdb_x4_tiny"))
        r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "convert.py"),
                            os.path.join(d, "model.pth"), self.path("o.safetensors")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("'params_ema' (found without --key)", r.stdout)
        self.assertIn("family      rrdbnet", r.stdout)


class Wrappers(Case):
    def test_params_ema_is_preferred_over_params(self):
        ema, plain = random_sd(HP, 1), random_sd(HP, 2)
        p = self.save({"params": tree_of(plain, "p"), "params_ema": tree_of(ema, "e")})
        convert.convert(p, self.path("o.safetensors"), quiet=True)
        _, got, _, _ = read_safetensors(self.path("o.safetensors"), skip_padding=True)
        for k, v in ema.items():
            np.testing.assert_array_equal(got[k], v, err_msg=k)
        tree, t = load_checkpoint(p)
        sd, used = convert.choose_state_dict(tree, t, None, p)
        self.assertEqual(used, "params_ema")
        self.assertEqual(convert._wrapper_note(tree, used, None),
                         "'params_ema' (preferred over 'params', as Real-ESRGAN's inference)")

    def test_params_alone_and_key_overrides(self):
        ema, plain = random_sd(HP, 1), random_sd(HP, 2)
        p = self.save({"params": tree_of(plain, "p")}, "a.pth")
        convert.convert(p, self.path("a.safetensors"), quiet=True)
        _, got, _, _ = read_safetensors(self.path("a.safetensors"), skip_padding=True)
        np.testing.assert_array_equal(got["conv_first.weight"], plain["conv_first.weight"])
        p = self.save({"params": tree_of(plain, "p"), "params_ema": tree_of(ema, "e")}, "b.pth")
        convert.convert(p, self.path("b.safetensors"), key="params", quiet=True)
        _, got, _, _ = read_safetensors(self.path("b.safetensors"), skip_padding=True)
        np.testing.assert_array_equal(got["conv_first.weight"], plain["conv_first.weight"])

    def test_other_wrappers_still_need_key(self):
        p = self.save({"net_a": tree_of(random_sd(HP, 1), "a"), "net_b": tree_of(random_sd(HP, 2), "b")})
        with self.assertRaisesRegex(convert.ConvertError, r"wraps several state_dicts .*--key"):
            convert.convert(p, self.path("o.safetensors"), quiet=True)
        convert.convert(p, self.path("o.safetensors"), key="net_b", quiet=True)

    def test_params_ema_without_tensors_falls_back(self):
        # An empty params_ema next to a real params: params is taken.
        plain = random_sd(HP, 2)
        p = self.save({"params_ema": collections.OrderedDict(), "params": tree_of(plain, "p")})
        convert.convert(p, self.path("o.safetensors"), quiet=True)


class Inference(Case):
    def convert_sd(self, sd, **kw):
        p = self.save(tree_of(sd, "t"))
        return convert.convert(p, self.path("o.safetensors"), quiet=True, **kw)

    def test_scale_from_conv_first(self):
        for scale, cin, cout in ((4, 3, 3), (2, 3, 3), (1, 3, 3), (4, 1, 1), (2, 1, 1),
                                 (4, 4, 4), (2, 4, 4), (1, 1, 1), (2, 2, 3), (1, 4, 4)):
            with self.subTest(scale=scale, cin=cin, cout=cout):
                hp = dict(HP, scale=scale, num_in_ch=cin, num_out_ch=cout)
                self.assertEqual(self.convert_sd(random_sd(hp)), hp)

    def test_ambiguous_scale_is_refused(self):
        # 16 channels: 4 at x2 or 1 at x1; num_out_ch 3 says neither.
        hp = dict(HP, scale=2, num_in_ch=4, num_out_ch=3)
        with self.assertRaisesRegex(archs.ArchError, r"conv_first takes 16 channels: scale 2 "
                                    r"with 4 channels or scale 1 with 1 channels, and num_out_ch 3"):
            self.convert_sd(random_sd(hp))
        hp = dict(HP, num_in_ch=5)
        sd = random_sd(dict(HP))
        sd["conv_first.weight"] = np.zeros((4, 5, 3, 3), np.float32)
        with self.assertRaisesRegex(archs.ArchError, r"conv_first takes 5 channels, expected 1 to 4"):
            self.convert_sd(sd)

    def test_missing_unknown_and_wrong_shapes_are_named(self):
        sd = random_sd(HP)
        del sd["body.0.rdb2.conv3.bias"]
        sd["body.0.rdb2.conv6.weight"] = np.zeros((2, 2, 3, 3), np.float32)
        sd["conv_hr.weight"] = np.zeros((4, 5, 3, 3), np.float32)
        with self.assertRaises(convert.ConvertError) as cm:
            self.convert_sd(sd)
        msg = str(cm.exception)
        self.assertIn("missing tensor 'body.0.rdb2.conv3.bias', expected shape [2]", msg)
        self.assertIn("unknown tensor 'body.0.rdb2.conv6.weight'", msg)
        self.assertIn("tensor 'conv_hr.weight' has shape [4, 5, 3, 3], expected [4, 4, 3, 3]", msg)
        sd = random_sd(HP)
        sd["conv_first.weight"] = np.zeros((4, 3, 1, 1), np.float32)
        with self.assertRaisesRegex(archs.ArchError, r"'conv_first.weight' has shape \[4, 3, 1, 1\], "
                                    r"expected a 3x3 convolution"):
            self.convert_sd(sd)

    def test_ranges(self):
        for key, bad, msg in (("num_block", 65, r"num_block is 65, expected a number in \[1, 64\]"),
                              ("num_feat", 1025, r"num_feat is 1025"),
                              ("num_grow_ch", 0, r"num_grow_ch is 0"),
                              ("num_out_ch", 5, r"num_out_ch is 5"),
                              ("scale", 3, r"scale is 3, expected 1, 2 or 4"),
                              ("num_feat", True, r"num_feat is True, expected an integer")):
            with self.subTest(key=key):
                with self.assertRaisesRegex(archs.ArchError, msg):
                    archs.rrdbnet_check_hp(dict(HP, **{key: bad}))
        # Inference stops counting blocks past the range.
        sd = random_sd(dict(HP, num_block=65, num_feat=1, num_grow_ch=1))
        with self.assertRaisesRegex(archs.ArchError, r"num_block is 65"):
            self.convert_sd(sd)

    def test_lr_mlp_is_refused_and_never_written(self):
        sd = random_sd(HP)
        with self.assertRaisesRegex(convert.ConvertError, r"--lr-mlp applies to gpen checkpoints "
                                    r"only; this one is rrdbnet"):
            self.convert_sd(sd, lr_mlp=0.01)
        self.convert_sd(sd)
        meta, _, _, _ = read_safetensors(self.path("o.safetensors"), skip_padding=True)
        self.assertEqual(set(meta) - {"format", "format_version", "converter_version",
                                      "source_file", "source_sha256", "dtype"},
                         {"family", *HP_KEYS})

    def test_detect_family(self):
        self.assertEqual(archs.detect_family({"conv_first.weight": 0, "body.0.rdb1.conv1.weight": 0}),
                         "rrdbnet")
        with self.assertRaisesRegex(archs.ArchError, "unrecognised checkpoint"):
            archs.detect_family({"conv_first.weight": 0})


class RealEsrganX4plus(Case):
    """The released model, when tools/fetch_models.sh has put it in the cache."""

    def setUp(self):
        super().setUp()
        self.param = os.path.join(CACHE, "realesrgan-x4plus.param")
        self.bin = os.path.join(CACHE, "realesrgan-x4plus.bin")
        if not (os.path.isfile(self.param) and os.path.isfile(self.bin)):
            self.skipTest(f"realesrgan-x4plus.param/.bin not in {CACHE}; run tools/fetch_models.sh")

    def test_converts_and_equals_the_bin(self):
        with open(self.param) as f:
            types = collections.Counter(ln.split()[0] for ln in f.read().split("\n")[2:] if ln.strip())
        self.assertEqual(types, {"Convolution": 351, "Split": 276, "Concat": 276, "Eltwise": 92,
                                 "Interp": 2, "Input": 1, "BinaryOp": 1})
        with open(self.bin, "rb") as f:
            data = f.read()
        for dtype in ("fp32", "fp16"):
            with self.subTest(dtype=dtype):
                dst = self.path(f"x4plus.{dtype}.safetensors")
                hp = convert.convert(self.param, dst, dtype=dtype, quiet=True)
                self.assertEqual(hp, dict(family="rrdbnet", scale=4, num_in_ch=3, num_out_ch=3,
                                          num_feat=64, num_block=23, num_grow_ch=32))
                meta, got, _, _ = read_safetensors(dst, skip_padding=True)
                self.assertEqual(len(got), 702)
                self.assertEqual(meta["source_file"], "realesrgan-x4plus.param")
                self.assertEqual(meta["source_sha256"], sha256(self.param, self.bin))
                # conv_first opens the .bin: tag, 1728 fp16 weights, 64 fp32 biases;
                # conv_last closes it: 1728 fp16 weights, then 3 fp32 biases.
                self.assertEqual(struct.unpack("<I", data[:4])[0], 0x01306B47)
                w0 = np.frombuffer(data[4:4 + 3456], "<f2").reshape(64, 3, 3, 3)
                b0 = np.frombuffer(data[3460:3460 + 256], "<f4")
                wl = np.frombuffer(data[-12 - 3456:-12], "<f2").reshape(3, 64, 3, 3)
                bl = np.frombuffer(data[-12:], "<f4")
                for name, want in (("conv_first.weight", w0), ("conv_first.bias", b0),
                                   ("conv_last.weight", wl), ("conv_last.bias", bl)):
                    np.testing.assert_array_equal(got[name].astype(np.float64),
                                                  want.astype(got[name].dtype).astype(np.float64),
                                                  err_msg=name)
                self.assertEqual(sum(v.size for v in got.values()), 16_697_987)


if __name__ == "__main__":
    unittest.main()
