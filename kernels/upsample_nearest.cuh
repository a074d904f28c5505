// F.interpolate(x, scale_factor=f, mode='nearest'): y[n, c, h, w] = x[n, c, h / f, w / f],
// (planes, H, W) -> (planes, H * f, W * f); RRDBNet's upsampling. CPU twin:
// cpu::UpsampleNearest. And F.interpolate(x, size=(Ho, Wo), mode='nearest'), RetinaFace's
// FPN: source index as torch's nearest_idx (cpu::NearestSource). CPU twin:
// cpu::UpsampleNearestTo.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace gpen::kernels {

struct UpsampleNearestParams {
  const void* x;  // (planes, H, W)
  void* y;        // (planes, H * f, W * f)
  StorageType type;
  int64_t planes, h, w;
  int f;
};

void LaunchUpsampleNearest(UpsampleNearestParams p, cudaStream_t stream);

struct UpsampleNearestToParams {
  const void* x;  // (planes, H, W)
  void* y;        // (planes, Ho, Wo)
  StorageType type;
  int64_t planes, h, w, ho, wo;
};

void LaunchUpsampleNearestTo(UpsampleNearestToParams p, cudaStream_t stream);

}  // namespace gpen::kernels
