// Jobs: which files a run reads and writes, decided and checked before a model loads.
//
// An input is a file or a folder of images (regular files with an image extension,
// sorted; anything else of such a name is skipped with a notice, and the temporary
// files of an interrupted run, .NAME.tmp.XXXXXX, are never inputs). Outputs take the
// inputs' names in the output folder, or the one output file given. Inputs are never
// overwritten: an output that is an input, the input folder itself, an existing output
// that is read-only or not a regular file, or a missing parent folder is refused.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace gpen {

struct Job {
  std::string in, out;
};

// The jobs for `--input in_arg --output out_arg` (an output folder is created when the
// input is a folder).
Result<std::vector<Job>> PlanJobs(const std::string& in_arg, const std::string& out_arg);

// Creates the folder `path` (its parent must exist) or checks an existing one takes new
// files; errors name `flag`.
Status MakeFolder(const std::string& flag, const std::string& path);

// An existing output is replaced only when it is a regular file we may write.
Status CheckOutputTarget(const std::string& path);

}  // namespace gpen
