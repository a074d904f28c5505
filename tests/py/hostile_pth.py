"""Test helper: hostile checkpoints built from bytes, and a bounded way to run them.

The red-team findings of issue 9 were files no honest `torch.save` writes: views with
negative offsets, zero strides over huge shapes, zip members that inflate without
end, pickles whose shared references expand exponentially or refer to themselves. A
pickler cannot write most of them, so `Pickle` assembles opcodes one by one, and the
writers below put the result in a zip archive or a legacy-format file. Nothing is
downloaded. `tiny_gpen()` is the smallest architecture the engine accepts (8x8, one
channel per level; a few KB), used as a valid base to damage and as a fuzzing seed.
`run_bounded` runs a command under an address-space limit and a time limit and
reports its peak memory, so a test can prove a bound instead of hoping for one.
"""

import collections
import io
import os
import pickle
import resource
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, HERE)

import archs  # noqa: E402
import torchlike  # noqa: E402

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class Pickle:
    """A protocol-2 pickle written opcode by opcode. Methods return self to chain."""

    def __init__(self):
        self.b = bytearray(b"\x80\x02")

    def raw(self, data):
        self.b += data
        return self

    def mark(self):
        return self.raw(b"(")

    def str(self, s):
        e = s.encode()
        return self.raw(b"X" + struct.pack("<I", len(e)) + e)

    def int(self, v):
        if 0 <= v < 256:
            return self.raw(b"K" + bytes([v]))
        if -2 ** 31 <= v < 2 ** 31:
            return self.raw(b"J" + struct.pack("<i", v))
        n = (v.bit_length() + 8) // 8
        return self.raw(b"\x8a" + bytes([n]) + v.to_bytes(n, "little", signed=True))

    def float(self, v):
        return self.raw(b"G" + struct.pack(">d", v))

    def none(self):
        return self.raw(b"N")

    def false(self):
        return self.raw(b"\x89")

    def glob(self, module, name):
        return self.raw(b"c" + f"{module}\n{name}\n".encode())

    def tuple(self, n=None):
        """n=None: from the last MARK; 0..3: the short forms."""
        return self.raw({None: b"t", 0: b")", 1: b"\x85", 2: b"\x86", 3: b"\x87"}[n])

    def empty_dict(self):
        return self.raw(b"}")

    def empty_list(self):
        return self.raw(b"]")

    def setitem(self):
        return self.raw(b"s")

    def setitems(self):
        return self.raw(b"u")

    def append(self):
        return self.raw(b"a")

    def appends(self):
        return self.raw(b"e")

    def reduce(self):
        return self.raw(b"R")

    def put(self, i):
        return self.raw(b"r" + struct.pack("<I", i))

    def get(self, i):
        return self.raw(b"j" + struct.pack("<I", i))

    def ordered_dict(self):
        return self.glob("collections", "OrderedDict").tuple(0).reduce()

    def tensor(self, key, numel, offset, size, stride, stype="FloatStorage", legacy=False,
               view=None):
        """torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, {})
        with a persistent id for storage `key` of `numel` elements; `view` is a legacy
        (view_key, offset, size)."""
        self.glob("torch._utils", "_rebuild_tensor_v2").mark()
        self.mark().str("storage").glob("torch", stype).str(key).str("cpu").int(numel)
        if legacy:
            if view is None:
                self.none()
            else:
                self.mark().str(view[0]).int(view[1]).int(view[2]).tuple()
        self.tuple().raw(b"Q").int(offset)
        self.mark()
        for s in size:
            self.int(s)
        self.tuple().mark()
        for s in stride:
            self.int(s)
        self.tuple().false().ordered_dict().tuple().reduce()
        return self

    def state_dict(self, items):
        """An OrderedDict of name -> tensor(**kwargs) for (name, kwargs) in items."""
        self.ordered_dict().mark()
        for name, kw in items:
            self.str(name).tensor(**kw)
        return self.setitems()

    def bytes(self):
        return bytes(self.b) + b"."


