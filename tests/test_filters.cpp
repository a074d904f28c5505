// Post-processing filter tests: the bilateral filter (--hf-suppress, OpenCV's
// cv::bilateralFilter definition) and the Lanczos-4 resize (--outscale, cv::resize with
// INTER_LANCZOS4), each against a plain reference written here: double precision, the
// literal formula of the header, no lookup table, no separation, no ring buffers.
//
// Sizes are odd and small (1x1, 2x5, 13x7) so that every pixel is near a border, plus
// one larger image whose rows the thread pool splits into several bands.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "image/bilateral.h"
#include "image/image.h"
#include "image/resize_lanczos.h"

using namespace gpen;

namespace {

// Uniform values in [0, 1]; with `levels`, rounded to 8-bit levels k / 255.
Image RandomImage(int64_t w, int64_t h, uint32_t seed, bool with_alpha, bool levels = false) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  auto draw = [&] {
    const float v = u(rng);
    return levels ? std::round(v * 255.f) / 255.f : v;
  };
  Image img;
  img.width = w;
  img.height = h;
  img.source_channels = with_alpha ? 4 : 3;
  img.rgb.resize(static_cast<size_t>(3 * w * h));
  for (float& v : img.rgb) v = draw();
  if (with_alpha) {
    img.alpha.resize(static_cast<size_t>(w * h));
    for (float& v : img.alpha) v = draw();
  }
  return img;
}

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double{a[i]} - b[i]));
  return m;
}

// ---- bilateral ----------------------------------------------------------------------

int64_t Reflect101Ref(int64_t p, int64_t n) {
  if (n == 1) return 0;
  for (;;) {
    if (p < 0) {
      p = -p;
    } else if (p >= n) {
      p = 2 * n - 2 - p;
    } else {
      return p;
    }
  }
}

// The 8-bit level BilateralFilter quantises a value to for the colour distance.
int Level(float v) {
  return static_cast<int>(std::clamp(v, 0.f, 1.f) * 255.f + 0.5f);
}

// cv::bilateralFilter as the header defines it, literally: for each pixel, every tap of
// the disc, the weight from exp() of the distances, in double, with no table. With
// `quantised`, the colour distance is taken between 8-bit levels as the filter's table
// is indexed (the filter's exact definition); without, between the values themselves
// (the ideal the table approximates).
std::vector<float> BilateralRef(const Image& in, int d, double sigma_color, double sigma_space,
                                bool quantised) {
  const int64_t w = in.width, h = in.height, n = w * h, r = d / 2;
  auto level = [&](int c, int64_t y, int64_t x) {
    const float v = in.rgb[c * n + y * w + x];
    return quantised ? double(Level(v)) : 255.0 * v;
  };
  std::vector<float> out(in.rgb.size());
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      double sum[3] = {0, 0, 0}, wsum = 0;
      for (int64_t dy = -r; dy <= r; ++dy) {
        for (int64_t dx = -r; dx <= r; ++dx) {
          if (dx * dx + dy * dy > r * r) continue;
          const int64_t qy = Reflect101Ref(y + dy, h), qx = Reflect101Ref(x + dx, w);
          double dist = 0;
          for (int c = 0; c < 3; ++c) dist += std::fabs(level(c, y, x) - level(c, qy, qx));
          const double wt = std::exp(-double(dx * dx + dy * dy) / (2 * sigma_space * sigma_space)) *
                            std::exp(-dist * dist / (2 * sigma_color * sigma_color));
          wsum += wt;
          for (int c = 0; c < 3; ++c) sum[c] += wt * in.rgb[c * n + qy * w + qx];
        }
      }
      for (int c = 0; c < 3; ++c) out[c * n + y * w + x] = static_cast<float>(sum[c] / wsum);
    }
  }
  return out;
}

