// scale_channels: element-wise with a per-plane factor.
#include "scale_channels.cuh"

namespace gpen::kernels {

namespace {

template <typename T>
__global__ void ScaleChannelsKernel(ScaleChannelsParams p) {
  const T* x = static_cast<const T*>(p.x);
  T* y = static_cast<T*>(p.y);
  const int64_t total = p.planes * p.hw;
  GPEN_GRID_STRIDE(i, total) {
    Store(y, i, Load(x, i) * p.s[i / p.hw]);
  }
}

}  // namespace

void LaunchScaleChannels(ScaleChannelsParams p, cudaStream_t stream) {
  const int64_t n = p.planes * p.hw;
  if (p.type == StorageType::kF16) {
    Launch(ScaleChannelsKernel<__half>, GridFor(n, 256), 256, 0, stream, p);
  } else {
    Launch(ScaleChannelsKernel<float>, GridFor(n, 256), 256, 0, stream, p);
  }
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace gpen::kernels
