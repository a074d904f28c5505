"""Read a PyTorch checkpoint (.pth) without PyTorch and without trusting it.

A `.pth` file is a pickle. Unpickling an untrusted pickle can run arbitrary code,
because the pickle names the callables it wants to invoke. This reader uses a
restricted unpickler: only the handful of globals a state_dict needs resolve, and
they resolve to our own harmless stand-ins, never to the real `torch` objects. Any
other global (`os.system`, `builtins.eval`, ...) is refused by name before it can
be called.

Two container formats are handled:
  * the zip format of torch >= 1.6: `<prefix>/data.pkl` plus `<prefix>/data/<key>`
    raw storages;
  * the legacy pre-zip format (torch < 1.6, e.g. the 2019 RetinaFace releases):
    magic number, protocol version and sys-info pickles, the main pickle, a pickle
    of storage keys, then each storage as an int64 element count and raw bytes.

Tensors are returned as numpy arrays (a copy, honouring storage offset and
strides), in a dict keyed by the state_dict names.
"""

import io
import pickle
import struct
import zipfile

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

# Storage class name -> numpy dtype (little endian, as torch writes on x86/ARM).
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "DoubleStorage": np.dtype("<f8"),
    "BFloat16Storage": None,  # decoded by hand below: numpy has no bfloat16
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class CheckpointError(Exception):
    """A checkpoint that cannot be read; the message names the file and the cause."""


class UnsafePickleError(CheckpointError):
    """The pickle asked for a global outside the allow-list."""


