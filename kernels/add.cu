// add: element-wise.
#include "add.cuh"
#include "common.cuh"

namespace gpen::kernels {

namespace {
__global__ void AddKernel(AddParams p) {
  GPEN_GRID_STRIDE(i, p.n) {
    p.y[i] = p.a[i] + p.b[i];
  }
}
}  // namespace

void LaunchAdd(AddParams p, cudaStream_t stream) {
  Launch(AddKernel, GridFor(p.n, 256), 256, 0, stream, p);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace gpen::kernels
