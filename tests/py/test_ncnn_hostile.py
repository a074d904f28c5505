"""ncnn input: a synthetic RRDBNet pair converts exactly, and damaged ones are refused.

The test writes its own ncnn models in the real format (as pnnx exports Real-ESRGAN:
Split layers for fan-out, LeakyReLU fused into convolutions or as ReLU layers, x0.2
residuals as Eltwise or BinaryOp, nearest x2 Interp, float16 or float32 weights) for a
small RRDBNet (num_feat 8, num_block 1, num_grow_ch 4), converts it, and compares the
model file with the numbers written. Then it damages the pair in the ways a download
or a wrong file can (truncated .bin, wrong counts, wrong magic, shapes that disagree,
an extra layer, a missing activation, ...): each must be refused by one error naming
the file and what was found, never a traceback, and a short random mutation loop
checks that nothing else escapes. Run: python3 -m unittest tests/py/test_ncnn_hostile.py
"""

import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import archs  # noqa: E402
import convert  # noqa: E402
import ncnn_reader  # noqa: E402
from file_formats import read_safetensors  # noqa: E402

HP = dict(family="rrdbnet", scale=4, num_in_ch=3, num_out_ch=3, num_feat=8, num_block=1,
          num_grow_ch=4)
LRELU = "9=2 -23310=1,2.000000e-01"


def state_dict(hp=HP, seed=5):
    """Random RRDBNet weights that float16 holds exactly."""
    rng = np.random.default_rng(seed)
    return {k: (rng.standard_normal(s) * 0.1).astype(np.float16).astype(np.float32)
            for k, s in archs.rrdbnet_table(hp).items()}


class NcnnWriter:
    """An ncnn .param/.bin of RRDBNet at scale 4. Ops are recorded on values, then
    written with a Split after every value read more than once, as ncnn requires."""

    def __init__(self, sd, hp=HP, fused=True, residual="eltwise", storage="fp16"):
        self.sd, self.hp, self.fused, self.residual, self.storage = sd, hp, fused, residual, storage
        self.ops = []  # (type, name, input value ids, params); output value = index

    def op(self, type_, name, inputs, params=""):
        self.ops.append((type_, name, list(inputs), params))
        return len(self.ops) - 1

    def conv(self, name, x, act):
        w = self.sd[f"{name}.weight"]
        p = f"0={w.shape[0]} 1=3 4=1 5=1 6={w.size}"
        if act and self.fused:
            return self.op("Convolution", name, [x], f"{p} {LRELU}")
        y = self.op("Convolution", name, [x], p)
        return self.op("ReLU", f"{name}.lrelu", [y], "0=2.000000e-01") if act else y

    def residual_add(self, name, branch, x):
        if self.residual == "eltwise":
            return self.op("Eltwise", name, [branch, x], "0=1 -23301=2,2.000000e-01,1.000000e+00")
        m = self.op("BinaryOp", f"{name}.mul", [branch], "0=2 1=1 2=2.000000e-01")
        return self.op("BinaryOp", name, [m, x], "0=0")

    def rdb(self, prefix, x):
        feats = [x]
        for k in range(1, 5):
            src = self.op("Concat", f"{prefix}.cat{k}", feats, "0=0") if k > 1 else x
            feats.append(self.conv(f"{prefix}.conv{k}", src, True))
        x5 = self.conv(f"{prefix}.conv5", self.op("Concat", f"{prefix}.cat5", feats, "0=0"), False)
        return self.residual_add(f"{prefix}.add", x5, x)

    def build(self):
        x = self.op("Input", "input", [])
        feat = self.conv("conv_first", x, False)
        x = feat
        for i in range(self.hp["num_block"]):
            out = x
            for j in (1, 2, 3):
                out = self.rdb(f"body.{i}.rdb{j}", out)
            x = self.residual_add(f"body.{i}.add", out, x)
        feat = self.op("BinaryOp", "trunk_add", [feat, self.conv("conv_body", x, False)], "0=0")
        for n in (1, 2):
            up = self.op("Interp", f"up{n}", [feat], "0=1 1=2.000000e+00 2=2.000000e+00")
            feat = self.conv(f"conv_up{n}", up, True)
        self.conv("conv_last", self.conv("conv_hr", feat, True), False)
        return self

    def param(self):
        uses = {}
        for _, _, ins, _ in self.ops:
            for v in ins:
                uses[v] = uses.get(v, 0) + 1
        lines, blobs, queue = [], 0, {}
        for v, (type_, name, ins, params) in enumerate(self.ops):
            args = [queue[i].pop() for i in ins]
            lines.append(f"{type_} {name} {len(ins)} 1 {' '.join(args + [f'b{v}'])} {params}".strip())
            blobs += 1
            queue[v] = [f"b{v}"]
            if uses.get(v, 0) > 1:
                outs = [f"b{v}_splitncnn_{k}" for k in range(uses[v])]
                lines.append(f"Split split{v} 1 {len(outs)} b{v} {' '.join(outs)}")
                blobs += len(outs)
                queue[v] = outs
        return f"7767517\n{len(lines)} {blobs}\n" + "\n".join(lines) + "\n"

    def bin(self):
        out = bytearray()
        for type_, name, _, _ in self.ops:
            if type_ != "Convolution":
                continue
            w = self.sd[f"{name}.weight"].ravel()
            if self.storage == "fp16":
                data = w.astype("<f2").tobytes()
                out += struct.pack("<I", ncnn_reader.TAG_FP16) + data + b"\0" * (-len(data) % 4)
            else:
                out += struct.pack("<I", 0) + w.astype("<f4").tobytes()
            out += self.sd[f"{name}.bias"].astype("<f4").tobytes()
        return bytes(out)


