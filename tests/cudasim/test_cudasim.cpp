// The emulator's own tests: that it runs CUDA semantics faithfully (thread and block
// coordinates in every order, shared memory per block, barriers, warp collectives,
// graph capture and replay, cuBLAS's column-major GEMM) and that it catches what it
// promises to catch. Bugs a GPU would turn into hangs or garbage abort the process
// with a message: those run as `cudasim_tests --death=NAME`, and ctest expects the
// abort and its message (tests/CMakeLists.txt).
#define DOCTEST_CONFIG_IMPLEMENT
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common.cuh"
#include "cudasim/control.h"

using gpen::kernels::Launch;

namespace {

// ---- kernels under test -----------------------------------------------------

struct CoordParams {
  unsigned* out;  // (blocks * threads, 6): thread x, y; block x, y; blockDim.x; gridDim.y
};
__global__ void CoordKernel(CoordParams p) {
  const unsigned t = threadIdx.x + threadIdx.y * blockDim.x;
  const unsigned b = blockIdx.x + blockIdx.y * gridDim.x;
  unsigned* o = p.out + (b * blockDim.x * blockDim.y + t) * 6;
  o[0] = threadIdx.x;
  o[1] = threadIdx.y;
  o[2] = blockIdx.x;
  o[3] = blockIdx.y;
  o[4] = blockDim.x;
  o[5] = gridDim.y;
}

// Block sums through shared memory: needs both barriers to be right.
struct SumParams {
  const float* x;
  float* sums;
  int n;
};
__global__ void BlockSumKernel(SumParams p) {
  GPEN_SHARED(float, part, 64);
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  part[threadIdx.x] = i < p.n ? p.x[i] : 0.f;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) p.sums[blockIdx.x] = part[0];
}

struct ReadParams {
  float* out;
};
__global__ void ReadUnwrittenSharedKernel(ReadParams p) {
  GPEN_SHARED(float, buf, 32);
  if (threadIdx.x == 0) buf[0] = 1.f;
  __syncthreads();
  p.out[threadIdx.x] = buf[threadIdx.x];  // only buf[0] was written
}

struct WarpParams {
  int* out;  // (blockDim.x, 6)
};
__global__ void WarpOpsKernel(WarpParams p) {
  const int lane = threadIdx.x % 32;
  int* o = p.out + threadIdx.x * 6;
  o[0] = __shfl_down_sync(0xffffffffu, lane * 10, 3);
  o[1] = __shfl_up_sync(0xffffffffu, lane * 10, 2);
  o[2] = __shfl_xor_sync(0xffffffffu, lane * 10, 5);
  o[3] = __shfl_sync(0xffffffffu, lane * 10, 7, 8);  // width 8: lane 7 of each group
  o[4] = static_cast<int>(__ballot_sync(0xffffffffu, lane % 3 == 0));
  o[5] = __any_sync(0xffffffffu, lane == 31) + 2 * __all_sync(0xffffffffu, lane < 32);
}

struct AddParams {
  const float* x;
  float* y;
  int n;
  float v;
};
__global__ void AddConstKernel(AddParams p) {
  GPEN_GRID_STRIDE(i, p.n) {
    p.y[i] = p.x[i] + p.v;
  }
}

// ---- bugs the emulator must catch -------------------------------------------

struct NoParams {
  float* out;
};
__global__ void DivergentBarrierKernel(NoParams p) {
  if (threadIdx.x < 5) return;  // these never reach the barrier
  __syncthreads();
  p.out[threadIdx.x] = 1.f;
}
__global__ void ShuffleExitedLaneKernel(NoParams p) {
  if (threadIdx.x >= 16) return;
  p.out[threadIdx.x] = __shfl_down_sync(0xffffffffu, 1.f, 1);  // names lanes 16..31
}
__global__ void DeadlockKernel(NoParams p) {
  if (threadIdx.x == 0) {
    __syncthreads();  // lane 0 waits here for the others ...
  } else {
    p.out[threadIdx.x] = __shfl_sync(0xffffffffu, 1.f, 0);  // ... which wait for lane 0
  }
}
__global__ void SharedOverrunKernel(NoParams p) {
  GPEN_SHARED(float, buf, 8);
  buf[threadIdx.x] = 1.f;  // 32 threads, 8 slots
  p.out[threadIdx.x] = buf[0];
}

std::vector<float> Download(const float* d, size_t n) {
  std::vector<float> h(n);
  CUDA_CHECK(cudaMemcpy(h.data(), d, n * 4, cudaMemcpyDeviceToHost));
  return h;
}

