#!/usr/bin/env bash
# Every kernel launches through kernels/common.cuh's Launch() and declares shared memory
# through GPEN_SHARED / GPEN_DYNAMIC_SHARED, so that the same sources compile for the
# GPU (nvcc) and for the CPU emulator (tests/cudasim). This fails on a kernel source
# that writes <<<...>>> or __shared__ itself, or that launches without checking
# cudaGetLastError() afterwards.
set -uo pipefail
cd "$(dirname "$0")/../kernels"
bad=0
for f in *.cu *.cuh; do
  [ "$f" = common.cuh ] && continue
  if grep -nE '<<<|__shared__' "$f"; then
    echo "kernels/$f: launch with Launch() and declare shared memory with GPEN_SHARED (common.cuh)"
    bad=1
  fi
  if grep -q 'Launch(' "$f" && ! grep -q 'CUDA_CHECK(cudaGetLastError())' "$f"; then
    echo "kernels/$f: a launch without CUDA_CHECK(cudaGetLastError()) after it"
    bad=1
  fi
done
[ $bad -eq 0 ] && echo "kernel sources: every launch and shared declaration goes through common.cuh"
exit $bad
