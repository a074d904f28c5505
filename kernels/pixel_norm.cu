// pixel_norm: one block per sample, shared-memory reduction.
#include "common.cuh"
#include "pixel_norm.cuh"

namespace gpen::kernels {

namespace {
__global__ void PixelNormKernel(PixelNormParams p) {
  GPEN_SHARED(float, part, 256);
  const int64_t b = blockIdx.x;
  float acc = 0.f;
  for (int64_t i = threadIdx.x; i < p.c; i += blockDim.x) {
    const float v = p.x[b * p.c + i];
    acc += v * v;
  }
  part[threadIdx.x] = acc;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
    __syncthreads();
  }
  const float r = rsqrtf(part[0] / static_cast<float>(p.c) + 1e-8f);
  for (int64_t i = threadIdx.x; i < p.c; i += blockDim.x) p.y[b * p.c + i] = p.x[b * p.c + i] * r;
}
}  // namespace

void LaunchPixelNorm(PixelNormParams p, cudaStream_t stream) {
  Launch(PixelNormKernel, static_cast<unsigned>(p.n), 256, 0, stream, p);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace gpen::kernels
