// After the single GEMM that computes the modulation styles of every layer of a pass
// (N x total), add each layer's bias and copy its slice to the layer's style tensor.
// Slices that feed a demodulated convolution in fp16 are divided by their per-sample
// max |s| (NVIDIA's StyleGAN2 trick): demodulation cancels the factor exactly, and the
// fp16 convolution input x * s stays in range. CPU twin: cpu::Linear per layer.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace gpen::kernels {

struct StyleSlice {
  float* dst;      // (N, count)
  int64_t offset;  // first column in the GEMM result
  int64_t count;
  int normalize;  // divide by max |s| per sample
};

struct StyleScatterParams {
  const float* all;   // (N, total) GEMM result, already scaled
  const float* bias;  // (total), times bias_scale
  float bias_scale;
  const StyleSlice* slices;  // device array
  int64_t num_slices, n, total;
};

void LaunchStyleScatter(StyleScatterParams p, cudaStream_t stream);

}  // namespace gpen::kernels
