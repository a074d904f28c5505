"""Converter tests: fixtures, architecture inference, layouts, and hostile pickles.

Run: python3 -m unittest discover -s tests/py  (ctest does this). Needs numpy only.
Fixture sets come from tests/data, then ../shared (fixture_paths.py; GPEN_TEST_DATA_DIR
and GPEN_SHARED_DIR override them); a test whose set is in neither is skipped.
"""

import collections
import json
import os
import pickle
import struct
import sys
import tempfile
import unittest
import zipfile

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
from pth_reader import CheckpointError, UnsafePickleError, load_checkpoint  # noqa: E402


def fixture(test, kind, name, *path):
    """A file of fixture set kind/name (tests/data first, then ../shared); skips `test` if absent."""
    d = fixture_paths.fixture_dir(kind, name)
    if d is None:
        test.skipTest(fixture_paths.not_found(kind, name))
    return os.path.join(d, *path)


# The GPEN sets ../shared/README.md lists, plus any other found; a missing one is skipped.
GPEN_SETS = ("bfr256_fp16", "s128", "tiny64")


def all_gpen_sets():
    return sorted(set(GPEN_SETS) | set(fixture_paths.gpen_sets()))


# tiny64 ships in tests/data: the tests built on it always run.
TINY64_PTH = os.path.join(fixture_paths.fixture_dir("gpen", "tiny64") or "tiny64-not-found", "model.pth")


class FixtureConversion(unittest.TestCase):
    def test_every_gpen_set_converts_exactly(self):
        for s in all_gpen_sets():
            with self.subTest(set=s):
                self.check_conversion(fixture(self, "gpen", s, "model.pth"))

    def check_conversion(self, src):
        _, ref = load_checkpoint(src)
        for dtype in ("fp32", "fp16"):
            with self.subTest(dtype=dtype), tempfile.TemporaryDirectory() as td:
                dst = os.path.join(td, "m.safetensors")
                convert.convert(src, dst, dtype=dtype, quiet=True)
                meta, got, header, base = read_safetensors(dst)
                real = {k: v for k, v in got.items() if not k.startswith("__pad__.")}
                self.assertEqual(set(real), set(ref))
                want_dt = np.float32 if dtype == "fp32" else np.float16
                for k, v in ref.items():
                    np.testing.assert_array_equal(real[k], v.astype(want_dt), err_msg=k)
                # Alignment: data section and every tensor at a multiple of 64 bytes.
                self.assertEqual(base % 64, 0)
                for k, e in header.items():
                    if not k.startswith("__pad__."):
                        self.assertEqual((base + e["data_offsets"][0]) % 64, 0, k)
                self.assertEqual(meta["dtype"], dtype)
                self.assertEqual(len(meta["source_sha256"]), 64)

    def test_raw_storage_bytes_match(self):
        """Independent of our unpickler: every tensor's bytes occur in its zip storage."""
        src = TINY64_PTH
        _, ref = load_checkpoint(src)
        with zipfile.ZipFile(src) as z:
            blobs = [z.read(n) for n in z.namelist() if "/data/" in n]
        for k, v in ref.items():
            self.assertTrue(any(v.tobytes() in b for b in blobs), k)

    def test_inferred_architecture_equals_meta(self):
        for s in all_gpen_sets():
            with self.subTest(set=s):
                d = fixture(self, "gpen", s)
                with open(os.path.join(d, "meta.json")) as f:
                    meta = json.load(f)
                _, t = load_checkpoint(os.path.join(d, "model.pth"))
                hp = archs.gpen_infer(t)
                self.assertEqual(hp["in_size"], meta["size"])
                self.assertEqual(hp["out_size"], meta["size"])
                for k in ("style_dim", "n_mlp", "channel_multiplier", "narrow", "isconcat",
                          "lr_mlp", "blur_kernel"):
                    self.assertEqual(hp[k], meta[k], k)
                self.assertEqual(sum(v.size for v in t.values()), meta["params"])
                self.assertEqual(len(t), meta["state_dict_keys"])

    def test_legacy_format_retinaface(self):
        _, t = load_checkpoint(fixture(self, "retinaface", "retinaface_mnet", "model.pth"))
        self.assertEqual(len(t), 300)
        # BatchNorm counters are int64; every parameter is float32.
        self.assertEqual({str(v.dtype) for k, v in t.items() if not k.endswith("num_batches_tracked")},
                         {"float32"})
        self.assertTrue(all(v.dtype == np.int64 for k, v in t.items() if k.endswith("num_batches_tracked")))

    def test_wrapped_rrdb_checkpoint(self):
        """{'params_ema': sd} unwraps without --key and converts as RRDBNet (the full
        checks are in test_convert_rrdb.py)."""
        src = fixture(self, "rrdb", "rrdb_x1_tiny", "model.pth")
        tree, t = load_checkpoint(src)
        self.assertIn("params_ema", tree)
        inner, used = convert.choose_state_dict(tree, t, None, "x")
        self.assertEqual(used, "params_ema")
        self.assertIn("conv_first.weight", inner)
        self.assertEqual(set(convert.unwrap(tree, t, None, "x")), set(inner))
        with tempfile.TemporaryDirectory() as td:
            hp = convert.convert(src, os.path.join(td, "m.safetensors"), quiet=True)
        self.assertEqual(hp["family"], "rrdbnet")


