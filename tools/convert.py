#!/usr/bin/env python3
"""Convert an upstream checkpoint (.pth) into the engine's model file (.safetensors).

    tools/convert.py IN.pth OUT.safetensors [--dtype fp32|fp16] [--key NAME] [--lr-mlp X]
    tools/convert.py IN.param OUT.safetensors [--bin IN.bin] [--dtype fp32|fp16]
    tools/convert.py IN.onnx OUT.safetensors [--dtype fp32|fp16]

The checkpoint is read by a restricted pickle reader (tools/pth_reader.py) that refuses
any global a state_dict does not need and bounds the work a file can cause, so
converting a hostile file runs none of its code and cannot exhaust the machine. The
architecture is inferred from tensor shapes (tools/archs.py), and the checkpoint must
hold exactly that architecture's tensors, no more and no fewer, with the values the
engine checks (finite weights, exact blur kernels, hyperparameters in its ranges):
a GPEN file this tool writes is one `gpen` loads. Families: GPEN, RRDBNet
(Real-ESRGAN's upscaler) and RetinaFace (GPEN's face detector; BatchNorm
`num_batches_tracked` counters are dropped). BasicSR-style wrappers {'params_ema': sd} / {'params': sd}
are unwrapped without --key (params_ema first, as Real-ESRGAN's inference does). An
ncnn model (IN.param with its .bin, tools/ncnn_reader.py) is read as RRDBNet, its
graph checked against upstream's layer by layer; an ONNX RetinaFace with folded batch
norms (IN.onnx, tools/onnx_reader.py, needs the `onnx` package) likewise. Only then is tensor data read, one
storage at a time, and streamed into the output, which follows weights/FORMAT.md
(safetensors with 64-byte aligned tensors and the architecture in `__metadata__`).
It is written to a temporary file in the output's folder (mode 0666 less the umask,
removed on error, SIGINT, SIGTERM or SIGHUP) and renamed, so OUT is either complete
or untouched.

Exit codes: 0 success; 1 an error in the input, output or flags' values (one line on
stderr naming the file, tensor or flag); 2 usage; 70 an internal error (a bug).
Needs Python 3 and numpy only (and `onnx` for .onnx input).
"""

import argparse
import contextlib
import errno
import functools
import hashlib
import json
import math
import os
import signal
import stat
import struct
import sys
import tempfile
import threading

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import archs  # noqa: E402
import ncnn_reader  # noqa: E402
import onnx_reader  # noqa: E402  (imports onnx only when an .onnx file is read)
from pth_reader import CheckpointError, Limits, open_checkpoint, printable  # noqa: E402

CONVERTER_VERSION = "1.3.0"
FORMAT_NAME = "gpen-engine"
FORMAT_VERSION = "1"
ALIGN = 64
PAD_PREFIX = "__pad__."
DTYPES = {"fp32": (np.dtype("<f4"), "F32"), "fp16": (np.dtype("<f2"), "F16")}
EXIT_ERROR, EXIT_USAGE, EXIT_INTERNAL = 1, 2, 70


class ConvertError(Exception):
    pass


# Every error a bad input, output or flag can cause; anything else is a bug.
USER_ERRORS = (CheckpointError, ConvertError, archs.ArchError)


def sha256_of(*paths):
    """SHA-256 of the files' bytes one after the other (an ncnn model: .param then .bin,
    the same as `cat IN.param IN.bin | sha256sum`)."""
    h = hashlib.sha256()
    for path in paths:
        try:
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        except OSError as e:
            raise ConvertError(f"{path}: cannot read: {e.strerror}") from None
    return h.hexdigest()


# --------------------------------------------------------------------------- paths

