"""Read a PyTorch checkpoint (.pth) without PyTorch and without trusting it.

A `.pth` file is a pickle, and unpickling an untrusted pickle can run arbitrary code,
exhaust memory or loop for ever. So this reader does not use Python's unpickler: it
runs the pickle on a small machine of its own (`_Machine`) that knows only the
opcodes a state_dict uses, resolves only the handful of globals a state_dict needs to
our own harmless stand-ins (any other global, `os.system`, `eval`, ..., is refused by
name before anything is called), never hashes or compares an untrusted container, and
bounds its work: bytes, objects built, nesting depth, and the size a structure would
have with its shared references expanded (the "billion laughs" of pickles).

Two container formats are handled:
  * the zip format of torch >= 1.6: `<prefix>/data.pkl` plus `<prefix>/data/<key>`
    raw storages (stored or deflated members, little endian);
  * the legacy pre-zip format (torch < 1.6, e.g. the 2019 RetinaFace releases):
    magic number, protocol version and sys-info pickles, the main pickle, a pickle
    of storage keys, then each storage as an int64 element count and raw bytes.

Tensors are lazy (`TensorRef`): shape, dtype and their place in a storage are known and
checked against the storage (offset, strides and the last element reached lie inside
it, legacy views inside their root) as soon as the file is opened, but no tensor data
is read until it is asked for. A reader asks `Checkpoint.plan(names)` first: it bounds
the element count of each tensor and of all of them (`Limits`), and storages are then
read with bounded reads, each at most what its planned tensors use plus a little
slack, so a small file cannot make the reader allocate or inflate gigabytes.

Every problem is a `CheckpointError` whose message is one line naming the file (and
tensor or storage) and what was expected.
"""

import errno
import gc
import math
import os
import stat
import struct
import zipfile
import zlib

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
ZIP_MAGIC = b"PK\x03\x04"

# Storage class name -> numpy dtype of its raw elements (little endian, as torch
# writes on x86/ARM). bfloat16 is read as uint16 and widened to float32 by hand.
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "DoubleStorage": np.dtype("<f8"),
    "BFloat16Storage": np.dtype("<u2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class Limits:
    """Bounds on the work one checkpoint may cause. The defaults leave a wide margin
    over the largest GPEN release (GPEN-BFR-2048: 71 million parameters, largest
    tensor 4.7 million elements, a data.pkl of a few hundred KiB)."""

    max_pickle_bytes = 64 << 20       # data.pkl, or the legacy pickles together
    max_string_bytes = 16 << 20       # one str or bytes inside a pickle
    max_objects = 1_000_000           # objects a pickle may create
    max_expanded = 1_000_000          # objects with shared references counted each time
    max_depth = 64                    # containers nested in containers
    max_tensors = 200_000             # tensors in one checkpoint (GPEN has about 200)
    max_name_chars = 1024             # a tensor's dotted name
    max_rank = 16                     # dimensions of one tensor
    max_tensor_elements = 1 << 25     # 33.5 million elements in one tensor read
    max_total_elements = 1 << 27      # 134 million elements in all tensors read
    storage_slack_bytes = 64 << 10    # a storage may exceed what its tensors use by this
    max_zip_directory_bytes = 8 << 20  # zip central directory (about 100k members)

    def __init__(self, **overrides):
        for k, v in overrides.items():
            if not hasattr(Limits, k):
                raise TypeError(f"unknown limit '{k}'")
            setattr(self, k, v)


class CheckpointError(Exception):
    """A checkpoint that cannot be read; the message names the file and the cause."""


class UnsafePickleError(CheckpointError):
    """The pickle asked for a global outside the allow-list."""


def printable(value, limit=80):
    """An untrusted name made safe to print on one line: escaped, quoted by the
    caller, and cut to `limit` characters."""
    s = value if isinstance(value, str) else str(value) if isinstance(value, int) \
        else type(value).__name__
    cut = len(s) > limit
    s = s[:limit].encode("unicode_escape").decode("ascii").replace("'", "\\'")
    return s + "..." if cut else s


# --------------------------------------------------------------------------- stand-ins

class _StorageType:
    """Stand-in for torch.<X>Storage: carries only the element type."""

    def __init__(self, name):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]


class _Storage:
    """One raw storage of the file: its key, element type and element count."""

    __slots__ = ("key", "stype", "numel")

    def __init__(self, key, stype, numel):
        self.key, self.stype, self.numel = key, stype, numel

    @property
    def nbytes(self):
        return self.numel * self.stype.dtype.itemsize


class _StorageRef:
    """What a pickle holds for a storage: a whole storage, or (legacy format) a view
    of `numel` elements starting at element `base` of one."""

    __slots__ = ("storage", "base", "numel")

    def __init__(self, storage, base, numel):
        self.storage, self.base, self.numel = storage, base, numel


class _LazyTensor:
    """What _rebuild_tensor_v2 returns: a storage reference and the tensor's geometry,
    type-checked here and checked against the storage once the tensor has a name."""

    __slots__ = ("ref", "offset", "size", "stride")

    def __init__(self, ref, offset, size, stride):
        self.ref, self.offset, self.size, self.stride = ref, offset, size, stride


class _StateDict(dict):
    """Stand-in for collections.OrderedDict."""


class _Global:
    """A global the pickle named and we allow: a token, never the real object."""

    def __init__(self, module, name, kind):
        self.module, self.name, self.kind = module, name, kind


