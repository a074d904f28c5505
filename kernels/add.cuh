// y = a + b in fp32: the ToRGB skip sum. CPU twin: cpu::Add.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace gpen::kernels {

struct AddParams {
  const float* a;
  const float* b;
  float* y;  // may equal a or b
  int64_t n;
};

void LaunchAdd(AddParams p, cudaStream_t stream);

}  // namespace gpen::kernels
