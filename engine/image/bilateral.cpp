// Bilateral filter (OpenCV's cv::bilateralFilter definition, see bilateral.h), on the
// planar float Image.
//
// Each worker takes a band of output rows. It keeps the 2 radius + 1 source rows the
// current output row needs in a ring of padded rows: the row's RGB values interleaved
// (float), their 8-bit levels (for the colour lookup), and radius reflected pixels on
// either side, so the tap loop has no border case. A source row lands in slot
// (row mod (2 radius + 1)); the rows one output row reads always form a contiguous range
// of at most 2 radius + 1 (reflection near an edge folds them into [0, y + radius] or
// [y - radius, h - 1]), so they never share a slot, and moving down one row loads one
// new source row.
#include "image/bilateral.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"

namespace gpen {

namespace {

// BORDER_REFLECT_101: ... c b | a b c ... | ... x y | x w ...; repeated for windows
// wider than the image; a single pixel reflects onto itself.
int64_t BorderReflect101(int64_t p, int64_t len) {
  if (len == 1) return 0;
  while (p < 0 || p >= len) p = p < 0 ? -p : 2 * (len - 1) - p;
  return p;
}

// The nearest 8-bit level of a value in [0, 1] (clamped; NaN reads as 0).
uint8_t Level(float v) {
  const float c = v > 0.f ? (v < 1.f ? v : 1.f) : 0.f;
  return static_cast<uint8_t>(c * 255.f + 0.5f);
}

struct Tap {
  int64_t dy, dx;
  float space;  // exp(-(dx^2 + dy^2) / (2 sigma_space^2))
};

}  // namespace

Image BilateralFilter(const Image& in, int d, double sigma_color, double sigma_space) {
  const int64_t w = in.width, h = in.height, plane = w * h;
  GPEN_CHECK_MSG(
      w >= 0 && h >= 0 && static_cast<int64_t>(in.rgb.size()) == 3 * plane,
      "bilateral filter of a " << w << "x" << h << " image with " << in.rgb.size() << " values");
  Image out = in;  // size, alpha and source description as they are
  if (plane == 0) return out;

  if (sigma_color <= 0) sigma_color = 1;
  if (sigma_space <= 0) sigma_space = 1;
  const int64_t radius =
      std::max<int64_t>(1, d > 0 ? d / 2 : std::llround(std::min(sigma_space * 1.5, 1e6)));
  GPEN_CHECK_MSG(radius <= 1024, "bilateral filter radius " << radius << " (d = " << d
                                                            << ", sigma_space = " << sigma_space
                                                            << ")");

  // The disc of taps and their spatial weights, row by row.
  std::vector<Tap> taps;
  const double space_coeff = -0.5 / (sigma_space * sigma_space);
  for (int64_t dy = -radius; dy <= radius; ++dy) {
    for (int64_t dx = -radius; dx <= radius; ++dx) {
      const double r = std::sqrt(static_cast<double>(dx * dx + dy * dy));
      if (r > radius) continue;
      taps.push_back({dy, dx, static_cast<float>(std::exp(r * r * space_coeff))});
    }
  }
  // Colour weight by L1 distance in 8-bit levels over three channels.
  const double color_coeff = -0.5 / (sigma_color * sigma_color);
  std::vector<float> color(3 * 255 + 1);
  for (size_t i = 0; i < color.size(); ++i) {
    color[i] = static_cast<float>(std::exp(static_cast<double>(i * i) * color_coeff));
  }

  const int64_t span = 2 * radius + 1;    // rows in the ring
  const int64_t padded = w + 2 * radius;  // pixels in a ring row
  // Source column of each padded column.
  std::vector<int64_t> col(static_cast<size_t>(padded));
  for (int64_t i = 0; i < padded; ++i) col[i] = BorderReflect101(i - radius, w);

  const float* src_r = in.rgb.data();
  const float* src_g = src_r + plane;
  const float* src_b = src_g + plane;
  float* dst = out.rgb.data();

  ParallelFor(h, [&](int64_t y0, int64_t y1) {
    std::vector<float> val(static_cast<size_t>(span * padded * 3));
    std::vector<uint8_t> lev(static_cast<size_t>(span * padded * 3));
    std::vector<int64_t> held(static_cast<size_t>(span), -1);  // source row in each slot
    std::vector<const float*> vrow(static_cast<size_t>(span));
    std::vector<const uint8_t*> lrow(static_cast<size_t>(span));

    for (int64_t y = y0; y < y1; ++y) {
      // Load the rows y - radius .. y + radius (reflected); index k = dy + radius.
      for (int64_t k = 0; k < span; ++k) {
        const int64_t sy = BorderReflect101(y + k - radius, h);
        const int64_t slot = sy % span;
        float* v = val.data() + slot * padded * 3;
        uint8_t* l = lev.data() + slot * padded * 3;
        if (held[slot] != sy) {
          const int64_t o = sy * w;
          for (int64_t i = 0; i < padded; ++i) {
            const int64_t x = o + col[i];
            v[3 * i] = src_r[x];
            v[3 * i + 1] = src_g[x];
            v[3 * i + 2] = src_b[x];
            l[3 * i] = Level(src_r[x]);
            l[3 * i + 1] = Level(src_g[x]);
            l[3 * i + 2] = Level(src_b[x]);
          }
          held[slot] = sy;
        }
        vrow[k] = v;
        lrow[k] = l;
      }

      const uint8_t* centre_l = lrow[radius];
      for (int64_t x = 0; x < w; ++x) {
        const int64_t p = 3 * (x + radius);
        const int c0 = centre_l[p], c1 = centre_l[p + 1], c2 = centre_l[p + 2];
        float sum_w = 0.f, s0 = 0.f, s1 = 0.f, s2 = 0.f;
        for (const Tap& t : taps) {
          const int64_t q = p + 3 * t.dx;
          const uint8_t* l = lrow[t.dy + radius] + q;
          const float* v = vrow[t.dy + radius] + q;
          const int dist = std::abs(l[0] - c0) + std::abs(l[1] - c1) + std::abs(l[2] - c2);
          const float wt = t.space * color[dist];
          sum_w += wt;
          s0 += wt * v[0];
          s1 += wt * v[1];
          s2 += wt * v[2];
        }
        // sum_w >= 1: the centre tap has both weights 1.
        const float inv = 1.f / sum_w;
        const int64_t o = y * w + x;
        dst[o] = s0 * inv;
        dst[plane + o] = s1 * inv;
        dst[2 * plane + o] = s2 * inv;
      }
    }
  });
  return out;
}

}  // namespace gpen
