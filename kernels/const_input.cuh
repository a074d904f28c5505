// ConstantInput (upstream): the learned (1, C, 4, 4) tensor repeated over the batch.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace gpen::kernels {

struct ConstInputParams {
  const float* param;  // (per_sample)
  void* y;             // (batch, per_sample)
  StorageType type;
  int64_t per_sample, batch;
};

void LaunchConstInput(ConstInputParams p, cudaStream_t stream);

}  // namespace gpen::kernels
