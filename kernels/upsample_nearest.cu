// upsample_nearest: one thread per output element.
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

}  // namespace gpen::kernels
