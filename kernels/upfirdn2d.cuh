// upfirdn2d on the GPU: zero-insert `up`, pad, FIR with the flipped kernel, keep every
// `down`-th sample (upstream op/upfirdn2d.py). CPU twin: cpu::Upfirdn2d.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace gpen::kernels {

struct Upfirdn2dParams {
  const void* x;  // (planes, H, W)
  void* y;        // (planes, Ho, Wo)
  StorageType type;
  int64_t planes, h, w, ho, wo;
  int up, down, pad0;
  int kh, kw;        // at most 8 x 8
  float kernel[64];  // row-major, NOT flipped (the kernel flips)
};

void LaunchUpfirdn2d(Upfirdn2dParams p, cudaStream_t stream);

}  // namespace gpen::kernels
