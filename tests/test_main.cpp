// doctest entry point for gpen_tests.
//
// `gpen_tests --gpu-suite [doctest flags]` runs the GPU tests: without a usable GPU it
// prints why and exits with 77, which ctest reports as "skipped" (SKIP_RETURN_CODE).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace gpen {
bool CudaUsable(std::string* why);
}

int main(int argc, char** argv) {
  std::vector<char*> args;
  bool gpu_suite = false;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--gpu-suite") == 0) {
      gpu_suite = true;
      continue;
    }
    args.push_back(argv[i]);
  }
  if (gpu_suite) {
    std::string why;
    if (!gpen::CudaUsable(&why)) {
      std::printf("SKIPPED: GPU tests need a usable CUDA device (%s)\n", why.c_str());
      return 77;
    }
  }
  doctest::Context ctx(static_cast<int>(args.size()), args.data());
  return ctx.run();
}
