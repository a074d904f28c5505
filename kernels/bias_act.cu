// bias_act: element-wise, one thread per element.
#include "bias_act.cuh"

namespace gpen::kernels {

namespace {

template <typename TX, typename TY>
__global__ void BiasActKernel(BiasActParams p) {
  const TX* x = static_cast<const TX*>(p.x);
  TY* y = static_cast<TY*>(p.y);
  const int64_t total = p.n * p.c * p.hw;
  GPEN_GRID_STRIDE(i, total) {
    const float v = p.bias ? Load(x, i) + p.bias[(i / p.hw) % p.c] * p.bias_scale : Load(x, i);
    Store(y, i, p.act.Apply(v));
  }
}

}  // namespace

void LaunchBiasAct(BiasActParams p, cudaStream_t stream) {
  const int64_t n = p.n * p.c * p.hw;
  const unsigned g = GridFor(n, 256);
  const bool xh = p.x_type == StorageType::kF16, yh = p.y_type == StorageType::kF16;
  if (xh && yh)
    Launch(BiasActKernel<__half, __half>, g, 256, 0, stream, p);
  else if (xh)
    Launch(BiasActKernel<__half, float>, g, 256, 0, stream, p);
  else if (yh)
    Launch(BiasActKernel<float, __half>, g, 256, 0, stream, p);
  else
    Launch(BiasActKernel<float, float>, g, 256, 0, stream, p);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace gpen::kernels
