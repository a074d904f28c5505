// gpen bench: time the whole forward pass of a network on a real architecture.
//
// With no model file it runs seeded random weights of a named architecture (default
// GPEN-BFR-512; any name net/registry.h knows, RRDBNet's included), because trained
// weights cannot ship. The input is a random image of --size, preprocessed as the
// network does. It warms up, validates the
// output (finite, identical across runs) before timing, then reports the median
// with GFLOP/s, GB/s and peak host memory.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <utility>

#include "batch_runner.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/device_select.h"
#include "core/parallel.h"
#include "net/registry.h"

namespace gpen::cli {

namespace {

// A batch of n random images of h x w, preprocessed as the network does.
std::vector<float> RandomInput(const Network& net, const IoSpec& io, int64_t n, int64_t h,
                               int64_t w, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<float> in(static_cast<size_t>(n * io.in_numel()));
  for (int64_t i = 0; i < n; ++i) {
    Image img;
    img.width = w;
    img.height = h;
    img.rgb.resize(static_cast<size_t>(3 * h * w));
    for (float& v : img.rgb) v = u(rng);
    net.Preprocess(img, io, in.data() + i * io.in_numel());
  }
  return in;
}

// Budget mode: the planner's choice for `budget`, then every item run through it.
// Reports items per second, the planned peak and, on CUDA, the measured device memory
// this process allocated (cudaMemGetInfo before and after; the context is not in it).
Status BenchBudget(std::shared_ptr<const Network> net, const IoSpec& io, Device device,
                   Precision precision, int threads, int64_t budget, int64_t items, int64_t h,
                   int64_t w, uint32_t seed) {
  int64_t free_before = 0;
  if (device == Device::kCuda) {
    GPEN_ASSIGN_OR_RETURN(free_before, CudaFreeMemory());
  }
  BatchRunnerOptions ro;
  ro.device = device;
  ro.precision = precision;
  ro.threads = threads;
  ro.items = items;
  ro.budget = budget;
  GPEN_ASSIGN_OR_RETURN(std::unique_ptr<BatchRunner> runner, BatchRunner::Create(net, io, ro));
  const int64_t b = runner->batch();
  std::vector<float> in = RandomInput(*net, io, b, h, w, seed), out;
  const TensorView in_view(in.data(), {b, io.in_c, io.in_h, io.in_w});
  const TensorView out_view = TensorView::Of(&out, {b, io.out_c, io.out_h, io.out_w});
  GPEN_TRY(runner->Run(in_view, out_view));  // warm-up, creates the sessions
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t done = 0; done < items; done += b) {
    const int64_t n = std::min(b, items - done);
    GPEN_TRY(runner->Run(in_view.Slice(0, n), out_view.Slice(0, n)));
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (float v : out)
    if (!std::isfinite(v)) return Status(ErrorCode::kInternal, "bench: output has NaN or Inf");
  const RunPlan& plan = runner->plan();
  int64_t measured = 0, context_line = 0;
  for (const MemoryLine& l : plan.lines)
    if (l.what.rfind("CUDA context", 0) == 0) context_line = l.bytes;
  if (device == Device::kCuda) {
    GPEN_ASSIGN_OR_RETURN(int64_t free_after, CudaFreeMemory());
    measured = free_before - free_after;
  } else {
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    measured = static_cast<int64_t>(ru.ru_maxrss) * 1024;
  }
  const std::string noun = net->ItemNoun();
  std::printf("  %lld %ss in %.2f s: %.2f %ss/s\n", static_cast<long long>(items), noun.c_str(), s,
              items / s, noun.c_str());
  std::printf("  planned %s (without the context line: %s), measured %s %s\n",
              FormatBytes(plan.total).c_str(), FormatBytes(plan.total - context_line).c_str(),
              FormatBytes(measured).c_str(),
              device == Device::kCuda ? "(cudaMemGetInfo delta, context excluded)" : "(peak RSS)");
  std::printf(
      "RESULT impl=gpen net=%s mode=budget device=%s precision=%s budget_mib=%.0f batch=%lld "
      "tiles=%lld planned_mib=%.1f planned_wo_context_mib=%.1f measured_mib=%.1f "
      "faces_per_s=%.3f\n",
      net->family().c_str(), device == Device::kCuda ? "cuda" : "cpu",
      precision == Precision::kFp16 ? "fp16" : "fp32", budget / 1048576.0,
      static_cast<long long>(b), static_cast<long long>(plan.tiles_per_face),
      plan.total / 1048576.0, (plan.total - context_line) / 1048576.0, measured / 1048576.0,
      items / s);
  return Status::Ok();
}

}  // namespace

Status CmdBench(int argc, char** argv) {
  std::string archs;
  for (const std::string& n : KnownArchNames()) archs += (archs.empty() ? "" : ", ") + n;
  Args a("bench");
  a.Flag("--arch", true, "architecture with random weights: " + archs, "bfr512")
      .Flag("-m,--model", true, "benchmark a converted model file instead of random weights")
      .Flag("--size", true,
            "input image WIDTHxHEIGHT (image networks; GPEN resizes every face to its input)",
            "128x128")
      .Flag("--device", true, "cpu, cuda or auto", "auto")
      .Flag("--precision", true, "fp32 or fp16", "fp32")
      .Flag("--batch", true, "items (faces, images) per pass", "1")
      .Flag("--iters", true, "timed passes", "3")
      .Flag("--warmup", true, "untimed passes first", "1")
      .Flag("--threads", true, "CPU threads (0 = all cores)", "0")
      .Flag("--seed", true, "seed of the random weights and input", "1")
      .Flag("--vram-budget", true,
            "plan batch and tiles for this budget (as enhance does) and time --faces items")
      .Flag("--faces", true, "items to run with --vram-budget", "16")
      .Flag("-h,--help", false, "show this help");
  GPEN_TRY(a.Parse(argc, argv));
  if (a.Has("--help")) {
    std::printf("usage: gpen bench [flags]\n\n%s", a.Help().c_str());
    return Status::Ok();
  }
  GPEN_ASSIGN_OR_RETURN(int64_t batch, a.GetInt("--batch", 1, 256));
  GPEN_ASSIGN_OR_RETURN(int64_t iters, a.GetInt("--iters", 1, 1000));
  GPEN_ASSIGN_OR_RETURN(int64_t warmup, a.GetInt("--warmup", 1, 100));
  GPEN_ASSIGN_OR_RETURN(int64_t threads, a.GetInt("--threads", 0, 1024));
  GPEN_ASSIGN_OR_RETURN(int64_t seed, a.GetInt("--seed", 0, INT32_MAX));
  GPEN_ASSIGN_OR_RETURN(auto size, a.GetSize("--size"));
  const auto [h, w] = size;
  GPEN_ASSIGN_OR_RETURN(Device device, ResolveDevice(a.Get("--device")));
  GPEN_ASSIGN_OR_RETURN(Precision precision, ResolvePrecision(a.Get("--precision"), device));
  // Threads and OpenBLAS's buffer before the weights (core/parallel.h).
  if (device == Device::kCpu) GPEN_TRY(StartCpuThreads(static_cast<int>(threads)));

  std::shared_ptr<const Network> net;
  std::string what;
  if (!a.Get("--model").empty()) {
    GPEN_ASSIGN_OR_RETURN(net, LoadNetwork(a.Get("--model")));
    what = a.Get("--model");
  } else {
    GPEN_ASSIGN_OR_RETURN(net, NetworkForArch(a.Get("--arch"), static_cast<uint64_t>(seed)));
    what = a.Get("--arch") + " (random weights, seed " + std::to_string(seed) + ")";
  }
  GPEN_ASSIGN_OR_RETURN(IoSpec io, net->Io(h, w));
  if (a.Has("--vram-budget")) {
    GPEN_ASSIGN_OR_RETURN(int64_t budget, a.GetBytes("--vram-budget"));
    GPEN_ASSIGN_OR_RETURN(int64_t items, a.GetInt("--faces", 1, 4096));
    return BenchBudget(net, io, device, precision, static_cast<int>(threads), budget, items, h, w,
                       static_cast<uint32_t>(seed));
  }
  BackendOptions bo;
  bo.precision = precision;
  bo.threads = static_cast<int>(threads);
  GPEN_ASSIGN_OR_RETURN(std::unique_ptr<Session> s,
                        Session::Create(net, net->OptionsFor(io, batch), device, bo));
  const std::vector<float> in = RandomInput(*net, io, batch, h, w, static_cast<uint32_t>(seed));
  std::vector<float> out(static_cast<size_t>(batch * io.out_numel())), ref;

  std::printf("bench: %s\n  %s, input %lldx%lld\n  device %s, %s, batch %lld\n", what.c_str(),
              net->Describe().c_str(), static_cast<long long>(io.in_w),
              static_cast<long long>(io.in_h), s->backend().name().c_str(),
              precision == Precision::kFp16
                  ? "fp16 storage, fp32 accumulation"
                  : (device == Device::kCuda ? "fp32 (TF32 off)" : "fp32"),
              static_cast<long long>(batch));
  for (int64_t i = 0; i < warmup; ++i) GPEN_TRY(s->Run(in.data(), out.data()));
  for (float v : out)
    if (!std::isfinite(v))
      return Status(ErrorCode::kInternal, "bench: output has NaN or Inf; not timing");
  ref = out;
  // Timed: the forward pass only (device events on CUDA), the input already in place;
  // each run's output is checked against the first after its timing.
  std::vector<double> ms;
  GPEN_TRY(s->SetInput(in.data()));
  for (int64_t i = 0; i < iters; ++i) {
    GPEN_ASSIGN_OR_RETURN(double t, s->backend().TimedRun());
    ms.push_back(t);
    GPEN_TRY(s->ReadImage(out.data()));
    if (out != ref)
      return Status(ErrorCode::kInternal, "bench: output differs between runs; not reporting");
  }
  std::sort(ms.begin(), ms.end());
  const double med = ms[ms.size() / 2];
  const double flops = s->graph().Flops();
  const double bytes = s->graph().BytesMoved(precision == Precision::kFp16 ? 2 : 4);
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  const MemoryReport mem = s->backend().memory();
  const std::string noun = net->ItemNoun();
  const double mpix = static_cast<double>(h * w) / 1e6;  // input megapixels per item
  std::printf("  validated: output finite and identical across %lld runs\n",
              static_cast<long long>(warmup + iters));
  std::printf("  median %.1f ms per pass, %.1f ms per %s (min %.1f, max %.1f, %lld runs)\n", med,
              med / batch, noun.c_str(), ms.front(), ms.back(), static_cast<long long>(iters));
  if (net->family() != "gpen") {
    std::printf("  %.1f ms per input megapixel\n", med / batch / mpix);
  }
  std::printf("  %.1f GFLOP per %s, %.1f GFLOP/s, %.1f GB/s\n", flops / batch / 1e9, noun.c_str(),
              flops / (med * 1e-3) / 1e9, bytes / (med * 1e-3) / 1e9);
  std::printf(
      "  %s memory: weights %.1f MiB, activations %.1f MiB (planned), workspace %.1f MiB, total "
      "%.1f MiB\n",
      device == Device::kCuda ? "device" : "host", mem.weights / 1048576.0, mem.arena / 1048576.0,
      mem.workspace / 1048576.0, mem.total() / 1048576.0);
  std::printf("  peak RSS %.1f MiB\n", ru.ru_maxrss / 1024.0);
  std::printf(
      "RESULT impl=gpen net=%s device=%s precision=%s batch=%lld ms_per_face=%.3f "
      "ms_per_mpix=%.3f gflops=%.1f peak_rss_mib=%.1f device_mib=%.1f\n",
      net->family().c_str(), device == Device::kCuda ? "cuda" : "cpu",
      precision == Precision::kFp16 ? "fp16" : "fp32", static_cast<long long>(batch), med / batch,
      med / batch / mpix, flops / (med * 1e-3) / 1e9, ru.ru_maxrss / 1024.0,
      device == Device::kCuda ? mem.total() / 1048576.0 : 0.0);
  return Status::Ok();
}

}  // namespace gpen::cli
