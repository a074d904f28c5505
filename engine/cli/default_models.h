// Default model files: where tools/fetch_models.sh puts them, found without a flag.
//
// `gpen enhance` on a whole photo needs a detector and, for the default background, an
// upscaler. tools/fetch_models.sh converts both into models/ of the checkout; a run
// finds them there (models/ of the current folder, then models/ beside the folder that
// holds the gpen binary's build folder), so the two-command README works without flags.
// The loaders below are the photo commands' (gpen enhance, gpen serve): each checks that
// the file holds the kind of network its flag asks for and prints one line naming it.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "net/network.h"
#include "net/retinaface_net.h"

namespace gpen::cli {

inline constexpr const char* kDefaultDetector = "retinaface-mnet.safetensors";
inline constexpr const char* kDefaultUpscaler = "realesrgan-x4plus.safetensors";

// The path of models/NAME if a regular file is found there; empty otherwise.
std::string FindDefaultModel(const std::string& name);

// The GPEN restorer of --model `path`, for `command` ("gpen enhance").
Result<std::shared_ptr<const Network>> LoadRestorer(const std::string& command,
                                                    const std::string& path);

// The detector of --detector `path`, or models/kDefaultDetector when `path` is empty;
// `hint` says what else the user may do when there is none.
Result<std::shared_ptr<const RetinaFaceNetwork>> LoadPhotoDetector(const std::string& command,
                                                                   std::string path,
                                                                   const std::string& hint);

// The background upscaler of --upscaler `path` (an image network such as RRDBNet).
Result<std::shared_ptr<const Network>> LoadUpscaler(const std::string& path);

}  // namespace gpen::cli
