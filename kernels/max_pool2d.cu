// max_pool2d: one thread per output element, the max over its window's valid positions.
#include <cmath>

#include "max_pool2d.cuh"

namespace gpen::kernels {

namespace {
template <typename T>
__global__ void MaxPool2dKernel(MaxPool2dParams p) {
  const T* x = static_cast<const T*>(p.x);
  T* y = static_cast<T*>(p.y);
  GPEN_GRID_STRIDE(i, p.planes * p.ho * p.wo) {
    const int64_t ox = i % p.wo, oy = (i / p.wo) % p.ho, plane = i / (p.wo * p.ho);
    const int64_t y0 = oy * p.stride - p.pad, x0 = ox * p.stride - p.pad;
    float m = -INFINITY;
    for (int64_t iy = y0; iy < y0 + p.k; ++iy) {
      if (iy < 0 || iy >= p.h) continue;
      for (int64_t ix = x0; ix < x0 + p.k; ++ix) {
        if (ix < 0 || ix >= p.w) continue;
        const float v = Load(x, (plane * p.h + iy) * p.w + ix);
        if (v > m || v != v) m = v;  // v != v: NaN propagates
      }
    }
    Store(y, i, m);
  }
}
}  // namespace

void LaunchMaxPool2d(MaxPool2dParams p, cudaStream_t stream) {
  const int64_t n = p.planes * p.ho * p.wo;
  if (p.type == StorageType::kF16) {
    Launch(MaxPool2dKernel<__half>, GridFor(n, 256), 256, 0, stream, p);
  } else {
    Launch(MaxPool2dKernel<float>, GridFor(n, 256), 256, 0, stream, p);
  }
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace gpen::kernels
