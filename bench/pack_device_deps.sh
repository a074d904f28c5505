#!/usr/bin/env bash
# Packs the build dependencies that the GPU machine lacks (it has CUDA, cuDNN via pip,
# CMake and PyTorch, but no Debian -dev packages and no network) into .device-deps/,
# which the device tool carries beside the work tree (about 45 MB):
#   include/: nlohmann/json.hpp, stb/, doctest/, openblas/cblas.h + openblas_config.h
#   lib/: libopenblas.so.0 and the Fortran runtime it links
# Run here, then: run(command="bench/device_check.sh", carry=[".device-deps"]).
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
du -sh "$d"
