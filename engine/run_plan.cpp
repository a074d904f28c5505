// ChooseRunPlan: batch and tiles sized to a memory budget (see run_plan.h).
#include "run_plan.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "core/host_memory.h"
#include "core/parallel.h"
#include "cpu/ops.h"

namespace gpen {

std::string FormatBytes(int64_t b) {
  char buf[32];
  if (b >= (int64_t{1} << 30))
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / 1073741824.0);
  else
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / 1048576.0);
  return buf;
}

int64_t AvailableHostMemory() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (f >> key >> kb >> unit) {
    if (key == "MemAvailable:") return kb * 1024;
  }
  return int64_t{4} << 30;  // unknown: assume a small machine
}

int64_t CpuAddressSpaceLimit(int64_t weights_held) {
  const int64_t headroom = AddressSpaceHeadroom();
  if (headroom == kNoLimit) return 0;
  // Mapped already and counted by the plan: the weights and the process itself.
  return std::max<int64_t>(1, headroom + weights_held + CpuProcessBytes());
}

int64_t CpuProcessBytes() {
  return std::max(kCpuProcessEstimate, ProcessStartResident() + kCpuProcessHeadroom);
}

namespace {

// What OpenBLAS makes resident in its buffers (kBlasBufferBytes of address space per
// thread, mapped whole, resident only where a GEMM packs its operands). Our GEMMs are
// row-major C = A B with A the weights (M x K) and B the input or im2col columns
// (K x N); OpenBLAS computes them as the column-major C^T = B^T A^T, so its level-3
// driver packs blocks of our B into "sa", at most P x Q floats (the largest SGEMM
// P x Q of its x86-64 kernels is 768 x 768: 2.25 MiB), and our A, at most all of it,
// into "sb". A buffer keeps every page a GEMM touched, so each thread is counted at
// the largest B block and the largest A of any GEMM in the plan's graphs, plus slack
// for padding to the kernels' unroll and for 2 MiB pages, never beyond the buffer. An
// upper bound (measured for GPEN-BFR-256 on 2 threads: 4 MiB of the 21 MiB counted),
// which is what makes the budget true.
constexpr int64_t kBlasPackBBytes = int64_t{4} << 20;
constexpr int64_t kBlasPackSlack = int64_t{2} << 20;

// The largest B block plus A (bytes) of the GEMMs the CPU ops run for `g` (cpu/ops.cpp:
// direct 1x1 convolutions, banded im2col convolutions, banded transposed ones).
int64_t GemmPackBytes(const Graph& g) {
  int64_t worst = 0;
  for (const Node& n : g.nodes()) {
    if (n.in.empty()) continue;
    const Shape& xs = g.tensor(n.in[0]).shape;
    const Shape& ys = g.tensor(n.out).shape;
    int64_t a = 0, b = 0;  // floats, per image
    if (n.kind == OpKind::kConv2d || n.kind == OpKind::kModConv1x1) {
      const int64_t k =
          n.kind == OpKind::kModConv1x1 ? 1 : n.weight.shape[n.weight.shape.rank() - 1];
      const bool direct = k == 1 && n.a<ConvAttr>().stride == 1 && n.a<ConvAttr>().pad == 0;
      a = ys.c() * xs.c() * k * k;
      b = direct ? xs.c() * ys.h() * ys.w()
                 : static_cast<int64_t>(cpu::Conv2dWorkspaceFloats(xs, k, ys));
    } else if (n.kind == OpKind::kConvTranspose2d) {
      const int64_t k = n.weight.shape[3], rows_k = ys.c() * k * k;
      a = rows_k * xs.c();
      b = static_cast<int64_t>(cpu::ConvTranspose2dWorkspaceFloats(xs, ys.c(), k)) / rows_k *
          xs.c();
    } else {
      continue;
    }
    worst = std::max(worst, std::min(b * 4, kBlasPackBBytes) + a * 4);
  }
  return worst;
}

}  // namespace

