// demod_noise_act: one thread per output element of the (N, 2C, HW) result.
#include "core/noise.h"
#include "demod_noise_act.cuh"
#include "noise_index.cuh"

namespace gpen::kernels {

namespace {

template <typename T>
__global__ void DemodNoiseActKernel(DemodNoiseActParams p) {
  const T* y = static_cast<const T*>(p.y);
  const T* feat = static_cast<const T*>(p.feat);
  T* out = static_cast<T*>(p.out);
  const int64_t oc = p.concat ? 2 * p.c : p.c;
  const int64_t total = p.n * oc * p.hw;
  GPEN_GRID_STRIDE(i, total) {
    const int64_t pix = i % p.hw;
    const int64_t ch = (i / p.hw) % oc;
    const int64_t b = i / (p.hw * oc);
    const int64_t src = (b * p.c + (ch % p.c)) * p.hw + pix;  // index into (N, C, HW)
    auto noise = [&]() {
      return feat ? Load(feat, src) : HashNormal(p.seed, NoiseIndex(p, b, ch % p.c, pix));
    };
    float v;
    if (ch < p.c) {
      v = Load(y, src) * p.d[b * p.c + ch];
      if (!p.concat) v += p.noise_weight * noise();
    } else {
      v = p.noise_weight * noise();
    }
    if (p.bias) v += p.bias[ch] * p.bias_scale;
    Store(out, i, p.act.Apply(v));
  }
}

}  // namespace

void LaunchDemodNoiseAct(DemodNoiseActParams p, cudaStream_t stream) {
  const int64_t n = p.n * (p.concat ? 2 : 1) * p.c * p.hw;
  if (p.type == StorageType::kF16) {
    Launch(DemodNoiseActKernel<__half>, GridFor(n, 256), 256, 0, stream, p);
  } else {
    Launch(DemodNoiseActKernel<float>, GridFor(n, 256), 256, 0, stream, p);
  }
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace gpen::kernels