class _StorageType:
    """Stand-in for torch.<X>Storage: carries only the element type."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"torch.{self.name}"


class _StorageRef:
    """A reference to raw bytes that are read later (legacy storages follow the pickle)."""

    def __init__(self, stype, key, numel, view=None):
        self.stype = stype
        self.key = str(key)
        self.numel = int(numel)
        self.view = view  # (offset_elements, numel) for legacy storage views


class _LazyTensor:
    """What _rebuild_tensor_v2 returns: materialized once every storage is known."""

    def __init__(self, storage, offset, size, stride):
        if not isinstance(storage, _StorageRef):
            raise CheckpointError("tensor rebuilt from something that is not a storage")
        self.storage = storage
        self.offset = int(offset)
        self.size = tuple(int(s) for s in size)
        self.stride = tuple(int(s) for s in stride)
        if len(self.size) != len(self.stride):
            raise CheckpointError(f"tensor size {self.size} and stride {self.stride} differ in rank")


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


def _rebuild_parameter_with_state(data, requires_grad=False, backward_hooks=None, state=None):
    return data


class _StateDict(dict):
    """Stand-in for collections.OrderedDict; accepts the `_metadata` attribute torch sets."""


# The allow-list: (module, name) -> harmless stand-in. Nothing else resolves.
_ALLOWED = {
    ("collections", "OrderedDict"): _StateDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
}
for _name in STORAGE_DTYPES:
    _ALLOWED[("torch", _name)] = _StorageType(_name)


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data, source, legacy):
        super().__init__(io.BytesIO(data) if isinstance(data, bytes) else data)
        self.source = source
        self.legacy = legacy
        self.storages = {}

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self.source}: refused to load global '{module}.{name}': a state_dict "
                f"needs only tensors and dicts, and this name could run code. "
                f"Nothing from the file was executed.") from None

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            raise CheckpointError(f"{self.source}: unexpected persistent id {pid!r}")
        stype = pid[1]
        if not isinstance(stype, _StorageType):
            raise CheckpointError(f"{self.source}: storage with unknown type {stype!r}")
        key, numel = pid[2], pid[4]
        view = None
        if self.legacy and len(pid) >= 6 and pid[5] is not None:
            view_key, offset, view_size = pid[5]
            root = self.storages.setdefault(str(key), _StorageRef(stype, key, numel))
            ref = _StorageRef(stype, key, root.numel, view=(int(offset), int(view_size)))
            self.storages[str(view_key)] = ref
            return ref
        ref = self.storages.get(str(key))
        if ref is None:
            ref = _StorageRef(stype, key, numel)
            self.storages[str(key)] = ref
        return ref


def _decode(raw, stype_name, source, key):
    dtype = STORAGE_DTYPES[stype_name]
    if dtype is None:  # bfloat16: the high half of a float32
        u16 = np.frombuffer(raw, dtype="<u2")
        return (u16.astype(np.uint32) << 16).view(np.float32)
    if len(raw) % dtype.itemsize:
        raise CheckpointError(f"{source}: storage {key} has {len(raw)} bytes, "
                              f"not a multiple of {dtype.itemsize}")
    return np.frombuffer(raw, dtype=dtype)


def _materialize(t, flat, source, name):
    ref = t.storage
    base = ref.view[0] if ref.view else 0
    if any(s < 0 for s in t.size) or any(s < 0 for s in t.stride):
        raise CheckpointError(f"{source}: tensor '{name}' has a negative size or stride")
    numel = int(np.prod(t.size)) if t.size else 1
    if numel == 0:
        return np.zeros(t.size, dtype=flat.dtype)
    last = base + t.offset + sum((s - 1) * st for s, st in zip(t.size, t.stride))
    if t.offset < 0 or last >= flat.size:
        raise CheckpointError(
            f"{source}: tensor '{name}' (size {t.size}, stride {t.stride}, offset {t.offset}) "
            f"reaches element {last} of a storage of {flat.size} elements")
    item = flat.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[base + t.offset:], shape=t.size, strides=[s * item for s in t.stride])
    return np.array(view, copy=True)


def _collect(obj, source, out, prefix=""):
    """Flattens nested dicts of tensors into {name: _LazyTensor}; other leaves are kept."""
    if isinstance(obj, _LazyTensor):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _collect(v, source, out, f"{prefix}.{k}" if prefix else str(k))
    else:
        out[prefix] = obj


def _load_zip(path):
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkls = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkls) != 1:
            raise CheckpointError(f"{path}: zip archive without exactly one data.pkl "
                                  f"(found {len(pkls)}); not a torch checkpoint")
        prefix = pkls[0][: -len("data.pkl")]
        up = _RestrictedUnpickler(z.read(pkls[0]), path, legacy=False)
        try:
            root = up.load()
        except (UnsafePickleError, CheckpointError):
            raise
        except Exception as e:
            raise CheckpointError(f"{path}: malformed pickle in {pkls[0]}: {e}") from None
        storages = {}
        for key, ref in up.storages.items():
            member = f"{prefix}data/{key}"
            if member not in names:
                raise CheckpointError(f"{path}: storage '{member}' is missing from the archive")
            storages[key] = _decode(z.read(member), ref.stype.name, path, key)
        return root, up.storages, storages


def _load_legacy(path):
    with open(path, "rb") as f:
        data = f.read()
    stream = io.BytesIO(data)

    def small_pickle(what):
        try:
            return _RestrictedUnpickler(stream, path, legacy=True).load()
        except UnsafePickleError:
            raise
        except Exception as e:
            raise CheckpointError(f"{path}: not a torch checkpoint ({what}: {e})") from None

    magic = small_pickle("magic number")
    if magic != LEGACY_MAGIC:
        raise CheckpointError(f"{path}: not a torch checkpoint (bad magic number)")
    small_pickle("protocol version")
    small_pickle("sys info")
    up = _RestrictedUnpickler(stream, path, legacy=True)
    try:
        root = up.load()
    except (UnsafePickleError, CheckpointError):
        raise
    except Exception as e:
        raise CheckpointError(f"{path}: malformed main pickle: {e}") from None
    keys = small_pickle("storage keys")
    if not isinstance(keys, list):
        raise CheckpointError(f"{path}: storage key list is not a list")
    storages = {}
    for key in keys:
        key = str(key)
        hdr = stream.read(8)
        if len(hdr) != 8:
            raise CheckpointError(f"{path}: truncated before storage {key}")
        (numel,) = struct.unpack("<q", hdr)
        ref = up.storages.get(key)
        if ref is None:
            raise CheckpointError(f"{path}: storage {key} is not referenced by the pickle")
        dtype = STORAGE_DTYPES[ref.stype.name]
        itemsize = 2 if dtype is None else dtype.itemsize
        if numel < 0 or numel * itemsize > len(data) - stream.tell():
            raise CheckpointError(f"{path}: storage {key} claims {numel} elements, "
                                  f"past the end of the file")
        storages[key] = _decode(stream.read(numel * itemsize), ref.stype.name, path, key)
    return root, up.storages, storages


def load_checkpoint(path):
    """Returns (tree, tensors): tree is the unpickled structure with tensors replaced by
    numpy arrays; tensors is {flattened name: ndarray} of every tensor in the file."""
    try:
        is_zip = zipfile.is_zipfile(path)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read: {e.strerror}") from None
    try:
        root, refs, storages = _load_zip(path) if is_zip else _load_legacy(path)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read: {e}") from None
    except zipfile.BadZipFile as e:
        raise CheckpointError(f"{path}: damaged zip archive: {e}") from None

    flat = {}
    _collect(root, path, flat)
    tensors = {}
    for name, leaf in flat.items():
        if isinstance(leaf, _LazyTensor):
            key = next(k for k, r in refs.items() if r is leaf.storage)
            root_key = leaf.storage.key
            data = storages.get(key)
            if data is None:
                data = storages.get(root_key)
            if data is None:
                raise CheckpointError(f"{path}: tensor '{name}' uses storage {key}, "
                                      f"which the file does not contain")
            tensors[name] = _materialize(leaf, data, path, name)
    return root, tensors
