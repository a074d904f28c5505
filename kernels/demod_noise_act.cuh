// The StyledConv epilogue in one pass: demodulate the convolution output, concatenate
// the (weighted) encoder feature as extra channels, add the bias, the activation (GPEN:
// leaky ReLU x sqrt(2)).
// Replaces ScaleChannels -> NoiseConcat -> BiasAct (upstream StyledConv.forward after
// the convolution); tested against that chain of CPU ops.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace gpen::kernels {

struct DemodNoiseActParams {
  const void* y;     // (N, C, HW) raw convolution output
  const float* d;    // (N, C) demodulation
  const void* feat;  // (N, C, HW) encoder feature, or null for seeded N(0, 1) noise
  uint64_t seed;
  // Seeded noise of a window: origin (y0, x0) in the untiled (N, C, full_h, full_w)
  // tensor whose flat index seeds each value (full_h == 0: the tensor is untiled).
  int64_t y0, x0, full_h, full_w;
  const float* origin;  // (2) runtime tile origin, or null; adds origin / div to (y0, x0)
  int div;
  float noise_weight;
  bool concat;        // isconcat: output (N, 2C, HW); else y + w * noise, (N, C, HW)
  const float* bias;  // (2C) or (C), or null: no bias
  float bias_scale;
  Activation act;
  void* out;
  StorageType type;
  int64_t n, c, hw;
  int64_t w;  // width of the tensor (hw / w rows)
};

void LaunchDemodNoiseAct(DemodNoiseActParams p, cudaStream_t stream);

}  // namespace gpen::kernels
