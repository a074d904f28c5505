// Paths to reference data and to models the test build converted from it.
#pragma once

#include <cstdint>
#include <string>

#include "model/gpen_arch.h"

namespace gpen::test {

// ../shared (GPEN_SHARED_DIR at configure time, or $GPEN_SHARED_DIR at run time).
std::string SharedDir();
// Directory where ctest's convert step wrote <set>.safetensors (GPEN_TEST_MODELS_DIR).
std::string ModelsDir();
bool FileExists(const std::string& path);
// A small GPEN architecture for tests that build random weights (n_mlp 2,
// channel_multiplier 1): runs in milliseconds, yet has every kind of layer.
GpenArch TinyArch(int64_t in_size, int64_t out_size, int64_t style_dim = 32, double narrow = 0.0625);

}  // namespace gpen::test
