// mask_window: one thread per element.
#include "mask_window.cuh"

namespace gpen::kernels {

namespace {
template <typename T>
__global__ void MaskWindowKernel(MaskWindowParams p) {
  const T* x = static_cast<const T*>(p.x);
  T* y = static_cast<T*>(p.y);
  const int64_t y0 = p.y0 + (p.origin ? static_cast<int64_t>(p.origin[0]) / p.div : 0);
  const int64_t x0 = p.x0 + (p.origin ? static_cast<int64_t>(p.origin[1]) / p.div : 0);
  GPEN_GRID_STRIDE(i, p.planes * p.h * p.w) {
    const int64_t c = i % p.w, r = (i / p.w) % p.h;
    const bool in = y0 + r >= 0 && y0 + r < p.full_h && x0 + c >= 0 && x0 + c < p.full_w;
    Store(y, i, in ? Load(x, i) : 0.f);
  }
}
}  // namespace

void LaunchMaskWindow(MaskWindowParams p, cudaStream_t stream) {
  const int64_t n = p.planes * p.h * p.w;
  if (p.type == StorageType::kF16) {
    Launch(MaskWindowKernel<__half>, GridFor(n, 256), 256, 0, stream, p);
  } else {
    Launch(MaskWindowKernel<float>, GridFor(n, 256), 256, 0, stream, p);
  }
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace gpen::kernels
