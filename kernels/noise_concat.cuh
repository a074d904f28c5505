// NoiseInjection (upstream): cat(x, w * noise) along C, or x + w * noise. Used when the
// epilogue is not fused. CPU twin: cpu::NoiseConcat.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace gpen::kernels {

struct NoiseConcatParams {
  const void* x;     // (N, C, HW)
  const void* feat;  // (N, C, HW) or null for seeded N(0, 1)
  uint64_t seed;
  // Seeded noise of a window: origin (y0, x0) in the untiled (N, C, full_h, full_w)
  // tensor whose flat index seeds each value (full_h == 0: the tensor is untiled).
  int64_t y0, x0, full_h, full_w;
  const float* origin;  // (2) runtime tile origin, or null; adds origin / div to (y0, x0)
  int div;
  float weight;
  bool concat;
  void* y;  // (N, 2C, HW) or (N, C, HW)
  StorageType type;
  int64_t n, c, hw;
  int64_t w;  // width of the tensor (hw / w rows)
};

void LaunchNoiseConcat(NoiseConcatParams p, cudaStream_t stream);

}  // namespace gpen::kernels
