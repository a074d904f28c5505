// The gpen subcommands. Each returns a Status; main() turns it into an exit code.
#pragma once

#include "core/status.h"

namespace gpen::cli {

// Exit code when a folder run finished but some images failed.
constexpr int kExitPartial = 2;

Status CmdInfo(int argc, char** argv);
// Sets *failed to the number of images that could not be processed.
Status CmdEnhance(int argc, char** argv, int* failed);
Status CmdUpscale(int argc, char** argv, int* failed);
Status CmdBench(int argc, char** argv);
Status CmdPlan(int argc, char** argv);
Status CmdDetect(int argc, char** argv);
Status CmdServe(int argc, char** argv);

}  // namespace gpen::cli
