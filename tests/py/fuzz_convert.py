#!/usr/bin/env python3
"""Fuzz target for the checkpoint converter (tools/convert.py + pth_reader.py + archs.py).

    tests/py/fuzz_convert.py --seconds 30            # exits 1 on a finding, 0 otherwise
    tests/py/fuzz_convert.py --engine own --iterations 500 --seed 3

The converter reads untrusted files, so for every input it must either succeed (and
write a well-formed model file) or raise one of its own errors (convert.USER_ERRORS)
with a one-line message; never another exception, never more than a time and memory
bound per input. This script checks exactly that on mutated checkpoints.

Inputs are checkpoint files. The seeds are tiny64's model.pth and rrdb_x1_tiny's
(tests/data) and synthetic small ones made here: the smallest valid GPEN in the zip and
legacy formats, with shared storages, strided views, legacy views, fp16 and float64
storages, a wrapped {'g_ema', 'd'} checkpoint, an RRDBNet wrapped in both
{'params', 'params_ema'}, and a few other files. The mutator knows the
structure: it rewrites the pickle opcode by opcode (integers to edge values, strings
to other names and storage types, opcodes deleted, duplicated, inserted), damages
storage bytes (NaN, Inf, huge values, truncation), and changes the zip (members
dropped or duplicated, deflate, the encryption flag, other compression methods);
raw byte flips are mixed in. Mutated files are rebuilt as valid zips, so the reader's
deep paths are reached rather than only the CRC check.

Two engines run the same target and mutator:
  * atheris (PyPI; coverage-guided libFuzzer in-process), when importable: libFuzzer
    enforces -timeout and -rss_limit_mb per input and writes crash-*/timeout-*/oom-*
    files into the work directory;
  * our own loop (`--engine own`, the fallback): a worker process under RLIMIT_AS
    runs inputs and keeps those that show new behaviour (a new kind of error
    message) as further seeds; the parent kills it when one input takes longer than
    --per-input-seconds, and saves the input.
A finding leaves the input in the work directory (printed) and exits 1. With GPEN_BIN
set to a built `gpen`, every file the converter writes must also pass `gpen info`.
"""

import argparse
import json
import os
import pickletools
import random
import resource
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
TOOLS = os.path.join(ROOT, "tools")
TINY64 = os.path.join(ROOT, "tests", "data", "gpen", "tiny64", "model.pth")
RRDB_X1 = os.path.join(ROOT, "tests", "data", "rrdb", "rrdb_x1_tiny", "model.pth")
MAX_LEN = 4 << 20


# --------------------------------------------------------------------------- the target

def fuzz_limits(pth_reader):
    """Tighter than the defaults so that each input is fast; the same code paths."""
    return pth_reader.Limits(max_total_elements=1 << 22, max_tensor_elements=1 << 21,
                             max_objects=200_000, max_expanded=400_000,
                             max_pickle_bytes=8 << 20, max_string_bytes=1 << 20)


class Finding(Exception):
    """The converter broke its contract on this input."""