_ALLOWED = {
    ("collections", "OrderedDict"): _Global("collections", "OrderedDict", "dict"),
    ("torch._utils", "_rebuild_tensor_v2"): _Global("torch._utils", "_rebuild_tensor_v2", "tensor"),
    ("torch._utils", "_rebuild_tensor"): _Global("torch._utils", "_rebuild_tensor", "tensor"),
    ("torch._utils", "_rebuild_parameter"): _Global("torch._utils", "_rebuild_parameter", "param"),
    ("torch._utils", "_rebuild_parameter_with_state"):
        _Global("torch._utils", "_rebuild_parameter_with_state", "param"),
}
for _name in STORAGE_DTYPES:
    _ALLOWED[("torch", _name)] = _StorageType(_name)

# Keys a dict or set may have: hashing any of these costs time linear in its size and
# cannot be driven into collisions (ints are kept below the hash modulus).
_KEY_INT_LIMIT = (1 << 61) - 2


def _is_safe_key(k):
    if type(k) is int:
        return -_KEY_INT_LIMIT < k < _KEY_INT_LIMIT
    return type(k) in (str, bytes, bool) or k is None


# --------------------------------------------------------------------------- the pickle machine

class _Machine:
    """Runs one pickle from buf[pos:end] and returns (object, end position).

    Only state_dict opcodes exist here. Containers are plain lists/dicts/tuples built
    by us; each has a record [object, expanded size, depth, sealed]. A container is
    sealed once it is put into another one, and a sealed container cannot change, so
    no structure can contain itself and the expanded size of every object is exact:
    one object referenced twice counts twice, and past `max_expanded` the pickle is
    refused before anything walks it."""

    def __init__(self, buf, pos, end, source, what, limits, persistent_load=None):
        self.buf, self.pos, self.end = buf, pos, end
        self.source, self.what, self.limits = source, what, limits
        self.persistent_load = persistent_load
        self.stack, self.marks, self.memo, self.info = [], [], {}, {}
        self.objects = 0

    # ---- errors and reading

    def error(self, msg, cls=CheckpointError):
        return cls(f"{self.source}: {self.what}: {msg} (at byte {self.pos})")

    def take(self, n):
        if n < 0 or self.pos + n > self.end:
            raise self.error("truncated pickle")
        start = self.pos
        self.pos += n
        return self.buf[start:self.pos]

    def unpack(self, fmt, n):
        return struct.unpack(fmt, self.take(n))[0]

    def line(self):
        nl = self.buf.find(b"\n", self.pos, min(self.end, self.pos + 257))
        if nl < 0:
            raise self.error("text argument without an end of line within 256 bytes")
        s = self.buf[self.pos:nl]
        self.pos = nl + 1
        return s

    def text(self, raw):
        try:
            return raw.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise self.error("string is not valid UTF-8") from None

    # ---- bookkeeping

    def count(self):
        self.objects += 1
        if self.objects > self.limits.max_objects:
            raise self.error(f"more than {self.limits.max_objects:,} objects; a state_dict "
                             f"needs far fewer (raise Limits.max_objects if this is genuine)")

    def push_new(self, obj):
        self.count()
        self.stack.append(obj)

    def container(self, obj, items=()):
        """Registers a new container holding `items` (which become sealed)."""
        self.count()
        rec = [obj, 1, 1, False]
        self.info[id(obj)] = rec
        self.absorb(rec, items)
        return obj

    def absorb(self, rec, items):
        info, w, d = self.info, 0, 0
        for it in items:
            r = info.get(id(it))
            if r is None:
                w += 1
            else:
                r[3] = True
                w += r[1]
                d = max(d, r[2])
        rec[1] += w
        rec[2] = max(rec[2], d + 1)
        if rec[1] > self.limits.max_expanded:
            raise self.error(f"shared references expand to more than {self.limits.max_expanded:,} "
                             f"objects (a 'billion laughs' pickle); a state_dict has no such sharing")
        if rec[2] > self.limits.max_depth:
            raise self.error(f"containers nested more than {self.limits.max_depth} deep; "
                             f"a state_dict nests a few levels")

    def grow(self, target, items, kinds):
        rec = self.info.get(id(target))
        if rec is None or not isinstance(target, kinds):
            raise self.error(f"adds items to a {type(target).__name__}, which cannot hold them")
        if rec[3]:
            raise self.error("modifies a container after using it (a self-referencing structure); "
                             "a state_dict has none")
        self.absorb(rec, items)
        if rec[3]:
            raise self.error("puts a container inside itself; a state_dict has no cycles")

    def frame_empty(self):
        """True when nothing lies above the last MARK (Python's unpickler keeps a
        separate stack per MARK; we keep one stack and the MARK positions)."""
        return len(self.stack) <= (self.marks[-1] if self.marks else 0)

    def pop(self):
        if self.frame_empty():
            raise self.error("stack underflow")
        return self.stack.pop()

    def top(self):
        if self.frame_empty():
            raise self.error("stack underflow")
        return self.stack[-1]

    def pop_mark(self):
        if not self.marks:
            raise self.error("no MARK before an opcode that needs one")
        k = self.marks.pop()
        items = self.stack[k:]
        del self.stack[k:]
        return items

    def check_key(self, k):
        if not _is_safe_key(k):
            raise self.error(f"dict or set key of type {type(k).__name__}; a state_dict uses "
                             f"string keys")

    def memo_get(self, idx):
        try:
            self.stack.append(self.memo[idx])
        except KeyError:
            raise self.error(f"memo entry {idx} used before it is set") from None

    def memo_put(self, idx):
        self.memo[idx] = self.top()

    # ---- the loop

    def run(self):
        ops = _OPS
        buf = self.buf
        while True:
            if self.pos >= self.end:
                raise self.error("truncated pickle (no STOP opcode)")
            code = buf[self.pos]
            self.pos += 1
            op = ops[code]
            if op is None:
                raise self.error(f"opcode 0x{code:02x} is not one a state_dict uses")
            if op(self):
                return self.pop(), self.pos