def edit(param, layer, fn):
    """param text with the line of `layer` replaced by fn(tokens) (a list, or None to drop)."""
    lines = param.split("\n")
    for i, ln in enumerate(lines):
        t = ln.split()
        if len(t) > 1 and t[1] == layer:
            new = fn(t)
            lines[i:i + 1] = [] if new is None else [" ".join(new)]
            return "\n".join(lines)
    raise AssertionError(f"no layer {layer}")


def drop_activation(tokens):
    return [t for t in tokens if not t.startswith(("9=", "-23310="))]


def set_counts(param, d_layers, d_blobs):
    lines = param.split("\n")
    n, b = map(int, lines[1].split())
    lines[1] = f"{n + d_layers} {b + d_blobs}"
    return "\n".join(lines)


class Case(unittest.TestCase):
    def setUp(self):
        self.td = tempfile.TemporaryDirectory()
        self.sd = state_dict()
        self.writer = NcnnWriter(self.sd).build()

    def tearDown(self):
        self.td.cleanup()

    def path(self, name):
        return os.path.join(self.td.name, name)

    def write(self, param=None, binary=None, name="m"):
        p, b = self.path(f"{name}.param"), self.path(f"{name}.bin")
        with open(p, "w") as f:
            f.write(self.writer.param() if param is None else param)
        with open(b, "wb") as f:
            f.write(self.writer.bin() if binary is None else binary)
        return p

    def convert(self, p, **kw):
        out = self.path("out.safetensors")
        self.hp = convert.convert(p, out, quiet=True, **kw)
        return out

    def refused(self, p, pattern, **kw):
        with self.assertRaises(convert.USER_ERRORS) as cm:
            self.convert(p, **kw)
        msg = str(cm.exception)
        self.assertNotIn("\n", msg)
        self.assertRegex(msg, pattern)
        self.assertFalse(os.path.exists(self.path("out.safetensors")))
        return msg


