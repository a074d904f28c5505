// Paste-back tests (face/paste_back.h, image/filters_cv.h): the mask against values
// cv2 printed, the window-based compositing against a literal full-canvas transcription
// of upstream's loop, and identity round trips on a real photo (tests/data/align).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "face/align.h"
#include "face/paste_back.h"
#include "fixtures.h"
#include "image/filters_cv.h"
#include "image/image.h"
#include "image/pixels.h"

using namespace gpen;

namespace {

PixelImage ToPixels(const std::vector<float>& planes, int64_t h, int64_t w) {
  PixelImage p;
  p.width = w;
  p.height = h;
  p.channels = 3;
  p.data.resize(static_cast<size_t>(3 * h * w));
  for (int64_t i = 0; i < h * w; ++i)
    for (int64_t c = 0; c < 3; ++c) p.data[i * 3 + c] = ToByte(planes[c * h * w + i]);
  return p;
}

struct PhotoCase {
  Image photo;
  std::vector<FaceAlignment> faces;
};

PhotoCase LoadAlignCase() {
  const std::string dir = test::FixtureDir("align", "align_512");
  REQUIRE_MESSAGE(!dir.empty(), "tests/data/align/align_512 not found");  // ships with the repo
  std::ifstream f(dir + "/meta.json");
  const nlohmann::json meta = nlohmann::json::parse(f);
  auto photo = LoadImage(dir + "/photo.png");
  REQUIRE_MESSAGE(photo.ok(), photo.status().ToString());
  PhotoCase pc{std::move(photo).value(), {}};
  for (const auto& c : meta["cases"]) {
    Landmarks5 lm;
    for (int i = 0; i < 10; ++i) lm[i] = c["landmarks"][i / 2][i % 2].get<double>();
    auto fa = AlignFace(lm, 512);
    REQUIRE(fa.ok());
    pc.faces.push_back(fa.value());
  }
  return pc;
}

// Upstream's loop, literally, with canvas-sized buffers: full_mask, full_img, then the
// composite. Same float operations as PasteFaces, so the bytes must agree exactly.
PixelImage PasteReference(const PixelImage& bg, const std::vector<PasteFace>& faces,
                          const PasteOptions& o) {
  const int64_t h = bg.height, w = bg.width, n = h * w;
  std::vector<float> full_mask(n, 0.f), full_img(3 * n, 0.f);
  for (const PasteFace& f : faces) {
    const Affine to_canvas = CropToCanvas(f.tfm_inv, o.upscale);
    const std::vector<float> mask = PasteMask(f.size, o.mask_sigma);
    const std::vector<float> tmp_mask = WarpAffine(mask.data(), 1, f.size, f.size, to_canvas, h, w);
    std::vector<float> ef(f.restored, f.restored + 3 * f.size * f.size);
    if (f.smooth) Smooth3x3Planes(ef.data(), 3, f.size, f.size);
    if (o.alpha != 1.f)
      for (size_t i = 0; i < ef.size(); ++i)
        ef[i] = ef[i] * o.alpha + f.original[i] * (1 - o.alpha);
    const std::vector<float> tmp_img = WarpAffine(ef.data(), 3, f.size, f.size, to_canvas, h, w);
    for (int64_t k = 0; k < n; ++k) {
      if (tmp_mask[k] - full_mask[k] > 0) {
        full_mask[k] = tmp_mask[k];
        for (int c = 0; c < 3; ++c) full_img[c * n + k] = tmp_img[c * n + k];
      }
    }
  }
  PixelImage out = bg;
  for (int64_t k = 0; k < n; ++k) {
    for (int c = 0; c < 3; ++c) {
      const float v = static_cast<float>(bg.data[k * 3 + c]) * (1.f - full_mask[k]) +
                      full_img[c * n + k] * 255.f * full_mask[k];
      out.data[k * 3 + c] =
          static_cast<uint8_t>(std::clamp(std::nearbyint(std::fabs(v)), 0.f, 255.f));
    }
  }
  return out;
}

}  // namespace