def _op(*codes):
    def deco(fn):
        for c in codes:
            _OPS[c if isinstance(c, int) else ord(c)] = fn
        return fn
    return deco


_OPS = [None] * 256


@_op(0x80)
def _proto(m):
    if m.take(1)[0] > 5:
        raise m.error("pickle protocol above 5")


@_op(0x95)
def _frame(m):
    m.take(8)


@_op(".")
def _stop(m):
    return True


@_op("(")
def _mark(m):
    m.marks.append(len(m.stack))


@_op("0")
def _pop(m):
    if m.frame_empty():
        m.pop_mark()
    else:
        m.stack.pop()


@_op("1")
def _pop_mark(m):
    m.pop_mark()


@_op("2")
def _dup(m):
    m.stack.append(m.top())


# ---- scalars

@_op("N")
def _none(m):
    m.push_new(None)


@_op(0x88)
def _true(m):
    m.push_new(True)


@_op(0x89)
def _false(m):
    m.push_new(False)


@_op("J")
def _binint(m):
    m.push_new(m.unpack("<i", 4))


@_op("K")
def _binint1(m):
    m.push_new(m.take(1)[0])


@_op("M")
def _binint2(m):
    m.push_new(m.unpack("<H", 2))


def _long_bytes(m, n):
    if n > 32:
        raise m.error(f"integer of {n} bytes; a state_dict's integers fit in 32")
    m.push_new(int.from_bytes(m.take(n), "little", signed=True))


@_op(0x8a)
def _long1(m):
    _long_bytes(m, m.take(1)[0])


@_op(0x8b)
def _long4(m):
    _long_bytes(m, m.unpack("<i", 4))


def _text_number(m, parse):
    raw = m.line()
    if len(raw) > 64:
        raise m.error("number longer than 64 characters")
    try:
        return parse(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError, OverflowError):
        raise m.error("malformed number") from None


def _int_or_bool(s):
    s = s.strip()
    return True if s == "01" else False if s == "00" else int(s)


@_op("I")
def _int(m):
    m.push_new(_text_number(m, _int_or_bool))


@_op("L")
def _long(m):
    m.push_new(_text_number(m, lambda s: int(s[:-1] if s.endswith("L") else s)))


@_op("F")
def _float(m):
    m.push_new(_text_number(m, float))


@_op("G")
def _binfloat(m):
    m.push_new(m.unpack(">d", 8))


def _sized(m, n):
    if n > m.limits.max_string_bytes:
        raise m.error(f"string of {n:,} bytes, more than the limit of "
                      f"{m.limits.max_string_bytes:,}")
    return m.take(n)


@_op("X")
def _binunicode(m):
    m.push_new(m.text(_sized(m, m.unpack("<I", 4))))


@_op(0x8c)
def _short_binunicode(m):
    m.push_new(m.text(_sized(m, m.take(1)[0])))


@_op(0x8d)
def _binunicode8(m):
    m.push_new(m.text(_sized(m, m.unpack("<Q", 8))))


@_op("T")
def _binstring(m):  # Python 2 str; torch.load decodes it as UTF-8
    m.push_new(m.text(_sized(m, m.unpack("<i", 4))))


@_op("U")
def _short_binstring(m):
    m.push_new(m.text(_sized(m, m.take(1)[0])))


@_op("B")
def _binbytes(m):
    m.push_new(bytes(_sized(m, m.unpack("<I", 4))))


@_op("C")
def _short_binbytes(m):
    m.push_new(bytes(_sized(m, m.take(1)[0])))


@_op(0x8e)
def _binbytes8(m):
    m.push_new(bytes(_sized(m, m.unpack("<Q", 8))))


# ---- containers

@_op(")")
def _empty_tuple(m):
    m.stack.append(m.container(()))


def _tuple_of(m, items):
    t = tuple(items)
    m.count()
    rec = [t, 1, 1, False]
    m.absorb(rec, t)
    m.info[id(t)] = rec
    m.stack.append(t)


@_op("t")
def _tuple(m):
    _tuple_of(m, m.pop_mark())


def _tuple_n(n):
    def op(m):
        if len(m.stack) - (m.marks[-1] if m.marks else 0) < n:
            raise m.error("stack underflow")
        items = m.stack[-n:]
        del m.stack[-n:]
        _tuple_of(m, items)
    return op


_OPS[0x85], _OPS[0x86], _OPS[0x87] = _tuple_n(1), _tuple_n(2), _tuple_n(3)


@_op("]")
def _empty_list(m):
    m.stack.append(m.container([]))


@_op("l")
def _list(m):
    items = m.pop_mark()
    m.stack.append(m.container(list(items), items))


@_op("a")
def _append(m):
    item = m.pop()
    target = m.top()
    m.grow(target, (item,), list)
    target.append(item)