template <typename T>
T* DeviceAlloc(size_t n) {
  T* p = nullptr;
  CUDA_CHECK(cudaMalloc(&p, n * sizeof(T)));
  return p;
}

}  // namespace

TEST_CASE("cudasim coordinates: every thread of every block runs once, with its own indices") {
  const dim3 grid(3, 2), block(5, 4);
  const size_t total = 3 * 2 * 5 * 4;
  unsigned* d = DeviceAlloc<unsigned>(total * 6);
  Launch(CoordKernel, grid, block, 0, nullptr, CoordParams{d});
  CUDA_CHECK(cudaGetLastError());
  std::vector<unsigned> h(total * 6);
  CUDA_CHECK(cudaMemcpy(h.data(), d, h.size() * 4, cudaMemcpyDeviceToHost));
  for (size_t b = 0; b < 6; ++b)
    for (size_t t = 0; t < 20; ++t) {
      const unsigned* o = &h[(b * 20 + t) * 6];
      CHECK(o[0] == t % 5);
      CHECK(o[1] == t / 5);
      CHECK(o[2] == b % 3);
      CHECK(o[3] == b / 3);
      CHECK(o[4] == 5);
      CHECK(o[5] == 2);
    }
  CUDA_CHECK(cudaFree(d));
}

TEST_CASE("cudasim barriers: a shared-memory reduction per block") {
  const int n = 1000;
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i) x[i] = static_cast<float>(i % 17);
  float* dx = DeviceAlloc<float>(n);
  const int blocks = (n + 63) / 64;
  float* ds = DeviceAlloc<float>(blocks);
  CUDA_CHECK(cudaMemcpy(dx, x.data(), n * 4, cudaMemcpyHostToDevice));
  Launch(BlockSumKernel, static_cast<unsigned>(blocks), 64, 0, nullptr, SumParams{dx, ds, n});
  const auto sums = Download(ds, blocks);
  for (int b = 0; b < blocks; ++b) {
    float want = 0.f;
    for (int i = b * 64; i < std::min(n, b * 64 + 64); ++i) want += x[i];
    CHECK(sums[b] == want);
  }
  CUDA_CHECK(cudaFree(dx));
  CUDA_CHECK(cudaFree(ds));
}

TEST_CASE("cudasim shared memory is fresh per block and poisoned: unwritten reads are NaN") {
  float* d = DeviceAlloc<float>(32);
  Launch(ReadUnwrittenSharedKernel, 1u, 32, 0, nullptr, ReadParams{d});
  const auto h = Download(d, 32);
  CHECK(h[0] == 1.f);
  for (int i = 1; i < 32; ++i) CHECK(std::isnan(h[i]));
  CUDA_CHECK(cudaFree(d));
}

TEST_CASE("cudasim warp collectives follow CUDA's lane rules") {
  int* d = DeviceAlloc<int>(64 * 6);
  Launch(WarpOpsKernel, 1u, 64, 0, nullptr, WarpParams{d});
  std::vector<int> h(64 * 6);
  CUDA_CHECK(cudaMemcpy(h.data(), d, h.size() * 4, cudaMemcpyDeviceToHost));
  unsigned ballot = 0;
  for (int l = 0; l < 32; ++l) ballot |= (l % 3 == 0 ? 1u : 0u) << l;
  for (int t = 0; t < 64; ++t) {
    const int l = t % 32;
    const int* o = &h[t * 6];
    CHECK(o[0] == (l + 3 < 32 ? (l + 3) * 10 : l * 10));  // down: past the warp keeps its own
    CHECK(o[1] == (l >= 2 ? (l - 2) * 10 : l * 10));      // up: before lane 0 keeps its own
    CHECK(o[2] == (l ^ 5) * 10);
    CHECK(o[3] == (l / 8 * 8 + 7) * 10);
    CHECK(static_cast<unsigned>(o[4]) == ballot);
    CHECK(o[5] == 3);
  }
  CUDA_CHECK(cudaFree(d));
}

TEST_CASE("cudasim launch checks: configuration and dynamic shared memory") {
  float* d = DeviceAlloc<float>(2048);
  Launch(AddConstKernel, 1u, 1025, 0, nullptr, AddParams{d, d, 4, 1.f});
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  Launch(AddConstKernel, dim3(1, 65536), 32, 0, nullptr, AddParams{d, d, 4, 1.f});
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  Launch(AddConstKernel, 1u, 32, size_t{49} << 10, nullptr, AddParams{d, d, 4, 1.f});
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);
  CHECK(cudaGetLastError() == cudaSuccess);  // launch errors are not sticky
  CUDA_CHECK(cudaFree(d));
}

