// cast: element-wise conversion (saturating to the fp16 range).
#include "cast.cuh"

namespace gpen::kernels {

namespace {
template <typename TX, typename TY>
__global__ void CastKernel(CastParams p) {
  GPEN_GRID_STRIDE(i, p.n) {
    Store(static_cast<TY*>(p.y), i, Load(static_cast<const TX*>(p.x), i));
  }
}
}  // namespace

void LaunchCast(CastParams p, cudaStream_t stream) {
  const unsigned g = GridFor(p.n, 256);
  const bool xh = p.x_type == StorageType::kF16, yh = p.y_type == StorageType::kF16;
  if (xh && !yh)
    Launch(CastKernel<__half, float>, g, 256, 0, stream, p);
  else if (!xh && yh)
    Launch(CastKernel<float, __half>, g, 256, 0, stream, p);
  else if (xh)
    Launch(CastKernel<__half, __half>, g, 256, 0, stream, p);
  else
    Launch(CastKernel<float, float>, g, 256, 0, stream, p);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace gpen::kernels
