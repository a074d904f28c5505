// im2col: one thread per column element.
#include "im2col.cuh"

namespace gpen::kernels {

namespace {
template <typename T>
__global__ void Im2colKernel(Im2colParams p) {
  const T* x = static_cast<const T*>(p.x);
  T* cols = static_cast<T*>(p.cols);
  const int64_t ncol = p.rows * p.wo;
  const int64_t total = p.cin * p.k * p.k * ncol;
  GPEN_GRID_STRIDE(i, total) {
    const int64_t col = i % ncol, row = i / ncol;
    const int64_t kx = row % p.k, ky = (row / p.k) % p.k, c = row / (p.k * p.k);
    const int64_t oy = p.row0 + col / p.wo, ox = col % p.wo;
    const int64_t iy = oy * p.stride - p.pad + ky, ix = ox * p.stride - p.pad + kx;
    const bool in = iy >= 0 && iy < p.h && ix >= 0 && ix < p.w;
    Store(cols, i, in ? Load(x, (c * p.h + iy) * p.w + ix) : 0.f);
  }
}
}  // namespace

void LaunchIm2col(Im2colParams p, cudaStream_t stream) {
  const int64_t n = p.cin * p.k * p.k * p.rows * p.wo;
  if (p.type == StorageType::kF16) {
    Launch(Im2colKernel<__half>, GridFor(n, 256), 256, 0, stream, p);
  } else {
    Launch(Im2colKernel<float>, GridFor(n, 256), 256, 0, stream, p);
  }
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace gpen::kernels
