"""Test helper: write torch.save-compatible checkpoints from numpy arrays, without torch.

The pickles reference the same globals torch writes (torch._utils._rebuild_tensor_v2,
torch.FloatStorage, collections.OrderedDict), so the converter sees exactly what a
real checkpoint holds; views with storage offsets and strides can be made on purpose.
"""

import collections
import io
import pickle
import struct
import sys
import types
import zipfile

import numpy as np

# Stand-in modules so that pickle can name torch's globals when writing.
_torch = sys.modules.get("torch") or types.ModuleType("torch")
_utils = sys.modules.get("torch._utils") or types.ModuleType("torch._utils")


def _rebuild_tensor_v2(*args):  # never called: only its name is pickled
    raise RuntimeError("writer stub")


_rebuild_tensor_v2.__module__ = "torch._utils"
_utils._rebuild_tensor_v2 = _rebuild_tensor_v2

STORAGE_NAMES = {np.dtype("float32"): "FloatStorage", np.dtype("float16"): "HalfStorage",
                 np.dtype("float64"): "DoubleStorage", np.dtype("int64"): "LongStorage"}
for _n in STORAGE_NAMES.values():
    _cls = type(_n, (), {"__module__": "torch"})
    setattr(_torch, _n, _cls)
sys.modules.setdefault("torch", _torch)
sys.modules.setdefault("torch._utils", _utils)


class Tensor:
    """A tensor to write: a storage (1-D array), offset, size, stride."""

    def __init__(self, storage, offset, size, stride, key):
        self.storage, self.offset, self.size, self.stride, self.key = storage, offset, size, stride, key

    def __reduce__(self):
        return (_rebuild_tensor_v2,
                (_StorageRef(self), self.offset, tuple(self.size), tuple(self.stride), False,
                 collections.OrderedDict()))


class _StorageRef:
    def __init__(self, t):
        self.t = t


def tensor(arr, key, offset=0, storage=None, stride=None):
    arr = np.asarray(arr)
    if storage is None:
        storage = np.ascontiguousarray(arr).ravel()
    if stride is None:
        stride, acc = [], 1
        for s in reversed(arr.shape):
            stride.insert(0, acc)
            acc *= s
    return Tensor(storage, offset, arr.shape, stride, key)


class _Pickler(pickle.Pickler):
    def __init__(self, f, legacy):
        super().__init__(f, protocol=2)
        self.legacy = legacy

    def persistent_id(self, obj):
        if isinstance(obj, _StorageRef):
            t = obj.t
            stype = getattr(_torch, STORAGE_NAMES[t.storage.dtype])
            if self.legacy:
                return ("storage", stype, t.key, "cpu", t.storage.size, None)
            return ("storage", stype, t.key, "cpu", t.storage.size)
        return None


def _storages(tree, out):
    if isinstance(tree, Tensor):
        out[tree.key] = tree.storage
    elif isinstance(tree, dict):
        for v in tree.values():
            _storages(v, out)


def save_zip(tree, path, prefix="archive"):
    buf = io.BytesIO()
    _Pickler(buf, legacy=False).dump(tree)
    st = {}
    _storages(tree, st)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{prefix}/data.pkl", buf.getvalue())
        for key, arr in st.items():
            z.writestr(f"{prefix}/data/{key}", arr.tobytes())


def save_legacy(tree, path):
    buf = io.BytesIO()
    for small in (0x1950A86A20F9469CFC6C, 1001,
                  {"protocol_version": 1001, "little_endian": True,
                   "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(small, buf, protocol=2)
    _Pickler(buf, legacy=True).dump(tree)
    st = {}
    _storages(tree, st)
    pickle.dump(list(st), buf, protocol=2)
    for key, arr in st.items():
        buf.write(struct.pack("<q", arr.size))
        buf.write(arr.tobytes())
    with open(path, "wb") as f:
        f.write(buf.getvalue())