// Photo-like content: a smooth gradient per channel plus uniform noise of +-16 levels.
Image PhotoLikeImage(int64_t w, int64_t h, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-16.f / 255, 16.f / 255);
  Image img;
  img.width = w;
  img.height = h;
  img.source_channels = 3;
  img.rgb.resize(static_cast<size_t>(3 * w * h));
  for (int c = 0; c < 3; ++c) {
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        const float base = 0.2f + 0.6f * float(x + 2 * y + 3 * c) / float(w + 2 * h + 6);
        img.rgb[(c * h + y) * w + x] = base + u(rng);
      }
    }
  }
  return img;
}

// Left half `lo`, right half `hi` (all channels), plus uniform noise of +-`noise`.
Image EdgeImage(int64_t w, int64_t h, float lo, float hi, float noise, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-noise, noise);
  Image img;
  img.width = w;
  img.height = h;
  img.source_channels = 3;
  img.rgb.resize(static_cast<size_t>(3 * w * h));
  for (int c = 0; c < 3; ++c) {
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) img.rgb[(c * h + y) * w + x] = (x < w / 2 ? lo : hi) + u(rng);
    }
  }
  return img;
}

}  // namespace

// Exactness first: against the definition itself (colour distance between 8-bit
// levels, as the table is indexed), on any values, float rounding is all that is left.
TEST_CASE("filter bilateral: matches its literal definition in double precision") {
  struct Size {
    int64_t w, h;
  };
  for (Size s : {Size{13, 7}, Size{1, 1}, Size{2, 5}, Size{5, 2}, Size{3, 3}, Size{64, 37}}) {
    CAPTURE(s.w);
    CAPTURE(s.h);
    const Image in = RandomImage(s.w, s.h, static_cast<uint32_t>(s.w * 100 + s.h), true);
    const Image out = BilateralFilter(in, 5, 75, 75);
    REQUIRE(out.width == s.w);
    REQUIRE(out.height == s.h);
    CHECK(MaxAbsDiff(out.rgb, BilateralRef(in, 5, 75, 75, true)) <= 1e-5);
    CHECK(out.alpha == in.alpha);
  }
  // Other parameters: a wider disc (radius 3 on a 2-row image reflects twice), small sigmas.
  const Image in = RandomImage(11, 2, 7, false);
  CHECK(MaxAbsDiff(BilateralFilter(in, 7, 30, 4).rgb, BilateralRef(in, 7, 30, 4, true)) <= 1e-5);
}

// Then the cost of the table against the unquantised formula. On 8-bit values (k / 255:
// decoded files, FromModelOutput) the levels are the values: float rounding only. Off
// the 8-bit grid, |round(a) - round(b)| differs from |a - b| by less than 1 level per
// channel, so the L1 distance D by less than 3, which moves a weight by a relative
// D * 3 / sigma_color^2 and the weighted mean by a fraction of a level on photo-like
// content: 1/255 (one output level) holds it with room (measured: at most 0.1 level
// here, 0.11 on a 400x400 image with +-19 levels of noise). Full-range white noise is the
// worst case, every neighbour on the steep part of the colour Gaussian: up to 1.05 levels
// here, 1.44 measured on 400x400; that case is held to 2/255.
TEST_CASE("filter bilateral: within 1/255 of the unquantised formula (the table's rounding)") {
  struct Size {
    int64_t w, h;
  };
  for (Size s : {Size{13, 7}, Size{1, 1}, Size{2, 5}, Size{5, 2}, Size{3, 3}, Size{64, 37}}) {
    CAPTURE(s.w);
    CAPTURE(s.h);
    const uint32_t seed = static_cast<uint32_t>(s.w * 100 + s.h);
    const Image in8 = RandomImage(s.w, s.h, seed + 1, false, true);
    CHECK(MaxAbsDiff(BilateralFilter(in8, 5, 75, 75).rgb, BilateralRef(in8, 5, 75, 75, false)) <=
          1e-5);
    const Image photo = PhotoLikeImage(s.w, s.h, seed + 2);
    CHECK(MaxAbsDiff(BilateralFilter(photo, 5, 75, 75).rgb,
                     BilateralRef(photo, 5, 75, 75, false)) <= 1.0 / 255);
    const Image noise = RandomImage(s.w, s.h, seed + 3, false);
    CHECK(MaxAbsDiff(BilateralFilter(noise, 5, 75, 75).rgb,
                     BilateralRef(noise, 5, 75, 75, false)) <= 2.0 / 255);
  }
}

