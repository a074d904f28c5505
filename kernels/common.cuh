// Shared by every kernel: CUDA_CHECK, the storage type tag, and float/half loads and
// stores. Stores to half saturate at +-65504 instead of overflowing to inf, so an
// out-of-range activation degrades gracefully instead of turning the image black.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/check.h"

// Driver/runtime errors are programmer errors here (bad launch, bad pointer); user
// errors such as out-of-memory are checked explicitly by the backend and returned.
#define CUDA_CHECK(expr)                                                         \
  do {                                                                           \
    const cudaError_t gpen_cuda_err_ = (expr);                                   \
    if (gpen_cuda_err_ != cudaSuccess)                                           \
      ::gpen::FailCheck(#expr, __FILE__, __LINE__, cudaGetErrorString(gpen_cuda_err_)); \
  } while (0)

namespace gpen::kernels {

enum class StorageType { kF32, kF16 };

inline unsigned GridFor(int64_t n, unsigned block) {
  const int64_t g = (n + block - 1) / block;
  return static_cast<unsigned>(g < 65535 * 32 ? (g < 1 ? 1 : g) : 65535 * 32);
}

__device__ __forceinline__ float Load(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float Load(const __half* p, int64_t i) { return __half2float(p[i]); }
__device__ __forceinline__ void Store(float* p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void Store(__half* p, int64_t i, float v) {
  p[i] = __float2half_rn(fminf(fmaxf(v, -65504.f), 65504.f));
}

__device__ __forceinline__ float LeakyReluSqrt2(float v) {
  return (v >= 0.f ? v : 0.2f * v) * 1.41421356237309504880f;
}

// Grid-stride loop: the tail guard for any element count.
#define GPEN_GRID_STRIDE(i, n)                                                    \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

}  // namespace gpen::kernels
