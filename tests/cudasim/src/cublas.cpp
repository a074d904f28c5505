// cudasim cuBLAS: GEMM as cuBLAS documents it, on the CPU.
//
// Column-major: C (m x n, leading dimension ldc) = alpha * op(A) * op(B) + beta * C,
// where op(A) is m x k (A stored k x m when transposed) and op(B) is k x n. The leading
// dimensions must cover the stored rows; when beta is 0, C is not read (so NaN there
// does not propagate), as cuBLAS specifies. Every operand's extent is checked against
// its device allocation, which is how a wrong transpose or leading dimension shows.
// Products accumulate in fp32, as CUBLAS_COMPUTE_32F does.
// Work goes to the handle's stream, so GEMMs are captured into CUDA graphs too.
#include <cblas.h>
#include <cublas_v2.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "internal.h"

struct cublasContext {
  cudaStream_t stream = nullptr;
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

using cudasim::internal::DeviceRangeOk;
using cudasim::internal::Report;

namespace {

struct Operand {
  const void* p;
  cudaDataType_t type;
  int ld;
  bool trans;
  int rows, cols;  // of op(X)
};

size_t ElemSize(cudaDataType_t t) {
  return t == CUDA_R_16F || t == CUDA_R_16BF ? 2 : (t == CUDA_R_64F ? 8 : 4);
}

float Read(const void* p, cudaDataType_t t, size_t i) {
  if (t == CUDA_R_16F) return __half2float(static_cast<const __half*>(p)[i]);
  return static_cast<const float*>(p)[i];
}

// op(X)(r, c) for column-major storage.
float At(const Operand& x, int r, int c) {
  const size_t i = x.trans ? static_cast<size_t>(r) * x.ld + c : static_cast<size_t>(c) * x.ld + r;
  return Read(x.p, x.type, i);
}

// The stored matrix is (trans ? cols x rows : rows x cols); its last element must lie
// inside the allocation.
bool Covered(const Operand& x, const char* name) {
  const int stored_rows = x.trans ? x.cols : x.rows;
  const int stored_cols = x.trans ? x.rows : x.cols;
  if (x.ld < std::max(1, stored_rows)) {
    Report(std::string("cuBLAS GEMM: ld") + name + " = " + std::to_string(x.ld) + " is below the " +
           std::to_string(stored_rows) + " rows of " + name + " as stored");
    return false;
  }
  if (stored_rows == 0 || stored_cols == 0) return true;
  const size_t extent = (static_cast<size_t>(stored_cols) - 1) * x.ld + stored_rows;
  return DeviceRangeOk(x.p, extent * ElemSize(x.type),
                       (std::string("cuBLAS GEMM operand ") + name).c_str());
}

// op(X) as a dense float matrix (rows x cols, column-major, leading dimension rows).
std::vector<float> Dense(const Operand& x) {
  std::vector<float> d(static_cast<size_t>(x.rows) * x.cols);
  for (int c = 0; c < x.cols; ++c)
    for (int r = 0; r < x.rows; ++r) d[static_cast<size_t>(c) * x.rows + r] = At(x, r, c);
  return d;
}

// The product itself is OpenBLAS's column-major SGEMM on dense fp32 copies of op(A) and
// op(B): the semantics above (transposes, leading dimensions, beta) are applied here, in
// Dense() and in the write-back, not delegated.
void Gemm(int m, int n, int k, float alpha, const Operand& a, const Operand& b, float beta, void* c,
          cudaDataType_t ct, int ldc) {
  if (m == 0 || n == 0) return;
  const std::vector<float> am = Dense(a), bm = Dense(b);
  std::vector<float> prod(static_cast<size_t>(m) * n, 0.f);
  if (k > 0) {
    cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.f, am.data(), std::max(1, m),
                bm.data(), std::max(1, k), 0.f, prod.data(), std::max(1, m));
  }
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      const size_t ci = static_cast<size_t>(j) * ldc + i;
      float v = alpha * prod[static_cast<size_t>(j) * m + i];
      if (beta != 0.f) v += beta * Read(c, ct, ci);
      if (ct == CUDA_R_16F)
        static_cast<__half*>(c)[ci] = __float2half_rn(v);
      else
        static_cast<float*>(c)[ci] = v;
    }
}

