// x[n, c, :] * s[n, c]: input modulation and output demodulation of the shared-weight
// modulated convolution. CPU twin: cpu::ScaleChannels.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace gpen::kernels {

struct ScaleChannelsParams {
  const void* x;  // (N*C, HW), may equal y
  void* y;
  StorageType type;
  const float* s;  // (N*C)
  int64_t planes, hw;
};

void LaunchScaleChannels(ScaleChannelsParams p, cudaStream_t stream);

}  // namespace gpen::kernels