TEST_CASE("filter bilateral: sharp edge with noise, against the formula; the edge stays sharp") {
  const int64_t w = 40, h = 23;
  const float lo = 0.2f, hi = 0.8f;
  const Image in = EdgeImage(w, h, lo, hi, 10.f / 255, 3);
  const Image out = BilateralFilter(in, 5, 75, 75);
  CHECK(MaxAbsDiff(out.rgb, BilateralRef(in, 5, 75, 75, true)) <= 1e-5);
  CHECK(MaxAbsDiff(out.rgb, BilateralRef(in, 5, 75, 75, false)) <= 1.0 / 255);
  // Across the edge the step is 153 levels: a neighbour across it weighs about
  // exp(-459^2 / 11250) ~ 1e-8, so every pixel stays on its side's value within the
  // noise (10 levels), the columns next to the edge included, and the step height is
  // kept within 3 levels.
  double worst = 0, noise_in = 0, noise_out = 0;
  for (int c = 0; c < 3; ++c) {
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        const size_t i = static_cast<size_t>((c * h + y) * w + x);
        const float side = x < w / 2 ? lo : hi;
        worst = std::max(worst, std::fabs(double{out.rgb[i]} - side));
        noise_in += std::pow(in.rgb[i] - side, 2);
        noise_out += std::pow(out.rgb[i] - side, 2);
      }
    }
  }
  CHECK(worst <= 10.0 / 255);
  for (int c = 0; c < 3; ++c) {
    double left = 0, right = 0;
    for (int64_t y = 0; y < h; ++y) {
      left += out.rgb[(c * h + y) * w + w / 2 - 1];
      right += out.rgb[(c * h + y) * w + w / 2];
    }
    CHECK(std::fabs((right - left) / h - (hi - lo)) <= 3.0 / 255);
  }
  // And the noise is smoothed: 13 taps of nearly equal weight.
  CHECK(noise_out < 0.3 * noise_in);
}

TEST_CASE("filter bilateral: a constant image stays constant; alpha passes through") {
  Image in = RandomImage(9, 6, 11, true);
  const float rgb[3] = {0.25f, 0.5f, 0.9f};
  for (int c = 0; c < 3; ++c) std::fill_n(in.rgb.begin() + c * 54, 54, rgb[c]);
  const Image out = BilateralFilter(in, 5, 75, 75);
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < 54; ++i)
      CHECK(out.rgb[c * 54 + i] == doctest::Approx(rgb[c]).epsilon(1e-6));
  }
  CHECK(out.alpha == in.alpha);  // bit for bit
  CHECK(out.source_channels == in.source_channels);
  // An empty image is returned as it is.
  CHECK(BilateralFilter(Image{}, 5, 75, 75).rgb.empty());
}

// ---- Lanczos-4 resize ---------------------------------------------------------------

