// TileGrid: overlapping tiles over an image for a fully convolutional network, and the
// blend weights that put their outputs back together without seams.
//
// Along each axis of length L (the network's input, already padded to its multiple m)
// the cores partition [0, L) into pieces of `tile` pixels (the last one shorter). Each
// tile is computed on a window of S = min(tile + 2 pad, L) pixels: the core with `pad`
// pixels of context on each side, shifted inward at the image border so that every
// window has the same size (one graph, any batch of tiles) and a window never reaches
// past the image: at the border a tile sees the zero padding the untiled network sees,
// so with enough context the tiled output equals the untiled one.
//
// The blend. A pixel near a window's inner edge was computed without its full context,
// and its error grows quickly towards that edge (../shared/docs/tiling-notes.md: a
// linear feather over the whole pad loses 47 dB to a hard crop at pad 16). So the
// weights keep each tile to its core, except in a narrow band of half-width `blend`
// centred on each seam, where the two neighbours are mixed with complementary linear
// ramps. Inside the band both tiles have at least pad - blend pixels of context, and a
// tile's weight falls to zero where its context is least; at the seam itself both have
// `pad`, and their independent errors average. blend = pad / 4 (at most a quarter of a
// tile, at least 1 when pad > 0): see bench/README.md for the seam measurements. The 2-D
// weight of a tile is the product of its two 1-D weights, and along each axis the
// weights of the tiles covering a pixel sum to 1, so the 2-D weights do too.
#pragma once

#include <cstdint>
#include <vector>

namespace gpen {

struct AxisTiles {
  int64_t length = 0;  // L, input pixels
  int64_t tile = 0;    // core size
  int64_t pad = 0;     // context on each side
  int64_t window = 0;  // S
  int64_t blend = 0;   // half-width of the blend band around a seam
  std::vector<int64_t> core_begin, core_end, window_begin;  // per tile

  int64_t count() const { return static_cast<int64_t>(core_begin.size()); }
  // The weight of tile i at input position x in [0, L) (0 outside its reach), in input
  // pixels; for an output scaled by s, use WeightAt(i, (X + 0.5) / s) at output pixel X.
  double Weight(int64_t i, double x) const;
  // The input range tile i contributes to with a nonzero weight: its core widened by
  // the blend bands at its inner seams.
  int64_t ReachBegin(int64_t i) const;
  int64_t ReachEnd(int64_t i) const;
};

// Tiles along one axis. tile <= 0 or tile >= length: one tile, the whole axis. tile and
// pad are rounded up to multiples of `align` (the network's input multiple). hard_crop:
// no seam bands, each tile keeps exactly its core (for comparison; blend 0).
AxisTiles TileAxis(int64_t length, int64_t tile, int64_t pad, int64_t align,
                   bool hard_crop = false);

struct TileGrid {
  AxisTiles y, x;
  int64_t count() const { return y.count() * x.count(); }
};

TileGrid MakeTileGrid(int64_t h, int64_t w, int64_t tile, int64_t pad, int64_t align,
                      bool hard_crop = false);

}  // namespace gpen
