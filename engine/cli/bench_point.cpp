// One sweep point, measured in this process (bench_point.h): validation first, then the
// timed passes of the plain, tiled or budget mode, and the row of the sweep's CSV.
#include "cli/bench_point.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <sstream>

#include "batch_runner.h"
#include "cli/device_select.h"
#include "core/parallel.h"
#include "net/registry.h"
#include "run_plan.h"
#include "session.h"
#include "tiling/tiled_image.h"

namespace gpen::cli {

const std::vector<std::string> kSweepColumns = {
    "impl",       "net",         "arch",        "device",       "precision",
    "batch",      "size",        "tile",        "tile_pad",     "tile_batch",
    "budget_mib", "threads",     "items",       "ms_median",    "ms_min",
    "ms_max",     "ms_per_item", "ms_per_mpix", "items_per_s",  "gflops",
    "gbps",       "peak_share",  "planned_mib", "measured_mib", "valid"};

namespace {

// CUDA against the CPU: relative L2 error of the output (fp32: cuDNN/cuBLAS differ from
// OpenBLAS in the order of sums only; fp16: storage rounding through every layer, GPEN's
// fp16 bound in tests/test_cuda.cpp).
constexpr double kCudaFp32Tolerance = 1e-4;
constexpr double kCudaFp16Tolerance = 5e-3;
// The CPU reference of a CUDA point runs at batch 1, on at most this input edge (image
// networks; GPEN's input is its own).
constexpr int64_t kValidateEdge = 64;

std::string Fmt(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

double Mib(int64_t bytes) {
  return static_cast<double>(bytes) / 1048576.0;
}

int64_t PeakRss() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<int64_t>(ru.ru_maxrss) * 1024;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 == 1 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

double RelL2(const std::vector<float>& a, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - ref[i];
    num += d * d;
    den += static_cast<double>(ref[i]) * ref[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

bool AllFinite(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

// What every mode shares: the network, its resolved device and precision.
struct Ctx {
  const PointConfig& c;
  std::shared_ptr<const Network> net;
  Device device = Device::kCpu;
  Precision precision = Precision::kFp32;
  IoSpec io;
  bool image_net = false;  // sizes come from --size (not GPEN's fixed face input)
};

// The timed passes of a mode, what one pass computes and holds.
struct Measured {
  std::vector<double> ms;  // per pass
  int64_t items_per_pass = 1;
  double flops = 0, bytes = 0;  // per pass
  int64_t planned = 0, measured = 0;
  int64_t batch = 1, tile = -1, tile_pad = -1, tile_batch = -1;
  double ms_per_item = 0;  // 0: median / items_per_pass
};

Status Invalid(const std::string& what) {
  return Status(ErrorCode::kInternal, "bench: " + what + "; not timing",
                "this is a bug in the engine; report it with the flags of this point");
}

// A CUDA point's network against the CPU backend at batch 1 on a small input.
Status ValidateAgainstCpu(const Ctx& x) {
  const int64_t h = x.image_net ? std::min(x.c.h, kValidateEdge) : x.c.h;
  const int64_t w = x.image_net ? std::min(x.c.w, kValidateEdge) : x.c.w;
  GPEN_ASSIGN_OR_RETURN(IoSpec io, x.net->Io(h, w));
  const std::vector<float> in =
      RandomInput(*x.net, io, 1, h, w, static_cast<uint32_t>(x.c.seed) + 7);
  std::vector<float> out_gpu(static_cast<size_t>(io.out_numel())), out_cpu = out_gpu;
  for (Device d : {Device::kCuda, Device::kCpu}) {
    BackendOptions bo;
    bo.precision = d == Device::kCuda ? x.precision : Precision::kFp32;
    bo.threads = x.c.threads;
    GPEN_ASSIGN_OR_RETURN(std::unique_ptr<Session> s,
                          Session::Create(x.net, x.net->OptionsFor(io, 1), d, bo));
    GPEN_TRY(s->Run(in.data(), d == Device::kCuda ? out_gpu.data() : out_cpu.data()));
  }
  const double tol = x.precision == Precision::kFp16 ? kCudaFp16Tolerance : kCudaFp32Tolerance;
  const double err = RelL2(out_gpu, out_cpu);
  const bool ok = err <= tol;  // false for NaN too
  std::printf(
      "  validation: CUDA vs CPU at batch 1, %lldx%lld: relative L2 %.2e (tolerance %.0e): %s\n",
      static_cast<long long>(w), static_cast<long long>(h), err, tol, ok ? "ok" : "FAILED");
  if (!ok) return Invalid("CUDA output differs from the CPU reference");
  return Status::Ok();
}

// Device memory free now (CUDA), for the measured delta; 0 on the CPU.
Result<int64_t> FreeNow(Device d) {
  if (d != Device::kCuda) return int64_t{0};
  return CudaFreeMemory();
}

Result<int64_t> MeasuredSince(Device d, int64_t free_before) {
  if (d != Device::kCuda) return PeakRss();
  GPEN_ASSIGN_OR_RETURN(int64_t free_after, CudaFreeMemory());
  return free_before - free_after;
}

// Plain mode: one session of --batch items; device events on CUDA, wall clock on the CPU.
Result<Measured> RunPlain(const Ctx& x) {
  Measured m;
  BackendOptions bo;
  bo.precision = x.precision;
  bo.threads = x.c.threads;
  m.batch = m.items_per_pass = x.c.batch;
  for (const MemoryLine& l :
       PlanLines(*x.net, x.io, bo, x.device, x.c.batch, nullptr, /*count_context=*/false))
    m.planned += l.bytes;
  GPEN_ASSIGN_OR_RETURN(int64_t free_before, FreeNow(x.device));
  GPEN_ASSIGN_OR_RETURN(std::unique_ptr<Session> s,
                        Session::Create(x.net, x.net->OptionsFor(x.io, x.c.batch), x.device, bo));
  const std::vector<float> in =
      RandomInput(*x.net, x.io, x.c.batch, x.c.h, x.c.w, static_cast<uint32_t>(x.c.seed));
  std::vector<float> out(static_cast<size_t>(x.c.batch * x.io.out_numel())), ref;
  for (int64_t i = 0; i < x.c.warmup; ++i) GPEN_TRY(s->Run(in.data(), out.data()));
  if (!AllFinite(out)) return Invalid("output has NaN or Inf");
  ref = out;
  GPEN_TRY(s->SetInput(in.data()));
  for (int64_t i = 0; i < x.c.iters; ++i) {
    GPEN_ASSIGN_OR_RETURN(double t, s->backend().TimedRun());
    m.ms.push_back(t);
    GPEN_TRY(s->ReadImage(out.data()));
    if (out != ref) return Invalid("output differs between runs");
  }
  std::printf("  validated: output finite and identical across %lld runs\n",
              static_cast<long long>(x.c.warmup + x.c.iters));
  m.flops = s->graph().Flops();
  m.bytes = s->graph().BytesMoved(x.precision == Precision::kFp16 ? 2 : 4);
  GPEN_ASSIGN_OR_RETURN(m.measured, MeasuredSince(x.device, free_before));
  return m;
}

PlanRequest BaseRequest(const Ctx& x) {
  PlanRequest req;
  req.device = x.device;
  req.precision = x.precision;
  req.budget = x.c.budget;
  req.threads = x.c.threads;
  return req;
}

int64_t ContextLine(const RunPlan& plan) {
  for (const MemoryLine& l : plan.lines)
    if (l.what.rfind("CUDA context", 0) == 0) return l.bytes;
  return 0;
}

// FLOPs and bytes of all tiles of `plan`: full batches of tiles, then the remainder.
void TiledWork(const Ctx& x, const TilePlan& plan, Measured* m) {
  const int64_t tiles = plan.grid.count(), b = plan.run.batch;
  const size_t es = x.precision == Precision::kFp16 ? 2 : 4;
  for (const auto& [batch, times] :
       {std::pair<int64_t, int64_t>{b, tiles / b}, std::pair<int64_t, int64_t>{tiles % b, 1}}) {
    if (batch == 0 || times == 0) continue;
    const Graph g = x.net->BuildGraph(x.net->OptionsFor(plan.window_io, batch));
    m->flops += g.Flops() * static_cast<double>(times);
    m->bytes += g.BytesMoved(es) * static_cast<double>(times);
  }
}

// Tiled mode: the image through RunTiled as gpen upscale runs it (a session per pass,
// the tiles cut, run and assembled); the wall clock of each whole pass.
Result<Measured> RunTiledMode(const Ctx& x) {
  Measured m;
  const TileRequest want{x.c.tile, x.c.tile_pad, x.c.tile_batch, false};
  GPEN_ASSIGN_OR_RETURN(TilePlan plan, ChooseTilePlan(*x.net, x.io, want, BaseRequest(x), 12));
  std::printf("%s", plan.Describe().c_str());
  m.planned = plan.run.total - ContextLine(plan.run);
  m.tile = plan.grid.x.tile;
  m.tile_pad = plan.grid.x.pad;
  m.tile_batch = plan.run.batch;
  TiledWork(x, plan, &m);
  std::mt19937 rng(static_cast<uint32_t>(x.c.seed));
  std::uniform_real_distribution<float> u(0.f, 1.f);
  Image img;
  img.width = x.c.w;
  img.height = x.c.h;
  img.rgb.resize(static_cast<size_t>(3 * x.c.h * x.c.w));
  for (float& v : img.rgb) v = u(rng);
  const TileSource src(&img);
  TiledRunOptions ro;
  ro.device = x.device;
  ro.backend = plan.run.Options(x.c.threads);
  // On CUDA a pass's session is gone when RunTiled returns: free memory is read after
  // each batch of tiles (the progress callback), while the session is alive.
  GPEN_ASSIGN_OR_RETURN(int64_t free_before, FreeNow(x.device));
  int64_t peak = 0;
  if (x.device == Device::kCuda) {
    ro.progress = [&](const TileProgress&) {
      const Result<int64_t> now = CudaFreeMemory();
      if (now.ok()) peak = std::max(peak, free_before - now.value());
    };
  }
  std::vector<uint8_t> ref;
  for (int64_t i = 0; i < x.c.warmup + x.c.iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    GPEN_ASSIGN_OR_RETURN(PixelImage out, RunTiled(x.net, src, plan, ro));
    const auto t1 = std::chrono::steady_clock::now();
    if (i == 0) ref = out.data;
    if (out.data != ref) return Invalid("tiled output differs between runs");
    if (i >= x.c.warmup) m.ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::printf("  validated: tiled output identical across %lld runs\n",
              static_cast<long long>(x.c.warmup + x.c.iters));
  if (x.device == Device::kCpu) peak = PeakRss();
  m.measured = peak;
  return m;
}

// Budget mode for GPEN: --faces faces in the planner's batches (as gpen enhance runs
// them), each batch timed with the wall clock (a run ends with the output read back).
Result<Measured> RunBudget(const Ctx& x) {
  Measured m;
  GPEN_ASSIGN_OR_RETURN(int64_t free_before, FreeNow(x.device));
  BatchRunnerOptions ro;
  ro.device = x.device;
  ro.precision = x.precision;
  ro.threads = x.c.threads;
  ro.items = x.c.faces;
  ro.budget = x.c.budget;
  GPEN_ASSIGN_OR_RETURN(std::unique_ptr<BatchRunner> runner, BatchRunner::Create(x.net, x.io, ro));
  const int64_t b = runner->batch();
  std::vector<float> in =
      RandomInput(*x.net, x.io, b, x.c.h, x.c.w, static_cast<uint32_t>(x.c.seed));
  std::vector<float> out, ref;
  const TensorView in_view(in.data(), {b, x.io.in_c, x.io.in_h, x.io.in_w});
  const TensorView out_view = TensorView::Of(&out, {b, x.io.out_c, x.io.out_h, x.io.out_w});
  for (int64_t i = 0; i < x.c.warmup; ++i) GPEN_TRY(runner->Run(in_view, out_view));
  if (!AllFinite(out)) return Invalid("output has NaN or Inf");
  ref = out;
  double total_ms = 0;
  for (int64_t it = 0; it < x.c.iters; ++it) {
    for (int64_t done = 0; done < x.c.faces; done += b) {
      const int64_t n = std::min(b, x.c.faces - done);
      const auto t0 = std::chrono::steady_clock::now();
      GPEN_TRY(runner->Run(in_view.Slice(0, n), out_view.Slice(0, n)));
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      total_ms += ms;
      if (n == b) m.ms.push_back(ms);
      if (n == b && out != ref) return Invalid("output differs between runs");
    }
  }
  std::printf("  validated: output finite and identical across runs\n");
  const RunPlan& plan = runner->plan();
  m.batch = m.items_per_pass = b;
  if (m.ms.empty()) m.ms.push_back(total_ms / static_cast<double>(x.c.iters));
  m.ms_per_item = total_ms / static_cast<double>(x.c.iters * x.c.faces);
  m.planned = plan.total - ContextLine(plan);
  if (!plan.tiled) {
    const Graph g = x.net->BuildGraph(x.net->OptionsFor(x.io, b));
    m.flops = g.Flops();
    m.bytes = g.BytesMoved(x.precision == Precision::kFp16 ? 2 : 4);
  }
  GPEN_ASSIGN_OR_RETURN(m.measured, MeasuredSince(x.device, free_before));
  return m;
}

std::string Opt(int64_t v) {
  return v < 0 ? "" : std::to_string(v);
}

void FillRow(const Ctx& x, const Measured& m, PointRow* row) {
  PointRow& r = *row;
  r["batch"] = std::to_string(m.batch);
  r["tile"] = Opt(m.tile);
  r["tile_pad"] = Opt(m.tile_pad);
  r["tile_batch"] = Opt(m.tile_batch);
  r["items"] = std::to_string(m.items_per_pass);
  const double med = Median(m.ms);
  r["ms_median"] = Fmt(med, 3);
  r["ms_min"] = Fmt(*std::min_element(m.ms.begin(), m.ms.end()), 3);
  r["ms_max"] = Fmt(*std::max_element(m.ms.begin(), m.ms.end()), 3);
  const double per_item =
      m.ms_per_item > 0 ? m.ms_per_item : med / static_cast<double>(m.items_per_pass);
  const double mpix =
      static_cast<double>(x.image_net ? x.c.h * x.c.w : x.io.in_h * x.io.in_w) / 1e6;
  r["ms_per_item"] = Fmt(per_item, 3);
  r["ms_per_mpix"] = Fmt(per_item / mpix, 3);
  r["items_per_s"] = Fmt(1000.0 / per_item, 3);
  const double s = med * 1e-3;
  if (m.flops > 0) {
    const double gflops = m.flops / s / 1e9, gbps = m.bytes / s / 1e9;
    r["gflops"] = Fmt(gflops, 1);
    r["gbps"] = Fmt(gbps, 1);
    double share = 0;
    if (x.c.peak_gflops > 0) share = std::max(share, gflops / x.c.peak_gflops);
    if (x.c.peak_gbps > 0) share = std::max(share, gbps / x.c.peak_gbps);
    if (share > 0) r["peak_share"] = Fmt(share, 3);
  }
  r["planned_mib"] = Fmt(Mib(m.planned), 1);
  r["measured_mib"] = Fmt(Mib(m.measured), 1);
}

Result<Ctx> MakeCtx(const PointConfig& c, PointRow* row) {
  Ctx x{c, nullptr, Device::kCpu, Precision::kFp32, IoSpec{}, false};
  GPEN_ASSIGN_OR_RETURN(x.device, ResolveDevice(c.device_flag));
  GPEN_ASSIGN_OR_RETURN(x.precision, ResolvePrecision(c.precision_flag, x.device));
  (*row)["device"] = x.device == Device::kCuda ? "cuda" : "cpu";
  (*row)["precision"] = x.precision == Precision::kFp16 ? "fp16" : "fp32";
  if (x.device == Device::kCpu) GPEN_TRY(StartCpuThreads(c.threads));
  if (!c.model.empty()) {
    GPEN_ASSIGN_OR_RETURN(x.net, LoadNetwork(c.model));
  } else {
    GPEN_ASSIGN_OR_RETURN(x.net, NetworkForArch(c.arch, static_cast<uint64_t>(c.seed)));
  }
  (*row)["net"] = x.net->family();
  x.image_net = x.net->family() != "gpen";
  GPEN_ASSIGN_OR_RETURN(x.io, x.net->Io(c.h, c.w));
  return x;
}

Result<Measured> RunMode(const Ctx& x) {
  const bool tiled = x.image_net && (x.c.tiled_flags || x.c.budget > 0);
  if (x.c.tiled_flags && !x.image_net) {
    return InvalidArgument("--tile, --tile-pad and --tile-batch tile images of image networks",
                           "GPEN plans its own tiles: give --vram-budget instead");
  }
  std::printf("  mode: %s\n", tiled ? "tiled image" : (x.c.budget > 0 ? "budget" : "plain"));
  if (tiled) return RunTiledMode(x);
  if (x.c.budget > 0) return RunBudget(x);
  return RunPlain(x);
}

}  // namespace

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

Status RunPoint(const PointConfig& c, PointRow* row) {
  PointRow& r = *row;
  r["impl"] = "gpen";
  r["arch"] = c.model.empty() ? c.arch : c.model;
  r["batch"] = std::to_string(c.batch);
  r["size"] = std::to_string(c.w) + "x" + std::to_string(c.h);
  r["tile"] = Opt(c.tile);
  r["tile_pad"] = Opt(c.tile_pad);
  r["tile_batch"] = Opt(c.tile_batch);
  r["budget_mib"] = c.budget > 0 ? Fmt(Mib(c.budget), 0) : "";
  r["threads"] = std::to_string(c.threads);
  r["device"] = c.device_flag;  // as given, until resolved
  r["precision"] = c.precision_flag;
  r["valid"] = "no";
  GPEN_ASSIGN_OR_RETURN(Ctx x, MakeCtx(c, row));
  std::printf("point: %s, %s, %s %s\n", r["arch"].c_str(), x.net->Describe().c_str(),
              r["device"].c_str(), r["precision"].c_str());
  if (x.device == Device::kCuda) GPEN_TRY(ValidateAgainstCpu(x));
  GPEN_ASSIGN_OR_RETURN(Measured m, RunMode(x));
  FillRow(x, m, row);
  r["valid"] = "yes";
  return Status::Ok();
}

namespace {

std::string CsvField(const std::string& v) {
  if (v.find_first_of(",\"\n") == std::string::npos) return v;
  std::string q = "\"";
  for (char ch : v) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

}  // namespace

std::string CsvHeader() {
  std::string s;
  for (const std::string& c : kSweepColumns) s += (s.empty() ? "" : ",") + c;
  return s;
}

std::string CsvLine(const PointRow& row) {
  std::string s;
  for (size_t i = 0; i < kSweepColumns.size(); ++i) {
    const auto it = row.find(kSweepColumns[i]);
    s += (i ? "," : "") + CsvField(it == row.end() ? "" : it->second);
  }
  return s;
}

PointRow ParseCsvLine(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (quoted && ch == '"' && i + 1 < line.size() && line[i + 1] == '"') {
      fields.back() += '"';
      ++i;
    } else if (ch == '"') {
      quoted = !quoted;
    } else if (ch == ',' && !quoted) {
      fields.emplace_back();
    } else {
      fields.back() += ch;
    }
  }
  PointRow row;
  for (size_t i = 0; i < kSweepColumns.size() && i < fields.size(); ++i)
    row[kSweepColumns[i]] = fields[i];
  return row;
}

}  // namespace gpen::cli
