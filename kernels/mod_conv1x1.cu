// mod_conv1x1: the per-sample modulated weights (Cout x Cin, at most 4 x 1024 here) sit
// in shared memory; each thread produces every output channel of one pixel, reading x
// once, coalesced along the pixel axis.
#include <algorithm>

#include "mod_conv1x1.cuh"

namespace gpen::kernels {

namespace {

constexpr int kMaxOut = 4;

template <typename T>
__global__ void ModConv1x1Kernel(ModConv1x1Params p) {
  GPEN_DYNAMIC_SHARED(float, wmod);  // (Cout, Cin) for sample blockIdx.y
  const int64_t b = blockIdx.y;
  for (int64_t k = threadIdx.x; k < p.cout * p.cin; k += blockDim.x) {
    wmod[k] = p.scale * p.w[k] * p.s[b * p.cin + (k % p.cin)];
  }
  __syncthreads();
  const T* x = static_cast<const T*>(p.x) + b * p.cin * p.hw;
  float* out = p.out + b * p.cout * p.hw;
  for (int64_t px = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; px < p.hw;
       px += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float acc[kMaxOut] = {0.f, 0.f, 0.f, 0.f};
    for (int64_t i = 0; i < p.cin; ++i) {
      const float xv = Load(x, i * p.hw + px);
      for (int o = 0; o < kMaxOut; ++o)
        if (o < p.cout) acc[o] += wmod[o * p.cin + i] * xv;
    }
    for (int o = 0; o < kMaxOut; ++o)
      if (o < p.cout) out[o * p.hw + px] = acc[o];
  }
}

}  // namespace

void LaunchModConv1x1(ModConv1x1Params p, cudaStream_t stream) {
  GPEN_CHECK_MSG(p.cout <= kMaxOut, "mod_conv1x1 handles at most " << kMaxOut << " outputs");
  const size_t smem = static_cast<size_t>(p.cout * p.cin) * sizeof(float);
  GPEN_CHECK(smem <= 48 * 1024);
  const dim3 grid(
      static_cast<unsigned>(std::min<int64_t>({(p.hw + 255) / 256, 4096, MaxGridBlocks()})),
      static_cast<unsigned>(p.n));
  if (p.x_type == StorageType::kF16) {
    Launch(ModConv1x1Kernel<__half>, grid, 256, smem, stream, p);
  } else {
    Launch(ModConv1x1Kernel<float>, grid, 256, smem, stream, p);
  }
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace gpen::kernels