TEST_CASE("paste mask: cv2's rectangle + GaussianBlur(101, 11) twice, resized for 256") {
  // Values printed by cv2 (opencv-python-headless 5.0) for the same construction; float
  // sums in a different order leave ~1e-7: 1e-5 holds that with room.
  const std::vector<float> m = UpstreamPasteMask(512);
  struct P {
    int64_t y, x;
    double v;
  };
  for (P p : {P{256, 256, 0.9999998807907104}, P{0, 0, 0.010222140699625015},
              P{0, 256, 0.10110460221767426}, P{26, 256, 0.5132847428321838},
              P{40, 300, 0.8244127631187439}, P{10, 10, 0.029144279658794403},
              P{500, 100, 0.20393292605876923}, P{60, 60, 0.9736378192901611}}) {
    CAPTURE(p.y);
    CAPTURE(p.x);
    CHECK(std::fabs(m[p.y * 512 + p.x] - p.v) <= 1e-5);
  }
  const std::vector<float> r = UpstreamPasteMask(256);
  REQUIRE(r.size() == 256u * 256u);
  for (P p : {P{128, 128, 0.9999998807907104}, P{0, 128, 0.1014571338891983},
              P{13, 128, 0.5260329246520996}, P{20, 150, 0.8324664831161499},
              P{5, 5, 0.03164524957537651}}) {
    CAPTURE(p.y);
    CAPTURE(p.x);
    CHECK(std::fabs(r[p.y * 256 + p.x] - p.v) <= 1e-5);
  }
}

TEST_CASE("paste mask: upstream's, tapered to 0 at the crop's edge only") {
  for (int64_t size : {512, 256, 64}) {
    CAPTURE(size);
    const std::vector<float> up = UpstreamPasteMask(size), m = PasteMask(size);
    const int64_t t = PasteMaskTaper(size);
    CHECK(t == std::max<int64_t>(2, size / 64));
    for (int64_t y = 0; y < size; ++y) {
      for (int64_t x = 0; x < size; ++x) {
        const int64_t d = std::min({y, x, size - 1 - y, size - 1 - x});
        const float got = m[y * size + x], want = up[y * size + x];
        if (d == 0) {
          REQUIRE(got == 0.f);  // the outline: no weight where the warp ends
        } else if (d >= t) {
          REQUIRE(got == want);  // inside the taper: upstream's exactly
        } else {
          REQUIRE(got < want);
          REQUIRE(got >= want * static_cast<float>(d * d) / static_cast<float>(t * t) - 1e-7f);
        }
      }
    }
  }
}

TEST_CASE("paste filters: Gaussian kernel and 3x3 smoothing against direct sums") {
  const std::vector<float> k = GaussianKernelCv(101, 11);
  double sum = 0;
  for (float v : k) sum += v;
  CHECK(sum == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(k[50] == doctest::Approx(0.03626764).epsilon(1e-6));  // cv2.getGaussianKernel(101, 11)
  CHECK(k[0] == doctest::Approx(1.18305801e-06).epsilon(1e-5));
  // 3x3 filter2D with BORDER_REFLECT_101, on a 4x5 plane, by its definition.
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  const int64_t h = 4, w = 5;
  std::vector<float> src(h * w);
  for (float& v : src) v = u(rng);
  std::vector<float> out = src;
  Smooth3x3Planes(out.data(), 1, h, w);
  auto refl = [](int64_t p, int64_t n) { return p < 0 ? -p : (p >= n ? 2 * n - 2 - p : p); };
  const float kk[3] = {1, 2, 1};
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      double acc = 0;
      for (int dy = -1; dy <= 1; ++dy)
        for (int dx = -1; dx <= 1; ++dx)
          acc += kk[dy + 1] * kk[dx + 1] / 16.0 * src[refl(y + dy, h) * w + refl(x + dx, w)];
      CHECK(out[y * w + x] == doctest::Approx(acc).epsilon(1e-6));
    }
  }
}

