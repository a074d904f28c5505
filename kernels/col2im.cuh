// col2im for the stride-2 transposed convolution (cuBLAS path): gathers, for every
// output pixel, the column entries of one band of input rows that land on it, and adds
// them: y[o, 2*iy + ky, 2*ix + kx] += cols[(o, ky, kx), (iy - row0, ix)]. A gather, so
// no atomics. CPU twin: the col2im inside cpu::ConvTranspose2d.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace gpen::kernels {

struct Col2imParams {
  const float* cols;  // (Cout * k * k, rows * W), fp32 GEMM result
  void* y;            // (Cout, Ho, Wo) one sample, accumulated into
  StorageType type;
  int64_t cout, w, ho, wo;
  int k;
  int64_t row0, rows;  // input rows of this band
};

void LaunchCol2im(Col2imParams p, cudaStream_t stream);

}  // namespace gpen::kernels