def check_output_path(src, dst):
    """The output must be a file name in an existing, writable folder, and not the input."""
    if dst.endswith(os.sep) or os.path.isdir(dst):
        raise ConvertError(f"{dst}: is a directory; give the model file's name, e.g. "
                           f"{os.path.join(dst, 'model.safetensors')}")
    folder = os.path.dirname(os.path.abspath(dst))
    if not os.path.isdir(folder):
        raise ConvertError(f"{dst}: the folder {folder} does not exist; create it first")
    try:
        st = os.stat(dst)
    except FileNotFoundError:
        return
    except OSError as e:
        raise ConvertError(f"{dst}: cannot use as output: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConvertError(f"{dst}: exists and is not a regular file; give a new file name")
    try:
        same = os.path.samefile(src, dst)
    except OSError:
        same = False
    if same or os.path.abspath(src) == os.path.abspath(dst):
        raise ConvertError(f"{dst}: output would overwrite the input checkpoint")


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class _TempCleanup:
    """While active, SIGINT/SIGTERM/SIGHUP remove the temporary file and then end the
    process with the signal's default action (so the exit status still says which).
    A signal that is ignored (nohup's SIGHUP) stays ignored."""

    SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))

    def __init__(self, path):
        self.path, self.saved = path, {}

    def handler(self, signum, frame):
        if self.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                if signal.getsignal(s) != signal.SIG_IGN:
                    self.saved[s] = signal.signal(s, self.handler)
        return self

    def __exit__(self, *exc):
        for s, h in self.saved.items():
            signal.signal(s, h)


class AtomicWriter:
    """A temporary file next to `dst`, renamed onto it by `commit`. `opener` turns the
    descriptor into a binary file object (tests replace it to simulate a full disk)."""

    # A partial, not a function: reading it off the class gives back the same object, so
    # a test that saves and restores it (around a staticmethod stand-in) leaves it working.
    opener = functools.partial(os.fdopen, mode="wb")

    def __init__(self, dst):
        self.dst, self.written = dst, 0
        folder = os.path.dirname(os.path.abspath(dst))
        self.cleanup = _TempCleanup(None).__enter__()  # before the file exists: no window
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=".convert-", suffix=".tmp", dir=folder)
        except OSError as e:
            self.cleanup.__exit__()
            raise ConvertError(f"{dst}: cannot create a file in {folder}: {e.strerror}") from None
        self.cleanup.path = self.tmp
        with contextlib.suppress(OSError):  # a file system without modes keeps its own
            os.fchmod(fd, 0o666 & ~_umask())
        self.f = self.opener(fd)

    def write(self, data):
        try:
            self.f.write(data)
        except OSError as e:
            raise self.failed(e) from None
        self.written += len(data)

    def failed(self, e):
        hint = " (free some space, or write elsewhere)" if e.errno in (errno.ENOSPC, errno.EDQUOT) else ""
        return ConvertError(f"{self.dst}: cannot write after {self.written:,} bytes: "
                            f"{e.strerror or e}{hint}")

    def commit(self):
        try:
            self.f.flush()
            os.fsync(self.f.fileno())
            self.f.close()
            os.replace(self.tmp, self.dst)
        except OSError as e:
            raise self.failed(e) from None
        finally:
            self.cleanup.__exit__()

    def abort(self):
        with contextlib.suppress(Exception):
            self.f.close()
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)
        self.cleanup.__exit__()


# --------------------------------------------------------------------------- checkpoint

# BasicSR / Real-ESRGAN wrappers, in the order Real-ESRGAN's inference prefers them.
AUTO_KEYS = ("params_ema", "params")


def unwrap(tree, tensors, key, path):
    """Selects the state_dict inside a wrapped checkpoint and strips 'module.'."""
    return choose_state_dict(tree, tensors, key, path)[0]


def _auto_key(tree, tensors):
    """'params_ema' or 'params' when the top-level dict has one holding tensors."""
    for k in AUTO_KEYS:
        if isinstance(tree.get(k), dict) and any(n.startswith(k + ".") for n in tensors):
            return k
    return None


