// col2im: one thread per output element of the rows this band touches.
#include "col2im.cuh"

namespace gpen::kernels {

namespace {
template <typename T>
__global__ void Col2imKernel(Col2imParams p) {
  T* y = static_cast<T*>(p.y);
  const int64_t y0 = 2 * p.row0, y1 = 2 * (p.row0 + p.rows - 1) + p.k;  // rows touched
  const int64_t span = y1 - y0;
  const int64_t total = p.cout * span * p.wo;
  const int64_t ncol = p.rows * p.w;
  GPEN_GRID_STRIDE(i, total) {
    const int64_t ox = i % p.wo, oy = y0 + (i / p.wo) % span, o = i / (p.wo * span);
    float acc = 0.f;
    for (int ky = 0; ky < p.k; ++ky) {
      const int64_t t = oy - ky;
      if (t < 0 || (t & 1)) continue;
      const int64_t iy = t / 2 - p.row0;
      if (iy < 0 || iy >= p.rows) continue;
      for (int kx = 0; kx < p.k; ++kx) {
        const int64_t u = ox - kx;
        if (u < 0 || (u & 1) || u / 2 >= p.w) continue;
        acc += p.cols[((o * p.k + ky) * p.k + kx) * ncol + iy * p.w + u / 2];
      }
    }
    const int64_t idx = (o * p.ho + oy) * p.wo + ox;
    Store(y, idx, Load(y, idx) + acc);
  }
}
}  // namespace

void LaunchCol2im(Col2imParams p, cudaStream_t stream) {
  const int64_t span = 2 * (p.rows - 1) + p.k;
  const int64_t n = p.cout * span * p.wo;
  if (p.type == StorageType::kF16) {
    Launch(Col2imKernel<__half>, GridFor(n, 256), 256, 0, stream, p);
  } else {
    Launch(Col2imKernel<float>, GridFor(n, 256), 256, 0, stream, p);
  }
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace gpen::kernels