@_op("e")
def _appends(m):
    items = m.pop_mark()
    target = m.top()
    m.grow(target, items, list)
    target.extend(items)


@_op("}")
def _empty_dict(m):
    m.stack.append(m.container({}))


def _fill(m, target, items):
    if len(items) % 2:
        raise m.error("odd number of items for a dict")
    m.grow(target, items, dict)
    for i in range(0, len(items), 2):
        m.check_key(items[i])
        target[items[i]] = items[i + 1]


@_op("d")
def _dict(m):
    items = m.pop_mark()
    d = m.container({})
    _fill(m, d, items)
    m.stack.append(d)


@_op("s")
def _setitem(m):
    value, key = m.pop(), m.pop()
    _fill(m, m.top(), [key, value])


@_op("u")
def _setitems(m):
    items = m.pop_mark()
    _fill(m, m.top(), items)


@_op(0x8f)
def _empty_set(m):
    m.stack.append(m.container(set()))


@_op(0x90)
def _additems(m):
    items = m.pop_mark()
    target = m.top()
    m.grow(target, items, set)
    for k in items:
        m.check_key(k)
        target.add(k)


@_op(0x91)
def _frozenset(m):
    items = m.pop_mark()
    for k in items:
        m.check_key(k)
    m.stack.append(m.container(frozenset(items), items))


# ---- memo

@_op("p")
def _put(m):
    m.memo_put(_text_number(m, int))


@_op("q")
def _binput(m):
    m.memo_put(m.take(1)[0])


@_op("r")
def _long_binput(m):
    m.memo_put(m.unpack("<I", 4))


@_op(0x94)
def _memoize(m):
    m.memo_put(len(m.memo))


@_op("g")
def _get(m):
    m.memo_get(_text_number(m, int))


@_op("h")
def _binget(m):
    m.memo_get(m.take(1)[0])


@_op("j")
def _long_binget(m):
    m.memo_get(m.unpack("<I", 4))


# ---- globals, calls, persistent ids

def _find_global(m, module, name):
    try:
        return _ALLOWED[(module, name)]
    except KeyError:
        raise m.error(f"refused to load global '{printable(module)}.{printable(name)}': a "
                      f"state_dict needs only tensors and dicts, and this name could run code. "
                      f"Nothing from the file was executed", UnsafePickleError) from None


@_op("c")
def _global(m):
    module, name = m.text(m.line()), m.text(m.line())
    m.push_new(_find_global(m, module, name))


@_op(0x93)
def _stack_global(m):
    name, module = m.pop(), m.pop()
    if type(name) is not str or type(module) is not str:
        raise m.error("STACK_GLOBAL with a name that is not a string")
    m.push_new(_find_global(m, module, name))


@_op("R")
def _reduce(m):
    args, func = m.pop(), m.pop()
    if type(args) is not tuple:
        raise m.error("REDUCE with arguments that are not a tuple")
    m.absorb([None, 0, 0, False], (args,))  # seals the arguments
    m.stack.append(_call(m, func, args))


@_op(0x81)
def _newobj(m):
    args, cls = m.pop(), m.pop()
    if not (isinstance(cls, _Global) and cls.kind == "dict") or type(args) is not tuple:
        raise m.error(f"NEWOBJ of {_describe(cls)}; only OrderedDict may be created this way")
    m.stack.append(m.container(_StateDict()))


@_op(0x92)
def _newobj_ex(m):
    kwargs = m.pop()
    if type(kwargs) is not dict or kwargs:
        raise m.error("NEWOBJ_EX with keyword arguments")
    _newobj(m)


@_op("b")
def _build(m):
    state = m.pop()
    target = m.top()
    if not isinstance(target, _StateDict):
        raise m.error(f"sets the state of {_describe(target)}; only an OrderedDict's "
                      f"_metadata may be set")
    m.grow(target, (state,), _StateDict)  # counted and sealed, then ignored


@_op("Q")
def _binpersid(m):
    pid = m.pop()
    if m.persistent_load is None:
        raise m.error("persistent id in a pickle that cannot have storages")
    m.absorb([None, 0, 0, False], (pid,))
    m.push_new(m.persistent_load(m, pid))


@_op("P")
def _persid(m):
    raise m.error("text persistent id; torch writes binary ones")


def _describe(obj):
    if isinstance(obj, _Global):
        return f"'{obj.module}.{obj.name}'"
    if isinstance(obj, _StorageType):
        return f"'torch.{obj.name}'"
    return f"a {type(obj).__name__}"


def _call(m, func, args):
    kind = func.kind if isinstance(func, _Global) else None
    if kind == "dict":
        return _make_state_dict(m, args)
    if kind == "tensor":
        return _make_tensor(m, func, args)
    if kind == "param":
        if not args or not isinstance(args[0], _LazyTensor):
            raise m.error(f"{func.name} of something that is not a tensor")
        return args[0]
    raise m.error(f"calls {_describe(func)}, which is not a function a state_dict uses")


def _make_state_dict(m, args):
    d = m.container(_StateDict())
    if args == ():
        return d
    # Python 2's OrderedDict pickles as OrderedDict([[k, v], ...]).
    if len(args) != 1 or type(args[0]) is not list:
        raise m.error("OrderedDict called with unexpected arguments")
    flat = []
    for pair in args[0]:
        if type(pair) not in (list, tuple) or len(pair) != 2:
            raise m.error("OrderedDict item that is not a (key, value) pair")
        flat.extend(pair)
    m.absorb(m.info[id(d)], flat)
    for i in range(0, len(flat), 2):
        m.check_key(flat[i])
        d[flat[i]] = flat[i + 1]
    return d