std::vector<MemoryLine> PlanLines(const Network& net, const IoSpec& io, const BackendOptions& bo,
                                  Device d, int64_t batch, const TileSpec* tile, bool count_context,
                                  int64_t image_batches, int64_t decode_bytes,
                                  const std::vector<MemoryLine>& host_lines) {
  const GraphOptions go = net.OptionsFor(io, batch);
  std::vector<Graph> graphs;
  int64_t host_staging = 0;
  if (tile) {
    TiledGraphs t = net.BuildTiledGraphs(*tile, go);
    graphs = std::move(t.graphs);
    host_staging = t.host_staging_floats * 4;
  } else {
    graphs.push_back(net.BuildGraph(go));
  }
  const WeightStore& store = net.store();
  MemoryReport sum;
  int64_t gemm_pack = 0;
  for (const Graph& g : graphs) {
    if (d == Device::kCpu) gemm_pack = std::max(gemm_pack, GemmPackBytes(g));
    const MemoryReport m =
        d == Device::kCpu ? CpuBackendMemory(g, store, nullptr) : CudaBackendMemory(g, store, bo);
    // On the CPU every backend reports the shared fp32 weights; count them once.
    sum.weights +=
        (d == Device::kCpu && sum.weights > 0) ? m.weights - store.total_params() * 4 : m.weights;
    sum.arena += m.arena;
    sum.workspace += m.workspace;
  }
  std::vector<MemoryLine> lines;
  if (d == Device::kCuda && count_context)
    lines.push_back({"CUDA context (estimate)", kCudaContextEstimate});
  lines.push_back(
      {d == Device::kCpu ? "weights (fp32 + prepared copies)" : "weights (device)", sum.weights});
  lines.push_back(
      {tile ? "activations (global + tile arenas, planned)" : "activations (planned arena)",
       sum.arena});
  lines.push_back({d == Device::kCpu ? "convolution scratch" : "workspace (conv cap, GEMM, styles)",
                   sum.workspace});
  if (d == Device::kCpu) {
    const int64_t sets = std::max<int64_t>(1, image_batches);
    lines.push_back({sets > 1 ? "image buffers (" + std::to_string(sets) + " batches in flight)"
                              : std::string("image buffers"),
                     sets * batch * (io.in_numel() + io.out_numel()) * 4 + host_staging});
    if (decode_bytes > 0) lines.push_back({"decoding the largest input image", decode_bytes});
    lines.insert(lines.end(), host_lines.begin(), host_lines.end());
    const int blas = BlasThreadsFor(bo.threads);
    const int64_t per_thread = std::min(kBlasBufferBytes, gemm_pack + kBlasPackSlack);
    lines.push_back({"OpenBLAS packing (" + std::to_string(blas) + " thread" +
                         (blas == 1 ? "" : "s") + ", bound)",
                     blas * per_thread});
    const int64_t pool =
        bo.threads > 0 ? bo.threads : std::max<int64_t>(1, std::thread::hardware_concurrency());
    lines.push_back({ProcessStartResident() > 0 ? "process (resident at start), stacks"
                                                : "process: code, libraries, stacks (estimate)",
                     CpuProcessBytes() + (pool + blas + 3) * kCpuThreadEstimate});
  }
  return lines;
}

namespace {

int64_t Total(const std::vector<MemoryLine>& lines) {
  int64_t t = 0;
  for (const MemoryLine& l : lines) t += l.bytes;
  return t;
}

}  // namespace

