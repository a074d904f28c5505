// F.max_pool2d(x, k, stride, pad): torchvision resnet's maxpool (k 3, stride 2, pad 1)
// in RetinaFace's ResNet-50 backbone. Padded positions are -inf and never win; a NaN in
// the window is the result, as ATen's. CPU twin: cpu::MaxPool2d.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace gpen::kernels {

struct MaxPool2dParams {
  const void* x;  // (planes, H, W)
  void* y;        // (planes, Ho, Wo)
  StorageType type;
  int64_t planes, h, w, ho, wo;
  int k, stride, pad;
};

void LaunchMaxPool2d(MaxPool2dParams p, cudaStream_t stream);

}  // namespace gpen::kernels
