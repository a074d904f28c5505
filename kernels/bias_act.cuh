// act(x + bias * bias_scale): GPEN's fused bias + leaky ReLU(0.2) x sqrt(2) (upstream
// op/fused_act.py) or any other Activation; no bias (null): act(x). CPU twin: cpu::BiasAct.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace gpen::kernels {

struct BiasActParams {
  const void* x;  // (N, C, HW), may equal y
  void* y;
  StorageType x_type, y_type;
  const float* bias;  // (C), or null: the activation alone
  float bias_scale;
  Activation act;
  int64_t n, c, hw;
};

void LaunchBiasAct(BiasActParams p, cudaStream_t stream);

}  // namespace gpen::kernels