def _int_list(m, v, what):
    if type(v) not in (tuple, list) or len(v) > m.limits.max_rank or \
            any(type(x) is not int for x in v):
        raise m.error(f"tensor {what} is not a list of at most {m.limits.max_rank} integers")
    return tuple(v)


def _make_tensor(m, func, args):
    if not 4 <= len(args) <= 7:
        raise m.error(f"{func.name} called with {len(args)} arguments")
    ref, offset = args[0], args[1]
    if not isinstance(ref, _StorageRef):
        raise m.error("tensor rebuilt from something that is not a storage")
    if type(offset) is not int:
        raise m.error("tensor storage offset is not an integer")
    size, stride = _int_list(m, args[2], "size"), _int_list(m, args[3], "stride")
    if len(size) != len(stride):
        raise m.error(f"tensor size and stride differ in rank ({len(size)} and {len(stride)})")
    m.count()
    return _LazyTensor(ref, offset, size, stride)


# --------------------------------------------------------------------------- storages

class _Storages:
    """The storages a pickle declares through persistent ids, by key."""

    def __init__(self, legacy):
        self.legacy = legacy
        self.roots = {}   # key -> _Storage
        self.refs = {}    # key or view key -> _StorageRef

    def __call__(self, m, pid):
        if type(pid) is not tuple or len(pid) not in ((5, 6) if self.legacy else (5,)) \
                or pid[0] != "storage":
            raise m.error("persistent id that is not a torch storage")
        stype, key, numel = pid[1], self.key(m, pid[2]), pid[4]
        if not isinstance(stype, _StorageType):
            raise m.error(f"storage '{key}' has a type that is not a torch storage type")
        if type(numel) is not int or numel < 0:
            raise m.error(f"storage '{key}' has a negative or non-integer size")
        root = self.root(m, key, stype, numel)
        view = pid[5] if len(pid) == 6 else None
        if view is None:
            return self.refs.setdefault(key, _StorageRef(root, 0, numel))
        return self.view(m, root, view)

    @staticmethod
    def key(m, key):
        if type(key) is int:
            key = str(key)
        if type(key) is not str or not 0 < len(key) <= 64 or \
                not all(c.isascii() and (c.isalnum() or c in "_.-") for c in key):
            raise m.error("storage key that is not a short name")
        return key

    def root(self, m, key, stype, numel):
        root = self.roots.get(key)
        if root is None:
            if key in self.refs:
                raise m.error(f"storage key '{key}' names both a view and a storage")
            root = self.roots[key] = _Storage(key, stype, numel)
        elif root.stype is not stype or root.numel != numel:
            raise m.error(f"storage '{key}' is declared twice with different types or sizes")
        return root

    def view(self, m, root, view):
        if type(view) is not tuple or len(view) != 3:
            raise m.error(f"storage '{root.key}' has malformed view metadata")
        vkey, offset, size = self.key(m, view[0]), view[1], view[2]
        if type(offset) is not int or type(size) is not int or offset < 0 or size < 0 \
                or offset + size > root.numel:
            raise m.error(f"view '{vkey}' of storage '{root.key}' covers elements "
                          f"[{printable(offset)}, +{printable(size)}) of a storage of "
                          f"{root.numel} elements; a view must lie inside its storage")
        if vkey in self.roots:
            raise m.error(f"storage key '{vkey}' names both a view and a storage")
        ref = self.refs.get(vkey)
        if ref is None:
            ref = self.refs[vkey] = _StorageRef(root, offset, size)
        elif (ref.storage, ref.base, ref.numel) != (root, offset, size):
            raise m.error(f"view '{vkey}' is declared twice differently")
        return ref


# --------------------------------------------------------------------------- tensors

class TensorRef:
    """A tensor of the checkpoint, checked against its storage but not yet read.

    `shape`, `dtype` (of the array it becomes: bfloat16 becomes float32), `size` and
    `ndim` behave as on a numpy array; `np.asarray(ref)` reads it."""

    __slots__ = ("name", "ref", "offset", "shape", "stride", "size", "_ckpt")

    def __init__(self, name, lazy, ckpt):
        self.name, self.ref, self.offset = name, lazy.ref, lazy.offset
        self.shape, self.stride = lazy.size, lazy.stride
        self.size = math.prod(self.shape)
        self._ckpt = ckpt

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def storage_type(self):
        return self.ref.storage.stype.name

    @property
    def dtype(self):
        return np.dtype("float32") if self.storage_type == "BFloat16Storage" \
            else self.ref.storage.stype.dtype.newbyteorder("=")

    @property
    def source_dtype(self):
        return "bfloat16" if self.storage_type == "BFloat16Storage" else str(self.dtype)

    def last_element(self):
        """Index (inside its storage or view) of the last element reached, or -1."""
        if self.size == 0:
            return -1
        return self.offset + sum((s - 1) * st for s, st in zip(self.shape, self.stride))

    def __array__(self, dtype=None, copy=None):
        a = self._ckpt.array(self.name)
        return a if dtype is None else a.astype(dtype)


