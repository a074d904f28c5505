// noise_concat: one thread per output element.
#include "core/noise.h"
#include "noise_concat.cuh"
#include "noise_index.cuh"

namespace gpen::kernels {

namespace {

template <typename T>
__global__ void NoiseConcatKernel(NoiseConcatParams p) {
  const T* x = static_cast<const T*>(p.x);
  const T* feat = static_cast<const T*>(p.feat);
  T* y = static_cast<T*>(p.y);
  const int64_t oc = p.concat ? 2 * p.c : p.c;
  const int64_t total = p.n * oc * p.hw;
  GPEN_GRID_STRIDE(i, total) {
    const int64_t pix = i % p.hw, ch = (i / p.hw) % oc, b = i / (p.hw * oc);
    const int64_t src = (b * p.c + ch % p.c) * p.hw + pix;
    const float nz = feat ? Load(feat, src) : HashNormal(p.seed, NoiseIndex(p, b, ch % p.c, pix));
    float v;
    if (!p.concat)
      v = Load(x, src) + p.weight * nz;
    else
      v = ch < p.c ? Load(x, src) : p.weight * nz;
    Store(y, i, v);
  }
}

}  // namespace

void LaunchNoiseConcat(NoiseConcatParams p, cudaStream_t stream) {
  const int64_t n = p.n * (p.concat ? 2 : 1) * p.c * p.hw;
  if (p.type == StorageType::kF16) {
    Launch(NoiseConcatKernel<__half>, GridFor(n, 256), 256, 0, stream, p);
  } else {
    Launch(NoiseConcatKernel<float>, GridFor(n, 256), 256, 0, stream, p);
  }
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace gpen::kernels
