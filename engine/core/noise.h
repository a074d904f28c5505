// Counter-based N(0, 1) noise: the same value for (seed, index) on every backend.
//
// Upstream FullGenerator_SR draws torch.randn noise for the generator levels above
// the encoder's resolution. No implementation can reproduce torch's generator, so
// we draw our own, deterministically: splitmix64 of (seed, index) gives two
// uniforms, Box-Muller gives the normal. The CUDA backend includes this header.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define GPEN_HD __host__ __device__ inline
#else
#define GPEN_HD inline
#endif

namespace gpen {

GPEN_HD uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

GPEN_HD float HashNormal(uint64_t seed, uint64_t index) {
  const uint64_t r = SplitMix64(seed ^ SplitMix64(index));
  // 24-bit uniforms in (0, 1].
  const float u1 = (static_cast<float>(r >> 40) + 1.f) * (1.f / 16777216.f);
  const float u2 = static_cast<float>((r >> 16) & 0xFFFFFFull) * (1.f / 16777216.f);
  return sqrtf(-2.f * logf(u1)) * cosf(6.28318530717958647692f * u2);
}

}  // namespace gpen
