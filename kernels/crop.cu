// crop: one thread per output element.
#include "crop.cuh"

namespace gpen::kernels {

namespace {
template <typename T>
__global__ void CropKernel(CropParams p) {
  const T* x = static_cast<const T*>(p.x);
  T* y = static_cast<T*>(p.y);
  GPEN_GRID_STRIDE(i, p.planes * p.ho * p.wo) {
    const int64_t c = i % p.wo, r = (i / p.wo) % p.ho, plane = i / (p.wo * p.ho);
    y[i] = x[(plane * p.h + p.y0 + r) * p.w + p.x0 + c];
  }
}
}  // namespace

void LaunchCrop(CropParams p, cudaStream_t stream) {
  const int64_t n = p.planes * p.ho * p.wo;
  if (p.type == StorageType::kF16) {
    Launch(CropKernel<__half>, GridFor(n, 256), 256, 0, stream, p);
  } else {
    Launch(CropKernel<float>, GridFor(n, 256), 256, 0, stream, p);
  }
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace gpen::kernels
