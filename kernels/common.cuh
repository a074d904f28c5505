// Shared by every kernel: CUDA_CHECK, the launch helper, shared-memory declarations,
// the storage type tag, float/half loads and stores, and the activation (Activation,
// graph/activation.h). Stores to half saturate at +-65504 instead of overflowing to inf, so
// an out-of-range activation degrades gracefully instead of turning the image black; NaN
// stays NaN, so that the finiteness checks downstream still see it.
//
// Every kernel launches through Launch() and declares shared memory through
// GPEN_SHARED / GPEN_DYNAMIC_SHARED, never with <<<>>> or __shared__ directly: under
// nvcc they are exactly those, and with -DGPEN_CUDASIM=ON the same sources compile with
// g++ against the CPU emulator in tests/cudasim, which runs each CUDA thread as a fiber.
// (tests/check_kernel_sources.sh enforces the rule.)
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <utility>

#include "core/check.h"
#include "graph/activation.h"

// Driver/runtime errors are programmer errors here (bad launch, bad pointer); user
// errors such as out-of-memory are checked explicitly by the backend and returned.
#define CUDA_CHECK(expr)                                                                \
  do {                                                                                  \
    const cudaError_t gpen_cuda_err_ = (expr);                                          \
    if (gpen_cuda_err_ != cudaSuccess)                                                  \
      ::gpen::FailCheck(#expr, __FILE__, __LINE__, cudaGetErrorString(gpen_cuda_err_)); \
  } while (0)

namespace gpen::kernels {

enum class StorageType { kF32, kF16 };

// The grid-stride kernels' grid cap. Tests lower it so that small tensors take the
// loop's second pass; production never changes it.
inline unsigned& MaxGridBlocks() {
  static unsigned cap = 65535u * 32u;
  return cap;
}

inline unsigned GridFor(int64_t n, unsigned block) {
  const int64_t g = (n + block - 1) / block;
  const int64_t cap = MaxGridBlocks();
  return static_cast<unsigned>(g < cap ? (g < 1 ? 1 : g) : cap);
}

#if defined(GPEN_CUDASIM)
// CPU emulator: the launch site's file and line travel with the grid, for messages.
template <typename... P, typename... A>
inline void Launch(void (*kernel)(P...), ::cudasim::GridArg grid, dim3 block, size_t smem,
                   cudaStream_t stream, A&&... args) {
  ::cudasim::Launch(kernel, grid, block, smem, stream, std::forward<A>(args)...);
}
#define GPEN_SHARED(T, name, n) GPEN_SIM_STATIC_SHARED(T, name, n)
#define GPEN_DYNAMIC_SHARED(T, name) GPEN_SIM_DYNAMIC_SHARED(T, name)
#elif defined(__CUDACC__)
template <typename... P, typename... A>
inline void Launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                   A&&... args) {
  // clang-format off
  kernel<<<grid, block, smem, stream>>>(std::forward<A>(args)...);
  // clang-format on
}
#define GPEN_SHARED(T, name, n) __shared__ T name[n]
#define GPEN_DYNAMIC_SHARED(T, name) extern __shared__ T name[]
#endif

__device__ __forceinline__ float Load(const float* p, int64_t i) {
  return p[i];
}
__device__ __forceinline__ float Load(const __half* p, int64_t i) {
  return __half2float(p[i]);
}
__device__ __forceinline__ void Store(float* p, int64_t i, float v) {
  p[i] = v;
}
// Comparisons, not fminf/fmaxf: those return the other operand for NaN.
__device__ __forceinline__ void Store(__half* p, int64_t i, float v) {
  p[i] = __float2half_rn(v > 65504.f ? 65504.f : (v < -65504.f ? -65504.f : v));
}

// Activations: graph/activation.h's Activation, passed by value in a kernel's params
// struct and applied with Activation::Apply, the same definition the CPU ops use.
using gpen::Activation;

// Grid-stride loop: the tail guard for any element count.
#define GPEN_GRID_STRIDE(i, n)                                                           \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

}  // namespace gpen::kernels
