// Paths to reference data and to models the test build converted from it.
//
// The small golden sets the tests use most (gpen/tiny64, and rrdb/align sets for
// later issues) live in the repository under tests/data, so the suite runs with
// nothing outside the checkout; the large ones (gpen/s128, gpen/bfr256_fp16) stay
// in ../shared. Tests look a set up with GpenFixtureDir() and, through
// SkipUnlessGpenFixture(), skip with a message when neither place has it.
#pragma once

#include <cstdint>
#include <string>

#include "model/gpen_arch.h"

namespace gpen::test {

// ../shared (GPEN_SHARED_DIR at configure time, or $GPEN_SHARED_DIR at run time).
std::string SharedDir();
// <repo>/tests/data (GPEN_TEST_DATA_DIR_DEFAULT at configure time, or
// $GPEN_TEST_DATA_DIR at run time).
std::string TestDataDir();
// Directory where ctest's convert step wrote <set>.safetensors (GPEN_TEST_MODELS_DIR).
std::string ModelsDir();
bool FileExists(const std::string& path);
// A GPEN fixture set: TestDataDir()/gpen/<set> when present, else
// SharedDir()/fixtures/gpen/<set> when present, else "".
std::string GpenFixtureDir(const std::string& set);
// Sets *dir to GpenFixtureDir(set) and returns true when the set exists. Otherwise,
// for a set the repository ships in tests/data (tiny64) the test fails: those must
// always run; for any other set it reports "skipped: fixture set <set> not found
// (looked in ...)" as a doctest MESSAGE and returns false, for the test to return:
//   std::string dir;
//   if (!SkipUnlessGpenFixture("s128", &dir)) return;
bool SkipUnlessGpenFixture(const std::string& set, std::string* dir);
// A set of any kind ("rrdb", "align", ...): TestDataDir()/<kind>/<set>, else
// SharedDir()/fixtures/<kind>/<set>, else "".
std::string FixtureDir(const std::string& kind, const std::string& set);
// A file under SharedDir() (e.g. "images/solvay_conference_1927.png"): its path when
// present, else "" after the same kind of skip MESSAGE.
std::string SharedFileOrSkip(const std::string& relative);
// A small GPEN architecture for tests that build random weights (n_mlp 2,
// channel_multiplier 1): runs in milliseconds, yet has every kind of layer.
GpenArch TinyArch(int64_t in_size, int64_t out_size, int64_t style_dim = 32,
                  double narrow = 0.0625);

}  // namespace gpen::test