def check_one(convert, pth_reader, path, out):
    """Converts path; returns 'ok' or the kind of our error; raises otherwise. A warning
    counts as a finding too: on the command line it would be a second stderr line."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            convert.convert(path, out, quiet=True, limits=fuzz_limits(pth_reader))
    except convert.USER_ERRORS as e:
        msg = str(e)
        if not msg or "\n" in msg or not msg.startswith((path, out)):
            raise Finding(f"error message is not one line naming the file: {msg!r}") from e
        return error_kind(msg[len(path):])
    verify_output(out)
    engine_accepts(out)
    os.unlink(out)
    return "ok"


def engine_accepts(path):
    """With GPEN_BIN set, the engine must load every file the converter wrote, of every
    family (GPEN and RRDBNet)."""
    gpen = os.environ.get("GPEN_BIN")
    if not gpen:
        return
    def unlimited():  # the worker's soft RLIMIT_AS is ours, not the engine's (ASan maps a lot)
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))

    r = subprocess.run([gpen, "info", path], capture_output=True, text=True, timeout=120,
                       preexec_fn=unlimited)
    if r.returncode != 0:
        raise Finding(f"the converter succeeded but `gpen info` refuses the file: "
                      f"{r.stderr.strip()[:300]}")


def error_kind(msg):
    """A message with names and numbers blanked: its kind, for novelty."""
    out, quoted = [], False
    for c in msg:
        if c == "'":
            quoted = not quoted
            out.append(c)
        elif not quoted and not c.isdigit():
            out.append(c)
    return "".join(out)[:120]


def verify_output(path):
    """A converter success must be a well-formed model file (weights/FORMAT.md)."""
    import numpy as np
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__")
    if meta.get("format") != "gpen-engine" or (8 + n) % 64:
        raise Finding("model file header is malformed")
    end = 0
    dt = {"F32": "<f4", "F16": "<f2", "U8": "u1"}
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, en = e["data_offsets"]
        if b != end:
            raise Finding(f"hole or overlap before tensor {name!r}")
        end = en
        arr = np.frombuffer(data[8 + n + b:8 + n + en], dtype=dt[e["dtype"]])
        if arr.size != int(np.prod(e["shape"])):
            raise Finding(f"tensor {name!r} size disagrees with its shape")
        if e["dtype"] != "U8" and ((8 + n + b) % 64 or not np.all(np.isfinite(arr))):
            raise Finding(f"tensor {name!r} is misaligned or not finite")
    if 8 + n + end != len(data):
        raise Finding("data section length disagrees with the header")


# --------------------------------------------------------------------------- seeds

def write_seeds(folder):
    """Writes the seed checkpoints into folder; returns their paths."""
    sys.path.insert(0, TOOLS)
    sys.path.insert(0, HERE)
    import collections
    import numpy as np
    import hostile_pth as H
    import torchlike
    os.makedirs(folder, exist_ok=True)
    p = lambda name: os.path.join(folder, name)  # noqa: E731
    sd = H.tiny_gpen()
    H.tiny_zip(p("tiny.pth"))
    H.tiny_legacy(p("tiny_legacy.pth"))
    half = H.tiny_tree(transform=lambda k, v, i: torchlike.tensor(v.astype(np.float16), str(i)))
    torchlike.save_zip(half, p("tiny_fp16.pth"))
    dbl = H.tiny_tree(transform=lambda k, v, i: torchlike.tensor(v.astype(np.float64), str(i)))
    torchlike.save_legacy(dbl, p("tiny_f64_legacy.pth"))
    names = list(sd)
    store = np.concatenate([sd[names[0]].ravel(), sd[names[1]].ravel()])

    def shared(k, v, i):
        if i == 0:
            return torchlike.tensor(v, "s", storage=store)
        if i == 1:
            return torchlike.tensor(v, "s", offset=sd[names[0]].size, storage=store)
        if v.ndim == 2 and v.shape[0] > 1:
            big = np.zeros(3 + v.size, np.float32)
            big[3:] = v.T.ravel()
            return torchlike.tensor(v, str(i), offset=3, storage=big, stride=[1, v.shape[0]])
        return torchlike.tensor(v, str(i))
    torchlike.save_zip(H.tiny_tree(transform=shared), p("tiny_views.pth"))
    torchlike.save_zip({"g_ema": H.tiny_tree(), "d": H.tiny_tree(
        transform=lambda k, v, i: torchlike.tensor(v, f"d{i}"))}, p("tiny_wrapped.pth"))
    root = np.concatenate([np.zeros(2, np.float32), sd[names[0]].ravel()])
    items, storages = H.tiny_items(legacy=True)
    items[0] = (names[0], dict(items[0][1], key="root", numel=root.size,
                               view=("v", 2, sd[names[0]].size)))
    storages = storages[1:] + [("root", root.size, root.tobytes())]
    H.write_legacy(p("tiny_legacy_views.pth"), H.Pickle().state_dict(items).bytes(), storages)
    H.one_tensor_zip(p("one.pth"), size=(2, 2), stride=(2, 1), numel=4)
    torchlike.save_zip(collections.OrderedDict(a=torchlike.tensor(np.ones(3, np.float32), "0")),
                       p("plain.pth"))
    if os.path.isfile(TINY64):
        shutil.copy(TINY64, p("tiny64.pth"))
    # RRDBNet: upstream's {'params_ema': sd} wrapper, and both wrappers at once.
    if os.path.isfile(RRDB_X1):
        shutil.copy(RRDB_X1, p("rrdb_x1.pth"))
    import archs
    hp = dict(scale=4, num_in_ch=3, num_out_ch=3, num_feat=2, num_block=1, num_grow_ch=1)
    rrdb = collections.OrderedDict((k, np.full(s, 0.5, np.float32))
                                   for k, s in archs.rrdbnet_table(hp).items())
    wrap = lambda tag: collections.OrderedDict(  # noqa: E731
        (k, torchlike.tensor(v, f"{tag}{i}")) for i, (k, v) in enumerate(rrdb.items()))
    torchlike.save_zip({"params": wrap("p"), "params_ema": wrap("e")}, p("rrdb_both.pth"))
    return sorted(os.path.join(folder, n) for n in os.listdir(folder))


# --------------------------------------------------------------------------- mutator

INTERESTING = [0, 1, 2, 3, -1, -2, 4, 7, 8, 16, 64, 255, 256, 65535, 65536, 2 ** 31 - 1,
               -2 ** 31, 2 ** 32, 2 ** 40, 2 ** 62, 2 ** 63 - 1, -2 ** 63, 2 ** 63, 2 ** 64,
               10 ** 30, 2 ** 255]
STRINGS = ["FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage", "LongStorage",
           "BoolStorage", "ByteStorage", "storage", "cpu", "0", "1", "", "system", "os", "eval",
           "builtins", "torch", "torch._utils", "collections", "OrderedDict", "_rebuild_tensor",
           "_rebuild_parameter", "g_ema", "module.generator.style.1.weight",
           "generator.style.1.weight", "ecd1.0.0.kernel", "a" * 300, "x\n\x1b[31m",
           "params_ema", "params", "conv_first.weight", "body.0.rdb1.conv1.weight",
           "body.1.rdb1.conv1.weight", "conv_last.weight"]
INSERTS = [b"(", b"0", b"1", b"2", b"}", b"]", b")", b"t", b"s", b"u", b"a", b"e", b"N",
           b"\x88", b"R", b"b", b"Q", b".", b"\x94", b"h\x00", b"h\x01", b"j\x05\x00\x00\x00",
           b"\x85", b"\x86", b"\x87", b"\x8f", b"\x90", b"\x91", b"\x81", b"c__builtin__\neval\n",
           b"ctorch\nHalfStorage\n", b"\x8c\x01x", b"K\x00", b"J\xff\xff\xff\xff",
           b"\x8a\x09" + b"\xff" * 9, b"\x95" + b"\x00" * 8, b"\x97", b"I01\n", b"Fnan\n"]
FLOATS32 = [float("nan"), float("inf"), -float("inf"), 1e38, 3.4e38, 65504.0, 65520.0,
            -0.0, 1e-45, 0.0, 0.25]
FLOATS = FLOATS32 + [1e300, -1e300, 3.5e38, 5e-324]


def encode_int(v):
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if 0 <= v < 65536:
        return b"M" + struct.pack("<H", v)
    if -2 ** 31 <= v < 2 ** 31:
        return b"J" + struct.pack("<i", v)
    n = (v.bit_length() + 8) // 8
    if n < 256:
        return b"\x8a" + bytes([n]) + v.to_bytes(n, "little", signed=True)
    return b"\x8b" + struct.pack("<i", n) + v.to_bytes(n, "little", signed=True)


def encode_str(s):
    e = s.encode("utf-8", "surrogatepass")
    return b"\x8c" + bytes([len(e)]) + e if len(e) < 256 else b"X" + struct.pack("<I", len(e)) + e


def pickle_ops(pkl):
    """[(name, arg, start, end)] of each opcode; None if it is not a parseable pickle."""
    try:
        ops = list(pickletools.genops(pkl))
    except Exception:
        return None
    spans = []
    for i, (op, arg, pos) in enumerate(ops):
        end = ops[i + 1][2] if i + 1 < len(ops) else len(pkl)
        spans.append((op.name, arg, pos, end))
    return spans


class Mutator:
    """Structured mutations of checkpoint files (see the module docstring)."""

    def __init__(self, rng):
        self.rng = rng

    # ---- pickles

    def mutate_pickle(self, pkl):
        ops = pickle_ops(pkl)
        r = self.rng
        if not ops or r.random() < 0.05:
            return self.flip(pkl)
        i = r.randrange(len(ops))
        name, arg, start, end = ops[i]
        ints = [o for o in ops if o[0] in ("BININT", "BININT1", "BININT2", "LONG1")]
        strs = [o for o in ops if o[0] in ("BINUNICODE", "SHORT_BINUNICODE")]
        choice = r.random()
        if choice < 0.35 and ints:
            _, v, start, end = r.choice(ints)
            new = r.choice(INTERESTING + [v + 1, v - 1, -v, v * 2, r.randrange(-1000, 1000)])
            return pkl[:start] + encode_int(new) + pkl[end:]
        if choice < 0.55 and strs:
            _, v, start, end = r.choice(strs)
            other = r.choice(strs)[1]
            new = r.choice(STRINGS + [other, v + "x", v[:-1], v + "." + other])
            return pkl[:start] + encode_str(new) + pkl[end:]
        if choice < 0.65 and name == "GLOBAL":
            mod, _, nm = arg.partition(" ")
            new = r.choice([("torch", r.choice(STRINGS[:7])), ("collections", "OrderedDict"),
                            ("torch._utils", "_rebuild_parameter"), ("builtins", "eval"),
                            ("torch._utils", "_rebuild_tensor"), (mod, nm + "x")])
            return pkl[:start] + f"c{new[0]}\n{new[1]}\n".encode() + pkl[end:]
        if choice < 0.75:
            return pkl[:start] + pkl[end:]                       # delete an opcode
        if choice < 0.82:
            return pkl[:start] + pkl[start:end] * 2 + pkl[end:]  # duplicate one
        if choice < 0.92:
            return pkl[:start] + r.choice(INSERTS) + pkl[start:]  # insert one
        j = r.randrange(len(ops))                                # splice a run elsewhere
        a, b = sorted((ops[j][2], ops[min(j + r.randrange(1, 40), len(ops) - 1)][3]))
        return pkl[:start] + pkl[a:b] + pkl[start:]

    def flip(self, data):
        r = self.rng
        if not data:
            return bytes([r.randrange(256)])
        b = bytearray(data)
        for _ in range(r.randrange(1, 5)):
            k = r.randrange(len(b))
            b[k] = r.choice([0, 0xFF, 0x7F, 0x80, b[k] ^ (1 << r.randrange(8)), r.randrange(256)])
        if r.random() < 0.1:
            del b[r.randrange(len(b)):]
        return bytes(b)

    # ---- storage bytes

    def mutate_storage(self, raw):
        r = self.rng
        c = r.random()
        if c < 0.4 and len(raw) >= 4:
            k = r.randrange(len(raw) // 4) * 4
            return raw[:k] + struct.pack("<f", r.choice(FLOATS32)) + raw[k + 4:]
        if c < 0.55 and len(raw) >= 8:
            k = r.randrange(len(raw) // 8) * 8
            return raw[:k] + struct.pack("<d", r.choice(FLOATS)) + raw[k + 8:]
        if c < 0.7:
            return raw[:max(0, len(raw) - r.randrange(1, 5))]
        if c < 0.8:
            return raw + bytes(r.randrange(1, 9))
        if c < 0.85:
            return bytes(len(raw))
        return self.flip(raw)

    # ---- containers

    def mutate(self, data):
        r = self.rng
        if r.random() < 0.05:
            return self.flip(data)
        try:
            out = self.mutate_zip(data) if data[:4] == b"PK\x03\x04" else self.mutate_legacy(data)
        except Exception as e:  # a bug of the mutator, not of the converter
            raise RuntimeError(f"mutator failed: {e}") from e
        return out if out is not None else self.flip(data)

    def mutate_zip(self, data):
        import io
        r = self.rng
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                members = [(i.filename, z.read(i), i.compress_type) for i in z.infolist()]
        except Exception:
            return None
        if not members:
            return None
        k = r.randrange(len(members))
        name, raw, method = members[k]
        c = r.random()
        if name.endswith("data.pkl") and c < 0.7 or c < 0.15:
            pkls = [m for m in range(len(members)) if members[m][0].endswith("data.pkl")]
            k = pkls[0] if pkls else k
            name, raw, method = members[k]
            members[k] = (name, self.mutate_pickle(raw), method)
        elif c < 0.7:
            members[k] = (name, self.mutate_storage(raw), method)
        elif c < 0.78:
            del members[k]
        elif c < 0.84:
            members.insert(k, members[k])
        elif c < 0.9:
            members[k] = (name, raw, zipfile.ZIP_DEFLATED)
        else:
            members[k] = (name + r.choice(["x", "/", ""]), raw, method)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # duplicate names are the point
                for name, raw, method in members:
                    z.writestr(zipfile.ZipInfo(name), raw, compress_type=method)
        out = buf.getvalue()
        if r.random() < 0.05:
            out = self.zip_flags(out)
        return out

    def zip_flags(self, data):
        """Sets the encryption flag or a foreign compression method on one member."""
        b = bytearray(data)
        sig = self.rng.choice([b"PK\x03\x04", b"PK\x01\x02"])
        at = [i for i in range(len(b) - 4) if b[i:i + 4] == sig][:64]
        if at:
            i = self.rng.choice(at)
            flag_at, method_at = (6, 8) if sig == b"PK\x03\x04" else (8, 10)
            if self.rng.random() < 0.5:
                struct.pack_into("<H", b, i + flag_at, 1)
            else:
                struct.pack_into("<H", b, i + method_at, self.rng.choice([9, 12, 14, 99]))
        return bytes(b)

    def mutate_legacy(self, data):
        """Legacy stream: five pickles, then (int64 count, bytes) per storage."""
        pos, parts = 0, []
        for _ in range(5):
            ops = pickle_ops(data[pos:])
            if not ops or ops[-1][0] != "STOP":
                return None
            end = pos + ops[-1][3]
            parts.append(data[pos:end])
            pos = end
        tail = data[pos:]
        r = self.rng
        c = r.random()
        if c < 0.6:
            parts[3] = self.mutate_pickle(parts[3])
        elif c < 0.7:
            parts[4] = self.mutate_pickle(parts[4])
        elif c < 0.75:
            k = r.randrange(3)
            parts[k] = self.mutate_pickle(parts[k])
        elif c < 0.85 and len(tail) >= 8:
            tail = struct.pack("<q", r.choice(INTERESTING[:20])) + tail[8:]
        else:
            tail = self.mutate_storage(tail)
        return b"".join(parts) + tail


# --------------------------------------------------------------------------- own engine

def worker(args):
    """Runs mutated inputs until the deadline; prints one line per input as a heartbeat."""
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    resource.setrlimit(resource.RLIMIT_AS, (args.mem_mb << 20, hard))
    sys.path.insert(0, TOOLS)
    import convert
    import pth_reader
    rng = random.Random(args.seed)
    mut = Mutator(rng)
    corpus = []
    for name in sorted(os.listdir(args.corpus)):
        with open(os.path.join(args.corpus, name), "rb") as f:
            corpus.append(f.read())
    kinds, stats = set(), {"ok": 0, "error": 0}
    cur = os.path.join(args.workdir, "current.pth")
    out = os.path.join(args.workdir, "current.out.safetensors")
    deadline = time.monotonic() + args.seconds if args.seconds else None
    i = 0
    while (args.iterations is None or i < args.iterations) and \
            (deadline is None or time.monotonic() < deadline):
        base = rng.choice(corpus)
        data = base
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            data = mut.mutate(data)
        data = data[:MAX_LEN]
        with open(cur, "wb") as f:
            f.write(data)
        print(f"input {i}", flush=True)
        try:
            kind = check_one(convert, pth_reader, cur, out)
        except BaseException as e:  # noqa: B902 - a finding, whatever it is
            keep = os.path.join(args.workdir, f"finding-{args.seed}-{i}.pth")
            shutil.copy(cur, keep)
            print(f"FINDING {type(e).__name__} on {keep}", flush=True)
            traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
            os._exit(3)
        stats["ok" if kind == "ok" else "error"] += 1
        if kind not in kinds and len(corpus) < 500:
            kinds.add(kind)
            corpus.append(data)
        i += 1
    print(f"done {i} inputs: {stats['ok']} converted, {stats['error']} refused, "
          f"{len(kinds)} kinds of outcome", flush=True)
    return 0


def run_own(args, seeds_dir):
    """The parent: starts the worker, watches its heartbeat, reports findings."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--corpus", seeds_dir,
           "--workdir", args.workdir, "--seed", str(args.seed), "--mem-mb", str(args.mem_mb)]
    if args.iterations is not None:
        cmd += ["--iterations", str(args.iterations)]
    if args.seconds:
        cmd += ["--seconds", str(args.seconds)]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    last, summary, log = "start", "", []
    while True:
        ready, _, _ = select.select([p.stdout], [], [], args.per_input_seconds)
        if not ready:
            p.kill()
            p.wait()
            return report_hang(args, last)
        line = p.stdout.readline().decode(errors="replace")
        if not line:
            break
        if line.startswith("input "):
            last = line.strip()
        else:
            log.append(line)
            summary = line.strip()
    rc = p.wait()
    if rc == 0:
        print(f"fuzz_convert (own mutator, seed {args.seed}): {summary}; no findings")
        return 0
    print("".join(log[-60:]), end="")
    if rc != 3:  # killed by a signal or the memory limit outside Python's reach
        keep = os.path.join(args.workdir, f"finding-crash-{args.seed}.pth")
        shutil.copy(os.path.join(args.workdir, "current.pth"), keep)
        print(f"FINDING: the worker died (status {rc}) on {keep}")
    return 1