def choose_state_dict(tree, tensors, key, path):
    """(state_dict, the wrapper key used or None): --key if given; else params_ema, then
    params; else the one entry holding tensors; 'module.' prefixes removed."""
    used = key
    if key is None and isinstance(tree, dict) and not any(isinstance(k, str) and k in tensors
                                                          for k in tree):
        used = _auto_key(tree, tensors)
        if used is not None:
            tensors = {k[len(used) + 1:]: v for k, v in tensors.items() if k.startswith(used + ".")}
    if key is not None:
        if not isinstance(tree, dict) or key not in tree:
            keys = sorted(printable(k, 40) for k in tree)[:10] if isinstance(tree, dict) else []
            raise ConvertError(f"{path}: --key '{printable(key)}' not found; top-level keys "
                               f"are {keys}")
        prefix = key + "."
        tensors = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    elif isinstance(tree, dict) and used is None:
        # A wrapper such as {'g_ema': sd, 'd': sd}: ask for --key unless exactly one
        # entry holds tensors.
        holders = [k for k, v in tree.items() if isinstance(v, dict)]
        direct = [k for k, v in tree.items() if not isinstance(v, dict)]
        if holders and not any(str(k) in tensors for k in direct):
            if len(holders) != 1:
                shown = ", ".join(printable(h, 40) for h in holders[:10])
                raise ConvertError(f"{path}: the checkpoint wraps several state_dicts "
                                   f"({shown}); choose one with --key "
                                   f"(upstream GPEN uses --key g_ema)")
            prefix = f"{holders[0]}."
            used = holders[0]
            tensors = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    if tensors and all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    if not tensors:
        raise ConvertError(f"{path}: no tensors found in the checkpoint")
    return tensors, used


def _check_option(k, family, src):
    """A flag that sets hyperparameter k must belong to the checkpoint's family."""
    if k not in archs.FAMILIES[family].get("options", ()):
        owners = [f for f, d in archs.FAMILIES.items() if k in d.get("options", ())]
        raise ConvertError(f"{src}: --{k.replace('_', '-')} applies to "
                           f"{' and '.join(owners) or 'no'} checkpoints only; this one is "
                           f"{family}, leave the flag out")


def infer_architecture(tensors, src, options=None, hints=None):
    """(family name, hp, table) for the tensors, or ConvertError listing the differences.
    options: {hp name: value} set by flags (--lr-mlp), refused for a family without it;
    hints: hyperparameters the source states (an ncnn graph's scale)."""
    try:
        family = archs.detect_family(tensors)
        fam = archs.FAMILIES[family]
        hp = fam["infer"](tensors, **(hints or {}))
        for k, v in (options or {}).items():
            _check_option(k, family, src)
            hp[k] = v
        fam["check"](hp)
    except archs.ArchError as e:
        raise archs.ArchError(f"{src}: {e}") from None
    want = fam["table"](hp)
    ignored = fam.get("ignored", lambda name, shape: False)
    problems = archs.diff_tables({k: v.shape for k, v in tensors.items()
                                  if not ignored(k, v.shape)}, want)
    if problems:
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        arch = ", ".join(f"{k} {v}" for k, v in hp.items() if k != "family")
        raise ConvertError(f"{src}: does not match the inferred {family} architecture "
                           f"({arch}): {'; '.join(problems[:5])}{more}")
    return family, hp, want


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


# --------------------------------------------------------------------------- output

