// F.pixel_unshuffle(x, f) (basicsr rrdbnet_arch.py pixel_unshuffle): (N, C, H * f, W * f)
// -> (N, C * f * f, H, W), output channel c * f * f + i * f + j holding
// x[n, c, h * f + i, w * f + j]; RRDBNet's input at scale 1 and 2. CPU twin:
// cpu::PixelUnshuffle.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace gpen::kernels {

struct PixelUnshuffleParams {
  const void* x;  // (N * C, H * f, W * f)
  void* y;        // (N * C * f * f, H, W)
  StorageType type;
  int64_t planes, h, w;  // planes = N * C of x; h, w of y
  int f;
};

void LaunchPixelUnshuffle(PixelUnshuffleParams p, cudaStream_t stream);

}  // namespace gpen::kernels