Result<RunPlan> ChooseRunPlan(const Network& net, const IoSpec& io, const PlanRequest& req) {
  RunPlan plan;
  plan.device = req.device;
  plan.precision = req.precision;
  plan.faces = std::max<int64_t>(1, req.faces);
  plan.item_noun = net.ItemNoun();
  const bool user_budget = req.budget > 0 && !req.budget_measured;
  if (user_budget) {
    plan.budget = req.budget;
    plan.budget_source = "--vram-budget";
  } else if (req.budget > 0) {
    plan.budget = req.budget;
    plan.budget_source =
        req.device == Device::kCuda ? "free GPU memory, measured again" : "available host memory";
  } else if (req.device == Device::kCuda) {
    GPEN_ASSIGN_OR_RETURN(plan.budget, CudaFreeMemory());
    plan.budget_source = "free GPU memory, measured";
  } else {
    plan.budget = AvailableHostMemory();
    plan.budget_source = "available host memory, measured";
  }
  if (!req.budget_source.empty()) plan.budget_source = req.budget_source;
  if (req.limit > 0 && plan.budget > req.limit) {
    plan.budget = req.limit;
    plan.budget_source += ", capped by " + req.limit_source;
  }
  plan.margin = std::max(kMarginMin, static_cast<int64_t>(plan.budget * kMarginFraction));
  const int64_t usable = plan.budget - plan.margin;
  // Library workspaces: generous on large budgets, small on small ones.
  const int64_t mib = int64_t{1} << 20;
  plan.conv_workspace_limit = plan.budget >= 8192 * mib   ? 256 * mib
                              : plan.budget >= 2048 * mib ? 64 * mib
                                                          : 16 * mib;
  plan.cublas_workspace = plan.budget >= 2048 * mib ? 32 * mib : 4 * mib;
  const BackendOptions bo = plan.Options(req.threads);
  const bool count_context = req.device == Device::kCuda && user_budget;
  auto lines_for = [&](int64_t b, const TileSpec* t) {
    return PlanLines(net, io, bo, req.device, b, t, count_context, req.image_batches,
                     req.decode_bytes, req.host_lines);
  };

  const int64_t cap = req.device == Device::kCuda ? kMaxBatchCuda : kMaxBatchCpu;
  const int64_t hi = req.fixed_batch > 0 ? req.fixed_batch : std::min(plan.faces, cap);
  const int64_t lo = req.fixed_batch > 0 ? req.fixed_batch : 1;
  // The largest batch that fits. Memory grows about linearly with the batch, so two
  // plans predict where to start; the search then walks down to the first batch that
  // fits and up again while larger ones fit, building a plan for each step only.
  std::map<int64_t, std::vector<MemoryLine>> tried;
  auto fits = [&](int64_t b) {
    auto it = tried.find(b);
    if (it == tried.end()) it = tried.emplace(b, lines_for(b, nullptr)).first;
    return Total(it->second) <= usable;
  };
  int64_t start = hi;
  if (hi > lo + 1) {
    const int64_t one = Total(tried.emplace(lo, lines_for(lo, nullptr)).first->second);
    const int64_t two = Total(tried.emplace(lo + 1, lines_for(lo + 1, nullptr)).first->second);
    const int64_t per_face = std::max<int64_t>(two - one, 1);
    start = std::clamp<int64_t>(lo + (usable - one) / per_face + 1, lo, hi);
  }
  int64_t b = start;
  while (b >= lo && !fits(b)) --b;
  if (b >= lo) {
    while (b < hi && fits(b + 1)) ++b;
    plan.batch = b;
    plan.lines = tried.at(b);
    plan.total = Total(plan.lines);
    plan.passes = (plan.faces + b - 1) / b;
    return plan;
  }
  // Tiling at batch 1, the network's own way: fewest tiles first; for each tile edge,
  // the candidate whose total is smallest.
  int64_t smallest = Total(lines_for(1, nullptr));
  const std::vector<TileSpec> choices = net.TileChoices(io);
  for (size_t i = 0; i < choices.size();) {
    std::vector<MemoryLine> best;
    TileSpec best_spec;
    size_t j = i;
    for (; j < choices.size() && choices[j].tile == choices[i].tile; ++j) {
      std::vector<MemoryLine> lines = lines_for(1, &choices[j]);
      if (best.empty() || Total(lines) < Total(best)) {
        best = std::move(lines);
        best_spec = choices[j];
      }
    }
    i = j;
    smallest = std::min(smallest, Total(best));
    if (Total(best) <= usable) {
      plan.batch = 1;
      plan.tiled = true;
      plan.tile = best_spec;
      plan.tiles_per_face = net.TilesPerItem(best_spec, io);
      plan.lines = std::move(best);
      plan.total = Total(plan.lines);
      plan.passes = plan.faces;
      return plan;
    }
  }
  return OutOfMemory("a memory budget of " + FormatBytes(plan.budget) + " (" + plan.budget_source +
                         ") is too small for " + net.Describe() +
                         ": the smallest configuration needs " +
                         FormatBytes(smallest + plan.margin) + " including a margin of " +
                         FormatBytes(plan.margin),
                     req.device == Device::kCpu ? "give a larger --vram-budget or free host memory"
                     : req.precision == Precision::kFp32
                         ? "use --precision fp16, free GPU memory, or give a larger --vram-budget"
                         : "free GPU memory or give a larger --vram-budget");
}

