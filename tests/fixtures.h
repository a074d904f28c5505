// Paths to reference data and to models the test build converted from it.
#pragma once

#include <string>

namespace gpen::test {

// ../shared (GPEN_SHARED_DIR at configure time, or $GPEN_SHARED_DIR at run time).
std::string SharedDir();
// Directory where ctest's convert step wrote <set>.safetensors (GPEN_TEST_MODELS_DIR).
std::string ModelsDir();
bool FileExists(const std::string& path);

}  // namespace gpen::test