namespace {

double SincRef(double x) {
  return x == 0 ? 1 : std::sin(M_PI * x) / (M_PI * x);
}
double Lanczos4Ref(double t) {
  return SincRef(t) * SincRef(t / 4);
}

// cv::resize INTER_LANCZOS4 as the header defines it, as one 2-D sum of 8x8 taps per
// output pixel, normalised by the sum of its 64 weights, clamped to [0, 1].
std::vector<float> LanczosRef(const std::vector<float>& src, int64_t planes, int64_t w, int64_t h,
                              int64_t ow, int64_t oh) {
  std::vector<float> out(static_cast<size_t>(planes * ow * oh));
  for (int64_t c = 0; c < planes; ++c) {
    for (int64_t y = 0; y < oh; ++y) {
      const double sy = (y + 0.5) * double(h) / double(oh) - 0.5;
      const double iy = std::floor(sy);
      for (int64_t x = 0; x < ow; ++x) {
        const double sx = (x + 0.5) * double(w) / double(ow) - 0.5;
        const double ix = std::floor(sx);
        double sum = 0, wsum = 0;
        for (int i = -3; i <= 4; ++i) {
          for (int j = -3; j <= 4; ++j) {
            const double wt = Lanczos4Ref(sy - (iy + i)) * Lanczos4Ref(sx - (ix + j));
            const int64_t qy = std::clamp<int64_t>(int64_t(iy) + i, 0, h - 1);
            const int64_t qx = std::clamp<int64_t>(int64_t(ix) + j, 0, w - 1);
            sum += wt * src[(c * h + qy) * w + qx];
            wsum += wt;
          }
        }
        out[(c * oh + y) * ow + x] = static_cast<float>(std::clamp(sum / wsum, 0.0, 1.0));
      }
    }
  }
  return out;
}

}  // namespace

TEST_CASE("filter lanczos4: matches the literal 2-D formula, up and down, alpha too") {
  struct Case {
    int64_t w, h, ow, oh;
  };
  for (Case k : {Case{13, 7, 26, 14}, Case{13, 7, 6, 3}, Case{1, 1, 3, 3}, Case{2, 5, 7, 2},
                 Case{13, 7, 13, 20}, Case{5, 9, 17, 4}, Case{61, 47, 100, 90},
                 Case{61, 47, 23, 19}, Case{3, 3, 1, 1}}) {
    CAPTURE(k.w);
    CAPTURE(k.h);
    CAPTURE(k.ow);
    CAPTURE(k.oh);
    const Image in = RandomImage(k.w, k.h, static_cast<uint32_t>(k.w * 31 + k.h), true);
    const Image out = ResizeLanczos4(in, k.ow, k.oh);
    REQUIRE(out.width == k.ow);
    REQUIRE(out.height == k.oh);
    REQUIRE(out.alpha.size() == static_cast<size_t>(k.ow * k.oh));
    CHECK(MaxAbsDiff(out.rgb, LanczosRef(in.rgb, 3, k.w, k.h, k.ow, k.oh)) <= 1e-5);
    CHECK(MaxAbsDiff(out.alpha, LanczosRef(in.alpha, 1, k.w, k.h, k.ow, k.oh)) <= 1e-5);
    for (float v : out.rgb) REQUIRE((v >= 0.f && v <= 1.f));
  }
}

TEST_CASE("filter lanczos4: constant stays constant; an unchanged size is the identity") {
  Image c = RandomImage(13, 7, 5, true);
  std::fill(c.rgb.begin(), c.rgb.end(), 0.37f);
  std::fill(c.alpha.begin(), c.alpha.end(), 1.f);
  for (auto [ow, oh] : {std::pair<int64_t, int64_t>{26, 14}, {6, 3}, {40, 9}}) {
    const Image out = ResizeLanczos4(c, ow, oh);
    for (float v : out.rgb) CHECK(v == doctest::Approx(0.37f).epsilon(1e-6));
    for (float v : out.alpha) CHECK(v == doctest::Approx(1.f).epsilon(1e-6));
  }
  const Image in = RandomImage(13, 7, 9, true);
  const Image same = ResizeLanczos4(in, 13, 7);
  CHECK(MaxAbsDiff(same.rgb, in.rgb) <= 1e-6);
  CHECK(MaxAbsDiff(same.alpha, in.alpha) <= 1e-6);
  CHECK(same.source_channels == in.source_channels);
}
