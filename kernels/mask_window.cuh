// Tiled generation: zero the positions of a window that lie outside the untiled image,
// which is what the untiled graph's zero padding means. CPU twin: cpu::MaskWindow.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace gpen::kernels {

struct MaskWindowParams {
  const void* x;  // (planes, H, W), may equal y
  void* y;
  StorageType type;
  int64_t planes, h, w;
  int64_t y0, x0;       // static part of the window origin
  const float* origin;  // (2) runtime tile origin, or null; adds origin / div
  int div;
  int64_t full_h, full_w;
};

void LaunchMaskWindow(MaskWindowParams p, cudaStream_t stream);

}  // namespace gpen::kernels
