// upsample_nearest: one thread per output element.
#include <cmath>

#include "upsample_nearest.cuh"

namespace gpen::kernels {

namespace {
template <typename T>
__global__ void UpsampleNearestKernel(UpsampleNearestParams p) {
  const T* x = static_cast<const T*>(p.x);
  T* y = static_cast<T*>(p.y);
  const int64_t ho = p.h * p.f, wo = p.w * p.f;
  GPEN_GRID_STRIDE(i, p.planes * ho * wo) {
    const int64_t c = i % wo, r = (i / wo) % ho, plane = i / (wo * ho);
    y[i] = x[(plane * p.h + r / p.f) * p.w + c / p.f];
  }
}

// ATen's nearest_idx: exact at equal and doubled sizes, else floor(dst * (float)in / out)
// in float, clamped to the last row or column.
__device__ __forceinline__ int64_t NearestSource(int64_t dst, int64_t in, int64_t out) {
  if (out == in) return dst;
  if (out == 2 * in) return dst >> 1;
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  const int64_t src = static_cast<int64_t>(floorf(static_cast<float>(dst) * scale));
  return src < in - 1 ? src : in - 1;
}

template <typename T>
__global__ void UpsampleNearestToKernel(UpsampleNearestToParams p) {
  const T* x = static_cast<const T*>(p.x);
  T* y = static_cast<T*>(p.y);
  GPEN_GRID_STRIDE(i, p.planes * p.ho * p.wo) {
    const int64_t c = i % p.wo, r = (i / p.wo) % p.ho, plane = i / (p.wo * p.ho);
    y[i] = x[(plane * p.h + NearestSource(r, p.h, p.ho)) * p.w + NearestSource(c, p.w, p.wo)];
  }
}
}  // namespace

void LaunchUpsampleNearest(UpsampleNearestParams p, cudaStream_t stream) {
  const int64_t n = p.planes * p.h * p.f * p.w * p.f;
  if (p.type == StorageType::kF16) {
    Launch(UpsampleNearestKernel<__half>, GridFor(n, 256), 256, 0, stream, p);
  } else {
    Launch(UpsampleNearestKernel<float>, GridFor(n, 256), 256, 0, stream, p);
  }
  CUDA_CHECK(cudaGetLastError());
}

void LaunchUpsampleNearestTo(UpsampleNearestToParams p, cudaStream_t stream) {
  const int64_t n = p.planes * p.ho * p.wo;
  if (p.type == StorageType::kF16) {
    Launch(UpsampleNearestToKernel<__half>, GridFor(n, 256), 256, 0, stream, p);
  } else {
    Launch(UpsampleNearestToKernel<float>, GridFor(n, 256), 256, 0, stream, p);
  }
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace gpen::kernels
