// ToRGB's convolution: a modulated 1x1 convolution without demodulation, computed per
// sample as out[n, o, p] = sum_i (scale * W[o, i] * s[n, i]) * x[n, i, p] with fp32
// accumulation and fp32 output (the RGB skip path stays fp32). Replaces
// ScaleChannels -> Conv2d(1x1); tested against that chain of CPU ops.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace gpen::kernels {

struct ModConv1x1Params {
  const void* x;  // (N, Cin, HW)
  StorageType x_type;
  const float* s;  // (N, Cin)
  const float* w;  // (Cout, Cin), fp32
  float scale;
  float* out;  // (N, Cout, HW), fp32
  int64_t n, cin, cout, hw;
};

void LaunchModConv1x1(ModConv1x1Params p, cudaStream_t stream);

}  // namespace gpen::kernels