class Layouts(unittest.TestCase):
    def setUp(self):
        self.td = tempfile.TemporaryDirectory()
        self.dir = self.td.name
        # A real architecture (tiny64's tensors) to rebuild in other layouts.
        _, self.sd = load_checkpoint(TINY64_PTH)

    def tearDown(self):
        self.td.cleanup()

    def tree(self, transform=lambda k, v, i: torchlike.tensor(v, str(i))):
        return collections.OrderedDict((k, transform(k, v, i)) for i, (k, v) in enumerate(self.sd.items()))

    def roundtrip(self, path, **kw):
        dst = os.path.join(self.dir, "out.safetensors")
        convert.convert(path, dst, quiet=True, **kw)
        _, got, _, _ = read_safetensors(dst)
        for k, v in self.sd.items():
            np.testing.assert_array_equal(got[k], v, err_msg=k)

    def test_views_with_offsets_and_strides(self):
        def strided(k, v, i):
            if v.ndim == 2:  # stored transposed inside a larger storage, at an offset
                big = np.zeros(7 + v.size, np.float32)
                big[7:] = v.T.ravel()
                return torchlike.tensor(v, str(i), offset=7, storage=big, stride=[1, v.shape[0]])
            return torchlike.tensor(v, str(i))
        p = os.path.join(self.dir, "strided.pth")
        torchlike.save_zip(self.tree(strided), p)
        self.roundtrip(p)

    def test_shared_storage(self):
        # Two tensors in one storage at different offsets, as torch saves views.
        items = list(self.sd.items())
        a_name, a = items[0]
        b_name, b = items[1]
        store = np.concatenate([a.ravel(), b.ravel()]).astype(np.float32)
        tree = self.tree()
        tree[a_name] = torchlike.tensor(a, "shared", storage=store)
        tree[b_name] = torchlike.tensor(b, "shared", offset=a.size, storage=store)
        p = os.path.join(self.dir, "shared.pth")
        torchlike.save_zip(tree, p)
        self.roundtrip(p)

    def test_fp16_storage_and_module_prefix_and_wrapper(self):
        half = lambda k, v, i: torchlike.tensor(v.astype(np.float16), str(i))
        tree = collections.OrderedDict(("module." + k, v) for k, v in self.tree(half).items())
        p = os.path.join(self.dir, "wrapped.pth")
        disc = self.tree(lambda k, v, i: torchlike.tensor(v, f"d{i}"))  # its own storages
        torchlike.save_zip({"g_ema": tree, "d": disc}, p)
        with self.assertRaisesRegex(convert.ConvertError, "--key"):
            convert.convert(p, os.path.join(self.dir, "x.safetensors"), quiet=True)
        dst = os.path.join(self.dir, "out.safetensors")
        convert.convert(p, dst, key="g_ema", quiet=True)
        _, got, _, _ = read_safetensors(dst)
        for k, v in self.sd.items():
            np.testing.assert_array_equal(got[k], v.astype(np.float16).astype(np.float32))

    def test_legacy_writer(self):
        p = os.path.join(self.dir, "legacy.pth")
        torchlike.save_legacy(self.tree(), p)
        self.roundtrip(p)

    def test_missing_and_unknown_tensors_are_named(self):
        tree = self.tree()
        del tree["generator.convs.3.noise.weight"]
        tree["generator.extra.weight"] = torchlike.tensor(np.zeros(3, np.float32), "x")
        p = os.path.join(self.dir, "bad.pth")
        torchlike.save_zip(tree, p)
        with self.assertRaises(convert.ConvertError) as cm:
            convert.convert(p, os.path.join(self.dir, "x.safetensors"), quiet=True)
        msg = str(cm.exception)
        self.assertIn("missing tensor 'generator.convs.3.noise.weight'", msg)
        self.assertIn("unknown tensor 'generator.extra.weight'", msg)

    def test_wrong_shape_is_named(self):
        tree = self.tree()
        tree["generator.style.1.bias"] = torchlike.tensor(np.zeros(63, np.float32), "b")
        p = os.path.join(self.dir, "bad.pth")
        torchlike.save_zip(tree, p)
        with self.assertRaisesRegex(convert.ConvertError, r"'generator.style.1.bias' has shape \[63\], expected \[64\]"):
            convert.convert(p, os.path.join(self.dir, "x.safetensors"), quiet=True)

    def test_failed_conversion_leaves_existing_output(self):
        dst = os.path.join(self.dir, "keep.safetensors")
        with open(dst, "wb") as f:
            f.write(b"previous")
        p = os.path.join(self.dir, "truncated.pth")
        with open(TINY64_PTH, "rb") as f:
            data = f.read()
        with open(p, "wb") as f:
            f.write(data[: len(data) // 2])
        with self.assertRaises(CheckpointError):
            convert.convert(p, dst, quiet=True)
        with open(dst, "rb") as f:
            self.assertEqual(f.read(), b"previous")
        self.assertEqual([n for n in os.listdir(self.dir) if n.startswith(".convert-")], [])

    def test_refuses_to_overwrite_input(self):
        p = os.path.join(self.dir, "m.pth")
        torchlike.save_zip(self.tree(), p)
        with self.assertRaisesRegex(convert.ConvertError, "overwrite the input"):
            convert.convert(p, p, quiet=True)

    def test_cli_exit_code_and_message(self):
        import subprocess
        r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "convert.py"),
                            os.path.join(self.dir, "nope.pth"), os.path.join(self.dir, "o.safetensors")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("nope.pth: no such file", r.stderr)


class _Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


class HostilePickles(unittest.TestCase):
    def evil_zip(self, path, payload):
        data = pickle.dumps(collections.OrderedDict(w=payload), protocol=2)
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("archive/data.pkl", data)

    def test_os_system_is_refused_and_not_run(self):
        with tempfile.TemporaryDirectory() as td:
            marker = os.path.join(td, "pwned")
            p = os.path.join(td, "evil.pth")
            self.evil_zip(p, _Evil(os.system, f"touch {marker}"))
            with self.assertRaises(UnsafePickleError) as cm:
                load_checkpoint(p)
            self.assertIn("system", str(cm.exception))
            self.assertFalse(os.path.exists(marker))

    def test_builtins_eval_is_refused(self):
        with tempfile.TemporaryDirectory() as td:
            marker = os.path.join(td, "pwned")
            p = os.path.join(td, "evil.pth")
            self.evil_zip(p, _Evil(eval, f"open({marker!r}, 'w')"))
            with self.assertRaisesRegex(UnsafePickleError, r"(builtins|__builtin__)\.eval"):
                load_checkpoint(p)
            self.assertFalse(os.path.exists(marker))

    def test_legacy_stream_with_evil_global(self):
        with tempfile.TemporaryDirectory() as td:
            marker = os.path.join(td, "pwned")
            p = os.path.join(td, "evil.pth")
            with open(p, "wb") as f:
                pickle.dump(0x1950A86A20F9469CFC6C, f, protocol=2)
                pickle.dump(1001, f, protocol=2)
                pickle.dump({}, f, protocol=2)
                pickle.dump(_Evil(os.system, f"touch {marker}"), f, protocol=2)
            with self.assertRaises(UnsafePickleError):
                load_checkpoint(p)
            self.assertFalse(os.path.exists(marker))

    def test_converter_cli_reports_refusal(self):
        import subprocess
        with tempfile.TemporaryDirectory() as td:
            p = os.path.join(td, "evil.pth")
            self.evil_zip(p, _Evil(os.system, "true"))
            r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "convert.py"), p,
                                os.path.join(td, "o.safetensors")], capture_output=True, text=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn("refused to load global", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(td, "o.safetensors")))

    def test_not_a_checkpoint(self):
        with tempfile.TemporaryDirectory() as td:
            p = os.path.join(td, "x.pth")
            with open(p, "wb") as f:
                f.write(b"hello world, not a pickle")
            with self.assertRaises(CheckpointError):
                load_checkpoint(p)


if __name__ == "__main__":
    unittest.main()
