// A window of every plane, y = x[:, :, y0 : y0 + Ho, x0 : x0 + Wo]: cuts halos and
// aligns windows in tiled generation. CPU twin: cpu::Crop.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace gpen::kernels {

struct CropParams {
  const void* x;  // (planes, H, W)
  void* y;        // (planes, Ho, Wo)
  StorageType type;
  int64_t planes, h, w, ho, wo, y0, x0;
};

void LaunchCrop(CropParams p, cudaStream_t stream);

}  // namespace gpen::kernels
