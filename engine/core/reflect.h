// Reflect101: an index past either end of [0, n) mirrored back into it without repeating
// the edge (numpy's and torch's 'reflect', OpenCV's BORDER_REFLECT_101); edge-replicated
// where n is too small to reflect (n == 1).
#pragma once

#include <cstdint>

namespace gpen {

inline int64_t Reflect101(int64_t i, int64_t n) {
  if (n == 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
  return i;
}

}  // namespace gpen
