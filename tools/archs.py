"""Architecture tables: for each model family, the exact set of tensor names and shapes.

An architecture is described by a small dict of hyperparameters. Each family
provides two functions:
  * `table(hp)`  -> {state_dict key: shape}, the exact tensors upstream's module
    holds for those hyperparameters (buffers such as blur kernels included);
  * `infer(tensors)` -> hp, reading the hyperparameters back from tensor shapes.
The converter infers, rebuilds the table, and requires the checkpoint to match it
exactly. Adding a family means adding one table and one inference function here;
the converter itself does not change. A family may also provide
  * `check(hp)` -> raises ArchError unless the engine accepts these hyperparameters
    (the same ranges as engine/model/gpen_arch.cpp and model_file.cpp, so that the
    converter never reports success for a file the engine would refuse);
  * `fixed(hp)` -> {name: expected float32 values} for buffers whose values the
    engine checks element by element (GPEN's blur kernels);
  * `options`: the converter flags that set hyperparameters of this family (GPEN's
    `lr_mlp`); the converter refuses them for other families.
Inference works on anything with a `.shape` (numpy arrays or the reader's lazy
TensorRef) and reads data only for a small blur buffer.

The GPEN table mirrors upstream `face_model/gpen_model.py`: `FullGenerator` (and
`FullGenerator_SR` when the encoder input is smaller than the output). The RRDBNet
table mirrors BasicSR's `basicsr/archs/rrdbnet_arch.py` (also `sr_model/rrdbnet_arch.py`
in GPEN): the Real-ESRGAN / ESRGAN upscaler that GPEN's pipeline uses for backgrounds.
The RetinaFace table mirrors upstream `face_detect/facemodels/retinaface.py` and
`net.py` (the face detector of GPEN's pipeline) for both released backbones, with its
batch norms as saved (`folded` false) or folded into the convolutions (`folded` true,
as an ONNX export has them). A family may also provide
  * `ignored(name, shape)` -> True for checkpoint entries that are not weights and are
    dropped before the comparison (RetinaFace's `num_batches_tracked` counters).
"""

import math

import numpy as np


class ArchError(Exception):
    pass


def _q(name, limit=80):
    """A tensor name made safe to print on one line (names come from the file)."""
    cut = len(name) > limit
    s = name[:limit].encode("unicode_escape").decode("ascii").replace("'", "\\'")
    return s + "..." if cut else s


# --------------------------------------------------------------------------- GPEN

def gpen_channels(cm, narrow):
    """upstream FullGenerator.channels: resolution -> channel count."""
    base = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * cm, 128: 128 * cm,
            256: 64 * cm, 512: 32 * cm, 1024: 16 * cm, 2048: 8 * cm}
    return {r: int(c * narrow) for r, c in base.items()}


def gpen_table(hp):
    ch = gpen_channels(hp["channel_multiplier"], hp["narrow"])
    sd, mult = hp["style_dim"], 2 if hp["isconcat"] else 1
    log_in = int(math.log2(hp["in_size"]))
    log_out = int(math.log2(hp["out_size"]))
    kk = len(hp["blur_kernel"])
    t = {}
    for i in range(1, hp["n_mlp"] + 1):
        t[f"generator.style.{i}.weight"] = (sd, sd)
        t[f"generator.style.{i}.bias"] = (sd,)
    t["generator.input.input"] = (1, ch[4], 4, 4)

    def styled(prefix, cin, cout, upsample):
        t[f"{prefix}.conv.weight"] = (1, cout, cin, 3, 3)
        if upsample:
            t[f"{prefix}.conv.blur.kernel"] = (kk, kk)
        t[f"{prefix}.conv.modulation.weight"] = (cin, sd)
        t[f"{prefix}.conv.modulation.bias"] = (cin,)
        t[f"{prefix}.noise.weight"] = (1,)
        t[f"{prefix}.activate.bias"] = (cout * mult,)

    def to_rgb(prefix, cin, upsample):
        t[f"{prefix}.bias"] = (1, 3, 1, 1)
        if upsample:
            t[f"{prefix}.upsample.kernel"] = (kk, kk)
        t[f"{prefix}.conv.weight"] = (1, 3, cin, 1, 1)
        t[f"{prefix}.conv.modulation.weight"] = (cin, sd)
        t[f"{prefix}.conv.modulation.bias"] = (cin,)

    styled("generator.conv1", ch[4], ch[4], False)
    to_rgb("generator.to_rgb1", ch[4] * mult, False)
    cin = ch[4]
    for i in range(3, log_out + 1):
        cout = ch[2 ** i]
        k = 2 * (i - 3)
        styled(f"generator.convs.{k}", cin * mult, cout, True)
        styled(f"generator.convs.{k + 1}", cout * mult, cout, False)
        to_rgb(f"generator.to_rgbs.{i - 3}", cout * mult, True)
        cin = cout
    # Encoder: ecd0 is a 1x1 ConvLayer; ecd1.. are blur + 3x3 stride-2 ConvLayers.
    t["ecd0.0.0.weight"] = (ch[hp["in_size"]], 3, 1, 1)
    t["ecd0.0.1.bias"] = (ch[hp["in_size"]],)
    cin = ch[hp["in_size"]]
    for n, i in enumerate(range(log_in, 2, -1), start=1):
        cout = ch[2 ** (i - 1)]
        t[f"ecd{n}.0.0.kernel"] = (kk, kk)
        t[f"ecd{n}.0.1.weight"] = (cout, cin, 3, 3)
        t[f"ecd{n}.0.2.bias"] = (cout,)
        cin = cout
    t["final_linear.0.weight"] = (sd, ch[4] * 16)
    t["final_linear.0.bias"] = (sd,)
    return t


