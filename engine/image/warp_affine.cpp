// Bilinear affine warp with OpenCV's 1/32-pixel fixed-point sampling (warp_affine.h).
//
// Per destination row, the 1/32-pixel source position of each pixel is computed once
// (shared by all channels), then every channel reads its four taps.
#include "image/warp_affine.h"

#include <cmath>

#include "core/check.h"
#include "core/parallel.h"

namespace gpen {

namespace {

constexpr int kInterBits = 5;               // OpenCV INTER_BITS: 1/32 pixel
constexpr int kInterTab = 1 << kInterBits;  // 32
constexpr int kAbBits = 10;                 // OpenCV AB_BITS = max(10, INTER_BITS)
constexpr double kAbScale = 1 << kAbBits;   // 1024
constexpr int64_t kRoundDelta = (1 << kAbBits) / kInterTab / 2;  // 16

// cvRound / saturate_cast<int>(double): nearest, ties to even.
int64_t RoundCv(double v) {
  return static_cast<int64_t>(std::nearbyint(v));
}

// One destination row y of the window: source tap (ix, iy) and 1/32 fractions per pixel.
struct RowTaps {
  std::vector<int64_t> ix, iy;
  std::vector<int> fx, fy;
};

void ComputeRowTaps(const Affine& a, int64_t y, const PixelRect& roi, RowTaps* t) {
  const int64_t x0 = RoundCv((a.m[1] * y + a.m[2]) * kAbScale) + kRoundDelta;
  const int64_t y0 = RoundCv((a.m[4] * y + a.m[5]) * kAbScale) + kRoundDelta;
  for (int64_t i = 0; i < roi.w; ++i) {
    const int64_t x = roi.x + i;
    const int64_t X = (x0 + RoundCv(a.m[0] * x * kAbScale)) >> (kAbBits - kInterBits);
    const int64_t Y = (y0 + RoundCv(a.m[3] * x * kAbScale)) >> (kAbBits - kInterBits);
    t->ix[i] = X >> kInterBits;  // arithmetic shift: floor for negative positions
    t->iy[i] = Y >> kInterBits;
    t->fx[i] = static_cast<int>(X & (kInterTab - 1));
    t->fy[i] = static_cast<int>(Y & (kInterTab - 1));
  }
}

}  // namespace

Affine InvertAffine(const Affine& a) {
  const double* m = a.m;
  double d = m[0] * m[4] - m[1] * m[3];
  d = d != 0 ? 1.0 / d : 0.0;
  Affine r;
  const double a11 = m[4] * d, a22 = m[0] * d, a12 = -m[1] * d, a21 = -m[3] * d;
  r.m[0] = a11;
  r.m[1] = a12;
  r.m[2] = -a11 * m[2] - a12 * m[5];
  r.m[3] = a21;
  r.m[4] = a22;
  r.m[5] = -a21 * m[2] - a22 * m[5];
  return r;
}

Affine ComposeAffine(const Affine& a, const Affine& b) {
  Affine r;
  for (int row = 0; row < 2; ++row) {
    const double* p = a.m + 3 * row;
    r.m[3 * row + 0] = p[0] * b.m[0] + p[1] * b.m[3];
    r.m[3 * row + 1] = p[0] * b.m[1] + p[1] * b.m[4];
    r.m[3 * row + 2] = p[0] * b.m[2] + p[1] * b.m[5] + p[2];
  }
  return r;
}

void WarpAffineRoi(const float* src, int64_t channels, int64_t h, int64_t w,
                   const Affine& dst_to_src, const PixelRect& roi, float* dst) {
  GPEN_CHECK_MSG(channels > 0 && h > 0 && w > 0 && roi.w >= 0 && roi.h >= 0,
                 "warp of " << channels << " planes of " << w << "x" << h << " into a " << roi.w
                            << "x" << roi.h << " window");
  const int64_t plane = h * w, out_plane = roi.w * roi.h;
  ParallelFor(roi.h, [&](int64_t r0, int64_t r1) {
    RowTaps t{std::vector<int64_t>(roi.w), std::vector<int64_t>(roi.w), std::vector<int>(roi.w),
              std::vector<int>(roi.w)};
    for (int64_t r = r0; r < r1; ++r) {
      ComputeRowTaps(dst_to_src, roi.y + r, roi, &t);
      for (int64_t c = 0; c < channels; ++c) {
        const float* s = src + c * plane;
        float* d = dst + c * out_plane + r * roi.w;
        for (int64_t i = 0; i < roi.w; ++i) {
          const int64_t ix = t.ix[i], iy = t.iy[i];
          auto at = [&](int64_t yy, int64_t xx) {
            return (yy >= 0 && yy < h && xx >= 0 && xx < w) ? s[yy * w + xx] : 0.f;
          };
          const float fx = static_cast<float>(t.fx[i]) / kInterTab;
          const float fy = static_cast<float>(t.fy[i]) / kInterTab;
          d[i] = at(iy, ix) * ((1 - fy) * (1 - fx)) + at(iy, ix + 1) * ((1 - fy) * fx) +
                 at(iy + 1, ix) * (fy * (1 - fx)) + at(iy + 1, ix + 1) * (fy * fx);
        }
      }
    }
  });
}

std::vector<float> WarpAffine(const float* src, int64_t channels, int64_t h, int64_t w,
                              const Affine& src_to_dst, int64_t out_h, int64_t out_w) {
  std::vector<float> out(static_cast<size_t>(channels * out_h * out_w));
  WarpAffineRoi(src, channels, h, w, InvertAffine(src_to_dst), PixelRect{0, 0, out_w, out_h},
                out.data());
  return out;
}

}  // namespace gpen