TEST_CASE("cudasim memory: copies and sets are range-checked, frees are tracked, OOM is reported") {
  float* d = DeviceAlloc<float>(16);
  std::vector<float> h(32, 0.f);
  CHECK(cudaMemcpy(d, h.data(), 17 * 4, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
  CHECK(cudaMemcpy(h.data(), d + 8, 9 * 4, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue);
  CHECK(cudaMemset(d + 1, 0, 16 * 4) == cudaErrorInvalidValue);
  CHECK(cudaMemcpy(d, h.data(), 16 * 4, cudaMemcpyDeviceToHost) ==
        cudaErrorInvalidValue);  // wrong kind
  CHECK(cudaMemcpy(d, h.data(), 16 * 4, cudaMemcpyHostToDevice) == cudaSuccess);
  (void)cudaGetLastError();
  const size_t before = cudasim::DeviceBytesInUse();
  CHECK(cudaFree(d) == cudaSuccess);
  CHECK(cudasim::DeviceBytesInUse() < before);
  CHECK(cudaFree(d) == cudaErrorInvalidValue);  // double free
  (void)cudaGetLastError();
  cudasim::SetMemoryLimit(size_t{1} << 20);
  void* big = nullptr;
  CHECK(cudaMalloc(&big, size_t{2} << 20) == cudaErrorMemoryAllocation);
  CHECK(cudaGetLastError() == cudaErrorMemoryAllocation);
  size_t free_b = 0, total_b = 0;
  CHECK(cudaMemGetInfo(&free_b, &total_b) == cudaSuccess);
  CHECK(total_b == (size_t{1} << 20));
  cudasim::SetMemoryLimit(size_t{16} << 30);
}

TEST_CASE("cudasim graphs: capture records, replay re-runs with the captured arguments") {
  cudaStream_t s = nullptr;
  CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  const int n = 700;
  float* x = DeviceAlloc<float>(n);
  float* y = DeviceAlloc<float>(n);
  std::vector<float> h(n, 1.f);
  CUDA_CHECK(cudaMemcpy(x, h.data(), n * 4, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  Launch(AddConstKernel, 2u, 128, 0, s, AddParams{x, y, n, 2.f});
  CHECK(cudaStreamSynchronize(s) == cudaErrorStreamCaptureUnsupported);  // not while capturing
  cudaGraph_t g = nullptr;
  CHECK(cudaStreamEndCapture(s, &g) == cudaErrorStreamCaptureInvalidated);
  (void)cudaGetLastError();

  CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  Launch(AddConstKernel, 2u, 128, 0, s, AddParams{x, y, n, 2.f});
  CUDA_CHECK(cudaStreamEndCapture(s, &g));
  CHECK(std::isnan(Download(y, 1)[0]));  // recorded, not run: y is still poison
  cudaGraphExec_t e = nullptr;
  CUDA_CHECK(cudaGraphInstantiate(&e, g, 0));
  CUDA_CHECK(cudaGraphLaunch(e, s));
  CHECK(Download(y, n)[n - 1] == 3.f);
  std::fill(h.begin(), h.end(), 5.f);
  CUDA_CHECK(cudaMemcpy(x, h.data(), n * 4, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaGraphLaunch(e, s));
  CHECK(Download(y, n)[0] == 7.f);
  CUDA_CHECK(cudaGraphExecDestroy(e));
  CUDA_CHECK(cudaGraphDestroy(g));
  CUDA_CHECK(cudaStreamDestroy(s));
  CUDA_CHECK(cudaFree(x));
  CUDA_CHECK(cudaFree(y));
}

TEST_CASE("cudasim cuBLAS: column-major GEMM with transposes and leading dimensions") {
  cublasHandle_t h = nullptr;
  REQUIRE(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS);
  const int m = 5, n = 4, k = 3, pad = 2;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      const int ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
      const int lda = ar + pad, ldb = br + pad, ldc = m + pad;
      std::vector<float> a(lda * ac), b(ldb * bc), c(ldc * n, std::nanf(""));
      for (float& v : a) v = u(rng);
      for (float& v : b) v = u(rng);
      float *da = DeviceAlloc<float>(a.size()), *db = DeviceAlloc<float>(b.size()),
            *dc = DeviceAlloc<float>(c.size());
      CUDA_CHECK(cudaMemcpy(da, a.data(), a.size() * 4, cudaMemcpyHostToDevice));
      CUDA_CHECK(cudaMemcpy(db, b.data(), b.size() * 4, cudaMemcpyHostToDevice));
      CUDA_CHECK(
          cudaMemcpy(dc, c.data(), c.size() * 4, cudaMemcpyHostToDevice));  // NaN: beta 0 ignores C
      const float alpha = 2.f, beta = 0.f;
      REQUIRE(cublasSgemm(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n,
                          k, &alpha, da, lda, db, ldb, &beta, dc, ldc) == CUBLAS_STATUS_SUCCESS);
      const auto got = Download(dc, c.size());
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
          double want = 0;
          for (int l = 0; l < k; ++l) {
            const float av = ta ? a[i * lda + l] : a[l * lda + i];
            const float bv = tb ? b[l * ldb + j] : b[j * ldb + l];
            want += double(av) * bv;
          }
          CHECK(got[j * ldc + i] == doctest::Approx(alpha * want).epsilon(1e-6));
        }
      // A leading dimension below the stored rows, or an operand past its allocation.
      CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, da, ar - 1, db, ldb, &beta,
                        dc, ldc) == CUBLAS_STATUS_INVALID_VALUE);
      CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n + 3, k, &alpha, da, lda, db, ldb, &beta,
                        dc, ldc) == CUBLAS_STATUS_INVALID_VALUE);
      CUDA_CHECK(cudaFree(da));
      CUDA_CHECK(cudaFree(db));
      CUDA_CHECK(cudaFree(dc));
    }
  REQUIRE(cublasDestroy(h) == CUBLAS_STATUS_SUCCESS);
}

