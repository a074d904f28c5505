// RAII owners for CUDA resources: device and pinned buffers, streams, events, graphs,
// cuBLAS and cuDNN handles and descriptors. Allocation failures that a user can cause
// (out of device memory) come back as a Status; everything else is CUDA_CHECKed.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>
#include <utility>

#include "common.cuh"
#include "core/status.h"

#if GPEN_HAVE_CUDNN
#include <cudnn.h>
#define CUDNN_CHECK(expr)                                                              \
  do {                                                                                 \
    const cudnnStatus_t gpen_cudnn_st_ = (expr);                                       \
    if (gpen_cudnn_st_ != CUDNN_STATUS_SUCCESS)                                        \
      ::gpen::FailCheck(#expr, __FILE__, __LINE__, cudnnGetErrorString(gpen_cudnn_st_)); \
  } while (0)
#endif

#define CUBLAS_CHECK(expr)                                                         \
  do {                                                                             \
    const cublasStatus_t gpen_cublas_st_ = (expr);                                 \
    if (gpen_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                  \
      ::gpen::FailCheck(#expr, __FILE__, __LINE__, cublasGetStatusString(gpen_cublas_st_)); \
  } while (0)

namespace gpen::cuda {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer() { Reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
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
      (void)cudaGetLastError();  // clear the sticky-free error state
      p_ = nullptr;
      size_t free_b = 0, total_b = 0;
      (void)cudaMemGetInfo(&free_b, &total_b);
      return OutOfMemory("cannot allocate " + std::to_string(bytes >> 20) + " MiB of GPU memory for " +
                             what + " (" + std::to_string(free_b >> 20) + " MiB free of " +
                             std::to_string(total_b >> 20) + " MiB)",
                         "use a smaller --batch, --precision fp16, or close other GPU programs");
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
  Status Allocate(size_t bytes) {
    if (p_) cudaFreeHost(p_);
    p_ = nullptr;
    if (cudaMallocHost(&p_, bytes) != cudaSuccess) {
      (void)cudaGetLastError();
      p_ = nullptr;
      return OutOfMemory("cannot allocate " + std::to_string(bytes >> 20) + " MiB of pinned host memory");
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

struct StreamDeleter { void operator()(cudaStream_t s) const { cudaStreamDestroy(s); } };
struct EventDeleter { void operator()(cudaEvent_t e) const { cudaEventDestroy(e); } };
struct GraphDeleter { void operator()(cudaGraph_t g) const { cudaGraphDestroy(g); } };
struct GraphExecDeleter { void operator()(cudaGraphExec_t g) const { cudaGraphExecDestroy(g); } };
struct CublasDeleter { void operator()(cublasHandle_t h) const { cublasDestroy(h); } };
using Stream = Handle<cudaStream_t, StreamDeleter>;
using Event = Handle<cudaEvent_t, EventDeleter>;
using CudaGraph = Handle<cudaGraph_t, GraphDeleter>;
using CudaGraphExec = Handle<cudaGraphExec_t, GraphExecDeleter>;
using Cublas = Handle<cublasHandle_t, CublasDeleter>;

#if GPEN_HAVE_CUDNN
struct CudnnDeleter { void operator()(cudnnHandle_t h) const { cudnnDestroy(h); } };
struct TensorDescDeleter { void operator()(cudnnTensorDescriptor_t d) const { cudnnDestroyTensorDescriptor(d); } };
struct FilterDescDeleter { void operator()(cudnnFilterDescriptor_t d) const { cudnnDestroyFilterDescriptor(d); } };
struct ConvDescDeleter { void operator()(cudnnConvolutionDescriptor_t d) const { cudnnDestroyConvolutionDescriptor(d); } };
using Cudnn = Handle<cudnnHandle_t, CudnnDeleter>;
using TensorDesc = Handle<cudnnTensorDescriptor_t, TensorDescDeleter>;
using FilterDesc = Handle<cudnnFilterDescriptor_t, FilterDescDeleter>;
using ConvDesc = Handle<cudnnConvolutionDescriptor_t, ConvDescDeleter>;
#endif

}  // namespace gpen::cuda