def _check_geometry(t, path):
    """Offset, sizes and strides non-negative; the last element reached inside the
    storage (legacy: inside the view, which lies inside its storage)."""
    where = f"{path}: tensor '{printable(t.name)}' (shape {list(t.shape)}, stride " \
            f"{list(t.stride)}, offset {t.offset})"
    if t.offset < 0 or any(s < 0 for s in t.shape) or any(s < 0 for s in t.stride):
        raise CheckpointError(f"{where} has a negative offset, size or stride; torch saves "
                              f"none (the file is corrupt or crafted)")
    last = t.last_element()
    if last >= t.ref.numel:
        raise CheckpointError(f"{where} reaches element {last} of a storage of "
                              f"{t.ref.numel} elements; it must lie inside its storage "
                              f"(the file is corrupt or crafted)")


def _child_name(prefix, key, path, limit):
    """prefix.key, refused past `limit` characters (a shared long key repeated along a
    deep path would otherwise build enormous names)."""
    if type(key) is bytes and len(key) > limit:
        key = key[:limit + 1]
    text = key if type(key) is str else str(key)
    if len(prefix) + 1 + len(text) > limit:
        raise CheckpointError(f"{path}: a tensor name longer than {limit} characters "
                              f"(starting '{printable(prefix or text, 60)}')")
    return f"{prefix}.{text}" if prefix else text


def _collect(root, path, limits):
    """{flattened name: _LazyTensor} of every tensor in nested dicts, in file order.
    Iterative, and bounded by `max_expanded` visits (the machine already refused
    structures that expand further), `max_tensors` and `max_name_chars`."""
    out, todo, visits = {}, [(root, "")], 0
    while todo:
        obj, name = todo.pop()
        visits += 1
        if visits > limits.max_expanded:
            raise CheckpointError(f"{path}: more than {limits.max_expanded:,} objects to walk")
        if isinstance(obj, _LazyTensor):
            if name in out:
                raise CheckpointError(f"{path}: two tensors are named '{printable(name)}' "
                                      f"(a dotted key and a nested dict collide)")
            if len(out) >= limits.max_tensors:
                raise CheckpointError(f"{path}: more than {limits.max_tensors:,} tensors; "
                                      f"a GPEN checkpoint has a few hundred")
            out[name] = obj
        elif isinstance(obj, dict):
            kids = [(v, _child_name(name, k, path, limits.max_name_chars))
                    for k, v in obj.items() if isinstance(v, (dict, _LazyTensor))]
            todo.extend(reversed(kids))
    return out


# --------------------------------------------------------------------------- files

_ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
# What zipfile raises on a damaged archive (zlib.error from a broken deflate stream).
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError,
               RuntimeError, ValueError, struct.error, UnicodeDecodeError, OverflowError,
               zlib.error)


def _zip_error(path, e):
    return CheckpointError(f"{path}: damaged zip archive ({printable(str(e), 120)}); "
                           f"re-save it with torch.save")


def _zip_directory_size(f):
    """Size of the central directory the end record declares, or None if unknown
    (zipfile's own reader of the end record; its errors surface in ZipFile())."""
    try:
        end = zipfile._EndRecData(f)
        return None if end is None else end[zipfile._ECD_SIZE]
    except Exception:  # a private helper: any failure just skips this early check
        return None


class _ZipSource:
    """Members of a torch zip archive, read with bounded reads."""

    def __init__(self, path, f, limits):
        self.path = path
        size = _zip_directory_size(f)
        if size is not None and size > limits.max_zip_directory_bytes:
            raise CheckpointError(f"{path}: zip central directory of {size:,} bytes, more than "
                                  f"the limit of {limits.max_zip_directory_bytes:,}; a "
                                  f"checkpoint has one member per storage")
        f.seek(0)
        try:
            self.zip = zipfile.ZipFile(f)
            infos = self.zip.infolist()
        except _ZIP_ERRORS as e:
            raise _zip_error(path, e) from None
        self.members = {}
        for i in infos:
            if i.filename in self.members:
                raise CheckpointError(f"{path}: zip archive holds member "
                                      f"'{printable(i.filename)}' twice; refusing to guess")
            self.members[i.filename] = i

    def read(self, name, nbytes, what):
        """Exactly `nbytes` bytes of member `name`, which must be that long: never
        inflates more than nbytes + 1 bytes, whatever the archive claims."""
        info = self.members[name]
        if info.flag_bits & 0x1:
            raise CheckpointError(f"{self.path}: {what} is encrypted; torch writes plain "
                                  f"archives (decrypt it, or re-save with torch.save)")
        if info.compress_type not in _ZIP_METHODS:
            method = zipfile.compressor_names.get(info.compress_type, "unknown")
            raise CheckpointError(f"{self.path}: {what} uses zip compression method "
                                  f"{info.compress_type} ({method}); only stored and deflate "
                                  f"are read (re-save with torch.save)")
        if info.file_size != nbytes:
            raise CheckpointError(f"{self.path}: {what} holds {info.file_size:,} bytes, "
                                  f"expected {nbytes:,}")
        try:
            with self.zip.open(info) as m:
                data = m.read(nbytes)
                extra = m.read(1)
        except _ZIP_ERRORS as e:
            raise _zip_error(self.path, e) from None
        if len(data) != nbytes or extra:
            raise CheckpointError(f"{self.path}: {what} does not hold the {nbytes:,} bytes "
                                  f"its header declares")
        return data

    def close(self):
        self.zip.close()


