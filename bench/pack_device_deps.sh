#!/usr/bin/env bash
# Packs the build dependencies that the GPU machine lacks (it has CUDA, cuDNN via pip,
# CMake and PyTorch, but no Debian -dev packages and no network) into .device-deps/,
# which the device tool carries beside the work tree (about 45 MB):
#   include/: nlohmann/json.hpp, stb/, doctest/, openblas/cblas.h + openblas_config.h
#   lib/: libopenblas.so.0 and the Fortran runtime it links
#   gpen-upstream/face_model and sr_model: upstream's model code, when a GPEN checkout is
#   given, for the PyTorch baselines (carried, never committed)
# The small fixture sets travel in tests/data; ../shared does not travel (the large sets'
# tests skip there). The tool carries at most 64 MiB with the work tree: the end says how much.
# Run here, then: run(command="bench/device_check.sh", carry=[".device-deps"], timeout_s=600).
#   bench/pack_device_deps.sh [/path/to/GPEN]
set -euo pipefail
cd "$(dirname "$0")/.."
d=.device-deps
rm -rf "$d"
mkdir -p "$d/include/openblas" "$d/lib"
cp -r /usr/include/nlohmann /usr/include/stb /usr/include/doctest "$d/include/"
inc=/usr/include/x86_64-linux-gnu/openblas-pthread
cp "$inc"/cblas.h "$inc"/openblas_config.h "$d/include/openblas/"
cp -L /usr/lib/x86_64-linux-gnu/libopenblas.so.0 "$d/lib/"
ln -sf libopenblas.so.0 "$d/lib/libopenblas.so"
cp -L /usr/lib/x86_64-linux-gnu/libgfortran.so.5 /usr/lib/x86_64-linux-gnu/libquadmath.so.0 "$d/lib/"
if [ -n "${1:-}" ]; then
  mkdir -p "$d/gpen-upstream"
  cp -r "$1/face_model" "$d/gpen-upstream/"
  mkdir -p "$d/gpen-upstream/sr_model"  # RRDBNet for bench/torch_rrdb_bench.py
  cp "$1/sr_model/rrdbnet_arch.py" "$1/sr_model/arch_util.py" "$d/gpen-upstream/sr_model/"
  find "$d/gpen-upstream" -name "*.pth" -delete
fi
du -sh "$d"
# What the device tool sends: tracked and untracked-not-ignored files, plus the carried folder.
tree=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null | tail -n 1 | cut -f1)
deps=$(du -sb "$d" | cut -f1)
echo "work tree $((tree / 1048576)) MiB + $d $((deps / 1048576)) MiB = $(((tree + deps) / 1048576)) MiB (limit 64)"
[ $((tree + deps)) -le $((64 * 1048576)) ] || { echo "too large for the device tool" >&2; exit 1; }
