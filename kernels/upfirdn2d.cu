// upfirdn2d: one thread per output sample, taps from the parameter block.
#include "upfirdn2d.cuh"

namespace gpen::kernels {

namespace {

template <typename T>
__global__ void Upfirdn2dKernel(Upfirdn2dParams p) {
  const T* x = static_cast<const T*>(p.x);
  T* y = static_cast<T*>(p.y);
  const int64_t total = p.planes * p.ho * p.wo;
  GPEN_GRID_STRIDE(i, total) {
    const int64_t ox = i % p.wo;
    const int64_t oy = (i / p.wo) % p.ho;
    const int64_t plane = i / (p.wo * p.ho);
    const T* xp = x + plane * p.h * p.w;
    float acc = 0.f;
    for (int a = 0; a < p.kh; ++a) {
      const int64_t v = oy * p.down + a - p.pad0;  // row in the zero-inserted image
      if (v < 0 || v % p.up != 0 || v / p.up >= p.h) continue;
      for (int b = 0; b < p.kw; ++b) {
        const int64_t u = ox * p.down + b - p.pad0;
        if (u < 0 || u % p.up != 0 || u / p.up >= p.w) continue;
        acc += Load(xp, (v / p.up) * p.w + u / p.up) *
               p.kernel[(p.kh - 1 - a) * p.kw + (p.kw - 1 - b)];
      }
    }
    Store(y, i, acc);
  }
}

}  // namespace

void LaunchUpfirdn2d(Upfirdn2dParams p, cudaStream_t stream) {
  GPEN_CHECK(p.kh * p.kw <= 64 && p.up >= 1 && p.down >= 1);
  const int64_t n = p.planes * p.ho * p.wo;
  if (p.type == StorageType::kF16) {
    Launch(Upfirdn2dKernel<__half>, GridFor(n, 256), 256, 0, stream, p);
  } else {
    Launch(Upfirdn2dKernel<float>, GridFor(n, 256), 256, 0, stream, p);
  }
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace gpen::kernels