int64_t SmallestBudgetFor(int64_t total) {
  // The margin of a budget B is max(kMarginMin, B * kMarginFraction).
  return std::max(total + kMarginMin,
                  static_cast<int64_t>(static_cast<double>(total) / (1.0 - kMarginFraction)) + 1);
}

int64_t ReplanBudget(const RunPlan& failed, int64_t measured_now) {
  const int64_t tried = std::min(failed.budget, SmallestBudgetFor(failed.total));
  int64_t next = static_cast<int64_t>(static_cast<double>(tried) * kReplanFraction);
  if (measured_now > 0) next = std::min(next, measured_now);
  return std::max<int64_t>(next, 1);
}

BackendOptions RunPlan::Options(int threads) const {
  BackendOptions o;
  o.precision = precision;
  o.threads = threads;
  o.conv_workspace_limit = conv_workspace_limit;
  o.cublas_workspace = cublas_workspace;
  return o;
}

std::string RunPlan::Describe() const {
  std::ostringstream os;
  os << "plan: " << (device == Device::kCuda ? "cuda " : "cpu ")
     << (precision == Precision::kFp16 ? "fp16" : "fp32") << ", batch " << batch;
  if (tiled) {
    os << ", tiled from " << tile.split_res << "x" << tile.split_res << ": " << tiles_per_face
       << " tiles of " << tile.tile << "x" << tile.tile << " per " << item_noun;
  } else if (item_noun != "tile") {  // a tile plan's tiles are described by its caller
    os << ", untiled";
  }
  os << ", " << passes << " pass" << (passes == 1 ? "" : "es") << " for " << faces << " "
     << item_noun << (faces == 1 ? "" : "s") << "\n";
  for (const MemoryLine& l : lines) {
    os << "  " << l.what;
    if (l.what.size() < 44) os << std::string(44 - l.what.size(), ' ');
    os << FormatBytes(l.bytes) << "\n";
  }
  os << "  planned peak" << std::string(32, ' ') << FormatBytes(total) << " of "
     << FormatBytes(budget) << " (" << budget_source << ", margin " << FormatBytes(margin) << ")\n";
  return os.str();
}

std::string RunPlan::Json() const {
  std::ostringstream os;
  os << "{\"device\":\"" << (device == Device::kCuda ? "cuda" : "cpu") << "\",\"precision\":\""
     << (precision == Precision::kFp16 ? "fp16" : "fp32") << "\",\"batch\":" << batch
     << ",\"tiled\":" << (tiled ? "true" : "false")
     << ",\"split_res\":" << (tiled ? tile.split_res : 0) << ",\"tile\":" << (tiled ? tile.tile : 0)
     << ",\"tiles_per_face\":" << tiles_per_face << ",\"faces\":" << faces
     << ",\"passes\":" << passes << ",\"planned_peak_bytes\":" << total
     << ",\"budget_bytes\":" << budget << ",\"budget_source\":\"" << budget_source
     << "\",\"margin_bytes\":" << margin << ",\"lines\":[";
  for (size_t i = 0; i < lines.size(); ++i) {
    os << (i ? "," : "") << "{\"what\":\"" << lines[i].what << "\",\"bytes\":" << lines[i].bytes
       << "}";
  }
  os << "]}";
  return os.str();
}

}  // namespace gpen
