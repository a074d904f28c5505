// Paste-back on windows around each face (see paste_back.h).
//
// Face i is the final winner at a canvas pixel when its mask there is larger than that
// of every earlier face and not smaller than that of any later one, and above 0: that is
// what upstream's sequential "mask - full_mask > 0" updates leave. Masks are warped with
// absolute canvas coordinates (image/warp_affine.h), so a face's mask value at a pixel is
// the same whichever window it is computed in.
#include "face/paste_back.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/check.h"
#include "image/filters_cv.h"
#include "image/image.h"

namespace gpen {

namespace {

constexpr int64_t kTemplateSize = 512;
constexpr int64_t kRectLo = 26, kRectHi = 486;  // cv2.rectangle((26, 26), (486, 486)), inclusive
constexpr int64_t kBlurSize = 101;

// A face ready to paste: its crop -> canvas map, the map back, its window and mask.
struct Placed {
  Affine to_src;  // canvas -> crop (what the warp samples with)
  PixelRect roi;
  const std::vector<float>* mask = nullptr;
  int64_t size = 0;
};

// The canvas window the crop [-1, size] x [-1, size] covers (a tap may reach one pixel
// beyond the crop), clipped to the canvas; empty when the face is off the canvas.
PixelRect CoveredWindow(const Affine& to_canvas, int64_t size, int64_t cw, int64_t ch) {
  double x0 = 1e300, y0 = 1e300, x1 = -1e300, y1 = -1e300;
  for (double cx : {-1.0, static_cast<double>(size)}) {
    for (double cy : {-1.0, static_cast<double>(size)}) {
      const double* m = to_canvas.m;
      const double x = m[0] * cx + m[1] * cy + m[2], y = m[3] * cx + m[4] * cy + m[5];
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  }
  const double lx = std::max(0.0, std::floor(x0) - 1), ly = std::max(0.0, std::floor(y0) - 1);
  const double hx = std::min(static_cast<double>(cw), std::ceil(x1) + 2);
  const double hy = std::min(static_cast<double>(ch), std::ceil(y1) + 2);
  if (!(hx > lx && hy > ly)) return {};
  return {static_cast<int64_t>(lx), static_cast<int64_t>(ly), static_cast<int64_t>(hx - lx),
          static_cast<int64_t>(hy - ly)};
}

PixelRect Intersect(const PixelRect& a, const PixelRect& b) {
  const int64_t x = std::max(a.x, b.x), y = std::max(a.y, b.y);
  const int64_t r = std::min(a.x + a.w, b.x + b.w), d = std::min(a.y + a.h, b.y + b.h);
  if (r <= x || d <= y) return {};
  return {x, y, r - x, d - y};
}

// The face as upstream pastes it, in crop space: smoothed if small, blended with alpha.
std::vector<float> FaceToPaste(const PasteFace& f, float alpha) {
  const int64_t n = 3 * f.size * f.size;
  std::vector<float> ef(f.restored, f.restored + n);
  if (f.smooth) Smooth3x3Planes(ef.data(), 3, f.size, f.size);
  if (alpha != 1.0f) {
    GPEN_CHECK_MSG(f.original != nullptr, "alpha " << alpha << " needs the original crop");
    for (int64_t i = 0; i < n; ++i) ef[i] = ef[i] * alpha + f.original[i] * (1.0f - alpha);
  }
  return ef;
}

// win[k] = 0 where face `other` (index j, this face i) beats this face's mask `m` on
// the overlap of the two windows.
void MarkLosses(const Placed& self, const std::vector<float>& m, const Placed& other, bool earlier,
                std::vector<char>* win) {
  const PixelRect ov = Intersect(self.roi, other.roi);
  if (ov.w == 0) return;
  std::vector<float> om(static_cast<size_t>(ov.w * ov.h));
  WarpAffineRoi(other.mask->data(), 1, other.size, other.size, other.to_src, ov, om.data());
  for (int64_t y = 0; y < ov.h; ++y) {
    for (int64_t x = 0; x < ov.w; ++x) {
      const int64_t k = (ov.y - self.roi.y + y) * self.roi.w + (ov.x - self.roi.x + x);
      const float o = om[y * ov.w + x];
      if (earlier ? o >= m[k] : o > m[k]) (*win)[k] = 0;
    }
  }
}

// convertScaleAbs(bg * (1 - m) + face * m) into the canvas where this face wins.
void Composite(PixelImage* canvas, const PixelRect& roi, const std::vector<float>& m,
               const std::vector<float>& face, const std::vector<char>& win) {
  const int64_t n = roi.w * roi.h, ch = canvas->channels;
  for (int64_t y = 0; y < roi.h; ++y) {
    for (int64_t x = 0; x < roi.w; ++x) {
      const int64_t k = y * roi.w + x;
      if (!win[k] || !(m[k] > 0.f)) continue;
      uint8_t* px = canvas->data.data() + ((roi.y + y) * canvas->width + roi.x + x) * ch;
      for (int64_t c = 0; c < 3; ++c) {
        const float v = static_cast<float>(px[c]) * (1.f - m[k]) + face[c * n + k] * 255.f * m[k];
        px[c] = static_cast<uint8_t>(std::clamp(std::nearbyint(std::fabs(v)), 0.f, 255.f));
      }
    }
  }
}

}  // namespace

std::vector<float> UpstreamPasteMask(int64_t size, double sigma) {
  GPEN_CHECK_MSG(size > 0, "paste mask for a crop of " << size);
  std::vector<float> mask(static_cast<size_t>(kTemplateSize * kTemplateSize), 0.f);
  for (int64_t y = kRectLo; y <= kRectHi; ++y)
    std::fill_n(mask.begin() + y * kTemplateSize + kRectLo, kRectHi - kRectLo + 1, 1.f);
  for (int pass = 0; pass < 2; ++pass)
    GaussianBlurPlane(mask.data(), kTemplateSize, kTemplateSize, kBlurSize, sigma);
  if (size == kTemplateSize) return mask;
  return ResizeBilinear(mask, 1, kTemplateSize, kTemplateSize, size, size);
}

int64_t PasteMaskTaper(int64_t size) {
  return std::max<int64_t>(2, size * 8 / kTemplateSize);
}

std::vector<float> PasteMask(int64_t size, double sigma) {
  std::vector<float> mask = UpstreamPasteMask(size, sigma);
  const int64_t taper = PasteMaskTaper(size);
  std::vector<float> ramp(static_cast<size_t>(size));
  for (int64_t i = 0; i < size; ++i) {
    const int64_t d = std::min(i, size - 1 - i);  // pixels from the crop's edge
    ramp[static_cast<size_t>(i)] = std::min(1.f, static_cast<float>(d) / static_cast<float>(taper));
  }
  for (int64_t y = 0; y < size; ++y)
    for (int64_t x = 0; x < size; ++x)
      mask[static_cast<size_t>(y * size + x)] *=
          ramp[static_cast<size_t>(y)] * ramp[static_cast<size_t>(x)];
  return mask;
}

bool IsSmallFace(const FaceBox& box, double upscale) {
  const double fh = (static_cast<double>(box.y2) - box.y1) * upscale;
  const double fw = (static_cast<double>(box.x2) - box.x1) * upscale;
  return std::min(fh, fw) < 100;
}

Affine CropToCanvas(const Affine& tfm_inv, double upscale) {
  Affine photo_to_canvas;
  photo_to_canvas.m[0] = photo_to_canvas.m[4] = upscale;
  photo_to_canvas.m[2] = photo_to_canvas.m[5] = (upscale - 1) / 2;
  return ComposeAffine(photo_to_canvas, tfm_inv);
}

void PasteFaces(PixelImage* canvas, const std::vector<PasteFace>& faces,
                const PasteOptions& options) {
  GPEN_CHECK_MSG(canvas != nullptr && (canvas->channels == 3 || canvas->channels == 4) &&
                     static_cast<int64_t>(canvas->data.size()) ==
                         canvas->width * canvas->height * canvas->channels &&
                     options.upscale > 0,
                 "paste into a canvas of " << (canvas ? canvas->width : 0) << "x"
                                           << (canvas ? canvas->height : 0) << ", upscale "
                                           << options.upscale);
  std::map<int64_t, std::vector<float>> masks;  // by crop size
  std::vector<Placed> placed(faces.size());
  for (size_t i = 0; i < faces.size(); ++i) {
    const PasteFace& f = faces[i];
    GPEN_CHECK_MSG(f.restored != nullptr && f.size > 0, "face " << i << " of size " << f.size);
    auto it = masks.find(f.size);
    if (it == masks.end()) it = masks.emplace(f.size, PasteMask(f.size, options.mask_sigma)).first;
    const Affine to_canvas = CropToCanvas(f.tfm_inv, options.upscale);
    // warpAffine(ef, tfm_inv) samples with the inverse of the matrix it is given.
    placed[i] = {InvertAffine(to_canvas),
                 CoveredWindow(to_canvas, f.size, canvas->width, canvas->height), &it->second,
                 f.size};
  }
  for (size_t i = 0; i < faces.size(); ++i) {
    const Placed& p = placed[i];
    if (p.roi.w == 0) continue;
    const int64_t n = p.roi.w * p.roi.h;
    std::vector<float> m(static_cast<size_t>(n));
    WarpAffineRoi(p.mask->data(), 1, p.size, p.size, p.to_src, p.roi, m.data());
    std::vector<char> win(static_cast<size_t>(n), 1);
    for (size_t j = 0; j < faces.size(); ++j)
      if (j != i) MarkLosses(p, m, placed[j], j < i, &win);
    const std::vector<float> ef = FaceToPaste(faces[i], options.alpha);
    std::vector<float> face(static_cast<size_t>(3 * n));
    WarpAffineRoi(ef.data(), 3, p.size, p.size, p.to_src, p.roi, face.data());
    Composite(canvas, p.roi, m, face, win);
  }
}

}  // namespace gpen