class SyntheticModel(Case):
    def test_converts_and_equals_the_numbers_written(self):
        for fused in (True, False):
            for residual in ("eltwise", "binaryop"):
                for storage in ("fp16", "fp32"):
                    with self.subTest(fused=fused, residual=residual, storage=storage):
                        self.writer = NcnnWriter(self.sd, fused=fused, residual=residual,
                                                 storage=storage).build()
                        p = self.write()
                        self.convert(p)
                        self.assertEqual(self.hp, HP)
                        meta, got, _, _ = read_safetensors(self.path("out.safetensors"), skip_padding=True)
                        self.assertEqual(set(got), set(self.sd))
                        for k, v in self.sd.items():
                            np.testing.assert_array_equal(got[k], v, err_msg=k)
                        os.unlink(self.path("out.safetensors"))

    def test_metadata_names_the_param_and_hashes_both_files(self):
        import hashlib
        p = self.write()
        meta, _, _, _ = read_safetensors(self.convert(p), skip_padding=True)
        with open(p, "rb") as f1, open(self.path("m.bin"), "rb") as f2:
            want = hashlib.sha256(f1.read() + f2.read()).hexdigest()
        self.assertEqual(meta["source_sha256"], want)
        self.assertEqual(meta["source_file"], "m.param")
        for k in ("scale", "num_in_ch", "num_out_ch", "num_feat", "num_block", "num_grow_ch"):
            self.assertEqual(meta[k], str(HP[k]), k)
        self.assertEqual(meta["family"], "rrdbnet")
        self.assertNotIn("lr_mlp", meta)

    def test_fp16_output_and_explicit_bin(self):
        p = self.write(name="graph")
        os.rename(self.path("graph.bin"), self.path("weights.data"))
        out = self.convert(p, dtype="fp16", bin_path=self.path("weights.data"))
        meta, got, _, _ = read_safetensors(out, skip_padding=True)
        self.assertEqual(meta["dtype"], "fp16")
        self.assertEqual(got["conv_first.weight"].dtype, np.float16)
        np.testing.assert_array_equal(got["conv_first.weight"], self.sd["conv_first.weight"])

    def test_two_blocks_and_other_sizes(self):
        hp = dict(HP, num_block=2, num_feat=6, num_grow_ch=3, num_in_ch=1, num_out_ch=1)
        self.sd = state_dict(hp)
        self.writer = NcnnWriter(self.sd, hp=hp).build()
        self.convert(self.write())
        self.assertEqual(self.hp, hp)

    def test_cli(self):
        p = self.write()
        r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "convert.py"), p,
                            self.path("o.safetensors")], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ncnn graph of", r.stdout)
        bad = self.write(param=self.writer.param().replace("7767517", "7767518", 1), name="bad")
        r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "convert.py"), bad,
                            self.path("o2.safetensors")], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().split("\n")), 1, r.stderr)
        self.assertIn("magic number 7767517", r.stderr)
        self.assertNotIn("Traceback", r.stderr)