def _count(tensors, fmt):
    n = 0
    while fmt.format(n) in tensors:
        n += 1
    return n


def _blur_from_buffer(t, name):
    """A stored blur buffer is outer(k, k) / sum(k)^2 (times a gain); return integer k."""
    shape = tuple(t.shape)
    if len(shape) != 2 or shape[0] != shape[1] or not 1 <= shape[0] <= 16:
        raise ArchError(f"blur kernel '{name}' has shape {list(shape)}, expected a small "
                        f"square such as [4, 4]")
    k2d = np.asarray(t, dtype=np.float64)
    with np.errstate(all="ignore"):
        row = k2d.sum(axis=0)
        if not np.all(np.isfinite(row)) or row.min() <= 0:
            raise ArchError(f"blur kernel '{name}' is not a positive separable kernel")
        k1 = row / row.min()
    if not np.all(np.isfinite(k1)) or k1.max() > 1000:
        raise ArchError(f"blur kernel '{name}' is not made of small integers")
    ki = np.round(k1)
    if np.abs(k1 - ki).max() > 1e-3:
        raise ArchError(f"blur kernel '{name}' is not made of small integers: {k1.tolist()}")
    expect = np.outer(ki, ki) / ki.sum() ** 2
    with np.errstate(all="ignore"):
        gain = k2d.sum()
        bad = not np.isfinite(gain) or np.abs(expect * gain - k2d).max() > 1e-3 * abs(gain)
    if bad:
        raise ArchError(f"blur kernel '{name}' is not separable")
    return [int(v) for v in ki]


def gpen_infer(tensors):
    def dim(name, i):
        if name not in tensors:
            raise ArchError(f"not a GPEN checkpoint: tensor '{name}' is missing")
        shape = tuple(tensors[name].shape)
        if len(shape) <= i:
            raise ArchError(f"not a GPEN checkpoint: tensor '{name}' has shape {list(shape)}, "
                            f"expected at least {i + 1} dimensions")
        return shape[i]

    n_mlp = 0
    while f"generator.style.{n_mlp + 1}.weight" in tensors:
        n_mlp += 1
    if n_mlp == 0:
        raise ArchError("not a GPEN checkpoint: no mapping layer 'generator.style.1.weight'")
    style_dim = dim("generator.style.1.weight", 0)
    _in_range("style_dim", style_dim, *GPEN_RANGES["style_dim"])
    _in_range("n_mlp", n_mlp, *GPEN_RANGES["n_mlp"])
    n_rgb = _count(tensors, "generator.to_rgbs.{}.conv.weight")
    if "ecd0.0.0.weight" not in tensors:
        raise ArchError("not a GPEN checkpoint: encoder input layer 'ecd0.0.0.weight' is missing")
    levels = 1  # ecd0, then ecd1.. each halve the resolution down to 4x4
    while f"ecd{levels}.0.1.weight" in tensors:
        levels += 1
    if not 1 <= n_rgb <= 9 or not 2 <= levels <= 10:
        raise ArchError(f"{n_rgb} ToRGB layers and {levels} encoder levels give sizes outside "
                        f"[8, 2048]; GPEN has 1 to 9 and 2 to 10")
    out_size = 2 ** (n_rgb + 2)
    in_size = 2 ** (levels + 1)
    c4 = dim("generator.input.input", 1)
    isconcat = dim("generator.to_rgb1.conv.weight", 2) == 2 * c4
    narrow = c4 / 512.0
    blur = _blur_from_buffer(tensors["generator.convs.0.conv.blur.kernel"],
                             "generator.convs.0.conv.blur.kernel") \
        if "generator.convs.0.conv.blur.kernel" in tensors else [1, 3, 3, 1]
    base = dict(family="gpen", in_size=in_size, out_size=out_size, style_dim=style_dim,
                n_mlp=n_mlp, narrow=narrow, isconcat=isconcat, lr_mlp=0.01, blur_kernel=blur)
    _in_range("narrow", narrow, *GPEN_RANGES["narrow"])
    # channel_multiplier shows only in levels >= 64: take the candidate whose table is
    # closest to the file (an exact match if there is one), upstream's usual ones first.
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    best = None
    for cm in (2, 1, 4, 3, *range(5, 17)):
        hp = dict(base, channel_multiplier=cm)
        if max(in_size, out_size) < 64 and cm != 2:
            break  # not observable: keep upstream's default
        n = len(diff_tables(got, gpen_table(hp)))
        if best is None or n < best[0]:
            best = (n, hp)
        if n == 0:
            break
    return best[1]


