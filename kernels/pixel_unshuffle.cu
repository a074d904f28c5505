// pixel_unshuffle: one thread per output element.
#include "pixel_unshuffle.cuh"

namespace gpen::kernels {

namespace {
template <typename T>
__global__ void PixelUnshuffleKernel(PixelUnshuffleParams p) {
  const T* x = static_cast<const T*>(p.x);
  T* y = static_cast<T*>(p.y);
  const int64_t ff = static_cast<int64_t>(p.f) * p.f, wi = p.w * p.f;
  GPEN_GRID_STRIDE(i, p.planes * ff * p.h * p.w) {
    const int64_t c = i % p.w, r = (i / p.w) % p.h, oc = i / (p.w * p.h);  // (N * C * f * f)
    const int64_t plane = oc / ff, di = (oc % ff) / p.f, dj = oc % p.f;
    y[i] = x[(plane * p.h * p.f + r * p.f + di) * wi + c * p.f + dj];
  }
}
}  // namespace

void LaunchPixelUnshuffle(PixelUnshuffleParams p, cudaStream_t stream) {
  const int64_t n = p.planes * p.f * p.f * p.h * p.w;
  if (p.type == StorageType::kF16) {
    Launch(PixelUnshuffleKernel<__half>, GridFor(n, 256), 256, 0, stream, p);
  } else {
    Launch(PixelUnshuffleKernel<float>, GridFor(n, 256), 256, 0, stream, p);
  }
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace gpen::kernels
