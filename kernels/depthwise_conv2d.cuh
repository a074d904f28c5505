// Depthwise convolution, nn.Conv2d(C, C, k, stride, pad, groups=C, bias=False): each
// channel with its own (k, k) filter, times scale; MobileNetV1's conv_dw (RetinaFace).
// cuDNN and im2col + GEMM would spend a GEMM per channel on it; this is one thread per
// output element. The filter is stored like the activations (fp16 in fp16 mode), the sum
// is fp32. CPU twin: cpu::DepthwiseConv2d.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace gpen::kernels {

struct DepthwiseConv2dParams {
  const void* x;  // (N, C, H, W)
  const void* w;  // (C, 1, k, k), of `type`
  void* y;        // (N, C, Ho, Wo)
  StorageType type;
  int64_t n, c, h, w_in, ho, wo;
  int k, stride, pad;
  float scale;
};

void LaunchDepthwiseConv2d(DepthwiseConv2dParams p, cudaStream_t stream);

}  // namespace gpen::kernels
