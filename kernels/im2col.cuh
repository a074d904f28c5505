// im2col for a band of output rows of one sample, for the cuBLAS convolution path
// (-DGPEN_CUDNN=OFF). CPU twin: the im2col inside cpu::Conv2d.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace gpen::kernels {

struct Im2colParams {
  const void* x;  // (Cin, H, W) one sample
  void* cols;     // (Cin * k * k, rows * Wo)
  StorageType type;
  int64_t cin, h, w, wo;
  int k, stride, pad;
  int64_t row0, rows;  // output rows [row0, row0 + rows)
};

void LaunchIm2col(Im2colParams p, cudaStream_t stream);

}  // namespace gpen::kernels
