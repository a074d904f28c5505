// style_scatter: one block per (slice, sample); a max-reduction when normalizing.
#include "common.cuh"
#include "style_scatter.cuh"

namespace gpen::kernels {

namespace {
__global__ void StyleScatterKernel(StyleScatterParams p) {
  GPEN_SHARED(float, part, 256);
  const StyleSlice sl = p.slices[blockIdx.x];
  const int64_t b = blockIdx.y;
  const float* row = p.all + b * p.total + sl.offset;
  const float* bias = p.bias + sl.offset;
  float m = 0.f;
  for (int64_t i = threadIdx.x; i < sl.count; i += blockDim.x)
    m = fmaxf(m, fabsf(row[i] + bias[i] * p.bias_scale));
  part[threadIdx.x] = m;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) part[threadIdx.x] = fmaxf(part[threadIdx.x], part[threadIdx.x + s]);
    __syncthreads();
  }
  const float inv = (sl.normalize && part[0] > 0.f) ? 1.f / part[0] : 1.f;
  for (int64_t i = threadIdx.x; i < sl.count; i += blockDim.x)
    sl.dst[b * sl.count + i] = (row[i] + bias[i] * p.bias_scale) * inv;
}
}  // namespace

void LaunchStyleScatter(StyleScatterParams p, cudaStream_t stream) {
  if (p.num_slices == 0) return;
  const dim3 grid(static_cast<unsigned>(p.num_slices), static_cast<unsigned>(p.n));
  Launch(StyleScatterKernel, grid, 256, 0, stream, p);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace gpen::kernels
