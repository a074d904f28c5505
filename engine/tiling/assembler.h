// TileAssembler: puts the outputs of overlapping tiles together into an 8-bit image,
// holding floats only where tiles overlap.
//
// Tiles arrive one tile row after another (any order within a row). A pixel whose blend
// weight is 1 (a tile's core, away from seams) is written to the 8-bit image at once.
// A pixel in a seam band is accumulated in float, weight and weighted value, and is
// written (divided by its weight sum) once every tile that reaches it has been added:
// a vertical band when the tile to its right is in, a horizontal band (full width) when
// the tile row below is done. So at most two horizontal bands and one tile row's
// vertical bands are float at a time; the rest of the output is 8-bit.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "image/pixels.h"
#include "tiling/tile_grid.h"

namespace gpen {

class TileAssembler {
 public:
  // grid: in input pixels; scale: output pixels per input pixel; the output image is
  // out_h x out_w (the valid part: rows and columns past it are dropped), 3 channels.
  TileAssembler(const TileGrid& grid, int64_t scale, int64_t out_h, int64_t out_w);

  // Adds tile (ty, tx): `planes` (3, win_h * scale, win_w * scale) computed on the tile's
  // window. Tile rows must come in order; a row is complete when all its tiles are in.
  void Add(int64_t ty, int64_t tx, const float* planes);
  // The image, once every tile was added.
  PixelImage Finish();
  // Bytes of float held now and at most (for the memory plan).
  int64_t FloatBytes() const;
  static int64_t MaxFloatBytes(const TileGrid& grid, int64_t scale, int64_t out_w);

 private:
  struct Band {  // rows [y0, y1) x columns [x0, x1): weighted sums and weight sums
    int64_t y0 = 0, y1 = 0, x0 = 0, x1 = 0;
    std::vector<float> sum;     // (rows, cols, 3)
    std::vector<float> weight;  // (rows, cols)
  };
  void Accumulate(Band& b, int64_t y, int64_t x, const float* rgb, int64_t plane, float w);
  void Flush(Band& b);
  // The horizontal band (index k: between tile rows k and k + 1) holding output row y,
  // or -1.
  int64_t HorizontalBandOf(int64_t y) const;
  Band& HorizontalBand(int64_t k);

  TileGrid grid_;
  int64_t scale_, out_h_, out_w_;
  PixelImage image_;
  std::vector<double> wx_, wy_;     // scratch: 1-D weights of the current tile
  std::map<int64_t, Band> hbands_;  // by seam index
  std::map<int64_t, Band> vbands_;  // of the current tile row, by seam index
  std::vector<int64_t> done_in_row_;
};

}  // namespace gpen