cublasStatus_t Validate(cublasHandle_t h, int m, int n, int k, const Operand& a, const Operand& b,
                        const void* c, cudaDataType_t ct, int ldc) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (m < 0 || n < 0 || k < 0 || ldc < std::max(1, m)) {
    Report("cuBLAS GEMM: negative size or ldc below m (m " + std::to_string(m) + ", n " +
           std::to_string(n) + ", k " + std::to_string(k) + ", ldc " + std::to_string(ldc) + ")");
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (!Covered(a, "A") || !Covered(b, "B")) return CUBLAS_STATUS_INVALID_VALUE;
  const size_t extent = m && n ? (static_cast<size_t>(n) - 1) * ldc + m : 0;
  if (extent && !DeviceRangeOk(c, extent * ElemSize(ct), "cuBLAS GEMM operand C"))
    return CUBLAS_STATUS_INVALID_VALUE;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t Enqueue(cublasHandle_t h, std::function<void()> op) {
  const cudaError_t e = cudasim::internal::Submit(h->stream, std::move(op));
  return e == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

bool TypeOk(cudaDataType_t t) {
  return t == CUDA_R_32F || t == CUDA_R_16F;
}

}  // namespace

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    (void)cudaGetLastError();
    *handle = nullptr;
    return CUBLAS_STATUS_NOT_INITIALIZED;
  }
  *handle = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetStream(cublasHandle_t handle, cudaStream_t* stream) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  *stream = handle->stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void* workspace, size_t bytes) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (bytes && !DeviceRangeOk(workspace, bytes, "cublasSetWorkspace"))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (reinterpret_cast<uintptr_t>(workspace) % 256 != 0) {
    Report("cublasSetWorkspace: the workspace must be 256-byte aligned");
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  handle->workspace = workspace;
  handle->workspace_bytes = bytes;
  return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusName(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS:
      return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED:
      return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH:
      return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR:
      return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED:
      return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR:
      return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED:
      return "CUBLAS_STATUS_NOT_SUPPORTED";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}
const char* cublasGetStatusString(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS:
      return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED:
      return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_EXECUTION_FAILED:
      return "the GPU program failed to execute";
    default:
      return cublasGetStatusName(s);
  }
}

cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                            int n, int k, const void* alpha, const void* A, cudaDataType_t at,
                            int lda, const void* B, cudaDataType_t bt, int ldb, const void* beta,
                            void* C, cudaDataType_t ct, int ldc, cublasComputeType_t compute,
                            cublasGemmAlgo_t) {
  if (!TypeOk(at) || !TypeOk(bt) || !TypeOk(ct) || at != bt) {
    Report("cublasGemmEx: unsupported type combination");
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  if (compute != CUBLAS_COMPUTE_32F && compute != CUBLAS_COMPUTE_32F_PEDANTIC) {
    Report("cublasGemmEx: only CUBLAS_COMPUTE_32F is emulated (alpha and beta are then float)");
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  const Operand a{A, at, lda, ta != CUBLAS_OP_N, m, k}, b{B, bt, ldb, tb != CUBLAS_OP_N, k, n};
  if (const cublasStatus_t s = Validate(h, m, n, k, a, b, C, ct, ldc); s != CUBLAS_STATUS_SUCCESS)
    return s;
  const float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  return Enqueue(h, [=]() { Gemm(m, n, k, al, a, b, be, C, ct, ldc); });
}

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                           int n, int k, const float* alpha, const float* A, int lda,
                           const float* B, int ldb, const float* beta, float* C, int ldc) {
  return cublasGemmEx(h, ta, tb, m, n, k, alpha, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, beta, C,
                      CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta,
                                         cublasOperation_t tb, int m, int n, int k,
                                         const float* alpha, const float* A, int lda, long long sa,
                                         const float* B, int ldb, long long sb, const float* beta,
                                         float* C, int ldc, long long sc, int batch) {
  for (int i = 0; i < batch; ++i) {
    const cublasStatus_t s = cublasSgemm(h, ta, tb, m, n, k, alpha, A + i * sa, lda, B + i * sb,
                                         ldb, beta, C + i * sc, ldc);
    if (s != CUBLAS_STATUS_SUCCESS) return s;
  }
  return CUBLAS_STATUS_SUCCESS;
}
