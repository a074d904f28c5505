// y = alpha * a + beta * b, element-wise: GPEN's ToRGB skip sum (fp32, alpha = beta = 1)
// and RRDBNet's scaled residuals (activations, alpha 0.2, beta 1). CPU twin: cpu::Add.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace gpen::kernels {

struct AddParams {
  const void* a;
  const void* b;
  void* y;           // may equal a or b
  StorageType type;  // of a, b and y alike
  float alpha, beta;
  int64_t n;
};

void LaunchAdd(AddParams p, cudaStream_t stream);

}  // namespace gpen::kernels
