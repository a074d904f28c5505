// concat: one thread per output element of the launch's channel range; each thread finds
// its input by scanning at most kConcatMaxInputs channel counts.
#include "concat.cuh"

namespace gpen::kernels {

namespace {
template <typename T>
__global__ void ConcatKernel(ConcatParams p) {
  int64_t cg = 0;  // channels this launch writes
  for (int j = 0; j < p.count; ++j) cg += p.c[j];
  T* y = static_cast<T*>(p.y);
  GPEN_GRID_STRIDE(i, p.n * cg * p.hw) {
    const int64_t pix = i % p.hw, b = i / (cg * p.hw);
    int64_t ch = (i / p.hw) % cg;  // channel within this launch's range
    const int64_t out = (b * p.c_total + p.c0 + ch) * p.hw + pix;
    int j = 0;
    while (ch >= p.c[j]) ch -= p.c[j++];
    y[out] = static_cast<const T*>(p.x[j])[(b * p.c[j] + ch) * p.hw + pix];
  }
}
}  // namespace

void LaunchConcat(const void* const* x, const int64_t* c, int count, void* y, StorageType type,
                  int64_t n, int64_t hw, cudaStream_t stream) {
  ConcatParams p{};
  p.y = y;
  p.type = type;
  p.n = n;
  p.hw = hw;
  for (int j = 0; j < count; ++j) p.c_total += c[j];
  for (int j0 = 0; j0 < count; j0 += kConcatMaxInputs) {
    p.count = count - j0 < kConcatMaxInputs ? count - j0 : kConcatMaxInputs;
    int64_t cg = 0;
    for (int j = 0; j < p.count; ++j) {
      p.x[j] = x[j0 + j];
      p.c[j] = c[j0 + j];
      cg += c[j0 + j];
    }
    const int64_t total = n * cg * hw;
    if (type == StorageType::kF16) {
      Launch(ConcatKernel<__half>, GridFor(total, 256), 256, 0, stream, p);
    } else {
      Launch(ConcatKernel<float>, GridFor(total, 256), 256, 0, stream, p);
    }
    CUDA_CHECK(cudaGetLastError());
    p.c0 += cg;
  }
}

}  // namespace gpen::kernels
