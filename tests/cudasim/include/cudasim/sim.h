// cudasim: the kernel side of our CUDA-on-CPU emulator (see tests/cudasim/README.md).
//
// Kernels compiled against this header run on the CPU. Each CUDA thread of a block
// is a fiber; blocks run one after another. threadIdx/blockIdx/blockDim/gridDim read
// the current fiber's coordinates; __syncthreads and the warp collectives switch
// fibers until every thread they name has arrived, and abort with a message when one
// never can (a divergent barrier, a shuffle naming an exited lane). __shared__
// memory is a fresh, poisoned (0xFF: NaN as float) heap block per CUDA block, so a
// read of shared memory no thread wrote shows, and ASan sees overruns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

struct uint3 {
  unsigned x, y, z;
};

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};

typedef struct CUstream_st* cudaStream_t;

namespace cudasim {

// Where a kernel was launched, for messages. The converting constructors take the
// call site's file and line as default arguments (evaluated at the launch).
struct GridArg {
  dim3 dim;
  const char* file;
  int line;
  GridArg(dim3 d, const char* f = __builtin_FILE(), int l = __builtin_LINE())
      : dim(d), file(f), line(l) {}
  GridArg(unsigned x, const char* f = __builtin_FILE(), int l = __builtin_LINE())
      : dim(x), file(f), line(l) {}
};

namespace detail {

struct ThreadCoords {
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
};

// The coordinates of the CUDA thread running now (aborts outside a kernel).
const ThreadCoords& Coords();

// Runs `body` once per CUDA thread of `grid` x `block`; checks the configuration
// first (an invalid one sets the last error, as a real launch does).
void LaunchImpl(const GridArg& grid, dim3 block, size_t dynamic_smem, cudaStream_t stream,
                std::function<void()> body);

// Block-scoped shared memory: one allocation per (declaration, block), poisoned.
void* StaticShared(const void* tag, size_t bytes, const char* file, int line);
void* DynamicShared();

void SyncThreads(const char* file, int line);
enum class WarpOp { kShflIdx, kShflUp, kShflDown, kShflXor, kBallot, kAny, kAll, kSyncWarp };
// One lane's part in a warp collective: `value` (or the predicate) goes in, the
// exchanged value comes out. `arg` is the lane, delta or lane mask of the shuffle.
uint64_t WarpCollective(WarpOp op, unsigned mask, uint64_t value, int arg, int width,
                        const char* file, int line);

}  // namespace detail

template <typename T>
T ShflAs(detail::WarpOp op, unsigned mask, T v, int arg, int width, const char* file, int line) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value,
                "shuffle of a type over 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = detail::WarpCollective(op, mask, bits, arg, width, file, line);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

// The launch: the arguments are converted to the kernel's parameter types and copied
// now, as CUDA copies kernel parameters at the launch (and a CUDA graph keeps them).
template <typename... P, typename... A>
void Launch(void (*kernel)(P...), GridArg grid, dim3 block, size_t smem, cudaStream_t stream,
            A&&... args) {
  std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
  detail::LaunchImpl(grid, block, smem, stream, [kernel, params]() { std::apply(kernel, params); });
}

}  // namespace cudasim

#define threadIdx (::cudasim::detail::Coords().thread_idx)
#define blockIdx (::cudasim::detail::Coords().block_idx)
#define blockDim (::cudasim::detail::Coords().block_dim)
#define gridDim (::cudasim::detail::Coords().grid_dim)
static constexpr int warpSize = 32;

#define __syncthreads() ::cudasim::detail::SyncThreads(__FILE__, __LINE__)
namespace cudasim::detail {
inline unsigned FullMask(unsigned m = 0xffffffffu) {
  return m;
}
}  // namespace cudasim::detail
#define __syncwarp(...)                                                                        \
  ((void)::cudasim::detail::WarpCollective(::cudasim::detail::WarpOp::kSyncWarp,               \
                                           ::cudasim::detail::FullMask(__VA_ARGS__), 0, 0, 32, \
                                           __FILE__, __LINE__))

// (mask, var, lane/delta/laneMask[, width])
#define __shfl_sync(mask, var, ...)                                 \
  ::cudasim::ShflAs(::cudasim::detail::WarpOp::kShflIdx, mask, var, \
                    GPEN_SIM_ARG2(__VA_ARGS__, 32), __FILE__, __LINE__)
#define __shfl_up_sync(mask, var, ...)                                                             \
  ::cudasim::ShflAs(::cudasim::detail::WarpOp::kShflUp, mask, var, GPEN_SIM_ARG2(__VA_ARGS__, 32), \
                    __FILE__, __LINE__)
#define __shfl_down_sync(mask, var, ...)                             \
  ::cudasim::ShflAs(::cudasim::detail::WarpOp::kShflDown, mask, var, \
                    GPEN_SIM_ARG2(__VA_ARGS__, 32), __FILE__, __LINE__)
#define __shfl_xor_sync(mask, var, ...)                             \
  ::cudasim::ShflAs(::cudasim::detail::WarpOp::kShflXor, mask, var, \
                    GPEN_SIM_ARG2(__VA_ARGS__, 32), __FILE__, __LINE__)
// "a, b" from "a, 32" or "a, w, 32": the lane argument and the width (default 32).
#define GPEN_SIM_ARG2(a, w, ...) (a), static_cast<int>(w)

#define __ballot_sync(mask, pred)                          \
  static_cast<unsigned>(::cudasim::detail::WarpCollective( \
      ::cudasim::detail::WarpOp::kBallot, mask, !!(pred), 0, 32, __FILE__, __LINE__))
#define __any_sync(mask, pred)                                                              \
  static_cast<int>(::cudasim::detail::WarpCollective(::cudasim::detail::WarpOp::kAny, mask, \
                                                     !!(pred), 0, 32, __FILE__, __LINE__))
#define __all_sync(mask, pred)                                                              \
  static_cast<int>(::cudasim::detail::WarpCollective(::cudasim::detail::WarpOp::kAll, mask, \
                                                     !!(pred), 0, 32, __FILE__, __LINE__))

// Shared memory declarations used by kernels/common.cuh's GPEN_SHARED macros.
#define GPEN_SIM_STATIC_SHARED(T, name, n)  \
  static const char name##_cudasim_tag = 0; \
  T* const name = static_cast<T*>(          \
      ::cudasim::detail::StaticShared(&name##_cudasim_tag, sizeof(T) * (n), __FILE__, __LINE__))
#define GPEN_SIM_DYNAMIC_SHARED(T, name) \
  T* const name = static_cast<T*>(::cudasim::detail::DynamicShared())