# The engine's ranges (engine/model/model_file.cpp MetaInt/MetaDouble calls in
# gpen_arch.cpp): a value outside them makes `gpen` refuse the file.
GPEN_RANGES = {"style_dim": (1, 8192), "n_mlp": (1, 64), "channel_multiplier": (1, 16),
               "narrow": (1.0 / 512, 16.0), "lr_mlp": (1e-6, 1e3)}


def _in_range(key, v, lo, hi):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        ok = False
    else:  # ints compare exactly, whatever their size; floats must be finite
        ok = (isinstance(v, int) or math.isfinite(v)) and lo <= v <= hi
    if not ok:
        raise ArchError(f"{key} is {v!r}, expected a number in [{lo:g}, {hi:g}] (the range "
                        f"the engine accepts)")


def gpen_check_hp(hp):
    """Raises ArchError unless the engine would accept these hyperparameters."""
    for key in ("in_size", "out_size"):
        v = hp[key]
        if v < 8 or v > 2048 or v & (v - 1):
            raise ArchError(f"{key} {v} is not a power of two in [8, 2048]")
    if hp["in_size"] > hp["out_size"]:
        raise ArchError(f"in_size {hp['in_size']} is larger than out_size {hp['out_size']}")
    for key, (lo, hi) in GPEN_RANGES.items():
        _in_range(key, hp[key], lo, hi)
    k = hp["blur_kernel"]
    if len(k) != 4 or not all(0 <= v <= 1000 for v in k) or sum(k) <= 0:
        raise ArchError(f"blur kernel {k} is not 4 taps in [0, 1000] with a positive sum")
    ch = gpen_channels(hp["channel_multiplier"], hp["narrow"])
    for r in (2 ** i for i in range(2, int(math.log2(hp["out_size"])) + 1)):
        if ch[r] <= 0:
            raise ArchError(f"narrow {hp['narrow']} and channel_multiplier "
                            f"{hp['channel_multiplier']} give no channels at resolution {r}")


def gpen_blur(k, gain):
    """The engine's BlurKernel2D: outer(k, k) / sum(k)^2 * gain, in float32."""
    k = np.asarray(k, dtype=np.float64)
    return (np.outer(k, k) / k.sum() ** 2 * gain).astype(np.float32)


def gpen_fixed(hp):
    """{buffer name: expected values} the engine compares element by element
    (|got - want| <= 1e-6 * (1 + |want|)): blur kernels, x4 after upsampling."""
    up, down = gpen_blur(hp["blur_kernel"], 4.0), gpen_blur(hp["blur_kernel"], 1.0)
    out = {}
    for name in gpen_table(hp):
        if name.endswith(".conv.blur.kernel") or name.endswith(".upsample.kernel"):
            out[name] = up
        elif name.startswith("ecd") and name.endswith(".0.0.kernel"):
            out[name] = down
    return out


# --------------------------------------------------------------------------- RRDBNet

# Ranges the engine is to accept; scale is 1, 2 or 4 (pixel-unshuffle by 4, by 2, none).
RRDB_RANGES = {"num_in_ch": (1, 4), "num_out_ch": (1, 4), "num_feat": (1, 1024),
               "num_block": (1, 64), "num_grow_ch": (1, 1024)}