TEST_CASE("cudasim devices: none, and no driver") {
  int n = -1;
  cudasim::SetDeviceCount(0);
  CHECK(cudaGetDeviceCount(&n) == cudaErrorNoDevice);
  CHECK(n == 0);
  cudasim::SetDeviceCount(-1);
  CHECK(cudaGetDeviceCount(&n) == cudaErrorInsufficientDriver);
  cublasHandle_t h = nullptr;
  CHECK(cublasCreate(&h) == CUBLAS_STATUS_NOT_INITIALIZED);
  cudasim::SetDeviceCount(1);
  (void)cudaGetLastError();
  CHECK(cudaGetDeviceCount(&n) == cudaSuccess);
  CHECK(n == 1);
}

namespace {

// Each runs a buggy kernel; the emulator must abort with a message (see CMakeLists).
const std::map<std::string, std::function<void()>>& DeathCases() {
  static const std::map<std::string, std::function<void()>> cases = {
      {"divergent_barrier",
       [] {
         Launch(DivergentBarrierKernel, 1u, 32, 0, nullptr, NoParams{DeviceAlloc<float>(32)});
       }},
      {"shuffle_exited_lane",
       [] {
         Launch(ShuffleExitedLaneKernel, 1u, 32, 0, nullptr, NoParams{DeviceAlloc<float>(32)});
       }},
      {"deadlock",
       [] { Launch(DeadlockKernel, 1u, 64, 0, nullptr, NoParams{DeviceAlloc<float>(64)}); }},
      {"shared_overrun",
       [] { Launch(SharedOverrunKernel, 1u, 32, 0, nullptr, NoParams{DeviceAlloc<float>(32)}); }},
  };
  return cases;
}

}  // namespace

// Runs a death case in a child process: 0 when the child was killed by a signal (its
// message went to the shared stderr, where ctest looks for it), 1 when it survived.
int RunDeath(const std::string& name) {
  const auto it = DeathCases().find(name);
  if (it == DeathCases().end()) {
    std::fprintf(stderr, "unknown death case %s\n", name.c_str());
    return 2;
  }
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    it->second();
    std::fprintf(stderr, "the emulator did not catch %s\n", name.c_str());
    std::_Exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0) ? 0 : 1;
}

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--death=", 8) == 0) return RunDeath(argv[i] + 8);
  doctest::Context ctx(argc, argv);
  const int rc = ctx.run();
  if (const size_t left = cudasim::DeviceBytesInUse(); left != 0) {
    std::printf("cudasim: %zu bytes of device memory were never freed\n", left);
    return rc ? rc : 1;
  }
  return rc;
}
