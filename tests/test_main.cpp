// doctest entry point for gpen_tests.
//
// `gpen_tests --gpu-suite [doctest flags]` runs the GPU tests: without a usable GPU it
// prints why and exits with 77, which ctest reports as "skipped" (SKIP_RETURN_CODE).
// On the CPU emulator (GPEN_CUDASIM), device memory still allocated at the end fails
// the run.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#if defined(GPEN_CUDASIM)
#include <cudasim/control.h>
#endif

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
  const int rc = ctx.run();
#if defined(GPEN_CUDASIM)
  // Device memory the tests left allocated is a leak LeakSanitizer cannot see (the
  // emulator's registry still points at it).
  if (const size_t left = cudasim::DeviceBytesInUse(); left != 0) {
    std::printf("cudasim: %zu bytes of device memory were never freed\n", left);
    return rc ? rc : 1;
  }
#endif
  return rc;
}
