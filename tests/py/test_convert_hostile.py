"""Converter regression tests for the red-team findings of issue 9, one class per finding class.

Each hostile checkpoint is assembled from bytes in the test (tests/py/hostile_pth.py:
pickle opcodes, zipfile, the legacy stream), never downloaded. Exhaustion cases run
in a child under an address-space limit and a time limit (hostile_pth.run_bounded),
so a test proves the bound instead of hoping for it. Every refusal must be our own
error: one line naming the file (and tensor), exit code 1, no traceback.

Run: python3 -m unittest discover -s tests/py -p "test_convert*.py" -v  (needs numpy).
"""

import errno
import io
import os
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import zipfile
from contextlib import redirect_stderr

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, HERE)

import archs  # noqa: E402
import convert  # noqa: E402
import hostile_pth as H  # noqa: E402
from pth_reader import CheckpointError, Limits, load_checkpoint, open_checkpoint  # noqa: E402

MiB = 1 << 20


class Case(unittest.TestCase):
    def setUp(self):
        self.td = tempfile.TemporaryDirectory()
        self.dir = self.td.name

    def tearDown(self):
        self.td.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def out(self):
        return self.path("out.safetensors")

    def assert_refused(self, src, pattern, cls=convert.USER_ERRORS, **kw):
        """convert() refuses src with a one-line message matching pattern and writes nothing."""
        with self.assertRaises(cls) as cm:
            convert.convert(src, self.out(), quiet=True, **kw)
        msg = str(cm.exception)
        self.assertRegex(msg, pattern)
        self.assertNotIn("\n", msg)
        self.assertFalse(os.path.exists(self.out()))
        self.assertEqual([n for n in os.listdir(self.dir) if n.startswith(".convert-")], [])
        return msg

    def assert_cli_error(self, args, pattern, code=1, timeout=60):
        """The CLI exits with `code` and one stderr line 'error: ...' matching pattern."""
        r = subprocess.run(H.convert_cmd(*args), capture_output=True, text=True, timeout=timeout)
        self.assertEqual(r.returncode, code, r.stderr)
        lines = r.stderr.strip().splitlines()
        if code == 1:
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertTrue(lines[0].startswith("error: "), r.stderr)
        self.assertNotIn("Traceback", r.stderr)
        self.assertRegex(r.stderr, pattern)
        return r.stderr


# --------------------------------------------------------------------------- heap leak

class HeapLeakIntoOutput(Case):
    """Every view is validated against its storage, so no byte outside a storage (our
    own heap, in the reported case) can reach the output."""

    def legacy_with_view(self, target, view, numel_extra=0):
        def override(name, kw, raw):
            if name == target:
                n = kw["numel"] + numel_extra
                kw = dict(kw, numel=n, view=("v" + kw["key"], view[0], view[1]))
                raw = raw + b"\0" * (4 * numel_extra)
            return kw, raw
        return H.tiny_hostile_legacy(self.path("view.pth"), override)

    def test_legacy_view_with_negative_offset_is_refused(self):
        name = "generator.style.1.weight"
        p = self.legacy_with_view(name, (-1_000_000, 16))
        self.assert_refused(p, r"view .* covers elements \[-1000000, \+16\).*must lie inside")

    def test_legacy_view_past_the_end_of_its_storage_is_refused(self):
        p = self.legacy_with_view("generator.style.1.weight", (8, 16))
        self.assert_refused(p, r"covers elements \[8, \+16\) of a storage of 16 elements")

    def test_tensor_past_the_end_of_its_view_is_refused(self):
        # The view lies inside the storage, but the tensor reads past the view.
        p = self.legacy_with_view("generator.style.1.weight", (4, 12), numel_extra=8)
        self.assert_refused(p, r"tensor 'generator.style.1.weight' .* reaches element 15 of a "
                               r"storage of 12 elements")

    def test_legacy_views_inside_their_storage_read_exactly(self):
        sd = H.tiny_gpen()
        a_name, b_name = "generator.style.1.weight", "generator.style.1.bias"
        a, b = sd[a_name], sd[b_name]
        root = np.concatenate([np.zeros(3, np.float32), a.ravel(), b.ravel()])
        items, storages = H.tiny_items(legacy=True)
        items = [(n, dict(kw, key="root", numel=root.size, view=("va", 3, a.size)) if n == a_name else
                  dict(kw, key="root", numel=root.size, view=("vb", 3 + a.size, b.size)) if n == b_name
                  else kw) for n, kw in items]
        storages = [s for s in storages if s[0] not in ("0", "1")] + [("root", root.size, root.tobytes())]
        p = H.write_legacy(self.path("views.pth"), H.Pickle().state_dict(items).bytes(), storages)
        _, t = load_checkpoint(p)
        np.testing.assert_array_equal(t[a_name], a)
        np.testing.assert_array_equal(t[b_name], b)

    def test_negative_offset_or_stride_in_zip_is_refused(self):
        for kw in (dict(offset=-1), dict(stride=(-1,)), dict(size=(-3,))):
            with self.subTest(**kw):
                args = dict(size=(1,), stride=(1,), numel=4, offset=0)
                args.update(kw)
                p = H.one_tensor_zip(self.path("neg.pth"), **args)
                with self.assertRaisesRegex(CheckpointError, r"'w' .* negative offset, size or stride"):
                    load_checkpoint(p)

    def test_last_element_outside_the_storage_is_refused(self):
        p = H.one_tensor_zip(self.path("far.pth"), size=(4, 4), stride=(4, 1), numel=15)
        with self.assertRaisesRegex(CheckpointError, r"reaches element 15 of a storage of 15"):
            load_checkpoint(p)


