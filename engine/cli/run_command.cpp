// The flags and the body of a run over files, for enhance and upscale.
#include "cli/run_command.h"

#include <cstdint>
#include <cstdio>
#include <memory>

#include "cli/device_select.h"
#include "core/parallel.h"
#include "net/registry.h"
#include "pipeline/pipeline.h"

namespace gpen::cli {

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
      .Flag("--threads", true, "CPU threads (0 = all cores)", "0")
      .Flag("--max-pixels", true,
            "the largest input image decoded, in pixels (width x height); larger ones are "
            "refused from their header",
            std::to_string(kDefaultMaxImagePixels));
  if (c.noise_seed) {
    a.Flag("--seed", true, "seed of the noise FullGenerator_SR draws above the encoder size", "0");
  }
}

namespace {

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
  return po;
}

}  // namespace

Status RunFiles(const RunCommand& c, const Args& a, int* failed) {
  *failed = 0;
  GPEN_ASSIGN_OR_RETURN(PipelineOptions po, ParseRunFlags(c, a));
  GPEN_ASSIGN_OR_RETURN(std::vector<Job> jobs, PlanJobs(a.Get("--input"), a.Get("--output")));
  // Threads and OpenBLAS's buffer before the weights: under an address-space limit
  // they must find room first (core/parallel.h).
  if (po.device == Device::kCpu) GPEN_TRY(StartCpuThreads(po.threads));
  GPEN_ASSIGN_OR_RETURN(std::shared_ptr<const Network> network, LoadNetwork(a.Get("--model")));
  if (network->family() != c.family) {
    return InvalidArgument("--model " + a.Get("--model") + " is a " + network->family() +
                               " model (" + network->Describe() + "); gpen " + c.name + " runs " +
                               c.family + " models",
                           c.family_hint);
  }
  std::fprintf(stderr, "model: %s\n", network->Describe().c_str());
  GPEN_ASSIGN_OR_RETURN(PipelineResult r, RunPipeline(network, jobs, po));
  *failed = static_cast<int>(r.failed);
  std::fprintf(stderr, "done: %lld of %zu images in %.1f s%s\n", static_cast<long long>(r.written),
               jobs.size(), r.seconds, r.failed ? " (some failed, see above)" : "");
  return Status::Ok();
}

}  // namespace gpen::cli
