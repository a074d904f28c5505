// gpen bench: time the whole GPEN forward pass on a real architecture.
//
// With no model file it runs seeded random weights of a named architecture (default
// GPEN-BFR-512), because trained weights cannot ship. It warms up, validates the
// output (finite, identical across runs) before timing, then reports the median
// with GFLOP/s, GB/s and peak host memory.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/device_select.h"
#include "core/parallel.h"
#include "face_runner.h"

namespace gpen::cli {

namespace {

// Budget mode: the planner's choice for `budget`, then every face restored through it.
// Reports faces per second, the planned peak and, on CUDA, the measured device memory
// this process allocated (cudaMemGetInfo before and after; the context is not in it).
Status BenchBudget(std::shared_ptr<const GpenWeights> weights, Device device, Precision precision,
                   int threads, int64_t budget, int64_t faces, uint32_t seed) {
  const GpenArch& arch = weights->arch;
  int64_t free_before = 0;
  if (device == Device::kCuda) {
    GPEN_ASSIGN_OR_RETURN(free_before, CudaFreeMemory());
  }
  FaceRunnerOptions ro;
  ro.device = device;
  ro.precision = precision;
  ro.threads = threads;
  ro.faces = faces;
  ro.budget = budget;
  GPEN_ASSIGN_OR_RETURN(std::unique_ptr<FaceRunner> runner, FaceRunner::Create(weights, ro));
  const int64_t b = runner->batch();
  std::vector<float> in(static_cast<size_t>(b * 3 * arch.in_size * arch.in_size));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (float& v : in) v = u(rng);
  std::vector<float> out(static_cast<size_t>(b * 3 * arch.out_size * arch.out_size));
  GPEN_TRY(runner->Run(in.data(), b, out.data()));  // warm-up, creates the sessions
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t done = 0; done < faces; done += b) {
    const int64_t n = std::min(b, faces - done);
    GPEN_TRY(runner->Run(in.data(), n, out.data()));
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
  std::printf("  %lld faces in %.2f s: %.2f faces/s\n", static_cast<long long>(faces), s,
              faces / s);
  std::printf("  planned %s (without the context line: %s), measured %s %s\n",
              FormatBytes(plan.total).c_str(), FormatBytes(plan.total - context_line).c_str(),
              FormatBytes(measured).c_str(),
              device == Device::kCuda ? "(cudaMemGetInfo delta, context excluded)" : "(peak RSS)");
  std::printf(
      "RESULT impl=gpen mode=budget device=%s precision=%s budget_mib=%.0f batch=%lld tiles=%lld "
      "planned_mib=%.1f planned_wo_context_mib=%.1f measured_mib=%.1f faces_per_s=%.3f\n",
      device == Device::kCuda ? "cuda" : "cpu", precision == Precision::kFp16 ? "fp16" : "fp32",
      budget / 1048576.0, static_cast<long long>(b), static_cast<long long>(plan.tiles_per_face),
      plan.total / 1048576.0, (plan.total - context_line) / 1048576.0, measured / 1048576.0,
      faces / s);
  return Status::Ok();
}

}  // namespace

Status CmdBench(int argc, char** argv) {
  Args a("bench");
  a.Flag("--arch", true, "architecture with random weights: bfr256, bfr512, bfr1024, bfr2048",
         "bfr512")
      .Flag("-m,--model", true, "benchmark a converted model file instead of random weights")
      .Flag("--device", true, "cpu, cuda or auto", "auto")
      .Flag("--precision", true, "fp32 or fp16", "fp32")
      .Flag("--batch", true, "faces per pass", "1")
      .Flag("--iters", true, "timed passes", "3")
      .Flag("--warmup", true, "untimed passes first", "1")
      .Flag("--threads", true, "CPU threads (0 = all cores)", "0")
      .Flag("--seed", true, "seed of the random weights and input", "1")
      .Flag("--vram-budget", true,
            "plan batch and tiles for this budget (as enhance does) and time --faces faces")
      .Flag("--faces", true, "faces to restore with --vram-budget", "16")
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
  GPEN_ASSIGN_OR_RETURN(Device device, ResolveDevice(a.Get("--device")));
  GPEN_ASSIGN_OR_RETURN(Precision precision, ResolvePrecision(a.Get("--precision"), device));
  // Threads and OpenBLAS's buffer before the weights (core/parallel.h).
  if (device == Device::kCpu) GPEN_TRY(StartCpuThreads(static_cast<int>(threads)));

  std::shared_ptr<const GpenWeights> weights;
  std::string what;
  if (!a.Get("--model").empty()) {
    GPEN_ASSIGN_OR_RETURN(GpenWeights w, LoadGpenModel(a.Get("--model")));
    weights = std::make_shared<const GpenWeights>(std::move(w));
    what = a.Get("--model");
  } else {
    GPEN_ASSIGN_OR_RETURN(GpenArch arch, GpenArch::Preset(a.Get("--arch")));
    GPEN_ASSIGN_OR_RETURN(GpenWeights w, GpenWeights::Random(arch, static_cast<uint64_t>(seed)));
    weights = std::make_shared<const GpenWeights>(std::move(w));
    what = "GPEN-" + a.Get("--arch") + " (random weights, seed " + std::to_string(seed) + ")";
  }
  if (a.Has("--vram-budget")) {
    GPEN_ASSIGN_OR_RETURN(int64_t budget, a.GetBytes("--vram-budget"));
    GPEN_ASSIGN_OR_RETURN(int64_t faces, a.GetInt("--faces", 1, 4096));
    return BenchBudget(weights, device, precision, static_cast<int>(threads), budget, faces,
                       static_cast<uint32_t>(seed));
  }
  BackendOptions bo;
  bo.precision = precision;
  bo.threads = static_cast<int>(threads);
  GpenGraphOptions go;
  go.batch = batch;
  GPEN_ASSIGN_OR_RETURN(std::unique_ptr<GpenSession> s,
                        GpenSession::Create(weights, go, device, bo));
  const GpenArch& arch = weights->arch;
  std::vector<float> in(static_cast<size_t>(batch * 3 * arch.in_size * arch.in_size));
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (float& v : in) v = u(rng);
  std::vector<float> out(static_cast<size_t>(batch * 3 * arch.out_size * arch.out_size)), ref;

  std::printf("bench: %s\n  %s\n  device %s, %s, batch %lld\n", what.c_str(),
              arch.ToString().c_str(), s->backend().name().c_str(),
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
  std::printf("  validated: output finite and identical across %lld runs\n",
              static_cast<long long>(warmup + iters));
  std::printf("  median %.1f ms per pass, %.1f ms per face (min %.1f, max %.1f, %lld runs)\n", med,
              med / batch, ms.front(), ms.back(), static_cast<long long>(iters));
  std::printf("  %.1f GFLOP per face, %.1f GFLOP/s, %.1f GB/s\n", flops / batch / 1e9,
              flops / (med * 1e-3) / 1e9, bytes / (med * 1e-3) / 1e9);
  std::printf(
      "  %s memory: weights %.1f MiB, activations %.1f MiB (planned), workspace %.1f MiB, total "
      "%.1f MiB\n",
      device == Device::kCuda ? "device" : "host", mem.weights / 1048576.0, mem.arena / 1048576.0,
      mem.workspace / 1048576.0, mem.total() / 1048576.0);
  std::printf("  peak RSS %.1f MiB\n", ru.ru_maxrss / 1024.0);
  std::printf(
      "RESULT impl=gpen device=%s precision=%s batch=%lld ms_per_face=%.3f gflops=%.1f "
      "peak_rss_mib=%.1f device_mib=%.1f\n",
      device == Device::kCuda ? "cuda" : "cpu", precision == Precision::kFp16 ? "fp16" : "fp32",
      static_cast<long long>(batch), med / batch, flops / (med * 1e-3) / 1e9, ru.ru_maxrss / 1024.0,
      device == Device::kCuda ? mem.total() / 1048576.0 : 0.0);
  return Status::Ok();
}

}  // namespace gpen::cli