def _open_zip(path, f, limits):
    src = _ZipSource(path, f, limits)
    pkls = [n for n in src.members if n == "data.pkl" or n.endswith("/data.pkl")]
    if len(pkls) != 1:
        raise CheckpointError(f"{path}: zip archive without exactly one data.pkl "
                              f"(found {len(pkls)}); not a torch checkpoint")
    prefix = pkls[0][: -len("data.pkl")]
    order = src.members.get(prefix + "byteorder")
    if order is not None and order.file_size <= 16:
        if src.read(prefix + "byteorder", order.file_size, "byteorder") != b"little":
            raise CheckpointError(f"{path}: a big-endian checkpoint; only little-endian "
                                  f"ones are read (re-save it on x86 or ARM)")
    size = src.members[pkls[0]].file_size
    if size > limits.max_pickle_bytes:
        raise CheckpointError(f"{path}: {pkls[0]} is {size:,} bytes, more than the limit of "
                              f"{limits.max_pickle_bytes:,}; a state_dict's pickle is far smaller")
    data = src.read(pkls[0], size, pkls[0])
    storages = _Storages(legacy=False)
    root, _ = _Machine(data, 0, len(data), path, pkls[0], limits, storages).run()
    places = {}
    for key, s in storages.roots.items():
        name = f"{prefix}data/{key}"
        info = src.members.get(name)
        if info is not None and info.file_size != s.nbytes:
            raise CheckpointError(
                f"{path}: storage '{key}' holds {info.file_size:,} bytes, but the pickle "
                f"declares {s.numel:,} {s.stype.name} elements ({s.nbytes:,} bytes)")
        places[key] = name if info is not None else None
    return root, storages, places, src


class _LegacySource:
    """The raw storages that follow the pickles of a legacy checkpoint."""

    def __init__(self, path, f):
        self.path, self.f = path, f

    def read(self, offset, nbytes, what):
        try:
            self.f.seek(offset)
            data = self.f.read(nbytes)
        except OSError as e:
            raise CheckpointError(f"{self.path}: cannot read {what}: {e.strerror}") from None
        if len(data) != nbytes:
            raise CheckpointError(f"{self.path}: {what} is truncated")
        return data

    def close(self):
        pass


def _open_legacy(path, f, file_size, limits):
    head = f.read(min(file_size, limits.max_pickle_bytes))
    pos = 0

    def small(what, persistent=None):
        nonlocal pos
        try:
            obj, pos = _Machine(head, pos, len(head), path, what, limits, persistent).run()
        except UnsafePickleError:
            raise
        except CheckpointError:
            if what != "magic number":
                raise
            raise CheckpointError(f"{path}: not a torch checkpoint (neither a zip archive "
                                  f"nor a legacy torch.save file)") from None
        return obj

    if small("magic number") != LEGACY_MAGIC:
        raise CheckpointError(f"{path}: not a torch checkpoint (bad magic number)")
    if small("protocol version") != LEGACY_PROTOCOL:
        raise CheckpointError(f"{path}: unknown legacy protocol version; expected {LEGACY_PROTOCOL}")
    info = small("sys info")
    if isinstance(info, dict) and info.get("little_endian", True) is not True:
        raise CheckpointError(f"{path}: a big-endian checkpoint; only little-endian ones are read")
    storages = _Storages(legacy=True)
    root = small("main pickle", storages)
    keys = small("storage keys")
    if type(keys) is not list:
        raise CheckpointError(f"{path}: the storage key list is not a list")
    return root, storages, _legacy_places(path, f, file_size, pos, keys, storages), \
        _LegacySource(path, f)


def _legacy_places(path, f, file_size, pos, keys, storages):
    """{storage key: file offset of its data}, walking the int64 element counts."""
    places = {}
    for key in keys:
        if type(key) is not str or key not in storages.roots:
            raise CheckpointError(f"{path}: storage key '{printable(key)}' is not "
                                  f"referenced by the pickle")
        if key in places:
            raise CheckpointError(f"{path}: storage '{key}' appears twice")
        s = storages.roots[key]
        f.seek(pos)
        hdr = f.read(8)
        if len(hdr) != 8:
            raise CheckpointError(f"{path}: truncated before storage '{key}'")
        (numel,) = struct.unpack("<q", hdr)
        if numel != s.numel:
            raise CheckpointError(f"{path}: storage '{key}' holds {numel:,} elements, but the "
                                  f"pickle declares {s.numel:,}")
        places[key] = pos + 8
        pos += 8 + s.nbytes
        if pos > file_size:
            raise CheckpointError(f"{path}: storage '{key}' ({s.nbytes:,} bytes) runs past "
                                  f"the end of the file")
    return places


