// The flat index that seeds a noise value: the element's position in the untiled
// tensor, so that a tile draws exactly what the whole image would (see
// graph/graph.h, "Windows of tiled generation"). Shared by the kernels that draw noise.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace gpen::kernels {

// P has: c, hw, w (the window's width), y0, x0, full_h, full_w, origin, div.
template <typename P>
__device__ __forceinline__ uint64_t NoiseIndex(const P& p, int64_t b, int64_t c, int64_t pix) {
  const int64_t row = pix / p.w, col = pix % p.w;
  const int64_t fh = p.full_h ? p.full_h : p.hw / p.w, fw = p.full_w ? p.full_w : p.w;
  const int64_t y0 = p.y0 + (p.origin ? static_cast<int64_t>(p.origin[0]) / p.div : 0);
  const int64_t x0 = p.x0 + (p.origin ? static_cast<int64_t>(p.origin[1]) / p.div : 0);
  return static_cast<uint64_t>(((b * p.c + c) * fh + y0 + row) * fw + x0 + col);
}

}  // namespace gpen::kernels