def contiguous(shape):
    stride, acc = [], 1
    for s in reversed(shape):
        stride.insert(0, acc)
        acc *= s
    return stride


# --------------------------------------------------------------------------- writers

def write_zip(path, pkl, storages, prefix="archive", compression=zipfile.ZIP_STORED,
              extra=()):
    """A torch zip archive: data.pkl and data/<key> for each (key, bytes)."""
    with zipfile.ZipFile(path, "w", compression) as z:
        z.writestr(f"{prefix}/data.pkl", pkl)
        z.writestr(f"{prefix}/version", b"3\n")
        for key, raw in storages.items():
            z.writestr(f"{prefix}/data/{key}", raw)
        for name, raw in extra:
            z.writestr(name, raw)
    return path


def legacy_bytes(pkl, storages, sys_info=None):
    """A legacy torch.save stream: magic, protocol, sys info, the main pickle, the
    storage keys, then each storage as int64 element count and raw bytes.
    storages: [(key, numel, raw bytes)]."""
    buf = io.BytesIO()
    info = sys_info if sys_info is not None else {
        "protocol_version": 1001, "little_endian": True,
        "type_sizes": {"short": 2, "int": 4, "long": 4}}
    for small in (LEGACY_MAGIC, 1001, info):
        pickle.dump(small, buf, protocol=2)
    buf.write(pkl)
    pickle.dump([k for k, _, _ in storages], buf, protocol=2)
    for _, numel, raw in storages:
        buf.write(struct.pack("<q", numel))
        buf.write(raw)
    return buf.getvalue()


def write_legacy(path, pkl, storages, sys_info=None):
    with open(path, "wb") as f:
        f.write(legacy_bytes(pkl, storages, sys_info))
    return path


def patch_zip_member(path, member, flag_bits=None, method=None):
    """Rewrites a member's general-purpose flags or compression method in both its
    local header and the central directory, as an encrypting or deflate64 tool would."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    name = member.encode()
    for sig, flag_at, method_at, name_at in ((b"PK\x03\x04", 6, 8, 30), (b"PK\x01\x02", 8, 10, 46)):
        i = data.find(sig)
        while i >= 0:
            if data[i + name_at:i + name_at + len(name)] == name:
                if flag_bits is not None:
                    struct.pack_into("<H", data, i + flag_at, flag_bits)
                if method is not None:
                    struct.pack_into("<H", data, i + method_at, method)
            i = data.find(sig, i + 4)
    assert info is not None
    with open(path, "wb") as f:
        f.write(data)
    return path


# --------------------------------------------------------------------------- tiny GPEN

TINY_HP = dict(family="gpen", in_size=8, out_size=8, style_dim=4, n_mlp=1, narrow=1 / 512,
               isconcat=True, lr_mlp=0.01, blur_kernel=[1, 3, 3, 1], channel_multiplier=1)


def tiny_gpen(seed=0):
    """OrderedDict name -> float32 array: the smallest GPEN the engine accepts."""
    rng = np.random.default_rng(seed)
    fixed = archs.gpen_fixed(TINY_HP)
    sd = collections.OrderedDict()
    for name, shape in archs.gpen_table(TINY_HP).items():
        sd[name] = fixed[name].copy() if name in fixed else \
            rng.standard_normal(shape).astype(np.float32)
    return sd


def tiny_tree(sd=None, transform=None):
    """torchlike tensors for sd; transform(name, array, index) may return another one."""
    sd = tiny_gpen() if sd is None else sd
    out = collections.OrderedDict()
    for i, (k, v) in enumerate(sd.items()):
        out[k] = transform(k, v, i) if transform else torchlike.tensor(v, str(i))
    return out


def tiny_zip(path, **kw):
    torchlike.save_zip(tiny_tree(**kw), path)
    return path


def tiny_legacy(path, **kw):
    torchlike.save_legacy(tiny_tree(**kw), path)
    return path


def tiny_items(sd=None, legacy=False, override=None):
    """(items for Pickle.state_dict, storages) of the tiny GPEN, one storage per tensor;
    override(name, kwargs, raw) may change a tensor's kwargs and storage bytes."""
    sd = tiny_gpen() if sd is None else sd
    items, storages = [], []
    for i, (name, arr) in enumerate(sd.items()):
        kw = dict(key=str(i), numel=arr.size, offset=0, size=arr.shape,
                  stride=contiguous(arr.shape), legacy=legacy)
        raw = arr.astype(np.float32).tobytes()
        if override:
            kw, raw = override(name, kw, raw)
        items.append((name, kw))
        storages.append((kw["key"], kw["numel"], raw))
    return items, storages


