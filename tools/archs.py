"""Architecture tables: for each model family, the exact set of tensor names and shapes.

An architecture is described by a small dict of hyperparameters. Each family
provides two functions:
  * `table(hp)`  -> {state_dict key: shape}, the exact tensors upstream's module
    holds for those hyperparameters (buffers such as blur kernels included);
  * `infer(tensors)` -> hp, reading the hyperparameters back from tensor shapes.
The converter infers, rebuilds the table, and requires the checkpoint to match it
exactly. Adding a family means adding one table and one inference function here;
the converter itself does not change.

The GPEN table mirrors upstream `face_model/gpen_model.py`: `FullGenerator` (and
`FullGenerator_SR` when the encoder input is smaller than the output).
"""

import math

import numpy as np


class ArchError(Exception):
    pass


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


def _blur_from_buffer(k2d, name):
    """A stored blur buffer is outer(k, k) / sum(k)^2 (times a gain); return integer k."""
    k2d = np.asarray(k2d, dtype=np.float64)
    row = k2d.sum(axis=0)
    if not np.all(np.isfinite(row)) or row.min() <= 0:
        raise ArchError(f"blur kernel '{name}' is not a positive separable kernel")
    k1 = row / row.min()
    ki = np.round(k1)
    if np.abs(k1 - ki).max() > 1e-3:
        raise ArchError(f"blur kernel '{name}' is not made of small integers: {k1.tolist()}")
    expect = np.outer(ki, ki) / ki.sum() ** 2
    gain = k2d.sum()
    if np.abs(expect * gain - k2d).max() > 1e-3 * abs(gain):
        raise ArchError(f"blur kernel '{name}' is not separable")
    return [int(v) for v in ki]


def gpen_infer(tensors):
    def shape(name):
        if name not in tensors:
            raise ArchError(f"not a GPEN checkpoint: tensor '{name}' is missing")
        return tuple(tensors[name].shape)

    n_mlp = 0
    while f"generator.style.{n_mlp + 1}.weight" in tensors:
        n_mlp += 1
    if n_mlp == 0:
        raise ArchError("not a GPEN checkpoint: no mapping layer 'generator.style.1.weight'")
    style_dim = shape("generator.style.1.weight")[0]
    n_rgb = _count(tensors, "generator.to_rgbs.{}.conv.weight")
    if "ecd0.0.0.weight" not in tensors:
        raise ArchError("not a GPEN checkpoint: encoder input layer 'ecd0.0.0.weight' is missing")
    levels = 1  # ecd0, then ecd1.. each halve the resolution down to 4x4
    while f"ecd{levels}.0.1.weight" in tensors:
        levels += 1
    out_size = 2 ** (n_rgb + 2)
    in_size = 2 ** (levels + 1)
    c4 = shape("generator.input.input")[1]
    isconcat = shape("generator.to_rgb1.conv.weight")[2] == 2 * c4
    narrow = c4 / 512.0
    blur = _blur_from_buffer(tensors["generator.convs.0.conv.blur.kernel"],
                             "generator.convs.0.conv.blur.kernel") \
        if "generator.convs.0.conv.blur.kernel" in tensors else [1, 3, 3, 1]
    base = dict(family="gpen", in_size=in_size, out_size=out_size, style_dim=style_dim,
                n_mlp=n_mlp, narrow=narrow, isconcat=isconcat, lr_mlp=0.01, blur_kernel=blur)
    # channel_multiplier shows only in levels >= 64; try the candidates upstream uses.
    want = {k: tuple(v.shape) for k, v in tensors.items()}
    for cm in (2, 1, 4, 3):
        hp = dict(base, channel_multiplier=cm)
        if gpen_table(hp) == want:
            return hp
    return dict(base, channel_multiplier=2 if max(in_size, out_size) >= 64 else 1)


def gpen_check_hp(hp):
    for key in ("in_size", "out_size"):
        v = hp[key]
        if v < 8 or v > 2048 or v & (v - 1):
            raise ArchError(f"{key} {v} is not a power of two in [8, 2048]")
    if hp["in_size"] > hp["out_size"]:
        raise ArchError(f"in_size {hp['in_size']} is larger than out_size {hp['out_size']}")


# --------------------------------------------------------------------------- registry

FAMILIES = {
    "gpen": dict(table=gpen_table, infer=gpen_infer, check=gpen_check_hp),
}


def detect_family(tensors):
    if "generator.style.1.weight" in tensors and "final_linear.0.weight" in tensors:
        return "gpen"
    raise ArchError("unrecognised checkpoint: no known architecture has these tensor names "
                    f"(first few: {sorted(tensors)[:5]})")


def diff_tables(got, want):
    """Human-readable differences between two {name: shape} tables, expected first."""
    lines = []
    for name in want:
        if name not in got:
            lines.append(f"missing tensor '{name}', expected shape {list(want[name])}")
        elif tuple(got[name]) != tuple(want[name]):
            lines.append(f"tensor '{name}' has shape {list(got[name])}, expected {list(want[name])}")
    for name in got:
        if name not in want:
            lines.append(f"unknown tensor '{name}' with shape {list(got[name])}")
    return lines
