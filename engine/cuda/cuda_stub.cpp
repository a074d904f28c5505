// CUDA entry points for builds without CUDA (-DGPEN_CUDA=OFF or no nvcc): they say so.
#include "backend.h"

namespace gpen {

Result<std::unique_ptr<Backend>> CreateCudaBackend(const Graph&, const WeightStore&,
                                                   const BackendOptions&) {
  return Unavailable("this build of gpen has no CUDA backend",
                     "rebuild with nvcc installed and -DGPEN_CUDA=ON, or use --device cpu");
}

Result<int64_t> CudaFreeMemory() {
  return Unavailable("this build of gpen has no CUDA backend", "pass --vram-budget to plan without a GPU");
}

bool CudaUsable(std::string* why) {
  if (why) *why = "this build has no CUDA backend";
  return false;
}

}  // namespace gpen