TEST_CASE("paste: windows give exactly upstream's full-canvas loop (overlaps, alpha, smoothing)") {
  // Three faces on a small canvas, the first two overlapping heavily, the third partly
  // off the canvas; random restored and original crops; alpha 0.7; one face smoothed.
  const int64_t size = 64, h = 90, w = 120;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<std::vector<float>> restored(3), original(3);
  for (int i = 0; i < 3; ++i) {
    restored[i].resize(3 * size * size);
    original[i].resize(3 * size * size);
    for (float& v : restored[i]) v = u(rng);
    for (float& v : original[i]) v = u(rng);
  }
  PixelImage bg;
  bg.width = w;
  bg.height = h;
  bg.data.resize(3 * h * w);
  for (uint8_t& v : bg.data) v = static_cast<uint8_t>(rng() % 256);
  auto tfm = [](double s, double deg, double tx, double ty) {
    Affine a;
    const double t = deg * M_PI / 180;
    a.m[0] = s * std::cos(t), a.m[1] = -s * std::sin(t), a.m[2] = tx;
    a.m[3] = s * std::sin(t), a.m[4] = s * std::cos(t), a.m[5] = ty;
    return a;
  };
  std::vector<PasteFace> faces(3);
  const Affine t[3] = {tfm(0.9, 10, 20, 5), tfm(0.8, -15, 35, 20), tfm(1.1, 30, 95, 40)};
  for (int i = 0; i < 3; ++i)
    faces[i] = {restored[i].data(), original[i].data(), size, t[i], i == 1};
  PasteOptions o;
  o.alpha = 0.7f;
  for (double up : {1.0, 1.5}) {
    CAPTURE(up);
    o.upscale = up;
    PixelImage mine = bg;
    PasteFaces(&mine, faces, o);
    const PixelImage ref = PasteReference(bg, faces, o);
    CHECK(mine.data == ref.data);
    CHECK(mine.data != bg.data);  // the faces did land
  }
  // The order decides ties: with the same face twice, the first copy wins everywhere,
  // which gives the same image as pasting it once.
  PixelImage once = bg, twice = bg;
  PasteFaces(&once, {faces[0]}, o);
  PasteFaces(&twice, {faces[0], faces[0]}, o);
  CHECK(once.data == twice.data);
}

namespace {

// Where the pixels of a pasted canvas come from: outside every crop, inside one (all
// four taps in the crop), or on the edge ring of a crop, where the warp mixes in its
// black border (a tap outside reads 0).
enum class Region { kOutside, kInside, kRing };

std::vector<Region> Regions(const std::vector<FaceAlignment>& faces, double up, int64_t h,
                            int64_t w) {
  std::vector<Region> r(static_cast<size_t>(h * w), Region::kOutside);
  for (const FaceAlignment& fa : faces) {
    const Affine inv = InvertAffine(CropToCanvas(fa.tfm_inv, up));
    const double hi = static_cast<double>(fa.crop_size) - 1;
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        const double cx = inv.m[0] * x + inv.m[1] * y + inv.m[2];
        const double cy = inv.m[3] * x + inv.m[4] * y + inv.m[5];
        if (cx <= -1 || cy <= -1 || cx >= hi + 1 || cy >= hi + 1) continue;
        // 0.1 crop pixel of margin covers the warp's 1/32-pixel rounding.
        const bool in = cx >= 0.1 && cy >= 0.1 && cx <= hi - 0.1 && cy <= hi - 0.1;
        Region& v = r[y * w + x];
        v = (v == Region::kRing || !in) ? Region::kRing : Region::kInside;
      }
    }
  }
  return r;
}

struct RegionDiff {
  int64_t max_outside = 0, max_inside = 0, max_ring = 0;
  int64_t inside = 0, inside_within1 = 0;
};

