// Fixture path resolution for tests.
#include "fixtures.h"

#include <cstdlib>
#include <sys/stat.h>

namespace gpen::test {

std::string SharedDir() {
  if (const char* e = std::getenv("GPEN_SHARED_DIR")) return e;
  return GPEN_SHARED_DIR_DEFAULT;
}

std::string ModelsDir() {
  if (const char* e = std::getenv("GPEN_TEST_MODELS_DIR")) return e;
  return GPEN_TEST_MODELS_DIR_DEFAULT;
}

bool FileExists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

}  // namespace gpen::test
