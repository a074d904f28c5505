// The flags and the body of a run over files, for enhance and upscale.
#include "cli/run_command.h"

#include <sys/resource.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "cli/device_select.h"
#include "core/parallel.h"
#include "net/registry.h"
#include "pipeline/jobs.h"
#include "pipeline/pipeline.h"
#include "pipeline/shard.h"

namespace gpen::cli {

void AddTileFlags(Args& a) {
  a.Flag("--tile-size", true,
         "tile edge in input pixels, 0 for the whole image as one tile, or auto: the largest "
         "that fits the memory budget",
         "auto")
      .Flag("--tile-pad", true, "context around each tile, in input pixels, or auto (32)", "auto")
      .Flag("--tile-batch", true, "tiles per run, or auto: as many as fit", "auto")
      .Flag("--tile-blend", true,
            "seams: auto (neighbours mixed in a narrow band where both have context) or hard "
            "(each tile keeps its core, Real-ESRGAN's way; for comparison)",
            "auto");
}

void AddRunFlags(const RunCommand& c, Args& a) {
  a.Flag("-m,--model", true, "converted model file (.safetensors)")
      .Flag("-i,--input", true, "input image or folder")
      .Flag("-o,--output", true, "output image or folder (created if missing)")
      .Flag("--device", true, "cpu, cuda or auto", "auto")
      .Flag("--precision", true, "fp32 or fp16 (fp16 on cuda only)", "fp32")
      .Flag("--batch", true, "items per batch, or auto: the largest that fits the memory budget",
            "auto")
      .Flag("--vram-budget", true,
            "plan for this much memory (e.g. 2G) instead of what is free; bounds RAM on cpu")
      .Flag("--threads", true,
            "CPU threads (0 = one per core that other processes leave free, measured as it runs)",
            "0")
      .Flag("--max-pixels", true,
            "the largest input image decoded, in pixels (width x height); larger ones are "
            "refused from their header",
            std::to_string(kDefaultMaxImagePixels))
      .Flag("--shard", true,
            "K/N: process only this worker's share of a folder (K from 0 to N-1; a file's "
            "share depends on its name alone), for N workers of a job array")
      .Flag("--skip-existing", false,
            "leave out inputs whose output already exists (resumes an interrupted run: "
            "outputs are written whole or not at all)");
  if (c.noise_seed) {
    a.Flag("--seed", true, "seed of the noise FullGenerator_SR draws above the encoder size", "0");
  }
  if (c.image_flags) {
    a.Repeatable("--model");
    AddTileFlags(a);
    a.Flag("--save-tiles", true, "also write every tile's output to this folder")
        .Flag("--outscale", true,
              "resize the result to this many times the input's size (Lanczos), e.g. 8 "
              "after -m x4 -m x4 for x8, or 3.5")
        .Flag("--hf-suppress", false,
              "filter the result against high-frequency ringing (bilateral, d 5, sigma 75)");
  }
}

namespace {

// "auto" -> -1, else an integer in [lo, hi].
Result<int64_t> AutoOrInt(const Args& a, const std::string& flag, int64_t lo, int64_t hi) {
  if (a.Get(flag) == "auto") return int64_t{-1};
  return a.GetInt(flag, lo, hi);
}

}  // namespace

Status ParseTileFlags(const Args& a, TileRequest* t) {
  GPEN_ASSIGN_OR_RETURN(t->tile, AutoOrInt(a, "--tile-size", 0, 65536));
  GPEN_ASSIGN_OR_RETURN(t->pad, AutoOrInt(a, "--tile-pad", 0, 1024));
  GPEN_ASSIGN_OR_RETURN(t->batch, AutoOrInt(a, "--tile-batch", 1, 256));
  if (t->tile > 0 && t->tile < kMinTile) {
    return InvalidArgument(
        "--tile-size " + a.Get("--tile-size") + " is smaller than " + std::to_string(kMinTile) +
            " pixels",
        "use 0 for the whole image, auto, or a tile of at least " + std::to_string(kMinTile));
  }
  const std::string blend = a.Get("--tile-blend");
  if (blend != "auto" && blend != "hard") {
    return InvalidArgument("--tile-blend '" + blend + "' is not auto or hard");
  }
  t->hard_crop = blend == "hard";
  return Status::Ok();
}

namespace {

Status ParseImageFlags(const Args& a, PipelineOptions* po) {
  GPEN_TRY(ParseTileFlags(a, &po->tiles));
  po->hf_suppress = a.Has("--hf-suppress");
  if (a.Has("--outscale")) {
    const std::string v = a.Get("--outscale");
    char* end = nullptr;
    const double s = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !(s >= 0.05 && s <= 64)) {
      return InvalidArgument("--outscale '" + v + "' is not a number in [0.05, 64]",
                             "for example --outscale 2 or --outscale 3.5");
    }
    po->outscale = s;
  }
  if (a.Has("--save-tiles")) {
    po->save_tiles_dir = a.Get("--save-tiles");
    GPEN_TRY(MakeFolder("--save-tiles", po->save_tiles_dir));
  }
  return Status::Ok();
}

}  // namespace

