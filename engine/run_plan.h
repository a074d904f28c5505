// RunPlan: how a run fits in memory, decided before anything is allocated.
//
// The budget is the free device memory measured now (cudaMemGetInfo), the host's
// available memory for the CPU backend, or a size the user gives (--vram-budget). A
// margin is kept back (kMarginFraction of the budget, at least kMarginMin) for what
// no plan sees: allocator rounding (cudaMalloc works in 2 MiB pages), cuDNN/cuBLAS
// internals, fragmentation. With a user budget on CUDA, the CUDA context itself is a
// line too (kCudaContextEstimate), since a real card of that size would spend it.
//
// The choice: the largest face batch (up to the request, at most kMaxBatchCuda or
// kMaxBatchCpu) whose planned total fits; if one face does not fit, exact staged
// tiling at batch 1 with the fewest tiles that fit (graph/gpen_graph.h); otherwise an
// error naming the smallest total any configuration needs. A larger budget never
// chooses a smaller batch: every untiled batch that fits a budget fits a larger one,
// and tiling is only chosen at batch 1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend.h"
#include "graph/gpen_graph.h"
#include "model/gpen_weights.h"

namespace gpen {

inline constexpr double kMarginFraction = 0.03;
inline constexpr int64_t kMarginMin = int64_t{64} << 20;
inline constexpr int64_t kCudaContextEstimate = int64_t{512} << 20;
inline constexpr int64_t kMaxBatchCuda = 64;
inline constexpr int64_t kMaxBatchCpu = 4;

struct PlanRequest {
  Device device = Device::kCpu;
  Precision precision = Precision::kFp32;
  int64_t faces = 1;        // faces waiting to be restored
  int64_t budget = 0;       // bytes; 0 = measure (free VRAM, or available host memory)
  int64_t fixed_batch = 0;  // > 0: plan exactly this batch (enhance --batch N)
  // The budget was measured (free memory on a device this process already uses, as
  // when re-planning after an allocation failed): the CUDA context is then not a line.
  bool budget_measured = false;
};

struct MemoryLine {
  std::string what;
  int64_t bytes = 0;
};

struct RunPlan {
  Device device = Device::kCpu;
  Precision precision = Precision::kFp32;
  int64_t batch = 1;
  bool tiled = false;
  TileSpec tile;
  int64_t tiles_per_face = 1;
  int64_t faces = 1;
  int64_t passes = 1;  // batches needed for all faces
  std::vector<MemoryLine> lines;
  int64_t total = 0;  // planned peak, the sum of the lines
  int64_t budget = 0;
  std::string budget_source;
  int64_t margin = 0;
  int64_t conv_workspace_limit = 0;
  int64_t cublas_workspace = 0;
  // The backend options that realise this plan.
  BackendOptions Options(int threads) const;

  std::string Describe() const;  // a few lines for people
  std::string Json() const;      // one JSON object
};

// The planned lines of one configuration (batch, optional tiling); no allocation.
std::vector<MemoryLine> PlanLines(const GpenWeights& w, const BackendOptions& o, Device d,
                                  int64_t batch, const TileSpec* tile, bool count_context);

Result<RunPlan> ChooseRunPlan(const GpenWeights& w, const PlanRequest& request);

// Host memory available to this process (MemAvailable), for the CPU backend.
int64_t AvailableHostMemory();

std::string FormatBytes(int64_t bytes);

}  // namespace gpen