def report_hang(args, last):
    keep = os.path.join(args.workdir, f"finding-timeout-{args.seed}.pth")
    shutil.copy(os.path.join(args.workdir, "current.pth"), keep)
    print(f"FINDING: {last} ran longer than {args.per_input_seconds} s; saved as {keep}")
    return 1


# --------------------------------------------------------------------------- atheris engine

def atheris_child(argv):
    """Runs inside libFuzzer: our modules are imported under atheris's instrumentation."""
    import atheris
    with atheris.instrument_imports(include=["convert", "pth_reader", "archs"]):
        sys.path.insert(0, TOOLS)
        import convert
        import pth_reader
    tmp = tempfile.mkdtemp(prefix="fuzz-convert-")
    cur, out = os.path.join(tmp, "in.pth"), os.path.join(tmp, "out.safetensors")

    def test_one(data):
        with open(cur, "wb") as f:
            f.write(data)
        check_one(convert, pth_reader, cur, out)

    def custom_mutator(data, max_size, seed):
        rng = random.Random(seed)
        if rng.random() < 0.15:
            return atheris.Mutate(data, max_size)
        try:
            return Mutator(rng).mutate(data)[:max_size]
        except Exception:
            return atheris.Mutate(data, max_size)

    atheris.Setup(argv, test_one, custom_mutator=custom_mutator)
    atheris.Fuzz()


