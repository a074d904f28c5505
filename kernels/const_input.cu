// const_input: one thread per output element.
#include "const_input.cuh"

namespace gpen::kernels {

namespace {
template <typename T>
__global__ void ConstInputKernel(ConstInputParams p) {
  T* y = static_cast<T*>(p.y);
  GPEN_GRID_STRIDE(i, p.per_sample * p.batch) {
    Store(y, i, p.param[i % p.per_sample]);
  }
}
}  // namespace

void LaunchConstInput(ConstInputParams p, cudaStream_t stream) {
  const int64_t n = p.per_sample * p.batch;
  if (p.type == StorageType::kF16) {
    Launch(ConstInputKernel<__half>, GridFor(n, 256), 256, 0, stream, p);
  } else {
    Launch(ConstInputKernel<float>, GridFor(n, 256), 256, 0, stream, p);
  }
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace gpen::kernels
