// gpen bench: time the whole GPEN forward pass on a real architecture.
//
// With no model file it runs seeded random weights of a named architecture (default
// GPEN-BFR-512), because trained weights cannot ship. It warms up, validates the
// output (finite, identical across runs) before timing, then reports the median
// with GFLOP/s, GB/s and peak host memory.
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/device_select.h"
#include "session.h"

namespace gpen::cli {

Status CmdBench(int argc, char** argv) {
  Args a("bench");
  a.Flag("--arch", true, "architecture with random weights: bfr256, bfr512, bfr1024, bfr2048", "bfr512")
      .Flag("-m,--model", true, "benchmark a converted model file instead of random weights")
      .Flag("--device", true, "cpu, cuda or auto", "auto")
      .Flag("--precision", true, "fp32 or fp16", "fp32")
      .Flag("--batch", true, "faces per pass", "1")
      .Flag("--iters", true, "timed passes", "3")
      .Flag("--warmup", true, "untimed passes first", "1")
      .Flag("--threads", true, "CPU threads (0 = all cores)", "0")
      .Flag("--seed", true, "seed of the random weights and input", "1")
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
  BackendOptions bo;
  bo.precision = precision;
  bo.threads = static_cast<int>(threads);
  GpenGraphOptions go;
  go.batch = batch;
  GPEN_ASSIGN_OR_RETURN(std::unique_ptr<GpenSession> s, GpenSession::Create(weights, go, device, bo));
  const GpenArch& arch = weights->arch;
  std::vector<float> in(static_cast<size_t>(batch * 3 * arch.in_size * arch.in_size));
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (float& v : in) v = u(rng);
  std::vector<float> out(static_cast<size_t>(batch * 3 * arch.out_size * arch.out_size)), ref;

  std::printf("bench: %s\n  %s\n  device %s, %s, batch %lld\n", what.c_str(), arch.ToString().c_str(),
              s->backend().name().c_str(), precision == Precision::kFp16 ? "fp16" : "fp32",
              static_cast<long long>(batch));
  for (int64_t i = 0; i < warmup; ++i) GPEN_TRY(s->Run(in.data(), out.data()));
  for (float v : out)
    if (!std::isfinite(v)) return Status(ErrorCode::kInternal, "bench: output has NaN or Inf; not timing");
  ref = out;
  // Timed: the forward pass only (device events on CUDA), the input already in place;
  // each run's output is checked against the first after its timing.
  std::vector<double> ms;
  GPEN_TRY(s->SetInput(in.data()));
  for (int64_t i = 0; i < iters; ++i) {
    GPEN_ASSIGN_OR_RETURN(double t, s->backend().TimedRun());
    ms.push_back(t);
    GPEN_TRY(s->ReadImage(out.data()));
    if (out != ref) return Status(ErrorCode::kInternal, "bench: output differs between runs; not reporting");
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
  std::printf("  %s memory: weights %.1f MiB, activations %.1f MiB (planned), workspace %.1f MiB, total %.1f MiB\n",
              device == Device::kCuda ? "device" : "host", mem.weights / 1048576.0, mem.arena / 1048576.0,
              mem.workspace / 1048576.0, mem.total() / 1048576.0);
  std::printf("  peak RSS %.1f MiB\n", ru.ru_maxrss / 1024.0);
  std::printf("RESULT impl=gpen device=%s precision=%s batch=%lld ms_per_face=%.3f gflops=%.1f "
              "peak_rss_mib=%.1f device_mib=%.1f\n",
              device == Device::kCuda ? "cuda" : "cpu", precision == Precision::kFp16 ? "fp16" : "fp32",
              static_cast<long long>(batch), med / batch, flops / (med * 1e-3) / 1e9, ru.ru_maxrss / 1024.0,
              device == Device::kCuda ? mem.total() / 1048576.0 : 0.0);
  return Status::Ok();
}

}  // namespace gpen::cli