def run_atheris(args, seeds_dir):
    corpus = os.path.join(args.workdir, "corpus")
    if not os.path.isdir(corpus):
        shutil.copytree(seeds_dir, corpus)
    flags = [f"-max_total_time={args.seconds}", f"-timeout={args.per_input_seconds}",
             f"-rss_limit_mb={args.mem_mb}", f"-max_len={MAX_LEN}", f"-seed={args.seed or 1}",
             f"-artifact_prefix={args.workdir}{os.sep}", "-print_final_stats=1"]
    if args.iterations is not None:
        flags.append(f"-runs={args.iterations}")
    cmd = [sys.executable, os.path.abspath(__file__), "--atheris-child", "--", *flags, corpus]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    log = os.path.join(args.workdir, "atheris.log")
    with open(log, "wb") as f:
        try:
            rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env,
                                timeout=args.seconds + 120 if args.seconds else None).returncode
        except subprocess.TimeoutExpired:
            rc = -1
    with open(log, errors="replace") as f:
        text = f.read()
    if rc != 0 and "INFO: Seed:" not in text:  # libFuzzer never started: not a finding
        print(text[-2000:])
        print("fuzz_convert: atheris could not start; falling back to the own mutator")
        return run_own(args, seeds_dir)
    found = [n for n in os.listdir(args.workdir)
             if n.split("-")[0] in ("crash", "timeout", "oom", "leak", "slow")]
    stats = [ln for ln in text.splitlines() if ln.startswith(("stat::number_of_executed_units",
                                                               "#", "Done"))][-1:]
    if rc == 0 and not found:
        print(f"fuzz_convert (atheris, seed {args.seed or 1}): {' '.join(stats)}; no findings")
        return 0
    print(text[-8000:])
    print(f"FINDING (exit {rc}): {', '.join(os.path.join(args.workdir, n) for n in found) or 'see ' + log}")
    return 1


