// gpen upscale: enlarge images with an RRDBNet upscaler (Real-ESRGAN), a file or a folder.
//
// Each image runs in overlapping tiles whose size and batch the planner chooses for the
// memory budget (the whole image as one tile when it fits; tiling/tiled_image.h), with
// blended seams; several -m run as chained passes (x4 then x2 = x8); --outscale and
// --hf-suppress post-process. Flags and behaviour are otherwise gpen enhance's
// (cli/run_command.h): outputs whole or absent, inputs never overwritten, unreadable
// images reported and skipped.
#include <cstdio>

#include "cli/commands.h"
#include "cli/run_command.h"

namespace gpen::cli {

Status CmdUpscale(int argc, char** argv, int* failed) {
  *failed = 0;
  const RunCommand c{"upscale",
                     "gpen upscale -m MODEL [-m MODEL ...] -i IN -o OUT [flags]",
                     "rrdbnet",
                     "gpen enhance runs GPEN face models; gpen upscale needs an RRDBNet model "
                     "(tools/fetch_models.sh makes models/realesrgan-x4plus.safetensors)",
                     false,
                     true};
  Args a("upscale");
  AddRunFlags(c, a);
  a.Flag("-h,--help", false, "show this help");
  GPEN_TRY(a.Parse(argc, argv));
  if (a.Has("--help")) {
    std::printf("usage: %s\n\n%s", c.usage.c_str(), a.Help().c_str());
    return Status::Ok();
  }
  return RunFiles(c, a, failed);
}

}  // namespace gpen::cli