def layout(shapes, order, meta, itemsize, st_dtype):
    """Header bytes and the padding after each tensor: every tensor starts at a multiple
    of ALIGN bytes from the file start; gaps are explicit zero-filled U8 entries so the
    data section has no holes (which safetensors readers reject)."""
    entries, pads, offset = {}, [], 0
    for i, name in enumerate(order):
        nbytes = math.prod(shapes[name]) * itemsize
        entries[name] = {"dtype": st_dtype, "shape": list(shapes[name]),
                         "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
        gap = (-offset) % ALIGN if i + 1 < len(order) else 0
        if gap:
            entries[f"{PAD_PREFIX}{offset}"] = {"dtype": "U8", "shape": [gap],
                                                "data_offsets": [offset, offset + gap]}
            offset += gap
        pads.append(gap)
    header = dict(entries)
    header["__metadata__"] = meta
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((-(8 + len(text))) % ALIGN)  # data section starts aligned
    return struct.pack("<Q", len(text)) + text, pads, offset


def output_array(arr, name, src, dtype):
    """arr in the output precision; refuses non-finite inputs and values that the
    precision cannot hold (they would become inf, which the engine refuses)."""
    np_dtype = DTYPES[dtype][0]
    if arr.dtype.kind != "f":
        raise ConvertError(f"{src}: tensor '{printable(name)}' has dtype {arr.dtype}, "
                           f"expected floating point")
    if not np.all(np.isfinite(arr)):
        raise ConvertError(f"{src}: tensor '{printable(name)}' contains NaN or Inf")
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(arr.astype(np_dtype))
    if not np.all(np.isfinite(out)):
        big = float(np.abs(arr).max())
        hint = "; convert with --dtype fp32" if dtype == "fp16" else ""
        raise ConvertError(f"{src}: tensor '{printable(name)}' has |x| up to {big:g}, beyond "
                           f"{dtype}'s range ({float(np.finfo(np_dtype).max):g}){hint}")
    return out


def check_fixed(out, name, want, src, kernel):
    """The engine's check of a fixed buffer (|got - want| <= 1e-6 (1 + |want|)), on the
    values as stored."""
    got = out.astype(np.float64)
    bad = np.abs(got - want) > 0.9e-6 * (1 + np.abs(want))
    if np.any(bad):
        i = int(np.argmax(bad))
        hint = "; fp16 cannot hold it exactly, convert with --dtype fp32" \
            if out.dtype == np.float16 else ""
        raise ConvertError(f"{src}: tensor '{printable(name)}' element {i} is "
                           f"{got.flat[i]:.9g}, expected {float(want.flat[i]):.9g}: every blur "
                           f"buffer must be the kernel {kernel} (read from "
                           f"generator.convs.0.conv.blur.kernel) that the engine rebuilds{hint}")


def write_model(ck, tensors, order, hp, fixed, meta, dst, dtype, src):
    """Streams the tensors (read one storage at a time) into dst, atomically."""
    np_dtype, st_dtype = DTYPES[dtype]
    head, pads, data_bytes = layout({n: tensors[n].shape for n in order}, order, meta,
                                    np_dtype.itemsize, st_dtype)
    w = AtomicWriter(dst)
    try:
        w.write(head)
        arrays = ck.arrays([tensors[n].name for n in order])
        for name, pad, (src_name, arr) in zip(order, pads, arrays):
            out = output_array(arr, src_name, src, dtype)
            if name in fixed:
                check_fixed(out, src_name, fixed[name], src, hp.get("blur_kernel"))
            w.write(memoryview(out).cast("B"))
            w.write(b"\0" * pad)
        w.commit()
    except BaseException:
        w.abort()
        raise
    return len(head) + data_bytes


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024


def is_ncnn(src, bin_path):
    """An ncnn model is named IN.param, or comes with --bin."""
    return bin_path is not None or src.lower().endswith(".param")


def is_onnx(src):
    return src.lower().endswith(".onnx")


def default_bin(src):
    return (src[:-len(".param")] if src.lower().endswith(".param") else src) + ".bin"


def _wrapper_note(tree, used, key):
    """How the state_dict was chosen, for the summary."""
    if used is None:
        return "top level"
    if key is None and used in AUTO_KEYS:
        other = [k for k in AUTO_KEYS if k != used and isinstance(tree.get(k), dict)]
        return f"'{used}'" + (f" (preferred over '{other[0]}', as Real-ESRGAN's inference)"
                              if other else " (found without --key)")
    return f"'{printable(used)}'"


def open_source(src, bin_path, key, limits):
    """(reader, tensors, hints, note, files to hash) for a .pth or an ncnn .param/.bin;
    the reader is a context manager with plan() and arrays()."""
    if is_ncnn(src, bin_path):
        if key is not None:
            raise ConvertError(f"{src}: --key selects a state_dict inside a .pth checkpoint; "
                               f"an ncnn model has none")
        bin_path = bin_path or default_bin(src)
        model = ncnn_reader.open_ncnn(src, bin_path, limits)
        return (model, model.tensors, {"scale": model.hp["scale"]},
                f"ncnn graph of {model.describe()}, weights {bin_path}", (src, bin_path))
    if is_onnx(src):
        if key is not None:
            raise ConvertError(f"{src}: --key selects a state_dict inside a .pth checkpoint; "
                               f"an ONNX model has none")
        model = onnx_reader.open_onnx(src, limits)
        return model, model.tensors, {}, f"ONNX graph: {model.describe()}", (src,)
    ck = open_checkpoint(src, limits)
    try:
        tensors, used = choose_state_dict(ck.tree, ck.tensors, key, src)
    except BaseException:
        ck.close()
        raise
    return ck, tensors, {}, _wrapper_note(ck.tree, used, key), (src,)


def convert(src, dst, dtype="fp32", key=None, lr_mlp=None, quiet=False, limits=None,
            bin_path=None):
    """Converts checkpoint src (or ncnn model src + bin_path) into model file dst; returns
    the hyperparameters. Raises one of USER_ERRORS for anything wrong with the input,
    output or options."""
    if dtype not in DTYPES:
        raise ConvertError(f"--dtype '{printable(dtype)}': expected one of {sorted(DTYPES)}")
    check_output_path(src, dst)
    if is_ncnn(src, bin_path):
        check_output_path(bin_path or default_bin(src), dst)
    options = {} if lr_mlp is None else {"lr_mlp": lr_mlp}
    reader, tensors, hints, note, sources = open_source(src, bin_path, key, limits or Limits())
    with reader as ck:
        family, hp, want = infer_architecture(tensors, src, options, hints)
        order = list(want)
        ck.plan([tensors[n].name for n in order])
        for n in order:
            if tensors[n].dtype.kind != "f":
                raise ConvertError(f"{src}: tensor '{printable(tensors[n].name)}' has dtype "
                                   f"{tensors[n].source_dtype}, expected floating point")
        fixed = archs.FAMILIES[family].get("fixed", lambda hp: {})(hp)
        meta = metadata_for(hp, src, sha256_of(*sources), dtype)
        size = write_model(ck, tensors, order, hp, fixed, meta, dst, dtype, src)
    if not quiet:
        params = sum(math.prod(s) for s in want.values())
        arch = ", ".join(f"{k}={v}" for k, v in hp.items() if k != "family")
        kinds = ", ".join(sorted({tensors[n].source_dtype for n in order}))
        print(f"converted {src}\n"
              f"  family      {family}\n"
              f"  arch        {arch}\n"
              f"  read        {note}\n"
              f"  tensors     {len(want)}\n"
              f"  parameters  {params:,}\n"
              f"  source      {kinds}, sha256 {meta['source_sha256'][:16]}...\n"
              f"  written     {dst} ({dtype}, {human(size)})")
    return hp


# --------------------------------------------------------------------------- command line

def lr_mlp_flag(text):
    """--lr-mlp: a finite number in the engine's range."""
    lo, hi = archs.GPEN_RANGES["lr_mlp"]
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{printable(text)}' is not a number") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise argparse.ArgumentTypeError(f"{printable(text)} is outside [{lo:g}, {hi:g}], the "
                                         f"range the engine accepts (GPEN uses 0.01)")
    return v


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="upstream checkpoint (.pth, zip or legacy torch.save "
                    "format), an ncnn RRDBNet model's .param, or an ONNX RetinaFace (.onnx)")
    ap.add_argument("output", help="model file to write (.safetensors)")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="fp32",
                    help="storage precision of the output (default fp32)")
    ap.add_argument("--bin", help="the ncnn model's weights (default: the .param's name with "
                    ".bin); makes the input an ncnn .param")
    ap.add_argument("--key", help="state_dict inside a wrapped checkpoint, e.g. g_ema "
                    "(params_ema, else params, is taken without it)")
    ap.add_argument("--lr-mlp", type=lr_mlp_flag, default=None,
                    help="GPEN only: learning-rate multiplier of the mapping layers "
                         "(default 0.01, as every GPEN release); it scales weights at run "
                         "time and cannot be read from the file")
    return ap.parse_args(argv)


def one_line(msg):
    return " ".join(str(msg).split("\n"))


def main(argv=None):
    args = parse_args(argv)
    try:
        convert(args.input, args.output, args.dtype, args.key, args.lr_mlp, bin_path=args.bin)
    except USER_ERRORS as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return EXIT_ERROR
    except MemoryError:
        print(f"error: {args.input}: out of memory while converting; free memory and retry",
              file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: say so, in one line, without a traceback
        print(f"internal error while converting {args.input}: {type(e).__name__}: "
              f"{one_line(printable(str(e), 200))} (a bug in tools/convert.py; please report "
              f"it with the checkpoint)", file=sys.stderr)
        return EXIT_INTERNAL
    return 0


if __name__ == "__main__":
    sys.exit(main())
