// add: element-wise, one thread per element.
#include "add.cuh"

namespace gpen::kernels {

namespace {
template <typename T>
__global__ void AddKernel(AddParams p) {
  const T* a = static_cast<const T*>(p.a);
  const T* b = static_cast<const T*>(p.b);
  T* y = static_cast<T*>(p.y);
  GPEN_GRID_STRIDE(i, p.n) {
    Store(y, i, p.alpha * Load(a, i) + p.beta * Load(b, i));
  }
}
}  // namespace

void LaunchAdd(AddParams p, cudaStream_t stream) {
  if (p.type == StorageType::kF16) {
    Launch(AddKernel<__half>, GridFor(p.n, 256), 256, 0, stream, p);
  } else {
    Launch(AddKernel<float>, GridFor(p.n, 256), 256, 0, stream, p);
  }
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace gpen::kernels
