// What `gpen enhance` and `gpen upscale` share: the flags of a run over files, their
// parsing, and the run itself (PlanJobs, the model, RunPipeline, the summary line).
#pragma once

#include <string>
#include <vector>

#include "cli/args.h"
#include "core/status.h"
#include "pipeline/jobs.h"
#include "pipeline/pipeline.h"
#include "tiling/tiled_image.h"

namespace gpen::cli {

struct RunCommand {
  std::string name;          // "enhance"
  std::string usage;         // the usage line
  std::string family;        // the model family the command runs ("gpen")
  std::string family_hint;   // what to do when the model is of another family
  bool noise_seed = false;   // the command takes --seed
  bool image_flags = false;  // tiles, chained -m, --outscale, --hf-suppress (upscale)
};

// Declares -m, -i, -o, --device, --precision, --batch, --vram-budget, --threads,
// --max-pixels (and --seed; and for image networks the tile flags, --save-tiles,
// --outscale, --hf-suppress, with -m repeatable for chained passes) on `a`.
void AddRunFlags(const RunCommand& c, Args& a);
// The tile flags alone (--tile-size, --tile-pad, --tile-batch, --tile-blend), for
// gpen plan as for upscale, and their values.
void AddTileFlags(Args& a);
Status ParseTileFlags(const Args& a, TileRequest* tiles);

// The flags every run shares (model, files, device, batch, budget, threads, limits; the
// image flags when c.image_flags), checked.
Result<PipelineOptions> ParseRunFlags(const RunCommand& c, const Args& a);
// The jobs of -i/-o (PlanJobs), then this worker's share (--shard) of those not done
// yet (--skip-existing), each step said; empty, with "nothing to do" said, when none is
// left.
Result<std::vector<Job>> SelectedJobs(const Args& a);

// Parses the flags, plans the jobs, loads the model (which must be of c.family) and
// runs it; sets *failed to the images that could not be processed.
Status RunFiles(const RunCommand& c, const Args& a, int* failed);

}  // namespace gpen::cli