# --------------------------------------------------------------------------- exhaustion

class MemoryAndCpuExhaustion(Case):
    """Each case ends with a clear error within a memory and time bound: the child runs
    under RLIMIT_AS and a wall-clock limit, and reports its peak RSS."""

    MEM_MB, SECONDS = 400, 30

    def bounded(self, cmd, pattern, max_rss_mb=200, max_s=10):
        rc, out, err, took, rss = H.run_bounded(cmd, self.MEM_MB, self.SECONDS)
        self.assertEqual(rc, 1, err)
        self.assertRegex(err, pattern)
        self.assertNotIn("Traceback", err)
        self.assertLess(took, max_s, f"took {took:.1f} s")
        self.assertLess(rss, max_rss_mb, f"peak RSS {rss:.0f} MiB")
        return took, rss

    def test_zero_stride_huge_shape_is_refused_before_materialising(self):
        p = H.one_tensor_zip(self.path("zero.pth"), size=(1 << 20, 1 << 20), stride=(0, 0))
        self.assertLess(os.path.getsize(p), 1024)
        self.bounded(H.load_cmd(p), r"1,099,511,627,776 elements\), more than the 33,554,432")

    def test_zero_stride_views_of_a_huge_but_valid_architecture(self):
        # Every tensor of a GPEN with style_dim 8192 as a zero-stride view of one float:
        # shapes match the architecture, so the per-tensor cap must stop it.
        hp = dict(H.TINY_HP, style_dim=8192)
        items = [(n, dict(key="0", numel=1, offset=0, size=s, stride=[0] * len(s)))
                 for n, s in archs.gpen_table(hp).items()]
        one = np.float32(1).tobytes()
        p = H.write_zip(self.path("huge.pth"), H.Pickle().state_dict(items).bytes(), {"0": one})
        self.bounded(H.convert_cmd(p, self.out()),
                     r"'generator.style.1.weight' has shape \[8192, 8192\] .*more than")

    def test_deflate_bomb_is_not_inflated(self):
        p = H.zip_bomb(self.path("bomb.pth"), 256 * MiB)
        self.assertLess(os.path.getsize(p), 300_000)
        self.bounded(H.load_cmd(p), r"holds 268,435,456 bytes, but the tensors read from it "
                                    r"use 4.*decompression bomb")

    def test_member_longer_than_declared_is_read_only_to_its_declared_size(self):
        p = H.zip_bomb(self.path("liar.pth"), 64 * MiB, declared=16, numel=4)
        self.bounded(H.load_cmd(p), r"damaged zip archive \(Bad CRC-32")

    def test_billion_laughs_pickles_are_refused(self):
        for kind in ("dict", "list"):
            with self.subTest(kind=kind):
                pkl = H.billion_laughs(40, kind)
                self.assertLess(len(pkl), 2000)
                p = H.write_zip(self.path("laughs.pth"), pkl, {})
                self.bounded(H.load_cmd(p), r"shared references expand to more than 1,000,000",
                             max_s=5)

    def test_hashing_shared_tuples_is_never_attempted(self):
        p = H.write_zip(self.path("tuplekey.pth"), H.tuple_key_laughs(60), {})
        self.bounded(H.load_cmd(p), r"shared references expand|dict or set key of type tuple", max_s=5)
        # The same key without the sharing is still refused: keys are strings or small ints.
        pkl = H.Pickle().empty_dict().mark().int(1).int(2).tuple().int(1).setitem().bytes()
        with self.assertRaisesRegex(CheckpointError, r"dict or set key of type tuple"):
            load_checkpoint(H.write_zip(self.path("tk.pth"), pkl, {}))

    def test_names_built_from_a_shared_long_key_are_bounded(self):
        p = H.write_zip(self.path("names.pth"), H.long_shared_key(60, 1 << 20), {"0": b"\0" * 4})
        self.assertLess(os.path.getsize(p), 2 * MiB)  # would name a tensor with 60 MiB
        self.bounded(H.load_cmd(p), r"a tensor name longer than 1024 characters", max_s=5)

    def test_zip_directory_is_bounded_before_it_is_parsed(self):
        # zipfile builds a Python object per member: the directory's size is checked first.
        p = H.many_tensors(self.path("members.pth"), 200)
        with self.assertRaisesRegex(CheckpointError, r"zip central directory of [0-9,]+ bytes, "
                                                     r"more than the limit of 1,000"):
            load_checkpoint(p, Limits(max_zip_directory_bytes=1000))

    def test_object_count_and_string_size_are_bounded(self):
        pkl = H.Pickle().empty_list().mark()
        for _ in range(200):
            pkl.none()
        p = H.write_zip(self.path("many.pth"), pkl.appends().bytes(), {})
        with self.assertRaisesRegex(CheckpointError, r"more than 100 objects"):
            load_checkpoint(p, Limits(max_objects=100))
        big = H.Pickle().raw(b"\x8d" + (1 << 40).to_bytes(8, "little")).bytes()
        with self.assertRaisesRegex(CheckpointError, r"string of 1,099,511,627,776 bytes"):
            load_checkpoint(H.write_zip(self.path("str.pth"), big, {}))

    def test_parse_time_is_linear_in_the_number_of_tensors(self):
        def best_of(n, tries=3):  # CPU time of this process: other load does not count
            p = H.many_tensors(self.path(f"many{n}.pth"), n)
            times = []
            for _ in range(tries):
                t0 = time.process_time()
                with open_checkpoint(p) as ck:
                    self.assertEqual(len(ck.tensors), n)
                times.append(time.process_time() - t0)
            return min(times)
        small, large = best_of(5000), best_of(20000)
        self.assertLess(large, 10.0, f"20k tensors took {large:.2f} s")
        # Linear: 4x the tensors, about 4x the time (quadratic would be 16x).
        self.assertLess(large / small, 8.0, f"5k: {small:.2f} s, 20k: {large:.2f} s")


