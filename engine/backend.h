// Backend: the small interface every device implements (CPU now, CUDA in engine/cuda).
//
// A backend is created for one graph (fixed batch and shapes) and the model's
// weights; weights are prepared/uploaded once at creation. Each Run() reads the
// graph input set by SetInput and leaves the outputs for ReadOutput. The memory a
// backend holds is reported line by line so the planner's figures can be checked. A
// profiled run times each node, for gpen bench --profile.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/graph.h"
#include "graph/planner.h"
#include "model/weights.h"

namespace gpen {

enum class Device { kCpu, kCuda };
enum class Precision { kFp32, kFp16 };

struct BackendOptions {
  Precision precision = Precision::kFp32;
  int threads = 0;  // CPU: 0 = the free cores (core/cpu_load.h)
  // CUDA: the most workspace any one convolution algorithm may use.
  int64_t conv_workspace_limit = int64_t{256} << 20;
  // CUDA: the workspace handed to cuBLAS.
  int64_t cublas_workspace = int64_t{32} << 20;
};

// Bytes a backend holds, by purpose.
struct MemoryReport {
  int64_t weights = 0;
  int64_t arena = 0;      // activations, exactly the plan's arena_bytes
  int64_t workspace = 0;  // convolution / GEMM scratch
  int64_t io = 0;         // staging buffers
  int64_t total() const { return weights + arena + workspace + io; }
};

// One node's time in a profiled run (ProfiledRun); `node` indexes graph().nodes().
struct OpTiming {
  size_t node = 0;
  double ms = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Copies a graph input tensor (any of graph.inputs()) from host float32.
  virtual Status SetTensor(int tensor, const float* host, int64_t count) = 0;
  // The first input, the image (N, C, H, W).
  Status SetInput(const float* host, int64_t count);
  virtual Status Run() = 0;
  // Runs once and returns its duration in ms: device events on CUDA, the wall clock on
  // the CPU (whose Run is synchronous).
  virtual Result<double> TimedRun();
  // Runs once, timing every node of graph() (in node order): the wall clock around each
  // node on the CPU, CUDA events around each node on CUDA (eagerly, no CUDA graph; with
  // an NVTX range per node where the toolkit has nvtx3). For gpen bench --profile.
  virtual Result<std::vector<OpTiming>> ProfiledRun() = 0;
  // Copies an output tensor (any tensor marked as a graph output) to host float32.
  virtual Status ReadOutput(int tensor, float* host, int64_t count) = 0;
  virtual MemoryReport memory() const = 0;
  virtual const MemoryPlan& plan() const = 0;
  // The graph this backend executes (a backend may rewrite the graph it was given,
  // e.g. fuse it): tensor ids passed to SetTensor/ReadOutput refer to this graph.
  virtual const Graph& graph() const = 0;
};

Result<std::unique_ptr<Backend>> CreateCpuBackend(const Graph& g, const WeightStore& w,
                                                  const BackendOptions& o);
Result<std::unique_ptr<Backend>> CreateCudaBackend(const Graph& g, const WeightStore& w,
                                                   const BackendOptions& o);
Result<std::unique_ptr<Backend>> CreateBackend(Device d, const Graph& g, const WeightStore& w,
                                               const BackendOptions& o);

// What a backend for `g` will hold, computed before anything is allocated: the memory
// planner's lines. The CPU figure is exact; the CUDA figure counts the convolution
// workspace at its cap (o.conv_workspace_limit), which the backend never exceeds.
MemoryReport CpuBackendMemory(const Graph& g, const WeightStore& w, MemoryPlan* plan);
int64_t FusedScratchFloats(const Graph& g);
MemoryReport CudaBackendMemory(const Graph& g, const WeightStore& w, const BackendOptions& o);

// Device memory free now (CUDA), or an error when no GPU is usable.
Result<int64_t> CudaFreeMemory();

}  // namespace gpen
