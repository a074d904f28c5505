// depthwise_conv2d: one thread per output element, the k x k window of its channel.
#include "depthwise_conv2d.cuh"

namespace gpen::kernels {

namespace {
template <typename T>
__global__ void DepthwiseConv2dKernel(DepthwiseConv2dParams p) {
  const T* x = static_cast<const T*>(p.x);
  const T* w = static_cast<const T*>(p.w);
  T* y = static_cast<T*>(p.y);
  GPEN_GRID_STRIDE(i, p.n * p.c * p.ho * p.wo) {
    const int64_t ox = i % p.wo, oy = (i / p.wo) % p.ho, plane = i / (p.wo * p.ho);
    const T* xp = x + plane * p.h * p.w_in;
    const T* wp = w + (plane % p.c) * p.k * p.k;
    float acc = 0.f;
    for (int ky = 0; ky < p.k; ++ky) {
      const int64_t iy = oy * p.stride - p.pad + ky;
      if (iy < 0 || iy >= p.h) continue;
      for (int kx = 0; kx < p.k; ++kx) {
        const int64_t ix = ox * p.stride - p.pad + kx;
        if (ix >= 0 && ix < p.w_in) acc += Load(wp, ky * p.k + kx) * Load(xp, iy * p.w_in + ix);
      }
    }
    Store(y, i, acc * p.scale);
  }
}
}  // namespace

void LaunchDepthwiseConv2d(DepthwiseConv2dParams p, cudaStream_t stream) {
  const int64_t n = p.n * p.c * p.ho * p.wo;
  if (p.type == StorageType::kF16) {
    Launch(DepthwiseConv2dKernel<__half>, GridFor(n, 256), 256, 0, stream, p);
  } else {
    Launch(DepthwiseConv2dKernel<float>, GridFor(n, 256), 256, 0, stream, p);
  }
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace gpen::kernels
