// RunPlan: how a run fits in memory, decided before anything is allocated.
//
// The budget is the free device memory measured now (cudaMemGetInfo), the host's
// available memory for the CPU backend, or a size the user gives (--vram-budget). A
// margin is kept back (kMarginFraction of the budget, at least kMarginMin) for what
// no plan sees: allocator rounding (cudaMalloc works in 2 MiB pages), cuDNN/cuBLAS
// internals, fragmentation. With a user budget on CUDA, the CUDA context itself is a
// line too (kCudaContextEstimate), since a real card of that size would spend it.
//
// On the CPU the plan is of resident memory (peak RSS) and counts everything the
// process holds: besides weights, arena, scratch and image buffers, what OpenBLAS packs
// into its buffers (an upper bound from the GEMMs' operands; see OpenBlasLine in
// run_plan.cpp), the decoding of the largest input image (its header read first:
// image/image.h ProbeImage) and the process itself: what was resident when main()
// began (the libraries' code and data; about 125 MiB in a build linked against the
// CUDA libraries), plus kCpuProcessHeadroom for the runtime's heap, and each thread's
// stack; at least kCpuProcessEstimate. A run may also be capped by a limit of the process (the
// address-space limit, ulimit -v): PlanRequest::limit.
//
// The choice: the largest batch of items (faces, images; up to the request, at most
// kMaxBatchCuda or kMaxBatchCpu) whose planned total fits; if one item does not fit, the
// network's own tiling (Network::TileChoices; GPEN's exact staged tiling) at batch 1
// with the fewest tiles that fit; otherwise an
// error naming the smallest total any configuration needs. A larger budget never
// chooses a smaller batch: every untiled batch that fits a budget fits a larger one,
// and tiling is only chosen at batch 1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend.h"
#include "graph/graph_options.h"
#include "net/network.h"

namespace gpen {

inline constexpr double kMarginFraction = 0.03;
inline constexpr int64_t kMarginMin = int64_t{64} << 20;
inline constexpr int64_t kCudaContextEstimate = int64_t{512} << 20;
inline constexpr int64_t kMaxBatchCuda = 64;
inline constexpr int64_t kMaxBatchCpu = 4;
// Resident memory of the process apart from what the plan's other lines count: code,
// libraries, the C++ runtime, heap bookkeeping (measured: about 7 MiB without the CUDA
// libraries), plus kCpuThreadEstimate for each thread's stack and thread-local storage.
// The line is the larger of the estimate and what was resident when main() began plus
// kCpuProcessHeadroom (CpuProcessBytes).
inline constexpr int64_t kCpuProcessEstimate = int64_t{16} << 20;
inline constexpr int64_t kCpuProcessHeadroom = int64_t{8} << 20;
inline constexpr int64_t kCpuThreadEstimate = int64_t{64} << 10;
// After an allocation failed, the next plan gets this share of what the failed one used.
inline constexpr double kReplanFraction = 0.7;

struct MemoryLine {
  std::string what;
  int64_t bytes = 0;
};

struct PlanRequest {
  Device device = Device::kCpu;
  Precision precision = Precision::kFp32;
  int64_t faces = 1;        // items (faces, images) waiting to be run
  int64_t budget = 0;       // bytes; 0 = measure (free VRAM, or available host memory)
  int64_t fixed_batch = 0;  // > 0: plan exactly this batch (enhance --batch N)
  // The budget was measured (free memory on a device this process already uses, as
  // when re-planning after an allocation failed): the CUDA context is then not a line.
  bool budget_measured = false;
  // Names the budget in the plan instead of the default wording (e.g. a re-plan's).
  std::string budget_source;
  // A limit of this process the budget cannot exceed (0 = none), and what it is.
  int64_t limit = 0;
  std::string limit_source;
  // CPU: the threads asked for (0 = one per core, the most auto uses), for the OpenBLAS
  // and process lines, and how many batches of image buffers are alive at once (enhance
  // overlaps 3).
  int threads = 0;
  int64_t image_batches = 1;
  // CPU: the most memory decoding one input image holds (ImageInfo::peak_bytes of the
  // largest input; 0 when the caller decodes nothing).
  int64_t decode_bytes = 0;
  // CPU: more host memory the caller holds during the run (a tiled image's input,
  // output and blend bands), each a line of the plan.
  std::vector<MemoryLine> host_lines;
};

struct RunPlan {
  Device device = Device::kCpu;
  Precision precision = Precision::kFp32;
  int64_t batch = 1;
  bool tiled = false;
  TileSpec tile;
  int64_t tiles_per_face = 1;  // per item
  int64_t faces = 1;           // items
  std::string item_noun = "face";
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

// The planned lines of one configuration (batch, optional tiling); no allocation. On
// the CPU, o.threads sizes the OpenBLAS and process lines (after the image buffers).
std::vector<MemoryLine> PlanLines(const Network& net, const IoSpec& io, const BackendOptions& o,
                                  Device d, int64_t batch, const TileSpec* tile, bool count_context,
                                  int64_t image_batches = 1, int64_t decode_bytes = 0,
                                  const std::vector<MemoryLine>& host_lines = {});

// The process line of a CPU plan without its threads: the larger of kCpuProcessEstimate
// and what was resident when main() began plus kCpuProcessHeadroom.
int64_t CpuProcessBytes();

// The plan for items of shape `io` (Network::Io).
Result<RunPlan> ChooseRunPlan(const Network& net, const IoSpec& io, const PlanRequest& request);

// The smallest budget whose margin leaves room for a plan of `total` bytes.
int64_t SmallestBudgetFor(int64_t total);

// The budget to plan for after `failed` could not be allocated: kReplanFraction of the
// budget it needed (SmallestBudgetFor its total, at most its budget), not of a larger
// budget it did not use (the whole host's memory); and no more than `measured_now`
// (memory free now, 0 = not measured). Each re-plan's total is smaller than the last,
// so retrying ends, in a run or in a clear error.
int64_t ReplanBudget(const RunPlan& failed, int64_t measured_now);

// Host memory available to this process (MemAvailable), for the CPU backend.
int64_t AvailableHostMemory();

// What the address-space limit (ulimit -v) leaves for a CPU run whose weights
// (`weights_held` bytes, counted by the plan) are already mapped, or 0 without a limit.
int64_t CpuAddressSpaceLimit(int64_t weights_held);

std::string FormatBytes(int64_t bytes);

}  // namespace gpen