RegionDiff CompareByRegion(const PixelImage& a, const PixelImage& b, const std::vector<Region>& r) {
  RegionDiff d;
  for (size_t i = 0; i < a.data.size(); ++i) {
    const int64_t e = std::llabs(int64_t{a.data[i]} - int64_t{b.data[i]});
    switch (r[i / 3]) {
      case Region::kOutside:
        d.max_outside = std::max(d.max_outside, e);
        break;
      case Region::kRing:
        d.max_ring = std::max(d.max_ring, e);
        break;
      case Region::kInside:
        d.max_inside = std::max(d.max_inside, e);
        ++d.inside;
        d.inside_within1 += e <= 1;
        break;
    }
  }
  return d;
}

// Crops `ph` with each alignment, pastes the crops back unchanged (alpha 1, no
// smoothing) into `ph` resized by `up` (bilinear, half-pixel centres: the placement
// CropToCanvas assumes), and compares with that background.
RegionDiff IdentityRoundTrip(const Image& ph, const std::vector<FaceAlignment>& fas, int64_t up) {
  std::vector<std::vector<float>> crops;
  std::vector<PasteFace> faces;
  for (const FaceAlignment& fa : fas)
    crops.push_back(CropFace(ph.rgb.data(), 3, ph.height, ph.width, fa));
  for (size_t i = 0; i < crops.size(); ++i)
    faces.push_back({crops[i].data(), crops[i].data(), 512, fas[i].tfm_inv, false});
  const int64_t h = ph.height * up, w = ph.width * up;
  const PixelImage bg = ToPixels(ResizeBilinear(ph.rgb, 3, ph.height, ph.width, h, w), h, w);
  PixelImage out = bg;
  PasteOptions o;
  o.upscale = static_cast<double>(up);
  PasteFaces(&out, faces, o);
  return CompareByRegion(out, bg, Regions(fas, o.upscale, h, w));
}

}  // namespace

// On smooth content, resampling photo -> crop -> canvas loses nothing visible: inside
// the crops the result is the background to within 1 level (its 8-bit rounding), which
// a shift of the face or a misplaced mask would break. On the ring at the crop edge,
// upstream's mask (0.102 there) let its warp's black border in, 6 levels measured; the
// tapered mask is 0 there, so the ring is within 1 level too (measured 0): no seam.
TEST_CASE("paste: identity restorer on a smooth photo: no shift, no seam (x1 and x2)") {
  PhotoCase pc = LoadAlignCase();
  Image& ph = pc.photo;
  const int64_t H = ph.height, W = ph.width;
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x)
        ph.rgb[(c * H + y) * W + x] =
            0.5f + 0.3f * std::sin(0.05f * x + c) * std::cos(0.04f * y) + 0.1f * x / W;
  for (int64_t up : {1, 2}) {
    CAPTURE(up);
    const RegionDiff d = IdentityRoundTrip(ph, pc.faces, up);
    MESSAGE("smooth x" << up << ": max error outside " << d.max_outside << ", inside "
                       << d.max_inside << ", ring " << d.max_ring << " levels");
    CHECK(d.inside > 100000);  // the faces cover a good part of the canvas
    CHECK(d.max_outside == 0);
    CHECK(d.max_inside <= 1);
    CHECK(d.max_ring <= 1);
  }
}