def tiny_hostile_zip(path, override):
    items, storages = tiny_items(override=override)
    return write_zip(path, Pickle().state_dict(items).bytes(), {k: r for k, _, r in storages})


def tiny_hostile_legacy(path, override):
    items, storages = tiny_items(legacy=True, override=override)
    return write_legacy(path, Pickle().state_dict(items).bytes(), storages)


# --------------------------------------------------------------------------- hostile files

def one_tensor_zip(path, size, stride, numel=1, offset=0, stype="FloatStorage", raw=None,
                   name="w"):
    p = Pickle().state_dict([(name, dict(key="0", numel=numel, offset=offset, size=size,
                                         stride=stride, stype=stype))])
    itemsize = 2 if stype in ("HalfStorage", "BFloat16Storage") else 8 if stype == "DoubleStorage" else 4
    return write_zip(path, p.bytes(), {"0": raw if raw is not None else b"\1" * (numel * itemsize)})


def deflate_zeros(nbytes, chunk=1 << 24):
    """A raw deflate stream of nbytes zero bytes (about nbytes / 1000 long)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts, zero = [], bytes(min(chunk, nbytes))
    left = nbytes
    while left:
        n = min(left, len(zero))
        parts.append(c.compress(zero[:n]))
        left -= n
    parts.append(c.flush())
    return b"".join(parts)


def zip_bomb(path, inflated, declared=None, numel=None):
    """A zip whose storage member inflates to `inflated` zero bytes; the central
    directory declares `declared` bytes (default: the truth) and the pickle declares
    `numel` float elements (default: inflated / 4) used by one 1-element tensor."""
    declared = inflated if declared is None else declared
    numel = inflated // 4 if numel is None else numel
    pkl = Pickle().state_dict([("w", dict(key="0", numel=numel, offset=0, size=(1,),
                                          stride=(1,)))]).bytes()
    comp = deflate_zeros(inflated)
    crc = 0
    zero = bytes(1 << 20)
    left = inflated
    while left:
        n = min(left, len(zero))
        crc = zlib.crc32(zero[:n], crc)
        left -= n
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pkl)
    # Append the bomb member by hand: zipfile would inflate nothing, but writing it
    # through zipfile would mean compressing `inflated` bytes twice.
    with open(path, "rb") as f:
        data = f.read()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        first = z.infolist()[0]
    cd_at = data.find(b"PK\x01\x02")
    local, central = data[:cd_at], data[cd_at:data.find(b"PK\x05\x06")]
    name = b"archive/data/0"
    off = len(local)
    lh = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(comp),
                     min(declared, 0xFFFFFFFF), len(name), 0) + name
    ch = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(comp),
                     min(declared, 0xFFFFFFFF), len(name), 0, 0, 0, 0, 0, off) + name
    body = local + lh + comp
    cd = central + ch
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 2, 2, len(cd), len(body), 0)
    assert first.filename == "archive/data.pkl"
    with open(path, "wb") as f:
        f.write(body + cd + end)
    return path


def billion_laughs(levels=40, kind="dict"):
    """A state dict whose value at 'x' is d_levels, d_{i+1} = {'a': d_i, 'b': d_i}
    (kind 'dict') or [d_i, d_i] (kind 'list'): 2^levels leaves from a few hundred
    bytes of memo references."""
    p = Pickle().ordered_dict().str("x")
    p.empty_dict().put(0) if kind == "dict" else p.empty_list().put(0)
    p.raw(b"0")
    for i in range(levels):
        if kind == "dict":
            p.empty_dict().mark().str("a").get(i).str("b").get(i).setitems().put(i + 1).raw(b"0")
        else:
            p.empty_list().mark().get(i).get(i).appends().put(i + 1).raw(b"0")
    return p.get(levels).setitem().bytes()


def tuple_key_laughs(levels=60):
    """A dict keyed by t_levels, t_{i+1} = (t_i, t_i): hashing it takes 2^levels steps."""
    p = Pickle().empty_dict().tuple(0).put(0).raw(b"0")
    for i in range(levels):
        p.get(i).get(i).tuple(2).put(i + 1).raw(b"0")
    return p.get(levels).int(1).setitem().bytes()


def long_shared_key(depth=60, chars=1 << 20):
    """{K: {K: ... {K: tensor}}} with one memo-shared key K of `chars` characters:
    flattening would build a name of depth * chars characters."""
    p = Pickle().str("k" * chars).put(0).raw(b"0")
    for _ in range(depth):
        p.empty_dict().get(0)
    p.tensor("0", 1, 0, (1,), (1,))
    p.raw(b"s" * depth)
    return p.bytes()


def self_reference(kind="list"):
    if kind == "list":  # L = []; L.append(L)
        return Pickle().empty_list().put(0).get(0).append().bytes()
    return Pickle().empty_dict().put(0).str("a").get(0).setitem().bytes()  # d['a'] = d


def deep_nesting(depth=200_000):
    """{'a': {'a': {... depth levels ...}}}."""
    p = Pickle()
    for _ in range(depth):
        p.empty_dict().str("a")
    p.empty_dict()
    p.raw(b"s" * depth)
    return p.bytes()


def many_tensors(path, n):
    """A zip with n one-element tensors, each in its own storage."""
    items = [(f"t{i}", dict(key=str(i), numel=1, offset=0, size=(1,), stride=(1,)))
             for i in range(n)]
    storages = {str(i): b"\0\0\x80\x3f" for i in range(n)}
    return write_zip(path, Pickle().state_dict(items).bytes(), storages)


# --------------------------------------------------------------------------- running

def run_bounded(cmd, mem_mb=512, seconds=60, env=None):
    """Runs cmd with RLIMIT_AS = mem_mb and a wall-clock limit. Returns (rc, stdout,
    stderr, seconds taken, peak RSS in MiB); rc is -9 when it was killed for time."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (mem_mb << 20, mem_mb << 20))

    e = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", **(env or {}))
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                         preexec_fn=limit)
    timer = threading.Timer(seconds, p.kill)
    timer.start()
    out, err = [], []
    readers = [threading.Thread(target=lambda s, b: b.append(s.read()), args=(p.stdout, out)),
               threading.Thread(target=lambda s, b: b.append(s.read()), args=(p.stderr, err))]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    timer.cancel()
    for r in readers:
        r.join()
    p.stdout.close()
    p.stderr.close()
    return (p.returncode, out[0].decode(errors="replace"), err[0].decode(errors="replace"),
            time.monotonic() - t0, usage.ru_maxrss / 1024)


def convert_cmd(*args):
    return [sys.executable, os.path.join(ROOT, "tools", "convert.py"), *args]


def load_cmd(path):
    """A command that reads every tensor of path and prints 'ok', or our error and exit 1."""
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from pth_reader import load_checkpoint, CheckpointError\n"
            "try:\n    load_checkpoint(%r)\nexcept CheckpointError as e:\n"
            "    print('error:', e, file=sys.stderr); sys.exit(1)\nprint('ok')\n"
            % (os.path.join(ROOT, "tools"), path))
    return [sys.executable, "-c", code]
