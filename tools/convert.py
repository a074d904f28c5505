#!/usr/bin/env python3
"""Convert an upstream checkpoint (.pth) into the engine's model file (.safetensors).

    tools/convert.py IN.pth OUT.safetensors [--dtype fp32|fp16] [--key NAME]

The checkpoint is read by a restricted unpickler (tools/pth_reader.py) that refuses
any global a state_dict does not need, so converting a hostile file runs none of
its code. The architecture is inferred from tensor shapes (tools/archs.py), and the
checkpoint must hold exactly that architecture's tensors, no more and no fewer.
The output follows weights/FORMAT.md: safetensors with 64-byte aligned tensors and
the architecture in `__metadata__`. It is written to a temporary file and renamed,
so OUT is either complete or untouched.

Needs Python 3 and numpy only.
"""

import argparse
import hashlib
import json
import os
import struct
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import archs  # noqa: E402
from pth_reader import CheckpointError, load_checkpoint  # noqa: E402

CONVERTER_VERSION = "1.0.0"
FORMAT_NAME = "gpen-engine"
FORMAT_VERSION = "1"
ALIGN = 64
PAD_PREFIX = "__pad__."
DTYPES = {"fp32": (np.dtype("<f4"), "F32"), "fp16": (np.dtype("<f2"), "F16")}


class ConvertError(Exception):
    pass


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def unwrap(tree, tensors, key, path):
    """Selects the state_dict inside a wrapped checkpoint and strips 'module.'."""
    if key is not None:
        if not isinstance(tree, dict) or key not in tree:
            keys = sorted(tree) if isinstance(tree, dict) else []
            raise ConvertError(f"{path}: --key '{key}' not found; top-level keys are {keys}")
        prefix = key + "."
        tensors = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    elif isinstance(tree, dict):
        # A wrapper such as {'params_ema': sd} or {'g_ema': sd, 'd': sd}: ask for --key
        # unless exactly one entry holds tensors.
        holders = [k for k, v in tree.items() if isinstance(v, dict)]
        direct = [k for k, v in tree.items() if not isinstance(v, dict)]
        if holders and not any(k in tensors for k in direct):
            if len(holders) != 1:
                raise ConvertError(f"{path}: the checkpoint wraps several state_dicts "
                                   f"({', '.join(map(str, holders))}); choose one with --key "
                                   f"(upstream GPEN uses --key g_ema)")
            prefix = f"{holders[0]}."
            tensors = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    if tensors and all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    if not tensors:
        raise ConvertError(f"{path}: no tensors found in the checkpoint")
    return tensors


def metadata_for(hp, src_path, src_sha, dtype_name):
    meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
            "converter_version": CONVERTER_VERSION, "source_sha256": src_sha,
            "source_file": os.path.basename(src_path), "dtype": dtype_name}
    for k, v in hp.items():
        if isinstance(v, bool):
            meta[k] = "true" if v else "false"
        elif isinstance(v, list):
            meta[k] = json.dumps(v, separators=(",", ":"))
        elif isinstance(v, float):
            meta[k] = repr(v)
        else:
            meta[k] = str(v)
    return meta


def build_file(tensors, order, meta, np_dtype, st_dtype):
    """Lays out header and data: every tensor starts at a multiple of ALIGN bytes from
    the file start; gaps are explicit zero-filled U8 entries so the data section has
    no holes (which safetensors readers reject)."""
    entries, blobs, offset = {}, [], 0
    for i, name in enumerate(order):
        arr = np.ascontiguousarray(tensors[name].astype(np_dtype))
        raw = arr.tobytes()
        entries[name] = {"dtype": st_dtype, "shape": list(arr.shape),
                         "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
        gap = (-offset) % ALIGN
        if gap and i + 1 < len(order):
            entries[f"{PAD_PREFIX}{offset}"] = {"dtype": "U8", "shape": [gap],
                                                "data_offsets": [offset, offset + gap]}
            blobs.append(b"\0" * gap)
            offset += gap
    header = dict(entries)
    header["__metadata__"] = meta
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((-(8 + len(text))) % ALIGN)  # data section starts aligned
    return struct.pack("<Q", len(text)) + text, blobs


def write_atomic(out_path, head, blobs):
    d = os.path.dirname(os.path.abspath(out_path))
    fd, tmp = tempfile.mkstemp(prefix=".convert-", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(head)
            for b in blobs:
                f.write(b)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024


def convert(src, dst, dtype="fp32", key=None, lr_mlp=None, quiet=False):
    if os.path.abspath(src) == os.path.abspath(dst):
        raise ConvertError(f"{dst}: output would overwrite the input checkpoint")
    if not os.path.isfile(src):
        raise ConvertError(f"{src}: no such file")
    tree, tensors = load_checkpoint(src)
    tensors = unwrap(tree, tensors, key, src)
    family = archs.detect_family(tensors)
    fam = archs.FAMILIES[family]
    hp = fam["infer"](tensors)
    if lr_mlp is not None:
        hp["lr_mlp"] = lr_mlp
    fam["check"](hp)
    want = fam["table"](hp)
    problems = archs.diff_tables({k: v.shape for k, v in tensors.items()}, want)
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise ConvertError(f"{src}: does not match the inferred {family} architecture "
                           f"{json.dumps(hp)}:\n  {shown}{more}")
    for name, arr in tensors.items():
        if arr.dtype.kind != "f":
            raise ConvertError(f"{src}: tensor '{name}' has dtype {arr.dtype}, expected floating point")
        if not np.all(np.isfinite(arr)):
            raise ConvertError(f"{src}: tensor '{name}' contains NaN or Inf")
    np_dtype, st_dtype = DTYPES[dtype]
    if dtype == "fp16":
        for name, arr in tensors.items():
            big = np.abs(arr).max() if arr.size else 0
            if big > 65504:
                raise ConvertError(f"{src}: tensor '{name}' has |x| up to {big:g}, "
                                   f"beyond fp16's range; convert with --dtype fp32")
    meta = metadata_for(hp, src, sha256_of(src), dtype)
    head, blobs = build_file(tensors, list(want), meta, np_dtype, st_dtype)
    write_atomic(dst, head, blobs)
    if not quiet:
        params = sum(int(np.prod(s)) for s in want.values())
        arch = ", ".join(f"{k}={v}" for k, v in hp.items() if k != "family")
        print(f"converted {src}\n"
              f"  family      {family}\n"
              f"  arch        {arch}\n"
              f"  tensors     {len(want)}\n"
              f"  parameters  {params:,}\n"
              f"  source      {str(next(iter(tensors.values())).dtype)}, sha256 {meta['source_sha256'][:16]}...\n"
              f"  written     {dst} ({dtype}, {human(len(head) + sum(map(len, blobs)))})")
    return hp


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="upstream checkpoint (.pth, zip or legacy torch.save format)")
    ap.add_argument("output", help="model file to write (.safetensors)")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="fp32",
                    help="storage precision of the output (default fp32)")
    ap.add_argument("--key", help="state_dict inside a wrapped checkpoint, e.g. g_ema or params_ema")
    ap.add_argument("--lr-mlp", type=float, default=None,
                    help="learning-rate multiplier of the mapping layers (default 0.01, as "
                         "every GPEN release); it scales weights at run time and cannot be "
                         "read from the file")
    args = ap.parse_args(argv)
    try:
        convert(args.input, args.output, args.dtype, args.key, args.lr_mlp)
    except (CheckpointError, ConvertError, archs.ArchError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
