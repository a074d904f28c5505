// RAII owners for CUDA resources: device and pinned buffers, streams, events, graphs,
// cuBLAS and cuDNN handles and descriptors, and the helpers that turn library errors
// into a Status. Failures a user can cause (out of device or pinned memory, e.g. another
// process took the memory) come back as OutOfMemory, so that the caller can plan again
// for less (face_runner.cpp); every other error is a bug and goes through FailCheck.
//
//   GPEN_CUDA_TRY(expr, what)    cudaErrorMemoryAllocation -> OutOfMemory
//   GPEN_CUBLAS_TRY(expr, what)  CUBLAS_STATUS_ALLOC_FAILED -> OutOfMemory
//   GPEN_CUDNN_TRY(expr, what)   cuDNN host/device allocation failures -> OutOfMemory
//
// `what` (evaluated only on failure) says what was being done, e.g. "creating a stream".
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>
#include <utility>

#include "common.cuh"
#include "core/status.h"

#if GPEN_HAVE_CUDNN
#include <cudnn.h>
#define CUDNN_CHECK(expr)                                                                \
  do {                                                                                   \
    const cudnnStatus_t gpen_cudnn_st_ = (expr);                                         \
    if (gpen_cudnn_st_ != CUDNN_STATUS_SUCCESS)                                          \
      ::gpen::FailCheck(#expr, __FILE__, __LINE__, cudnnGetErrorString(gpen_cudnn_st_)); \
  } while (0)
#define GPEN_CUDNN_TRY(expr, what)                                                          \
  do {                                                                                      \
    const cudnnStatus_t gpen_cudnn_st_ = (expr);                                            \
    if (gpen_cudnn_st_ != CUDNN_STATUS_SUCCESS)                                             \
      return ::gpen::cuda::CudnnFailure(gpen_cudnn_st_, #expr, __FILE__, __LINE__, (what)); \
  } while (0)
#endif

#define CUBLAS_CHECK(expr)                                                                  \
  do {                                                                                      \
    const cublasStatus_t gpen_cublas_st_ = (expr);                                          \
    if (gpen_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                           \
      ::gpen::FailCheck(#expr, __FILE__, __LINE__, cublasGetStatusString(gpen_cublas_st_)); \
  } while (0)
#define GPEN_CUBLAS_TRY(expr, what)                                                           \
  do {                                                                                        \
    const cublasStatus_t gpen_cublas_st_ = (expr);                                            \
    if (gpen_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                             \
      return ::gpen::cuda::CublasFailure(gpen_cublas_st_, #expr, __FILE__, __LINE__, (what)); \
  } while (0)
#define GPEN_CUDA_TRY(expr, what)                                                              \
  do {                                                                                         \
    const cudaError_t gpen_cuda_try_err_ = (expr);                                             \
    if (gpen_cuda_try_err_ != cudaSuccess)                                                     \
      return ::gpen::cuda::CudaFailure(gpen_cuda_try_err_, #expr, __FILE__, __LINE__, (what)); \
  } while (0)

namespace gpen::cuda {

inline constexpr const char* kGpuMemoryHint =
    "use a smaller --batch, --precision fp16, or close other GPU programs";

// OutOfMemory with `message`, followed by the device's free and total memory.
inline Status GpuOutOfMemory(std::string m) {
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) {
    m += " (" + std::to_string(free_b >> 20) + " MiB free of " + std::to_string(total_b >> 20) +
         " MiB)";
  }
  (void)cudaGetLastError();  // leave no error behind for the next check
  return OutOfMemory(m, kGpuMemoryHint);
}

// A failed runtime call: OutOfMemory when memory ran out, a failed check (throws) otherwise.
inline Status CudaFailure(cudaError_t e, const char* expr, const char* file, int line,
                          const std::string& what) {
  if (e != cudaErrorMemoryAllocation) FailCheck(expr, file, line, cudaGetErrorString(e));
  (void)cudaGetLastError();  // not sticky: clear it
  return GpuOutOfMemory("out of GPU memory while " + what);
}

inline Status CublasFailure(cublasStatus_t st, const char* expr, const char* file, int line,
                            const std::string& what) {
  if (st != CUBLAS_STATUS_ALLOC_FAILED) FailCheck(expr, file, line, cublasGetStatusString(st));
  return GpuOutOfMemory("out of memory while " + what + " (cuBLAS could not allocate)");
}

#if GPEN_HAVE_CUDNN
inline bool CudnnOutOfMemory(cudnnStatus_t st) {
#if CUDNN_MAJOR >= 9
  return st == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED ||
         st == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED;
#else
  return st == CUDNN_STATUS_ALLOC_FAILED;
#endif
}

inline Status CudnnFailure(cudnnStatus_t st, const char* expr, const char* file, int line,
                           const std::string& what) {
  if (!CudnnOutOfMemory(st)) FailCheck(expr, file, line, cudnnGetErrorString(st));
  return GpuOutOfMemory("out of memory while " + what + " (cuDNN could not allocate)");
}
#endif

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer() { Reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    Reset();
    p_ = std::exchange(o.p_, nullptr);
    n_ = std::exchange(o.n_, 0);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  // `what` names the buffer in the out-of-memory message.
  Status Allocate(size_t bytes, const std::string& what) {
    Reset();
    if (bytes == 0) return Status::Ok();
    const cudaError_t e = cudaMalloc(&p_, bytes);
    if (e != cudaSuccess) {
      p_ = nullptr;
      // Only running out of memory is the user's to fix; any other error is a bug or a
      // broken device (a sticky fault) and must not send the caller into re-planning.
      if (e != cudaErrorMemoryAllocation)
        FailCheck("cudaMalloc", __FILE__, __LINE__, cudaGetErrorString(e));
      (void)cudaGetLastError();  // an allocation error is not sticky: clear it
      return GpuOutOfMemory("cannot allocate " + std::to_string(bytes >> 20) +
                            " MiB of GPU memory for " + what);
    }
    n_ = bytes;
    return Status::Ok();
  }
  void* get() const { return p_; }
  size_t bytes() const { return n_; }

 private:
  void Reset() {
    if (p_) cudaFree(p_);
    p_ = nullptr;
    n_ = 0;
  }
  void* p_ = nullptr;
  size_t n_ = 0;
};

class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer() {
    if (p_) cudaFreeHost(p_);
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  // `what` names the buffer in the out-of-memory message.
  Status Allocate(size_t bytes, const std::string& what) {
    if (p_) cudaFreeHost(p_);
    p_ = nullptr;
    const cudaError_t e = cudaMallocHost(&p_, bytes);
    if (e != cudaSuccess) {
      p_ = nullptr;
      if (e != cudaErrorMemoryAllocation)
        FailCheck("cudaMallocHost", __FILE__, __LINE__, cudaGetErrorString(e));
      (void)cudaGetLastError();
      return OutOfMemory("cannot allocate " + std::to_string(bytes >> 20) +
                             " MiB of pinned host memory for " + what + " (" +
                             cudaGetErrorString(e) + ")",
                         "use a smaller --batch or free host memory");
    }
    return Status::Ok();
  }
  void* get() const { return p_; }

 private:
  void* p_ = nullptr;
};

template <typename T, typename Deleter>
class Handle {
 public:
  Handle() = default;
  explicit Handle(T h) : h_(h) {}
  ~Handle() {
    if (h_) Deleter()(h_);
  }
  Handle(Handle&& o) noexcept : h_(std::exchange(o.h_, T{})) {}
  Handle& operator=(Handle&& o) noexcept {
    if (h_) Deleter()(h_);
    h_ = std::exchange(o.h_, T{});
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  T get() const { return h_; }
  T* out() { return &h_; }

 private:
  T h_{};
};

struct StreamDeleter {
  void operator()(cudaStream_t s) const { cudaStreamDestroy(s); }
};
struct EventDeleter {
  void operator()(cudaEvent_t e) const { cudaEventDestroy(e); }
};
struct GraphDeleter {
  void operator()(cudaGraph_t g) const { cudaGraphDestroy(g); }
};
struct GraphExecDeleter {
  void operator()(cudaGraphExec_t g) const { cudaGraphExecDestroy(g); }
};
struct CublasDeleter {
  void operator()(cublasHandle_t h) const { cublasDestroy(h); }
};
using Stream = Handle<cudaStream_t, StreamDeleter>;
using Event = Handle<cudaEvent_t, EventDeleter>;
using CudaGraph = Handle<cudaGraph_t, GraphDeleter>;
using CudaGraphExec = Handle<cudaGraphExec_t, GraphExecDeleter>;
using Cublas = Handle<cublasHandle_t, CublasDeleter>;

#if GPEN_HAVE_CUDNN
struct CudnnDeleter {
  void operator()(cudnnHandle_t h) const { cudnnDestroy(h); }
};
struct TensorDescDeleter {
  void operator()(cudnnTensorDescriptor_t d) const { cudnnDestroyTensorDescriptor(d); }
};
struct FilterDescDeleter {
  void operator()(cudnnFilterDescriptor_t d) const { cudnnDestroyFilterDescriptor(d); }
};
struct ConvDescDeleter {
  void operator()(cudnnConvolutionDescriptor_t d) const { cudnnDestroyConvolutionDescriptor(d); }
};
using Cudnn = Handle<cudnnHandle_t, CudnnDeleter>;
using TensorDesc = Handle<cudnnTensorDescriptor_t, TensorDescDeleter>;
using FilterDesc = Handle<cudnnFilterDescriptor_t, FilterDescDeleter>;
using ConvDesc = Handle<cudnnConvolutionDescriptor_t, ConvDescDeleter>;
#endif

}  // namespace gpen::cuda
