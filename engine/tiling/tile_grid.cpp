// TileGrid: balanced cores, equal windows, seam-band weights (see tile_grid.h).
#include "tiling/tile_grid.h"

#include <algorithm>

#include "core/check.h"

namespace gpen {

namespace {

int64_t RoundUp(int64_t v, int64_t m) {
  return (v + m - 1) / m * m;
}

}  // namespace

AxisTiles TileAxis(int64_t length, int64_t tile, int64_t pad, int64_t align, bool hard_crop) {
  GPEN_CHECK(length > 0 && align > 0 && length % align == 0);
  AxisTiles a;
  a.length = length;
  a.pad = RoundUp(std::max<int64_t>(0, pad), align);
  const int64_t units = length / align;  // cores are whole units of `align`
  const int64_t want = tile <= 0 ? length : std::min(RoundUp(tile, align), length);
  const int64_t n = (length + want - 1) / want;
  // Balanced: n cores of nearly equal size, so that none is a sliver.
  int64_t most = 0;
  for (int64_t k = 0; k < n; ++k) {
    a.core_begin.push_back(units * k / n * align);
    a.core_end.push_back(units * (k + 1) / n * align);
    most = std::max(most, a.core_end.back() - a.core_begin.back());
  }
  a.tile = most;
  a.window = std::min(most + 2 * a.pad, length);
  for (int64_t k = 0; k < n; ++k) {
    a.window_begin.push_back(std::clamp<int64_t>(a.core_begin[k] - a.pad, 0, length - a.window));
  }
  // Half-width of the seam bands: a quarter of the pad, and never so wide that two bands
  // of one core meet (the smallest core is at least most - align).
  int64_t least = most;
  for (int64_t k = 0; k < n; ++k) least = std::min(least, a.core_end[k] - a.core_begin[k]);
  a.blend = n > 1 ? std::min(a.pad / 4, least / 4) : 0;
  if (n > 1 && a.pad > 0 && a.blend == 0 && least >= 2) a.blend = 1;
  if (hard_crop) a.blend = 0;
  return a;
}

double AxisTiles::Weight(int64_t i, double x) const {
  const double h = static_cast<double>(blend);
  const double lo = static_cast<double>(core_begin[i]), hi = static_cast<double>(core_end[i]);
  const bool left = i > 0, right = i + 1 < count();
  if (h <= 0) return (x >= lo || !left) && (x < hi || !right) ? 1.0 : 0.0;
  double w = 1.0;
  if (left) w = std::min(w, std::clamp((x - (lo - h)) / (2 * h), 0.0, 1.0));
  if (right) w = std::min(w, std::clamp((hi + h - x) / (2 * h), 0.0, 1.0));
  return w;
}

int64_t AxisTiles::ReachBegin(int64_t i) const {
  return i > 0 ? core_begin[i] - blend : 0;
}

int64_t AxisTiles::ReachEnd(int64_t i) const {
  return i + 1 < count() ? core_end[i] + blend : length;
}

TileGrid MakeTileGrid(int64_t h, int64_t w, int64_t tile, int64_t pad, int64_t align,
                      bool hard_crop) {
  return {TileAxis(h, tile, pad, align, hard_crop), TileAxis(w, tile, pad, align, hard_crop)};
}

}  // namespace gpen
