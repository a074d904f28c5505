// Storage conversion between fp16 and fp32 activations (e.g. the encoder's last level
// feeding the fp32 mapping GEMM).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace gpen::kernels {

struct CastParams {
  const void* x;
  StorageType x_type;
  void* y;
  StorageType y_type;
  int64_t n;
};

void LaunchCast(CastParams p, cudaStream_t stream);

}  // namespace gpen::kernels