// On the real photo, sharp detail inside the faces shows the cost of interpolating
// twice: the crop is a bilinear interpolation of the photo (about 4 crop pixels per
// photo pixel), sampled again bilinearly; where the photo's slope changes by D levels
// per pixel, the two differ by up to D * h / 4 with h = 1/4 photo pixel: a few levels at
// the sharpest edges. At x1 every canvas pixel sits on a photo pixel, where the slope
// changes, so that error is largest; at x2 the canvas pixels fall between them. Measured
// (values inside the crops within 1 level, worst): x1 94.7%, 8 levels; x2 99.985%, 2.
TEST_CASE("paste: identity restorer over a real photo gives it back (x1 and x2)") {
  const PhotoCase pc = LoadAlignCase();
  for (int64_t up : {1, 2}) {
    CAPTURE(up);
    const RegionDiff d = IdentityRoundTrip(pc.photo, pc.faces, up);
    const double frac = static_cast<double>(d.inside_within1) / static_cast<double>(d.inside);
    MESSAGE("photo x" << up << ": " << 100 * frac
                      << "% of values inside the crops within 1 level; max error outside "
                      << d.max_outside << ", inside " << d.max_inside << ", ring " << d.max_ring);
    CHECK(d.max_outside == 0);
    CHECK(frac >= (up == 1 ? 0.93 : 0.999));
    CHECK(d.max_inside <= (up == 1 ? 12 : 4));
    CHECK(d.max_ring <= 2);  // the tapered outline (measured 0): no seam around the crop
  }
}

// The geometry in float, without the 8-bit rounding that hides sub-pixel errors: a
// linear ramp (slopes 0.01 and 0.007 per pixel) is reproduced exactly by bilinear
// interpolation, so cropping it and warping the crop into the x1, x2 or x3 canvas gives
// the ramp at each canvas pixel's photo position (X + 0.5) / up - 0.5, up to the
// 1/32-pixel rounding of the two warps' taps: at most 1/64 photo pixel per axis, then
// 1/64 crop pixel (~1/240 photo pixel), times the slopes: 3.4e-4 (measured 2.7e-4).
// That rounding averages out; a shift would not: the mean signed error (measured 1e-5)
// is held to 4e-5, where a shift of 1/40 pixel along x alone would give 2.5e-4.
TEST_CASE("paste: crop and paste-back transforms place a linear ramp without shift") {
  const PhotoCase pc = LoadAlignCase();
  const int64_t H = pc.photo.height, W = pc.photo.width;
  auto ramp = [](double x, double y) { return 0.01 * x + 0.007 * y; };
  std::vector<float> photo(static_cast<size_t>(H * W));
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) photo[y * W + x] = static_cast<float>(ramp(x, y));
  for (int64_t up : {1, 2, 3}) {
    CAPTURE(up);
    double worst = 0, sum = 0;
    int64_t count = 0;
    for (const FaceAlignment& fa : pc.faces) {
      const std::vector<float> crop = CropFace(photo.data(), 1, H, W, fa);
      const Affine to_canvas = CropToCanvas(fa.tfm_inv, static_cast<double>(up));
      // The canvas window around the middle of the crop, away from its edges.
      const double* m = to_canvas.m;
      const double cx = m[0] * 256 + m[1] * 256 + m[2], cy = m[3] * 256 + m[4] * 256 + m[5];
      const PixelRect roi{static_cast<int64_t>(cx) - 20 * up, static_cast<int64_t>(cy) - 20 * up,
                          40 * up, 40 * up};
      std::vector<float> out(static_cast<size_t>(roi.w * roi.h));
      WarpAffineRoi(crop.data(), 1, 512, 512, InvertAffine(to_canvas), roi, out.data());
      for (int64_t y = 0; y < roi.h; ++y) {
        for (int64_t x = 0; x < roi.w; ++x) {
          const double px = (static_cast<double>(roi.x + x) + 0.5) / up - 0.5;
          const double py = (static_cast<double>(roi.y + y) + 0.5) / up - 0.5;
          const double e = out[y * roi.w + x] - ramp(px, py);
          worst = std::max(worst, std::fabs(e));
          sum += e;
          ++count;
        }
      }
    }
    const double mean = sum / static_cast<double>(count);
    MESSAGE("x" << up << ": ramp error worst " << worst << ", mean " << mean);
    CHECK(worst <= 3.4e-4);
    CHECK(std::fabs(mean) <= 4e-5);
  }
}