class HostileBin(Case):
    def test_truncated_bin(self):
        data = self.writer.bin()
        for cut in (0, 2, 5, 100, len(data) // 2, len(data) - 4, len(data) - 1):
            with self.subTest(cut=cut):
                p = self.write(binary=data[:cut])
                self.refused(p, r"m\.bin: .*past the end of the file .*truncated")

    def test_extra_bytes(self):
        p = self.write(binary=self.writer.bin() + b"\0" * 8)
        self.refused(p, r"8 bytes after the last layer's weights .*not the \.bin of m\.param")

    def test_quantised_and_unknown_tags(self):
        data = bytearray(self.writer.bin())
        for tag, what in ((ncnn_reader.TAG_INT8, "int8-quantised"), (0x01020304, "table-quantised")):
            with self.subTest(tag=hex(tag)):
                data[0:4] = struct.pack("<I", tag)
                self.refused(self.write(binary=bytes(data)), rf"conv_first .*storage tag .*{what}")

    def test_missing_bin(self):
        p = self.write()
        os.unlink(self.path("m.bin"))
        self.refused(p, r"m\.bin: no such file")

    def test_bin_is_a_directory_or_fifo(self):
        p = self.write()
        os.unlink(self.path("m.bin"))
        os.mkdir(self.path("m.bin"))
        self.refused(p, r"m\.bin: is a directory")
        os.rmdir(self.path("m.bin"))
        os.mkfifo(self.path("m.bin"))
        self.refused(p, r"m\.bin: is a named pipe \(FIFO\)")

    def test_nan_weights(self):
        data = bytearray(self.writer.bin())
        data[4:6] = np.array([np.nan], "<f2").tobytes()
        self.refused(self.write(binary=bytes(data)), r"'conv_first.weight' contains NaN")


class HostileParam(Case):
    def test_wrong_magic(self):
        self.refused(self.write(param=self.writer.param().replace("7767517", "7767518", 1)),
                     r"not an ncnn \.param: the first line is '7767518', expected the magic")
        self.refused(self.write(param=""), r"expected the magic number")
        self.refused(self.write(param="7767517\n"), r"line 2 must hold the layer count")

    def test_wrong_layer_count(self):
        param = self.writer.param()
        self.refused(self.write(param=set_counts(param, 1, 0)),
                     r"header declares \d+ layers, the file has \d+")
        self.refused(self.write(param=set_counts(param, -1, 0)),
                     r"line \d+: a layer line after the \d+ the header declares")
        self.refused(self.write(param=set_counts(param, 0, 1)), r"header declares \d+ blobs")
        self.refused(self.write(param=set_counts(param, 10 ** 7, 0)), r"layer count .* outside")

    def test_weight_data_size_disagrees_with_shape(self):
        param = self.writer.param()
        fix = lambda d: lambda t: [x if not x.startswith("6=") else f"6={int(x[2:]) + d}" for x in t]  # noqa: E731
        self.refused(self.write(param=edit(param, "body.0.rdb1.conv2", fix(1))),
                     r"body\.0\.rdb1\.conv2.*weight_data_size .* not a positive multiple of num_output")
        # A multiple of num_output x 9, but not the in-channels RRDBNet has there.
        self.refused(self.write(param=edit(param, "body.0.rdb1.conv2", fix(4 * 9))),
                     r"taken as body\.0\.rdb1\.conv2: .* give \[4, 13, 3, 3\], expected \[4, 12, 3, 3\]")

    def op_blob(self, name):
        return "b%d" % next(i for i, op in enumerate(self.writer.ops) if op[1] == name)

    def test_extra_layer(self):
        param = self.writer.param()
        # An extra LeakyReLU between conv_body and the trunk add.
        cb = self.op_blob("conv_body")
        text = edit(param, "trunk_add", lambda t: [("b_extra" if x == cb else x) for x in t])
        text = edit(text, "conv_body", lambda t: t + ["\nReLU", "extra", "1", "1", cb, "b_extra",
                                                        "0=2.000000e-01"])
        self.refused(self.write(param=set_counts(text, 1, 1)),
                     r"taken as conv_up1, reads nearest_x2x2\(.*lrelu\(conv_body\).*\); RRDBNet "
                     r"has nearest_x2x2\((conv_first \+ conv_body|conv_body \+ conv_first)\)")
        # An extra convolution after conv_last.
        w = self.sd["conv_last.weight"]
        ex = (param.rstrip("\n") + f"\nConvolution extra_conv 1 1 {self.op_blob('conv_last')} "
              f"b_x 0=3 1=3 4=1 5=1 6={w.size}\n")
        data = self.writer.bin() + struct.pack("<I", 0) + np.zeros(w.size + 3, "<f4").tobytes()
        self.refused(self.write(param=set_counts(ex, 1, 1), binary=data),
                     r"22 Convolution layers; RRDBNet has 6 \+ 15 x num_block")
        # A layer whose output nobody reads, and a second Input.
        ex = param.rstrip("\n") + "\nInput input2 0 1 data2\n"
        self.refused(self.write(param=set_counts(ex, 1, 1)), r"a second Input")

    def test_missing_activation(self):
        param = self.writer.param()
        self.refused(self.write(param=edit(param, "body.0.rdb1.conv2", drop_activation)),
                     r"taken as body\.0\.rdb1\.conv3, reads cat\(conv_first, lrelu\(body\.0\.rdb1"
                     r"\.conv1\), body\.0\.rdb1\.conv2\); RRDBNet has cat\(conv_first, "
                     r"lrelu\(body\.0\.rdb1\.conv1\), lrelu\(body\.0\.rdb1\.conv2\)\)")
        self.refused(self.write(param=edit(param, "conv_hr", drop_activation)),
                     r"taken as conv_last, reads conv_hr; RRDBNet has lrelu\(conv_hr\)")
        # An activation where RRDBNet has none.
        self.refused(self.write(param=edit(param, "conv_first", lambda t: t + LRELU.split())),
                     r"taken as body\.0\.rdb1\.conv1, reads lrelu\(conv_first\); RRDBNet has conv_first")

    def test_wrong_slope_residual_and_upsampling(self):
        param = self.writer.param()
        slope = lambda t: [x.replace("2.000000e-01", "1.000000e-01") for x in t]  # noqa: E731
        self.refused(self.write(param=edit(param, "body.0.rdb1.conv1", slope)),
                     r"leaky_relu\[0\.1\]\(body\.0\.rdb1\.conv1\)")
        self.refused(self.write(param=edit(param, "body.0.rdb2.add", slope)),
                     r"reads .*0\.1\*body\.0\.rdb2\.conv5.*; RRDBNet has .*0\.2\*body\.0\.rdb2\.conv5")
        bilinear = lambda t: [("0=2" if x == "0=1" else x) for x in t]  # noqa: E731
        self.refused(self.write(param=edit(param, "up1", bilinear)),
                     r"Interp layer 'up1': resize_type \(1 = nearest\) \(parameter 0\) is 2")
        x3 = lambda t: [x.replace("2.000000e+00", "3.000000e+00") for x in t]  # noqa: E731
        self.refused(self.write(param=edit(param, "up2", x3)), r"scales 3 x 3, expected 2 x 2")
        relu = lambda t: [("9=1" if x == "9=2" else x) for x in t if not x.startswith("-23310")]  # noqa: E731
        self.refused(self.write(param=edit(param, "conv_up1", relu)), r"leaky_relu\[0\]\(conv_up1\)")

    def test_other_convolution_settings(self):
        param = self.writer.param()
        for token, msg in (("3=2", r"stride_w \(parameter 3\) is 2"),
                           ("1=1", r"kernel_w \(parameter 1\) is 1"),
                           ("5=0", r"bias_term \(parameter 5\) is 0"),
                           ("8=1", r"int8_scale_term"), ("9=5", r"fused activation_type 5"),
                           ("7=1", r"unexpected parameter 7")):
            with self.subTest(token=token):
                key = token.split("=")[0] + "="
                fn = lambda t: [x for x in t if not x.startswith(key)] + [token]  # noqa: E731
                self.refused(self.write(param=edit(param, "conv_body", fn)), msg)

    def test_unknown_layer_and_graph_errors(self):
        param = self.writer.param()
        self.refused(self.write(param=edit(param, "up1", lambda t: ["Sigmoid"] + t[1:6])),
                     r"Sigmoid layer 'up1': RRDBNet has no such layer")
        # A blob read twice (without a Split).
        self.refused(self.write(param=edit(param, "trunk_add", lambda t: t[:4] + [t[5], t[5], t[6]])),
                     r"reads blob .* which another layer already reads")
        # A blob read before any layer makes it.
        self.refused(self.write(param=edit(param, "conv_body", lambda t: t[:4] + ["nowhere"] + t[5:])),
                     r"reads blob 'nowhere', which no earlier layer produces")
        self.refused(self.write(param=edit(param, "up2", lambda t: t[:1] + ["up1"] + t[2:])),
                     r"the layer name is used twice")

    def test_malformed_fields(self):
        param = self.writer.param()
        for fn, msg in ((lambda t: t + ["1=nan"], r"'nan' is not a number"),
                        (lambda t: t + ["3=" + "9" * 30], r"is not a number"),
                        (lambda t: t + ["x"], r"'x' is not a k=v parameter"),
                        (lambda t: t + ["-23301=5,1.0"], r"array parameter -23301 declares 5"),
                        (lambda t: t + ["0=1"], r"parameter 0 is given twice"),
                        (lambda t: t[:2] + ["5"] + t[3:], r"declares 5 inputs and 1 outputs but names"),
                        (lambda t: t[:2] + ["-1"] + t[3:], r"input count is '-1'"),
                        (lambda t: t + ["99=1"], r"parameter key 99 is outside"),
                        (lambda t: t[:2], r"expected 'type name inputs outputs")):
            with self.subTest(msg=msg):
                self.refused(self.write(param=edit(param, "up1", fn)), msg)
        self.refused(self.write(param=param.replace("up1", "up1\x01", 1)), r"control character 01")
        p = self.path("m.param")
        with open(p, "wb") as f:
            f.write(b"7767517\n\xff\xfe\n")
        self.refused(p, r"not UTF-8 text")
        with open(p, "wb") as f:
            f.write((7767517).to_bytes(4, "little") + b"\0" * 16)
        self.refused(p, r"a binary \.param")

    def test_limits(self):
        p = self.write(param=self.writer.param() + " " * (9 << 20))
        self.refused(p, r"more than the 8,388,608 an ncnn \.param may have")
        long = "x" * 300
        self.refused(self.write(param=edit(self.writer.param(), "up1", lambda t: t[:1] + [long] + t[2:])),
                     r"a field longer than 256 characters")

    def test_key_flag_and_scale_graph_refused(self):
        p = self.write()
        self.refused(p, r"--key selects a state_dict inside a \.pth checkpoint", key="params_ema")
        self.refused(p, r"--lr-mlp applies to gpen checkpoints only", lr_mlp=0.01)


class Mutations(unittest.TestCase):
    """Random damage to a valid pair: success or one of the converter's errors."""

    def test_random_mutations(self):
        rng = random.Random(7)
        w = NcnnWriter(state_dict(), storage="fp16").build()
        param, data = w.param(), w.bin()
        with tempfile.TemporaryDirectory() as td:
            p, b, out = (os.path.join(td, n) for n in ("m.param", "m.bin", "o.safetensors"))
            for _ in range(250):
                tp, tb = bytearray(param.encode()), bytearray(data)
                target = tp if rng.random() < 0.7 else tb
                for _ in range(rng.randint(1, 4)):
                    i = rng.randrange(len(target))
                    r = rng.random()
                    if r < 0.5:
                        target[i] = rng.choice(b"0123456789 =,.-\nabe\x00\xff")
                    elif r < 0.75:
                        del target[i:i + rng.randint(1, 40)]
                    else:
                        target[i:i] = target[rng.randrange(len(target)):][:rng.randint(1, 40)]
                with open(p, "wb") as f:
                    f.write(tp)
                with open(b, "wb") as f:
                    f.write(tb)
                try:
                    convert.convert(p, out, quiet=True)
                    os.unlink(out)
                except convert.USER_ERRORS as e:
                    msg = str(e)
                    self.assertTrue(msg.startswith((p, b)) and "\n" not in msg, msg)


if __name__ == "__main__":
    unittest.main()