# --------------------------------------------------------------------------- messages

class TracebacksInsteadOfMessages(Case):
    """Each case: exit code 1 and one line 'error: FILE...: what was expected', never a
    traceback; 2 for usage; 70 only for a genuine bug."""

    def test_odd_length_bfloat16_storage(self):
        p = H.one_tensor_zip(self.path("bf16.pth"), size=(1,), stride=(1,), numel=2,
                             stype="BFloat16Storage", raw=b"abc")
        self.assert_cli_error([p, self.out()], r"bf16.pth: storage '0' holds 3 bytes, but the "
                                               r"pickle declares 2 BFloat16Storage elements \(4 bytes\)")

    def test_overflowing_shape_products(self):
        # Products are Python integers: no wrap-around, and the limits apply to them.
        p = H.one_tensor_zip(self.path("ovf.pth"), size=(1 << 62, 1 << 62, 1 << 62), stride=(0, 0, 0))
        with self.assertRaisesRegex(CheckpointError, r"'w' has shape .* \(98,079[0-9,]* elements\), more than"):
            load_checkpoint(p)
        big = dict(key="0", numel=1, offset=0, size=(1 << 62, 1 << 62), stride=(0, 0))
        pkl = H.Pickle().state_dict([("generator.style.1.weight", big),
                                     ("final_linear.0.weight", big)]).bytes()
        p = H.write_zip(self.path("ovf1.pth"), pkl, {"0": b"\0" * 4})
        self.assert_cli_error([p, self.out()], r"ovf1.pth: .*style_dim is 4611686018427387904, "
                                               r"expected a number in \[1, 8192\]")
        p = H.one_tensor_zip(self.path("ovf2.pth"), size=(1 << 62, 4), stride=(1 << 62, 1))
        self.assert_cli_error([p, self.out()], r"ovf2.pth: tensor 'w' .* reaches element")

    def test_self_referencing_and_deeply_nested_pickles(self):
        for name, pkl, pattern in (
                ("selfref.pth", H.self_reference("list"), r"puts a container inside itself"),
                ("selfdict.pth", H.self_reference("dict"), r"puts a container inside itself"),
                ("deep.pth", H.deep_nesting(100_000), r"nested more than 64 deep")):
            with self.subTest(name):
                p = H.write_zip(self.path(name), pkl, {})
                self.assert_cli_error([p, self.out()], name + ".*" + pattern)

    def test_encrypted_deflate64_and_bzip2_zips(self):
        base = H.tiny_zip(self.path("base.pth"))
        for name, kw, pattern in (
                ("enc.pth", dict(flag_bits=1), r"archive/data.pkl is encrypted"),
                ("d64.pth", dict(method=9), r"compression method 9 \(deflate64\)")):
            with self.subTest(name):
                p = self.path(name)
                with open(base, "rb") as f, open(p, "wb") as g:
                    g.write(f.read())
                H.patch_zip_member(p, "archive/data.pkl", **kw)
                self.assert_cli_error([p, self.out()], name + ": .*" + pattern)
        items, storages = H.tiny_items()
        p = H.write_zip(self.path("bz.pth"), H.Pickle().state_dict(items).bytes(),
                        {k: r for k, _, r in storages}, compression=zipfile.ZIP_BZIP2)
        self.assert_cli_error([p, self.out()], r"compression method 12 \(bzip2\)")

    def test_broken_deflate_stream(self):
        # Found by the fuzzer: zlib.error escaped from a damaged deflated member.
        items, storages = H.tiny_items()
        p = H.write_zip(self.path("zl.pth"), H.Pickle().state_dict(items).bytes(),
                        {k: r for k, _, r in storages}, compression=zipfile.ZIP_DEFLATED)
        with zipfile.ZipFile(p) as z:
            info = z.getinfo("archive/data.pkl")
        with open(p, "r+b") as f:
            f.seek(info.header_offset + 26)
            n, extra = struct.unpack("<HH", f.read(4))
            f.seek(info.header_offset + 30 + n + extra)
            f.write(b"\xff" * 8)  # an invalid deflate block header
        self.assert_cli_error([p, self.out()], r"zl.pth: damaged zip archive \(Error -3 while "
                                               r"decompressing")

    def test_output_is_a_directory_or_in_a_missing_folder_or_not_a_file(self):
        src = H.tiny_zip(self.path("m.pth"))
        self.assert_cli_error([src, self.dir], r"is a directory; give the model file's name")
        missing = self.path("nope/sub/m.safetensors")
        self.assert_cli_error([src, missing], r"the folder .*nope/sub does not exist")
        fifo = self.path("fifo.safetensors")
        os.mkfifo(fifo)
        self.assert_cli_error([src, fifo], r"fifo.safetensors: exists and is not a regular file")

    def test_input_is_a_directory_or_a_fifo(self):
        self.assert_cli_error([self.dir, self.out()], r"is a directory, expected a checkpoint file")
        fifo = self.path("in.pth")
        os.mkfifo(fifo)  # nobody writes: opening it must not block
        self.assert_cli_error([fifo, self.out()], r"in.pth: is a named pipe \(FIFO\)", timeout=20)

    def test_full_disk(self):
        class Full(io.RawIOBase):
            def __init__(self, fd):
                self.f = os.fdopen(fd, "wb")

            def write(self, b):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            def fileno(self):
                return self.f.fileno()

            def close(self):
                self.f.close()

        src = H.tiny_zip(self.path("m.pth"))
        dst = self.path("keep.safetensors")
        with open(dst, "wb") as f:
            f.write(b"previous")
        saved = convert.AtomicWriter.opener
        convert.AtomicWriter.opener = staticmethod(Full)
        err = io.StringIO()
        try:
            with redirect_stderr(err):
                rc = convert.main([src, dst])
        finally:
            convert.AtomicWriter.opener = saved
        self.assertEqual(rc, 1)
        self.assertRegex(err.getvalue(), r"^error: .*keep.safetensors: cannot write after 0 bytes: "
                                         r"No space left on device \(free some space")
        self.assertEqual(err.getvalue().count("\n"), 1)
        with open(dst, "rb") as f:
            self.assertEqual(f.read(), b"previous")
        self.assertEqual([n for n in os.listdir(self.dir) if n.startswith(".convert-")], [])

    def test_usage_and_internal_errors_have_their_own_codes(self):
        self.assert_cli_error([], r"usage:", code=2)
        src = H.tiny_zip(self.path("m.pth"))
        saved = convert.convert
        convert.convert = lambda *a, **k: {}["bug"]
        err = io.StringIO()
        try:
            with redirect_stderr(err):
                rc = convert.main([src, self.out()])
        finally:
            convert.convert = saved
        self.assertEqual(rc, 70)
        self.assertRegex(err.getvalue(), r"^internal error while converting .*m.pth: KeyError: "
                                         r".*a bug in tools/convert.py")

    def test_names_from_the_file_are_printed_safely(self):
        p = H.one_tensor_zip(self.path("esc.pth"), size=(1,), stride=(1,), name="x\n\x1b[31mred",
                             offset=5)
        with self.assertRaises(CheckpointError) as cm:
            load_checkpoint(p)
        msg = str(cm.exception)
        self.assertNotIn("\n", msg)
        self.assertNotIn("\x1b", msg)
        self.assertIn("x\\n\\x1b[31mred", msg)