def _open_input(path):
    """An open binary file, after making sure path is a regular file (no FIFO that
    would block, no directory that would read as empty)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except OSError as e:
        if e.errno == errno.EISDIR:
            raise CheckpointError(f"{path}: is a directory, expected a checkpoint file (.pth)") from None
        raise CheckpointError(f"{path}: cannot read: {e.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise CheckpointError(f"{path}: is {_file_kind(st.st_mode)}, expected a checkpoint "
                              f"file (.pth)")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb"), st.st_size


def _file_kind(mode):
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


# --------------------------------------------------------------------------- checkpoint

class Checkpoint:
    """An opened checkpoint: `tree` (the unpickled structure, tensors as lazy leaves),
    `tensors` ({flattened name: TensorRef}). Use as a context manager, plan the tensors
    to read, then read them with `arrays` or `array`."""

    def __init__(self, path, tree, lazies, places, source, file, limits):
        self.path, self.tree, self.limits = path, tree, limits
        self._places, self._source, self._file, self._plan = places, source, file, None
        self.tensors = {}
        for name, lazy in lazies.items():
            t = TensorRef(name, lazy, self)
            _check_geometry(t, path)
            if places.get(t.ref.storage.key) is None:
                raise CheckpointError(f"{path}: tensor '{printable(name)}' uses storage "
                                      f"'{t.ref.storage.key}', which the file does not contain")
            self.tensors[name] = t

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._source.close()
        self._file.close()

    def plan(self, names):
        """Checks that reading these tensors stays within the limits: each tensor's and
        the total element count, and each storage no larger than what they use plus
        slack. Nothing is read."""
        lim, total, used = self.limits, 0, {}
        for name in names:
            t = self.tensors[name]
            if t.size > lim.max_tensor_elements:
                raise CheckpointError(
                    f"{self.path}: tensor '{printable(name)}' has shape {list(t.shape)} "
                    f"({t.size:,} elements), more than the {lim.max_tensor_elements:,} one "
                    f"tensor may have (GPEN's largest has 4.7 million)")
            total += t.size
            s = t.ref.storage
            used[s.key] = used.get(s.key, 0) + t.size * s.stype.dtype.itemsize
        if total > lim.max_total_elements:
            raise CheckpointError(f"{self.path}: the tensors to read hold {total:,} elements, "
                                  f"more than the limit of {lim.max_total_elements:,} (the "
                                  f"largest GPEN has 71 million)")
        for name in names:
            s = self.tensors[name].ref.storage
            if s.nbytes > used[s.key] + max(lim.storage_slack_bytes, used[s.key] // 8):
                raise CheckpointError(
                    f"{self.path}: storage '{s.key}' of tensor '{printable(name)}' holds "
                    f"{s.nbytes:,} bytes, but the tensors read from it use {used[s.key]:,}; "
                    f"refusing to read that much more than needed (a corrupt size or a "
                    f"decompression bomb)")
        self._plan = set(names)

    def _storage_bytes(self, s):
        place = self._places[s.key]
        what = f"storage '{s.key}'"
        return self._source.read(place, s.nbytes, what)

    def arrays(self, names):
        """Yields (name, ndarray) in the order given, reading each storage once and
        keeping it only while a tensor still needs it."""
        names = list(names)
        if self._plan is None or not set(names) <= self._plan:
            self.plan(names)
        left = {}
        for n in names:
            k = self.tensors[n].ref.storage.key
            left[k] = left.get(k, 0) + 1
        cache = {}
        for n in names:
            t = self.tensors[n]
            s = t.ref.storage
            raw = cache.get(s.key)
            if raw is None:
                raw = cache[s.key] = self._storage_bytes(s)
            left[s.key] -= 1
            if not left[s.key]:
                del cache[s.key]
            yield n, _materialize(t, raw)

    def array(self, name):
        """One tensor as an ndarray (planned alone unless it is part of the plan)."""
        if self._plan is None or name not in self._plan:
            saved = self._plan
            self.plan([name])
            self._plan = saved
        t = self.tensors[name]
        return _materialize(t, self._storage_bytes(t.ref.storage))


def _materialize(t, raw):
    """A C-ordered copy of tensor t out of its storage's bytes (geometry was checked)."""
    dt = t.ref.storage.stype.dtype
    if t.size == 0:
        arr = np.zeros(t.shape, dtype=dt)
    else:
        flat = np.frombuffer(raw, dtype=dt)
        strides = [st * dt.itemsize if s > 1 else 0 for s, st in zip(t.shape, t.stride)]
        view = np.lib.stride_tricks.as_strided(flat[t.ref.base + t.offset:], shape=t.shape,
                                               strides=strides, writeable=False)
        arr = np.array(view, copy=True)
    if t.storage_type == "BFloat16Storage":  # the high half of a float32
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    return arr.astype(arr.dtype.newbyteorder("="), copy=False)


def open_checkpoint(path, limits=None):
    """Opens and checks a checkpoint; returns a Checkpoint (a context manager)."""
    # The pickle machine builds no cycles, so the cyclic collector has nothing to find
    # in what is built here; pausing it keeps the time linear in the number of objects.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _open_checkpoint(path, limits or Limits())
    finally:
        if paused:
            gc.enable()


def _open_checkpoint(path, limits):
    f, size = _open_input(path)
    try:
        if f.read(4) == ZIP_MAGIC:
            f.seek(0)
            root, storages, places, source = _open_zip(path, f, limits)
        else:
            f.seek(0)
            root, storages, places, source = _open_legacy(path, f, size, limits)
        return Checkpoint(path, root, _collect(root, path, limits), places, source, f, limits)
    except OSError as e:
        f.close()
        raise CheckpointError(f"{path}: cannot read: {e.strerror or e}") from None
    except BaseException:
        f.close()
        raise


def load_checkpoint(path, limits=None):
    """Returns (tree, tensors): tree is the unpickled structure (tensors as lazy leaves);
    tensors is {flattened name: ndarray} of every tensor in the file, read within the
    limits."""
    with open_checkpoint(path, limits) as ck:
        names = list(ck.tensors)
        ck.plan(names)
        return ck.tree, dict(ck.arrays(names))
