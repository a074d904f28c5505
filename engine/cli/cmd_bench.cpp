// gpen bench: time the whole forward pass of a network on a real architecture.
//
// With no model file it runs seeded random weights of a named architecture (default
// GPEN-BFR-512; any name net/registry.h knows, RRDBNet's included), because trained
// weights cannot ship. The input is a random image of --size, preprocessed as the
// network does. It warms up, validates the output (finite, identical across runs)
// before timing, then reports the median with GFLOP/s, GB/s and peak host memory, and
// with --profile the time of every op (cli/bench_profile.h). The other modes live in
// their own files: one measured point with tiles or an image network's budget
// (cli/bench_point.h), and --sweep over many points (cli/bench_sweep.h).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>

#include "batch_runner.h"
#include "cli/args.h"
#include "cli/bench_point.h"
#include "cli/bench_profile.h"
#include "cli/bench_sweep.h"
#include "cli/commands.h"
#include "cli/device_select.h"
#include "core/parallel.h"
#include "net/registry.h"

namespace gpen::cli {

namespace {

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

void AddFlags(Args* a) {
  std::string archs;
  for (const std::string& n : KnownArchNames()) archs += (archs.empty() ? "" : ", ") + n;
  a->Flag("--arch", true, "architecture with random weights: " + archs, "bfr512")
      .Flag("-m,--model", true, "benchmark a converted model file instead of random weights")
      .Flag("--size", true,
            "input image WIDTHxHEIGHT (image networks; GPEN resizes every face to its input)",
            "128x128")
      .Flag("--device", true, "cpu, cuda or auto", "auto")
      .Flag("--precision", true, "fp32 or fp16", "fp32")
      .Flag("--batch", true, "items (faces, images) per pass", "1")
      .Flag("--iters", true, "timed passes", "3")
      .Flag("--warmup", true, "untimed passes first", "1")
      .Flag("--threads", true,
            "CPU threads (0 = one per core that other processes leave free, measured as it runs)",
            "0")
      .Flag("--seed", true, "seed of the random weights and input", "1")
      .Flag("--vram-budget", true,
            "plan batch and tiles for this budget (as enhance and upscale do) and time them")
      .Flag("--faces", true, "faces to run with --vram-budget (GPEN)", "16")
      .Flag("--tile", true, "image networks: run the image in tiles of this edge (0: whole)")
      .Flag("--tile-pad", true, "image networks: context pixels around each tile")
      .Flag("--tile-batch", true, "image networks: tiles per run")
      .Flag("--sweep", true,
            "AXIS=v1,v2,...: measure every combination (repeatable); axes arch, device, "
            "precision, batch, size, tile, tile_pad, tile_batch, budget, threads")
      .Repeatable("--sweep")
      .Flag("--csv", true, "write the sweep's (or the point's) table as CSV")
      .Flag("--md", true, "write the sweep's (or the point's) table as Markdown")
      .Flag("--peak-gflops", true, "the device's peak GFLOP/s, for the peak_share column")
      .Flag("--peak-gbps", true, "the device's peak GB/s, for the peak_share column")
      .Flag("--profile", false, "time every op of one pass (after warm-up); top ten printed")
      .Flag("--profile-csv", true, "with --profile: write every op's row to this CSV")
      .Flag("--sweep-point", false, "internal: run one point and print its CSV row")
      .Flag("-h,--help", false, "show this help");
}

// The flags a sweep's children get: every one given or defaulted, except the sweep's
// own and those an axis sets.
std::vector<std::string> BaseArgs(const Args& a, const std::vector<SweepAxis>& axes) {
  std::vector<std::string> out;
  for (const char* f : {"--arch", "--model", "--size", "--device", "--precision", "--batch",
                        "--iters", "--warmup", "--threads", "--seed", "--vram-budget", "--faces",
                        "--tile", "--tile-pad", "--tile-batch", "--peak-gflops", "--peak-gbps"}) {
    bool by_axis = false;
    for (const SweepAxis& x : axes) by_axis = by_axis || x.flag == f;
    if (by_axis || !a.Has(f)) continue;
    out.push_back(f);
    out.push_back(a.Get(f));
  }
  return out;
}

Status Sweep(const Args& a) {
  if (a.Has("--profile")) {
    return InvalidArgument("--profile profiles one configuration, not a sweep",
                           "run --profile without --sweep, with the point's flags");
  }
  GPEN_ASSIGN_OR_RETURN(std::vector<SweepAxis> axes, ParseSweepAxes(a.GetAll("--sweep")));
  for (const SweepAxis& x : axes) {
    if (x.name == "arch" && a.Has("--model")) {
      return InvalidArgument("--sweep arch=... and -m both choose the network",
                             "drop -m to sweep architectures, or the arch axis to time the file");
    }
  }
  SweepOptions o;
  o.base_args = BaseArgs(a, axes);
  o.csv = a.Get("--csv");
  o.md = a.Get("--md");
  return RunSweep(axes, o);
}

Result<PointConfig> ConfigFrom(const Args& a) {
  PointConfig c;
  c.arch = a.Get("--arch");
  c.model = a.Get("--model");
  c.device_flag = a.Get("--device");
  c.precision_flag = a.Get("--precision");
  GPEN_ASSIGN_OR_RETURN(c.batch, a.GetInt("--batch", 1, 256));
  GPEN_ASSIGN_OR_RETURN(c.iters, a.GetInt("--iters", 1, 1000));
  GPEN_ASSIGN_OR_RETURN(c.warmup, a.GetInt("--warmup", 1, 100));
  GPEN_ASSIGN_OR_RETURN(int64_t threads, a.GetInt("--threads", 0, 1024));
  c.threads = static_cast<int>(threads);
  GPEN_ASSIGN_OR_RETURN(c.seed, a.GetInt("--seed", 0, INT32_MAX));
  GPEN_ASSIGN_OR_RETURN(auto size, a.GetSize("--size"));
  c.h = size.first;
  c.w = size.second;
  if (a.Has("--tile")) {
    GPEN_ASSIGN_OR_RETURN(c.tile, a.GetInt("--tile", 0, 65536));
  }
  if (a.Has("--tile-pad")) {
    GPEN_ASSIGN_OR_RETURN(c.tile_pad, a.GetInt("--tile-pad", 0, 4096));
  }
  if (a.Has("--tile-batch")) {
    GPEN_ASSIGN_OR_RETURN(c.tile_batch, a.GetInt("--tile-batch", 1, 4096));
  }
  c.tiled_flags = a.Has("--tile") || a.Has("--tile-pad") || a.Has("--tile-batch");
  if (a.Has("--vram-budget")) {
    GPEN_ASSIGN_OR_RETURN(c.budget, a.GetBytes("--vram-budget"));
  }
  GPEN_ASSIGN_OR_RETURN(c.faces, a.GetInt("--faces", 1, 4096));
  if (a.Has("--peak-gflops")) {
    GPEN_ASSIGN_OR_RETURN(c.peak_gflops, a.GetDouble("--peak-gflops", 0, 1e9));
  }
  if (a.Has("--peak-gbps")) {
    GPEN_ASSIGN_OR_RETURN(c.peak_gbps, a.GetDouble("--peak-gbps", 0, 1e9));
  }
  return c;
}

// One point in this process: a sweep's child prints its row for the parent; run by
// hand (tiles, or an image network's budget), it prints the one-row table.
Status Point(const Args& a) {
  if (a.Has("--profile") || a.Has("--profile-csv")) {
    return InvalidArgument("--profile times one untiled pass and prints no table",
                           "drop --tile, --tile-pad, --tile-batch, --vram-budget, --csv, --md and "
                           "--peak-* to profile");
  }
  PointRow row;
  Status s = Status::Ok();
  Result<PointConfig> c = ConfigFrom(a);
  if (c.ok()) {
    s = RunPoint(c.value(), &row);
  } else {
    s = c.status();
  }
  if (a.Has("--sweep-point")) {
    if (!row.empty()) std::printf("POINT %s\n", CsvLine(row).c_str());
    return s;
  }
  GPEN_TRY(s);
  return WriteTables({row}, a.Get("--csv"), a.Get("--md"));
}

// Whether this run is a point of its own (bench_point.h) rather than the plain or GPEN
// budget benchmark: tiles asked for, a budget for an image network, or a table.
Result<bool> IsPoint(const Args& a) {
  for (const char* f : {"--sweep-point", "--tile", "--tile-pad", "--tile-batch", "--csv", "--md",
                        "--peak-gflops", "--peak-gbps"})
    if (a.Has(f)) return true;
  if (!a.Has("--vram-budget")) return false;
  if (!a.Get("--model").empty()) {
    GPEN_ASSIGN_OR_RETURN(std::shared_ptr<const Network> net, LoadNetwork(a.Get("--model")));
    return net->family() != "gpen";
  }
  GPEN_ASSIGN_OR_RETURN(std::string family, FamilyOfArch(a.Get("--arch")));
  return family != "gpen";
}

// The plain benchmark (and GPEN's --vram-budget): the RESULT line bench/device_check.sh
// parses, and with --profile the per-op profile after it.
Status BenchPlain(const Args& a) {
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
    if (a.Has("--profile") || a.Has("--profile-csv")) {
      return InvalidArgument("--profile times one pass of one batch, not a budget's batches",
                             "drop --vram-budget (give --batch) to profile");
    }
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
  if (a.Has("--profile") || a.Has("--profile-csv")) {
    GPEN_TRY(ProfilePass(s->backend(), precision, a.Get("--profile-csv")));
  }
  return Status::Ok();
}

}  // namespace

Status CmdBench(int argc, char** argv) {
  Args a("bench");
  AddFlags(&a);
  GPEN_TRY(a.Parse(argc, argv));
  if (a.Has("--help")) {
    std::printf("usage: gpen bench [flags]\n\n%s", a.Help().c_str());
    return Status::Ok();
  }
  if (a.Has("--sweep")) return Sweep(a);
  GPEN_ASSIGN_OR_RETURN(bool point, IsPoint(a));
  return point ? Point(a) : BenchPlain(a);
}

}  // namespace gpen::cli
