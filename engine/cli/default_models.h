// Default model files: where tools/fetch_models.sh puts them, found without a flag.
//
// `gpen enhance` on a whole photo needs a detector and, for the default background, an
// upscaler. tools/fetch_models.sh converts both into models/ of the checkout; a run
// finds them there (models/ of the current folder, then models/ beside the folder that
// holds the gpen binary's build folder), so the two-command README works without flags.
#pragma once

#include <string>

namespace gpen::cli {

inline constexpr const char* kDefaultDetector = "retinaface-mnet.safetensors";
inline constexpr const char* kDefaultUpscaler = "realesrgan-x4plus.safetensors";

// The path of models/NAME if a regular file is found there; empty otherwise.
std::string FindDefaultModel(const std::string& name);

}  // namespace gpen::cli
