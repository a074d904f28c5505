// gpen enhance: restore aligned face crops, a file or a folder, in batches.
//
// The flags and the run are shared with gpen upscale (cli/run_command.h): which files
// are read and written is decided by PlanJobs (pipeline/jobs.h: inputs never
// overwritten, outputs whole or absent, read-only or non-regular outputs refused before
// the model loads), the batched decode -> run -> encode by RunPipeline. An image that
// cannot be read or written is reported and skipped; the exit code says some failed.
#include <cstdio>

#include "cli/commands.h"
#include "cli/run_command.h"

namespace gpen::cli {

Status CmdEnhance(int argc, char** argv, int* failed) {
  *failed = 0;
  const RunCommand c{"enhance", "gpen enhance -m MODEL -i IN -o OUT --aligned [flags]", "gpen",
                     "gpen upscale runs RRDBNet upscalers; gpen enhance needs a GPEN model", true};
  Args a("enhance");
  AddRunFlags(c, a);
  a.Flag("--aligned", false, "inputs are aligned face crops (required for now)")
      .Flag("-h,--help", false, "show this help");
  GPEN_TRY(a.Parse(argc, argv));
  if (a.Has("--help")) {
    std::printf("usage: %s\n\n%s", c.usage.c_str(), a.Help().c_str());
    return Status::Ok();
  }
  if (!a.Has("--aligned")) {
    return Unavailable("gpen enhance: only aligned face crops are supported so far",
                       "pass --aligned with crops made the way upstream aligns faces; whole "
                       "photos (detection, alignment, paste-back) come in a later version");
  }
  return RunFiles(c, a, failed);
}

}  // namespace gpen::cli
