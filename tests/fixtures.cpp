// Fixture path resolution for tests: the repository's tests/data first, then ../shared.
#include "fixtures.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cstdlib>

namespace gpen::test {

std::string SharedDir() {
  if (const char* e = std::getenv("GPEN_SHARED_DIR")) return e;
  return GPEN_SHARED_DIR_DEFAULT;
}

std::string TestDataDir() {
  if (const char* e = std::getenv("GPEN_TEST_DATA_DIR")) return e;
  return GPEN_TEST_DATA_DIR_DEFAULT;
}

std::string ModelsDir() {
  if (const char* e = std::getenv("GPEN_TEST_MODELS_DIR")) return e;
  return GPEN_TEST_MODELS_DIR_DEFAULT;
}

bool FileExists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

namespace {
// GPEN_REQUIRE_SHARED=1 (CI, which has ../shared): a missing set fails instead of skipping.
bool RequireShared() {
  const char* e = std::getenv("GPEN_REQUIRE_SHARED");
  return e && std::string(e) == "1";
}

bool IsDir(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
}  // namespace

std::string FixtureDir(const std::string& kind, const std::string& set) {
  for (const std::string& d :
       {TestDataDir() + "/" + kind + "/" + set, SharedDir() + "/fixtures/" + kind + "/" + set})
    if (IsDir(d)) return d;
  return {};
}

std::string GpenFixtureDir(const std::string& set) {
  return FixtureDir("gpen", set);
}

bool SkipUnlessGpenFixture(const std::string& set, std::string* dir) {
  *dir = GpenFixtureDir(set);
  if (!dir->empty()) return true;
  const std::string where =
      "(looked in " + TestDataDir() + "/gpen and " + SharedDir() + "/fixtures/gpen)";
  // Sets copied into tests/data (see tests/data/README.md) are never skipped.
  REQUIRE_MESSAGE(set != "tiny64", "fixture set " << set
                                                  << " ships with the repository but was not found "
                                                  << where);
  REQUIRE_MESSAGE(!RequireShared(), "fixture set "
                                        << set << " not found " << where
                                        << ", and GPEN_REQUIRE_SHARED=1 forbids skipping");
  MESSAGE("skipped: fixture set " << set << " not found " << where);
  return false;
}

std::string SharedFileOrSkip(const std::string& relative) {
  const std::string p = SharedDir() + "/" + relative;
  if (FileExists(p)) return p;
  REQUIRE_MESSAGE(!RequireShared(), relative << " not found in " << SharedDir()
                                             << ", and GPEN_REQUIRE_SHARED=1 forbids skipping");
  MESSAGE("skipped: " << relative << " not found in " << SharedDir());
  return {};
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
