#!/usr/bin/env python3
"""Hostile-input suite: every case runs the real `gpen` (or the converter) on a file an
attacker or a careless user could hand it, under a time limit and an address-space cap,
and fails on a signal, a hang, a peak resident size over the cap, or an exit code other
than the case expects (1: refused; 2: a run that went on without the bad image; 0:
accepted). What each case must print is the unit tests' business; this suite proves the
process ends by itself, within bounds, with the right kind of ending.

Usage (ctest runs it as `hostile`):
  GPEN_BIN=build/gpen GPEN_TEST_MODELS_DIR=build/test_models python3 tests/py/hostile_suite.py
"""
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
TIME_LIMIT_S = 60          # per case
ADDRESS_CAP = 4 << 30      # RLIMIT_AS per process: a bomb fails to allocate, not the machine
RSS_CAP_KB = 1536 << 10    # peak resident size allowed (tiny64 needs ~200 MiB)


# ---- files ----------------------------------------------------------------------------

def png_bytes(width, height, rows=None):
    """An 8-bit RGB PNG; `rows` None streams zero rows (a decompression bomb)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    comp = zlib.compressobj(9)
    idat = bytearray()
    row = b"\0" * (1 + 3 * width)
    for y in range(height):
        idat += comp.compress(row if rows is None else b"\0" + rows[y])
    idat += comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", bytes(idat)) + chunk(b"IEND", b"")


def bmp_bytes(width, height, pixel=b"\x40\x80\xc0"):
    """A 24-bit bottom-up BMP (rows padded to 4 bytes)."""
    stride = (3 * width + 3) & ~3
    data = (pixel * width + b"\0" * (stride - 3 * width)) * abs(height)
    header = struct.pack("<2sIHHI", b"BM", 54 + len(data), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(data), 2835, 2835, 0, 0)
    return header + info + data


def tga_bytes(width, height):
    """An uncompressed 24-bit TGA."""
    header = struct.pack("<BBBHHBHHHHBB", 0, 0, 2, 0, 0, 0, 0, 0, width, height, 24, 0)
    return header + b"\x40\x80\xc0" * (width * height)


def safetensors_bytes(header_json):
    raw = header_json.encode()
    return struct.pack("<Q", len(raw)) + raw


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


# ---- cases ------------------------------------------------------------------------------

def model():
    return os.path.join(os.environ.get("GPEN_TEST_MODELS_DIR", os.path.join(ROOT, "build", "test_models")),
                        "tiny64.safetensors")


def enhance(src, out):
    return ["enhance", "-m", model(), "-i", src, "-o", out, "--aligned", "--device", "cpu"]


def image_cases(tmp):
    good = png_bytes(64, 64, [bytes(range(64)) * 3] * 64)
    cases = {
        "image zero width BMP": write(os.path.join(tmp, "zw.bmp"), bmp_bytes(0, 16)),
        "image zero height BMP": write(os.path.join(tmp, "zh.bmp"), bmp_bytes(16, 0)),
        "image zero-size PPM named png": write(os.path.join(tmp, "ppm.png"), b"P6\n0 0\n255\n"),
        "image truncated RLE HDR named png": write(
            os.path.join(tmp, "hdr.png"), b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 8 +X 8\n\x02\x02\x00\x08\x80"),
        "image decompression bomb PNG 16384x16384": write(os.path.join(tmp, "bomb.png"), png_bytes(16384, 16384)),
        "image truncated BMP": write(os.path.join(tmp, "cut.bmp"), bmp_bytes(64, 64)[:1300]),
        "image truncated TGA": write(os.path.join(tmp, "cut.tga"), tga_bytes(64, 64)[:1300]),
        "image truncated PNG": write(os.path.join(tmp, "cut.png"), good[: len(good) // 10]),
        "image GIF header named jpg": write(os.path.join(tmp, "gif.jpg"), b"GIF89a\x10\x00\x10\x00\x80\x00\x00" + b"\0" * 20),
        "image random bytes named jpg": write(os.path.join(tmp, "noise.jpg"), os.urandom(4096)),
    }
    out = []
    for name, path in cases.items():  # each image is refused: the run ends with 2 (some failed)
        out.append((name, enhance(path, os.path.join(tmp, "out_" + os.path.basename(path) + ".png")), {2}))
    # A folder with one good image beside a FIFO named like an image.
    folder = os.path.join(tmp, "folder")
    os.makedirs(folder)
    write(os.path.join(folder, "a.png"), good)
    os.mkfifo(os.path.join(folder, "b.png"))
    out.append(("image folder with a FIFO", enhance(folder, os.path.join(tmp, "folder_out")), {0, 2}))
    return out


def model_file_cases(tmp):
    deep = '{"w": {"dtype": "F32", "shape": ' + "[" * 100000 + "]" * 100000 + ', "data_offsets": [0, 0]}}'
    many = "{" + ",".join('"t%d": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}' % i
                          for i in range(40000)) + "}"
    meta = ('{"__metadata__": {"format": "gpen", "arch": "gpen", "in_size": "2048", "out_size": "2048", '
            '"style_dim": "512", "n_mlp": "8", "channel_multiplier": "2", "narrow": "1"}}')
    files = {
        "model file nested 100000 deep": safetensors_bytes(deep),
        "model file 40000 header entries": safetensors_bytes(many),
        "model file metadata without tensors": safetensors_bytes(meta),
        "model file header length past the end": struct.pack("<Q", 1 << 40) + b"{}",
    }
    return [(name, ["info", write(os.path.join(tmp, "m%d.safetensors" % i), data)], {1})
            for i, (name, data) in enumerate(files.items())]


def negative_view(target, offset):
    """An override for hostile_pth.tiny_hostile_legacy: `target` becomes a view that
    starts `offset` elements into its storage."""
    def override(name, kw, raw):
        if name == target:
            kw = dict(kw, view=("v" + kw["key"], offset, 16))
        return kw, raw
    return override


def converter_cases(tmp):
    """The red team's checkpoints, built by tests/py/hostile_pth.py (from bytes)."""
    sys.path.insert(0, HERE)
    import hostile_pth as h  # noqa: E402 (numpy and the converter's modules)

    def pkl_file(name, data):
        return h.write_zip(os.path.join(tmp, name), data, {})

    files = {
        "checkpoint negative view offset": h.tiny_hostile_legacy(
            os.path.join(tmp, "neg.pth"), negative_view("generator.style.1.weight", -1_000_000)),
        "checkpoint zero stride huge shape": h.one_tensor_zip(
            os.path.join(tmp, "zero.pth"), size=(1 << 20, 1 << 20), stride=(0, 0)),
        "checkpoint zip member inflating to 6 GB": h.zip_bomb(os.path.join(tmp, "bomb.pth"), 6 << 30,
                                                                declared=16, numel=4),
        "checkpoint billion laughs": pkl_file("laughs.pth", h.billion_laughs()),
        "checkpoint self reference": pkl_file("self.pth", h.self_reference()),
        "checkpoint nested 200000 deep": pkl_file("deep.pth", h.deep_nesting()),
    }
    convert = [sys.executable, os.path.join(ROOT, "tools", "convert.py")]
    out = [(name, convert + [path, os.path.join(tmp, "out_%d.safetensors" % i)], {1})
           for i, (name, path) in enumerate(files.items())]
    out.append(("checkpoint output is a folder", convert + [files["checkpoint billion laughs"], tmp], {1, 2}))
    return out