RRDB_UNSHUFFLE = {4: 1, 2: 4, 1: 16}  # scale -> conv_first in-channels per image channel
RRDB_TAIL = ("conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last")


def rrdbnet_conv_names(num_block):
    """The 3x3 convolutions in forward order: conv_first, body.i.rdbj.convk, the tail."""
    names = ["conv_first"]
    for i in range(num_block):
        names += [f"body.{i}.rdb{j}.conv{k}" for j in (1, 2, 3) for k in range(1, 6)]
    return names + list(RRDB_TAIL)


def rrdbnet_table(hp):
    f, g = hp["num_feat"], hp["num_grow_ch"]
    cin = {"conv_first": hp["num_in_ch"] * RRDB_UNSHUFFLE[hp["scale"]]}
    cout = {"conv_first": f, "conv_last": hp["num_out_ch"]}
    t = {}
    for name in rrdbnet_conv_names(hp["num_block"]):
        k = int(name[-1]) if ".rdb" in name else 0
        c_in = cin.get(name, f + (k - 1) * g if k else f)
        c_out = cout.get(name, g if 1 <= k <= 4 else f)
        t[f"{name}.weight"] = (c_out, c_in, 3, 3)
        t[f"{name}.bias"] = (c_out,)
    return t


def _conv_dims(tensors, name):
    """(out, in) of a 3x3 convolution weight, or ArchError naming it."""
    key = f"{name}.weight"
    if key not in tensors:
        raise ArchError(f"not an RRDBNet checkpoint: tensor '{key}' is missing")
    shape = tuple(tensors[key].shape)
    if len(shape) != 4 or shape[2:] != (3, 3):
        raise ArchError(f"tensor '{key}' has shape {_shape(shape)}, expected a 3x3 "
                        f"convolution [out, in, 3, 3]")
    return shape[0], shape[1]


