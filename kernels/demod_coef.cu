// demod_coef: one warp per (n, o), lanes split the Cin reduction; fp32 throughout.
#include "common.cuh"
#include "demod_coef.cuh"

namespace gpen::kernels {

namespace {

__global__ void DemodCoefKernel(DemodCoefParams p) {
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= p.n * p.cout) return;  // tail guard (whole warps exit together)
  const int64_t b = warp / p.cout, o = warp % p.cout;
  float acc = 0.f;
  for (int64_t i = lane; i < p.cin; i += 32) {
    const float sv = p.s[b * p.cin + i];
    acc += sv * sv * p.wsq[o * p.cin + i];
  }
  for (int off = 16; off > 0; off /= 2) acc += __shfl_down_sync(0xffffffffu, acc, off);
  if (lane == 0) p.d[warp] = rsqrtf(p.scale * p.scale * acc + 1e-8f);
}

}  // namespace

void LaunchDemodCoef(DemodCoefParams p, cudaStream_t stream) {
  const int64_t threads = p.n * p.cout * 32;
  // One warp per output and no grid-stride loop: the grid must cover every warp.
  GPEN_CHECK(static_cast<int64_t>(GridFor(threads, 256)) * 256 >= threads);
  Launch(DemodCoefKernel, GridFor(threads, 256), 256, 0, stream, p);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace gpen::kernels
