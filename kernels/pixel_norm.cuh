// PixelNorm (upstream): x * rsqrt(mean_c(x^2) + 1e-8) over (N, C). CPU twin: cpu::PixelNorm.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace gpen::kernels {

struct PixelNormParams {
  const float* x;
  float* y;
  int64_t n, c;
};

void LaunchPixelNorm(PixelNormParams p, cudaStream_t stream);

}  // namespace gpen::kernels