def flag_cases(tmp):
    src = write(os.path.join(tmp, "flags.png"), png_bytes(64, 64, [bytes(range(64)) * 3] * 64))
    base = enhance(src, os.path.join(tmp, "flags_out.png"))
    return [(name, args, {1}) for name, args in [  # each is refused, naming the flag
        ("flags --vram-budget 0.5", base + ["--vram-budget", "0.5"]),
        ("flags --vram-budget 0.9B", base + ["--vram-budget", "0.9B"]),
        ("flags --vram-budget 1e-300", base + ["--vram-budget", "1e-300"]),
        ("flags --threads 100000", base + ["--threads", "100000"]),
        ("flags --batch -3", base + ["--batch", "-3"]),
        ("flags stray positional", base + ["stray"]),
        ("flags output in a missing folder", enhance(src, os.path.join(tmp, "missing", "x.png"))),
    ]]


# ---- runner -----------------------------------------------------------------------------

def limits():
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_CAP, ADDRESS_CAP))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_case(name, argv, expect):
    """One case: (ok, description)."""
    start = time.monotonic()
    with open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(argv, stdin=devnull, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                preexec_fn=limits, env=dict(os.environ, OPENBLAS_NUM_THREADS="2"))
    try:
        _, err = proc.communicate(timeout=TIME_LIMIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return False, "hung (killed after %d s)" % TIME_LIMIT_S
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    took = time.monotonic() - start
    last = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
    if proc.returncode < 0:
        return False, "killed by signal %d: %s" % (-proc.returncode, last[0][:160])
    if proc.returncode not in expect:
        return False, "exit %d, expected %s: %s" % (proc.returncode, sorted(expect), last[0][:160])
    if rss_kb > RSS_CAP_KB:
        return False, "peak RSS %d MiB over the %d MiB cap" % (rss_kb >> 10, RSS_CAP_KB >> 10)
    return True, "exit %d in %.1f s: %s" % (proc.returncode, took, last[0][:120])


def main():
    gpen = os.environ.get("GPEN_BIN", os.path.join(ROOT, "build", "gpen"))
    if not os.path.isfile(model()):
        print("hostile: %s missing (run ctest's convert_fixtures first)" % model())
        return 1
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        cases = [(n, [gpen] + a, e) for n, a, e in image_cases(tmp) + model_file_cases(tmp) + flag_cases(tmp)]
        cases += converter_cases(tmp)
        for name, argv, expect in cases:
            ok, what = run_isolated(name, argv, expect)
            failed += not ok
            print("%-4s %-45s %s" % ("ok" if ok else "FAIL", name, what))
    print("%d passed, %d failed" % (len(cases) - failed, failed))
    return 1 if failed else 0


def run_isolated(name, argv, expect):
    """Runs run_case in a forked child, so that RUSAGE_CHILDREN's peak is this case's alone."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        ok, what = run_case(name, argv, expect)
        os.write(w, (("1" if ok else "0") + what).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    text = data.decode(errors="replace")
    return (text[:1] == "1"), text[1:]


if __name__ == "__main__":
    sys.exit(main())