Result<PipelineOptions> ParseRunFlags(const RunCommand& c, const Args& a) {
  for (const char* req : {"--model", "--input", "--output"}) {
    if (a.Get(req).empty()) {
      return InvalidArgument("gpen " + c.name + ": " + req + " is required",
                             "see gpen " + c.name + " --help");
    }
  }
  PipelineOptions po;
  if (a.Get("--batch") != "auto") {
    GPEN_ASSIGN_OR_RETURN(po.fixed_batch, a.GetInt("--batch", 1, 256));
  }
  if (a.Has("--vram-budget")) {
    GPEN_ASSIGN_OR_RETURN(po.budget, a.GetBytes("--vram-budget"));
  }
  GPEN_ASSIGN_OR_RETURN(int64_t threads, a.GetInt("--threads", 0, 1024));
  po.threads = static_cast<int>(threads);
  if (c.noise_seed) {
    GPEN_ASSIGN_OR_RETURN(int64_t seed, a.GetInt("--seed", 0, INT64_MAX));
    po.noise_seed = static_cast<uint64_t>(seed);
  }
  GPEN_ASSIGN_OR_RETURN(po.load.max_pixels,
                        a.GetInt("--max-pixels", 1, int64_t{1'000'000'000'000}));
  GPEN_ASSIGN_OR_RETURN(po.device, ResolveDevice(a.Get("--device")));
  GPEN_ASSIGN_OR_RETURN(po.precision, ResolvePrecision(a.Get("--precision"), po.device));
  if (c.image_flags) GPEN_TRY(ParseImageFlags(a, &po));
  return po;
}

Result<std::vector<Job>> SelectedJobs(const Args& a) {
  GPEN_ASSIGN_OR_RETURN(std::vector<Job> jobs, PlanJobs(a.Get("--input"), a.Get("--output")));
  const size_t all = jobs.size();
  if (a.Has("--shard")) {
    GPEN_ASSIGN_OR_RETURN(Shard s, ParseShard(a.Get("--shard")));
    jobs = SelectShard(jobs, s);
    std::fprintf(stderr, "shard %lld/%lld: %zu of %zu images\n", static_cast<long long>(s.k),
                 static_cast<long long>(s.n), jobs.size(), all);
  }
  if (a.Has("--skip-existing")) {
    const size_t before = jobs.size();
    jobs = SkipFinished(jobs);
    if (jobs.size() < before) {
      std::fprintf(stderr, "skipped %zu image%s whose output exists (--skip-existing)\n",
                   before - jobs.size(), before - jobs.size() == 1 ? "" : "s");
    }
  }
  if (jobs.empty()) std::fprintf(stderr, "done: nothing to do\n");
  return jobs;
}

Status RunFiles(const RunCommand& c, const Args& a, int* failed) {
  *failed = 0;
  GPEN_ASSIGN_OR_RETURN(PipelineOptions po, ParseRunFlags(c, a));
  GPEN_ASSIGN_OR_RETURN(std::vector<Job> jobs, SelectedJobs(a));
  if (jobs.empty()) return Status::Ok();
  // Threads and OpenBLAS's buffer before the weights: under an address-space limit
  // they must find room first (core/parallel.h).
  if (po.device == Device::kCpu) GPEN_TRY(StartCpuThreads(po.threads));
  std::vector<std::shared_ptr<const Network>> networks;
  for (const std::string& path : a.GetAll("--model")) {
    GPEN_ASSIGN_OR_RETURN(std::shared_ptr<const Network> network, LoadNetwork(path));
    if (network->family() != c.family) {
      return InvalidArgument("--model " + path + " is a " + network->family() + " model (" +
                                 network->Describe() + "); gpen " + c.name + " runs " + c.family +
                                 " models",
                             c.family_hint);
    }
    std::fprintf(stderr, "model: %s\n", network->Describe().c_str());
    networks.push_back(std::move(network));
  }
  GPEN_ASSIGN_OR_RETURN(PipelineResult r, RunPipeline(networks, jobs, po));
  *failed = static_cast<int>(r.failed);
  std::string rss;
  if (po.device == Device::kCpu) {
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    rss = ", peak RSS " + FormatBytes(static_cast<int64_t>(ru.ru_maxrss) * 1024);
  }
  std::fprintf(stderr, "done: %lld of %zu images in %.1f s%s%s\n",
               static_cast<long long>(r.written), jobs.size(), r.seconds, rss.c_str(),
               r.failed ? " (some failed, see above)" : "");
  return Status::Ok();
}

}  // namespace gpen::cli