# --------------------------------------------------------------------------- engine rejects

class SuccessForFilesTheEngineRejects(Case):
    """The converter checks what the engine checks, so it never reports success for a
    file `gpen` would refuse."""

    def with_tensor(self, target, arr, stype="FloatStorage"):
        def override(name, kw, raw):
            if name == target:
                kw = dict(kw, stype=stype)
                raw = arr.tobytes()
            return kw, raw
        return H.tiny_hostile_zip(self.path("t.pth"), override)

    def test_weights_that_overflow_the_output_precision(self):
        name = "generator.style.1.weight"
        w = H.tiny_gpen()[name].astype(np.float64)
        w[0, 0] = 1e300
        p = self.with_tensor(name, w, "DoubleStorage")
        self.assert_refused(p, rf"tensor '{name}' has \|x\| up to 1e\+300, beyond fp32's range")
        w[0, 0] = 1e6
        p = self.with_tensor(name, w, "DoubleStorage")
        convert.convert(p, self.out(), quiet=True)  # fine in fp32
        os.unlink(self.out())
        self.assert_refused(p, rf"'{name}' has \|x\| up to 1e\+06, beyond fp16's range.*--dtype fp32",
                            dtype="fp16")

    def test_non_finite_inputs(self):
        name = "generator.style.1.bias"
        for v in (np.nan, np.inf):
            with self.subTest(v=v):
                b = H.tiny_gpen()[name].copy()
                b[1] = v
                self.assert_refused(self.with_tensor(name, b), rf"'{name}' contains NaN or Inf")

    def test_lr_mlp_flag_is_validated(self):
        src = H.tiny_zip(self.path("m.pth"))
        for bad in ("nan", "inf", "-inf", "0", "-1", "1e9", "abc"):
            with self.subTest(bad=bad):
                self.assert_cli_error([src, self.out(), "--lr-mlp=" + bad],
                                      r"argument --lr-mlp: .*(not a number|outside \[1e-06, 1000\])",
                                      code=2)
        with self.assertRaisesRegex(archs.ArchError, r"lr_mlp is nan, expected a number in"):
            convert.convert(src, self.out(), lr_mlp=float("nan"), quiet=True)
        r = subprocess.run(H.convert_cmd(src, self.out(), "--lr-mlp", "0.02"), capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        from test_convert import read_safetensors
        self.assertEqual(read_safetensors(self.out())[0]["lr_mlp"], "0.02")

    def test_blur_buffers_must_be_the_kernel_the_engine_rebuilds(self):
        name = "ecd1.0.0.kernel"
        k = H.tiny_gpen()[name].copy()
        k[0, 0] += 0.01
        self.assert_refused(self.with_tensor(name, k), rf"tensor '{name}' element 0 is .*every blur "
                                                       rf"buffer must be the kernel \[1, 3, 3, 1\]")

    def test_blur_kernel_fp16_cannot_hold(self):
        hp = dict(H.TINY_HP, blur_kernel=[1, 5, 7, 2])
        sd = H.tiny_gpen()
        for n, v in archs.gpen_fixed(hp).items():
            sd[n] = v
        p = H.tiny_zip(self.path("k.pth"), sd=sd)
        convert.convert(p, self.out(), quiet=True)
        os.unlink(self.out())
        self.assert_refused(p, r"fp16 cannot hold it exactly, convert with --dtype fp32", dtype="fp16")

    def test_hyperparameters_outside_the_engines_ranges(self):
        sd = H.tiny_gpen()
        for i in range(2, 66):  # n_mlp 65 > 64
            sd[f"generator.style.{i}.weight"] = sd["generator.style.1.weight"]
            sd[f"generator.style.{i}.bias"] = sd["generator.style.1.bias"]
        self.assert_refused(H.tiny_zip(self.path("mlp.pth"), sd=sd),
                            r"n_mlp is 65, expected a number in \[1, 64\]")

    def test_output_is_accepted_by_the_engine(self):
        gpen = os.environ.get("GPEN_BIN") or os.path.join(ROOT, "build", "gpen")
        if not os.access(gpen, os.X_OK):
            self.skipTest(f"no engine binary at {gpen} (set GPEN_BIN)")
        src = H.tiny_zip(self.path("m.pth"))
        for dtype in ("fp32", "fp16"):
            convert.convert(src, self.out(), dtype=dtype, quiet=True)
            r = subprocess.run([gpen, "info", self.out()], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)


# --------------------------------------------------------------------------- files

class FileModesAndLeftovers(Case):
    """The output is created like any file (0666 less the umask), written atomically,
    and its temporary is removed on signals as on errors."""

    def test_output_mode_honours_the_umask(self):
        src = H.tiny_zip(self.path("m.pth"))
        for mask, mode in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
            with self.subTest(umask=oct(mask)):
                old = os.umask(mask)
                try:
                    convert.convert(src, self.out(), quiet=True)
                finally:
                    os.umask(old)
                self.assertEqual(stat.S_IMODE(os.stat(self.out()).st_mode), mode)

    SLOW_WRITER = r"""
import os, sys, time
sys.path.insert(0, sys.argv[1])
import convert

class Slow:
    def __init__(self, fd):
        self.f, self.n = os.fdopen(fd, "wb"), 0
    def write(self, b):
        self.n += 1
        if self.n == 2:
            print("writing", flush=True)
            time.sleep(60)
        return self.f.write(b)
    def __getattr__(self, name):
        return getattr(self.f, name)

convert.AtomicWriter.opener = staticmethod(Slow)
sys.exit(convert.main(sys.argv[2:]))
"""

    def test_signals_remove_the_temporary(self):
        src = H.tiny_zip(self.path("m.pth"))
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            with self.subTest(signal=sig.name):
                p = subprocess.Popen([sys.executable, "-c", self.SLOW_WRITER,
                                      os.path.join(ROOT, "tools"), src, self.out()],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                self.assertEqual(p.stdout.readline().strip(), "writing")
                self.assertEqual(len([n for n in os.listdir(self.dir) if n.startswith(".convert-")]), 1)
                p.send_signal(sig)
                p.wait(timeout=20)
                self.assertEqual(p.returncode, -sig, p.stderr.read())
                self.assertEqual([n for n in os.listdir(self.dir) if n.startswith(".convert-")], [])
                self.assertFalse(os.path.exists(self.out()))
                p.stdout.close()
                p.stderr.close()


# --------------------------------------------------------------------------- fuzzing

class FuzzTarget(Case):
    """A short deterministic run of the converter fuzzer's own mutator finds nothing."""

    def test_own_mutator_smoke(self):
        r = subprocess.run([sys.executable, os.path.join(HERE, "fuzz_convert.py"), "--engine", "own",
                            "--iterations", "150", "--seed", "7", "--workdir", self.dir],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("no findings", r.stdout)


if __name__ == "__main__":
    unittest.main()
