// TileAssembler: direct 8-bit writes in cores, float accumulation in seam bands.
#include "tiling/assembler.h"

#include <algorithm>

#include "core/check.h"

namespace gpen {

TileAssembler::TileAssembler(const TileGrid& grid, int64_t scale, int64_t out_h, int64_t out_w)
    : grid_(grid), scale_(scale), out_h_(out_h), out_w_(out_w) {
  GPEN_CHECK(scale >= 1 && out_h <= grid.y.length * scale && out_w <= grid.x.length * scale);
  image_.width = out_w;
  image_.height = out_h;
  image_.channels = 3;
  image_.data.assign(static_cast<size_t>(out_h * out_w * 3), 0);
  done_in_row_.assign(static_cast<size_t>(grid.y.count()), 0);
}

int64_t TileAssembler::HorizontalBandOf(int64_t y) const {
  const AxisTiles& a = grid_.y;
  for (int64_t k = 0; k + 1 < a.count(); ++k) {
    const int64_t b = a.core_end[k];
    if (y >= (b - a.blend) * scale_ && y < (b + a.blend) * scale_) return k;
  }
  return -1;
}

TileAssembler::Band& TileAssembler::HorizontalBand(int64_t k) {
  auto it = hbands_.find(k);
  if (it != hbands_.end()) return it->second;
  Band b;
  const int64_t seam = grid_.y.core_end[k];
  b.y0 = std::min(out_h_, (seam - grid_.y.blend) * scale_);
  b.y1 = std::min(out_h_, (seam + grid_.y.blend) * scale_);
  b.x0 = 0;
  b.x1 = out_w_;
  b.sum.assign(static_cast<size_t>((b.y1 - b.y0) * (b.x1 - b.x0) * 3), 0.f);
  b.weight.assign(static_cast<size_t>((b.y1 - b.y0) * (b.x1 - b.x0)), 0.f);
  return hbands_.emplace(k, std::move(b)).first->second;
}

void TileAssembler::Accumulate(Band& b, int64_t y, int64_t x, const float* rgb, int64_t plane,
                               float w) {
  const int64_t i = (y - b.y0) * (b.x1 - b.x0) + (x - b.x0);
  for (int c = 0; c < 3; ++c) b.sum[static_cast<size_t>(i * 3 + c)] += w * rgb[c * plane];
  b.weight[static_cast<size_t>(i)] += w;
}

void TileAssembler::Flush(Band& b) {
  const int64_t cols = b.x1 - b.x0;
  for (int64_t y = b.y0; y < b.y1; ++y) {
    for (int64_t x = b.x0; x < b.x1; ++x) {
      const int64_t i = (y - b.y0) * cols + (x - b.x0);
      const float w = b.weight[static_cast<size_t>(i)];
      if (w <= 0.f) continue;  // not a pixel of this band (a vertical band's band rows)
      uint8_t* px = &image_.data[static_cast<size_t>((y * out_w_ + x) * 3)];
      for (int c = 0; c < 3; ++c) px[c] = ToByte(b.sum[static_cast<size_t>(i * 3 + c)] / w);
    }
  }
}

void TileAssembler::Add(int64_t ty, int64_t tx, const float* planes) {
  const AxisTiles &ay = grid_.y, &ax = grid_.x;
  const int64_t s = scale_;
  const int64_t win_w = ax.window * s, plane = ay.window * s * win_w;
  const int64_t oy = ay.window_begin[ty] * s, ox = ax.window_begin[tx] * s;
  const int64_t y0 = ay.ReachBegin(ty) * s, y1 = std::min(out_h_, ay.ReachEnd(ty) * s);
  const int64_t x0 = ax.ReachBegin(tx) * s, x1 = std::min(out_w_, ax.ReachEnd(tx) * s);
  wx_.resize(static_cast<size_t>(std::max<int64_t>(0, x1 - x0)));
  for (int64_t x = x0; x < x1; ++x) wx_[x - x0] = ax.Weight(tx, (x + 0.5) / s);
  for (int64_t y = y0; y < y1; ++y) {
    const double wy = ay.Weight(ty, (y + 0.5) / s);
    if (wy <= 0) continue;
    const int64_t hb = HorizontalBandOf(y);
    Band* hband = hb >= 0 ? &HorizontalBand(hb) : nullptr;
    const float* row = planes + (y - oy) * win_w;  // the window's row of output row y
    for (int64_t x = x0; x < x1; ++x) {
      const double wx = wx_[x - x0];
      if (wx <= 0) continue;
      const float* rgb = row + (x - ox);
      if (hband) {
        Accumulate(*hband, y, x, rgb, plane, static_cast<float>(wy * wx));
      } else if (wx < 1) {
        // A vertical seam band: seam tx - 1 (left of the core) or tx (right of it).
        const int64_t seam = tx > 0 && x < (ax.core_begin[tx] + ax.blend) * s ? tx - 1 : tx;
        auto it = vbands_.find(seam);
        if (it == vbands_.end()) {
          Band b;
          b.y0 = y0;
          b.y1 = y1;
          b.x0 = std::min(out_w_, (ax.core_end[seam] - ax.blend) * s);
          b.x1 = std::min(out_w_, (ax.core_end[seam] + ax.blend) * s);
          b.sum.assign(static_cast<size_t>((b.y1 - b.y0) * (b.x1 - b.x0) * 3), 0.f);
          b.weight.assign(static_cast<size_t>((b.y1 - b.y0) * (b.x1 - b.x0)), 0.f);
          it = vbands_.emplace(seam, std::move(b)).first;
        }
        Accumulate(it->second, y, x, rgb, plane, static_cast<float>(wx));
      } else {
        uint8_t* px = &image_.data[static_cast<size_t>((y * out_w_ + x) * 3)];
        for (int c = 0; c < 3; ++c) px[c] = ToByte(rgb[c * plane]);
      }
    }
  }
  // Bands whose every tile is in: the vertical seams beside this tile once its
  // neighbour is in, and, when this row is complete, the horizontal band above it.
  GPEN_CHECK_MSG(ty == 0 || done_in_row_[ty - 1] == ax.count(), "tile rows out of order");
  auto& done = done_in_row_[static_cast<size_t>(ty)];
  ++done;
  if (done == ax.count()) {
    for (auto& [seam, band] : vbands_) Flush(band);
    vbands_.clear();
    if (ty > 0 && hbands_.count(ty - 1)) {
      Flush(hbands_.at(ty - 1));
      hbands_.erase(ty - 1);
    }
  }
}

PixelImage TileAssembler::Finish() {
  for (int64_t k = 0; k < grid_.y.count(); ++k)
    GPEN_CHECK_MSG(done_in_row_[k] == grid_.x.count(), "tile row " << k << " is incomplete");
  GPEN_CHECK(hbands_.empty() && vbands_.empty());
  return std::move(image_);
}

int64_t TileAssembler::FloatBytes() const {
  int64_t b = 0;
  for (const auto& m : {&hbands_, &vbands_})
    for (const auto& [k, band] : *m)
      b += static_cast<int64_t>(band.sum.size() + band.weight.size());
  return b * 4;
}

int64_t TileAssembler::MaxFloatBytes(const TileGrid& grid, int64_t scale, int64_t out_w) {
  // Two horizontal bands of the full width, and one tile row's vertical bands.
  const int64_t hrows = 2 * grid.y.blend * scale, vcols = 2 * grid.x.blend * scale;
  const int64_t tile_rows = (grid.y.tile + 2 * grid.y.blend) * scale;
  return 4 * 4 * (2 * hrows * out_w + std::max<int64_t>(0, grid.x.count() - 1) * vcols * tile_rows);
}

}  // namespace gpen