# --------------------------------------------------------------------------- main

def have_atheris():
    try:
        import atheris  # noqa: F401
        return True
    except ImportError:
        return False


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--atheris-child"]:
        rest = argv[2:] if argv[1:2] == ["--"] else argv[1:]
        return atheris_child([sys.argv[0], *rest])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=None, help="time budget (default 30 "
                    "unless --iterations is given)")
    ap.add_argument("--iterations", type=int, default=None, help="number of inputs")
    ap.add_argument("--engine", choices=("auto", "atheris", "own"), default="auto")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", help="where findings and the corpus go (default: a new "
                    "temporary folder, kept when something is found)")
    ap.add_argument("--per-input-seconds", type=int, default=20)
    ap.add_argument("--mem-mb", type=int, default=2048, help="memory bound per input")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.seconds is None and args.iterations is None:
        args.seconds = 30
    if args.worker:
        return worker(args)
    keep = args.workdir is not None
    args.workdir = os.path.abspath(args.workdir or tempfile.mkdtemp(prefix="fuzz-convert-"))
    os.makedirs(args.workdir, exist_ok=True)
    seeds = write_seeds(os.path.join(args.workdir, "seeds"))
    engine = args.engine
    if engine == "auto":
        engine = "atheris" if have_atheris() else "own"
        if engine == "own":
            print("fuzz_convert: atheris is not installed (tools/install_deps.sh installs it); "
                  "using the own mutator")
    elif engine == "atheris" and not have_atheris():
        print("fuzz_convert: --engine atheris, but atheris is not importable", file=sys.stderr)
        return 2
    print(f"fuzz_convert: {engine} engine, {len(seeds)} seeds, "
          f"{args.seconds or '-'} s / {args.iterations or '-'} inputs, work dir {args.workdir}")
    rc = (run_atheris if engine == "atheris" else run_own)(args, os.path.join(args.workdir, "seeds"))
    if rc == 0 and not keep:
        shutil.rmtree(args.workdir, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
