// CreateCudaBackend for builds without CUDA (-DGPEN_CUDA=OFF or no nvcc): says so.
#include "backend.h"

namespace gpen {

Result<std::unique_ptr<Backend>> CreateCudaBackend(const Graph&, const WeightStore&,
                                                   const BackendOptions&) {
  return Unavailable("this build of gpen has no CUDA backend",
                     "rebuild with nvcc installed and -DGPEN_CUDA=ON, or use --device cpu");
}

}  // namespace gpen
