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

GpenArch TinyArch(int64_t in_size, int64_t out_size, int64_t style_dim, double narrow) {
  GpenArch a;
  a.in_size = in_size;
  a.out_size = out_size;
  a.style_dim = style_dim;
  a.n_mlp = 2;
  a.narrow = narrow;
  a.channel_multiplier = 1;
  return a;
}

}  // namespace gpen::test