def rrdbnet_scale(first_in, num_out_ch):
    """(scale, num_in_ch) from conv_first's in-channels. Some counts fit two scales
    (4 = 4 channels at x4 or 1 at x2; 16 = 4 at x2 or 1 at x1): the one whose image
    channels equal num_out_ch is taken, as upstream models have; otherwise refused."""
    lo, hi = RRDB_RANGES["num_in_ch"]
    fits = [(s, first_in // u) for s, u in RRDB_UNSHUFFLE.items()
            if first_in % u == 0 and lo <= first_in // u <= hi]
    if len(fits) > 1:
        fits = [f for f in fits if f[1] == num_out_ch] or fits
    if len(fits) == 1:
        return fits[0]
    if not fits:
        raise ArchError(f"conv_first takes {first_in} channels, expected {lo} to {hi} image "
                        f"channels times 1 (scale 4), 4 (scale 2) or 16 (scale 1)")
    shown = " or ".join(f"scale {s} with {c} channels" for s, c in fits)
    raise ArchError(f"conv_first takes {first_in} channels: {shown}, and num_out_ch "
                    f"{num_out_ch} does not say which")


def rrdbnet_infer(tensors, scale=None):
    """Hyperparameters from shapes; `scale` when the source says it (an ncnn graph)."""
    num_feat, first_in = _conv_dims(tensors, "conv_first")
    num_grow_ch, _ = _conv_dims(tensors, "body.0.rdb1.conv1")
    num_out_ch, _ = _conv_dims(tensors, "conv_last")
    num_block = 0
    while num_block <= RRDB_RANGES["num_block"][1] and \
            f"body.{num_block}.rdb1.conv1.weight" in tensors:
        num_block += 1
    _in_range("num_block", num_block, *RRDB_RANGES["num_block"])
    if scale is None:
        scale, num_in_ch = rrdbnet_scale(first_in, num_out_ch)
    elif scale in RRDB_UNSHUFFLE and first_in % RRDB_UNSHUFFLE[scale] == 0:
        num_in_ch = first_in // RRDB_UNSHUFFLE[scale]
    else:
        raise ArchError(f"conv_first takes {first_in} channels, which scale {scale} cannot "
                        f"give (it takes image channels x {RRDB_UNSHUFFLE.get(scale, '?')})")
    return dict(family="rrdbnet", scale=scale, num_in_ch=num_in_ch, num_out_ch=num_out_ch,
                num_feat=num_feat, num_block=num_block, num_grow_ch=num_grow_ch)


def rrdbnet_check_hp(hp):
    """Raises ArchError unless the engine is to accept these hyperparameters."""
    if isinstance(hp["scale"], bool) or hp["scale"] not in RRDB_UNSHUFFLE:
        raise ArchError(f"scale is {hp['scale']!r}, expected 1, 2 or 4")
    for key, (lo, hi) in RRDB_RANGES.items():
        v = hp[key]
        if isinstance(v, bool) or not isinstance(v, int):
            raise ArchError(f"{key} is {v!r}, expected an integer in [{lo}, {hi}]")
        _in_range(key, v, lo, hi)


# --------------------------------------------------------------------------- RetinaFace

# Upstream face_detect/data/config.py: cfg_mnet and cfg_re50. "in" is cfg's in_channel
# (the FPN takes in * 2, * 4, * 8), "out" its out_channel.
RETINAFACE_BACKBONES = {"mobilenet0.25": dict(cin=32, cout=64),
                        "resnet50": dict(cin=256, cout=256)}
RETINAFACE_ANCHORS = 2  # per position; heads give 2 x (2 classes, 4 box, 10 landmark)
RETINAFACE_HEADS = (("ClassHead", 2), ("BboxHead", 4), ("LandmarkHead", 10))
# MobileNetV1 x0.25 (net.py): after conv_bn(3, 8, stride 2), conv_dw blocks (in, out).
MNET_STAGES = (("stage1", ((8, 16), (16, 32), (32, 32), (32, 64), (64, 64))),
               ("stage2", ((64, 128),) + ((128, 128),) * 5),
               ("stage3", ((128, 256), (256, 256))))
RESNET50_LAYERS = ((64, 3), (128, 4), (256, 6), (512, 3))  # (planes, blocks), x4 out


def retinaface_convs(backbone):
    """[(conv module name, BN module name, weight shape, section)] in upstream's
    state_dict order; BN name None for convolutions with a bias of their own (heads).
    section is 'body', 'fpn', 'ssh1'..'ssh3' or 'head'."""
    convs = []

    def cb(conv, bn, shape, section="body"):
        convs.append((conv, bn, tuple(shape), section))

    if backbone == "mobilenet0.25":
        cb("body.stage1.0.0", "body.stage1.0.1", (8, 3, 3, 3))
        for stage, blocks in MNET_STAGES:
            first = 1 if stage == "stage1" else 0
            for i, (cin, cout) in enumerate(blocks, start=first):
                p = f"body.{stage}.{i}"
                cb(f"{p}.0", f"{p}.1", (cin, 1, 3, 3))   # depthwise 3x3
                cb(f"{p}.3", f"{p}.4", (cout, cin, 1, 1))  # pointwise 1x1
    elif backbone == "resnet50":
        cb("body.conv1", "body.bn1", (64, 3, 7, 7))
        inplanes = 64
        for li, (planes, blocks) in enumerate(RESNET50_LAYERS, start=1):
            for b in range(blocks):
                p = f"body.layer{li}.{b}"
                cb(f"{p}.conv1", f"{p}.bn1", (planes, inplanes, 1, 1))
                cb(f"{p}.conv2", f"{p}.bn2", (planes, planes, 3, 3))
                cb(f"{p}.conv3", f"{p}.bn3", (planes * 4, planes, 1, 1))
                if b == 0:
                    cb(f"{p}.downsample.0", f"{p}.downsample.1", (planes * 4, inplanes, 1, 1))
                inplanes = planes * 4
    else:
        raise ArchError(f"RetinaFace backbone '{_q(str(backbone))}' is not one of "
                        f"{sorted(RETINAFACE_BACKBONES)}")
    cfg = RETINAFACE_BACKBONES[backbone]
    out = cfg["cout"]
    for i in (1, 2, 3):
        cb(f"fpn.output{i}.0", f"fpn.output{i}.1", (out, cfg["cin"] * 2 ** i, 1, 1), "fpn")
    for m in ("merge1", "merge2"):
        cb(f"fpn.{m}.0", f"fpn.{m}.1", (out, out, 3, 3), "fpn")
    for s in (1, 2, 3):
        for name, cin, cout in (("conv3X3", out, out // 2), ("conv5X5_1", out, out // 4),
                                ("conv5X5_2", out // 4, out // 4),
                                ("conv7X7_2", out // 4, out // 4),
                                ("conv7x7_3", out // 4, out // 4)):
            cb(f"ssh{s}.{name}.0", f"ssh{s}.{name}.1", (cout, cin, 3, 3), f"ssh{s}")
    for head, per_anchor in RETINAFACE_HEADS:
        for i in range(3):
            cb(f"{head}.{i}.conv1x1", None, (RETINAFACE_ANCHORS * per_anchor, out, 1, 1), "head")
    return convs


def retinaface_table(hp):
    """Upstream RetinaFace's state_dict (less 'module.' and num_batches_tracked) for
    hp backbone; with hp folded, each BN is gone and its convolution has a bias."""
    t = {}
    for conv, bn, shape, _ in retinaface_convs(hp["backbone"]):
        t[f"{conv}.weight"] = shape
        if bn is None or hp["folded"]:
            t[f"{conv}.bias"] = (shape[0],)
        else:
            for k in ("weight", "bias", "running_mean", "running_var"):
                t[f"{bn}.{k}"] = (shape[0],)
    return t


def retinaface_infer(tensors):
    """backbone from the first convolution's name, folded from its BN's absence."""
    if "body.stage1.0.0.weight" in tensors:
        backbone, conv, bn = "mobilenet0.25", "body.stage1.0.0", "body.stage1.0.1"
    elif "body.conv1.weight" in tensors:
        backbone, conv, bn = "resnet50", "body.conv1", "body.bn1"
    else:
        raise ArchError("not a RetinaFace checkpoint: neither 'body.stage1.0.0.weight' "
                        "(mobilenet0.25) nor 'body.conv1.weight' (resnet50) is present")
    has_bn, has_bias = f"{bn}.weight" in tensors, f"{conv}.bias" in tensors
    if has_bn == has_bias:
        raise ArchError(f"RetinaFace checkpoint has {'both' if has_bn else 'neither'} "
                        f"'{bn}.weight' (batch norm) and '{conv}.bias' (folded batch "
                        f"norm); expected exactly one of them")
    return dict(family="retinaface", backbone=backbone, folded=has_bias)


def retinaface_check_hp(hp):
    if hp.get("backbone") not in RETINAFACE_BACKBONES:
        raise ArchError(f"backbone is {hp.get('backbone')!r}, expected one of "
                        f"{sorted(RETINAFACE_BACKBONES)}")
    if not isinstance(hp.get("folded"), bool):
        raise ArchError(f"folded is {hp.get('folded')!r}, expected true or false")


def retinaface_ignored(name, shape):
    """BatchNorm's step counter: an integer scalar, not used at inference."""
    return name.endswith(".num_batches_tracked") and tuple(shape) == ()


# --------------------------------------------------------------------------- registry

FAMILIES = {
    "gpen": dict(table=gpen_table, infer=gpen_infer, check=gpen_check_hp, fixed=gpen_fixed,
                 options=("lr_mlp",)),
    "rrdbnet": dict(table=rrdbnet_table, infer=rrdbnet_infer, check=rrdbnet_check_hp,
                    options=()),
    "retinaface": dict(table=retinaface_table, infer=retinaface_infer,
                       check=retinaface_check_hp, ignored=retinaface_ignored, options=()),
}


def detect_family(tensors):
    if "generator.style.1.weight" in tensors and "final_linear.0.weight" in tensors:
        return "gpen"
    if "conv_first.weight" in tensors and "body.0.rdb1.conv1.weight" in tensors:
        return "rrdbnet"
    if "ClassHead.0.conv1x1.weight" in tensors and "fpn.output1.0.weight" in tensors:
        return "retinaface"
    first = ", ".join(f"'{_q(n, 40)}'" for n in sorted(tensors)[:5])
    raise ArchError("unrecognised checkpoint: no known architecture has these tensor names "
                    f"(first few: {first})")


def diff_tables(got, want):
    """Human-readable differences between two {name: shape} tables, expected first."""
    lines = []
    for name in want:
        if name not in got:
            lines.append(f"missing tensor '{name}', expected shape {list(want[name])}")
        elif tuple(got[name]) != tuple(want[name]):
            lines.append(f"tensor '{name}' has shape {_shape(got[name])}, expected {list(want[name])}")
    for name in got:
        if name not in want:
            lines.append(f"unknown tensor '{_q(name)}' with shape {_shape(got[name])}")
    return lines


def _shape(shape, limit=8):
    dims = [str(d) if d < 10 ** 12 else f"~1e{len(str(d)) - 1}" for d in list(shape)[:limit]]
    return "[" + ", ".join(dims) + (", ...]" if len(shape) > limit else "]")
