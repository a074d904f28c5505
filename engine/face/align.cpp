// Reference points, Umeyama similarity and the face crop (see align.h).
//
// In two dimensions Umeyama's SVD solution has a closed form: for the covariance
// A = (1/n) sum dst_c src_c^T (centred points), the rotation without reflection that
// maximises trace(R^T A) has angle atan2(A10 - A01, A00 + A11), and trace(D S) (the
// singular values with the reflection sign) equals |(A00 + A11, A10 - A01)|, so
// scale = |(A00 + A11, A10 - A01)| / var(src) (var summed over x and y, population).
#include "face/align.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace gpen {

namespace {

// align_faces.REFERENCE_FACIAL_POINTS: 5 points of the 96x112 template.
constexpr double kTemplate[10] = {30.29459953, 51.69630051, 65.53179932, 51.50139999, 48.02519989,
                                  71.73660278, 33.54930115, 92.3655014,  62.72990036, 92.20410156};
constexpr double kTemplateW = 96, kTemplateH = 112;
constexpr double kInnerPadding = 0.25;

Landmarks5 RoundToFloat(const Landmarks5& p) {
  Landmarks5 r;
  for (size_t i = 0; i < p.size(); ++i) r[i] = static_cast<float>(p[i]);
  return r;
}

}  // namespace

Landmarks5 ReferencePoints(int64_t crop_size) {
  GPEN_CHECK_MSG(crop_size > 0, "reference points for a crop of " << crop_size);
  // default_square: pad the narrower side to the wider one, points centred.
  const double side = std::max(kTemplateW, kTemplateH);
  const double dx = (side - kTemplateW) / 2, dy = (side - kTemplateH) / 2;
  // inner padding: side * factor on each side; the padded size is rounded as upstream.
  const double pad = side * kInnerPadding * 2;
  const double padded = side + std::round(pad);
  const double scale = static_cast<double>(crop_size) / padded;
  Landmarks5 r;
  for (int i = 0; i < 5; ++i) {
    r[2 * i] = (kTemplate[2 * i] + dx + pad / 2) * scale;
    r[2 * i + 1] = (kTemplate[2 * i + 1] + dy + pad / 2) * scale;
  }
  return r;
}

Affine UmeyamaSimilarity(const double* src, const double* dst, int64_t n, bool estimate_scale,
                         double scale, double* scale_out) {
  GPEN_CHECK_MSG(n >= 2, "similarity from " << n << " points");
  double sm[2] = {0, 0}, dm[2] = {0, 0};
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 2; ++k) {
      sm[k] += src[2 * i + k] / static_cast<double>(n);
      dm[k] += dst[2 * i + k] / static_cast<double>(n);
    }
  }
  double a[2][2] = {{0, 0}, {0, 0}}, var = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double s[2] = {src[2 * i] - sm[0], src[2 * i + 1] - sm[1]};
    const double d[2] = {dst[2 * i] - dm[0], dst[2 * i + 1] - dm[1]};
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 2; ++c) a[r][c] += d[r] * s[c] / static_cast<double>(n);
    var += (s[0] * s[0] + s[1] * s[1]) / static_cast<double>(n);
  }
  const double cs = a[0][0] + a[1][1], sn = a[1][0] - a[0][1];
  const double norm = std::hypot(cs, sn);
  const double cos_t = norm > 0 ? cs / norm : 1, sin_t = norm > 0 ? sn / norm : 0;
  if (estimate_scale) scale = norm / var;
  if (scale_out) *scale_out = scale;
  Affine t;
  t.m[0] = scale * cos_t;
  t.m[1] = -scale * sin_t;
  t.m[3] = scale * sin_t;
  t.m[4] = scale * cos_t;
  t.m[2] = dm[0] - (t.m[0] * sm[0] + t.m[1] * sm[1]);
  t.m[5] = dm[1] - (t.m[3] * sm[0] + t.m[4] * sm[1]);
  return t;
}

Result<FaceAlignment> AlignFace(const Landmarks5& landmarks, int64_t crop_size) {
  GPEN_CHECK_MSG(crop_size > 0, "alignment to a crop of " << crop_size);
  const Landmarks5 src = RoundToFloat(landmarks);
  const Landmarks5 ref = RoundToFloat(ReferencePoints(crop_size));
  double spread = 0;
  for (int i = 0; i < 10; ++i) {
    if (!std::isfinite(src[i]))
      return InvalidArgument("face landmark " + std::to_string(i) + " is not a finite number",
                             "the detector's output is corrupt");
    spread += std::fabs(src[i] - src[i % 2]);
  }
  if (spread == 0)
    return InvalidArgument("the 5 face landmarks are one point: no alignment exists",
                           "the detector's output is degenerate");
  FaceAlignment fa;
  fa.crop_size = crop_size;
  double scale = 1;
  fa.tfm = UmeyamaSimilarity(src.data(), ref.data(), 5, true, 1.0, &scale);
  fa.tfm_inv = UmeyamaSimilarity(ref.data(), src.data(), 5, false, 1.0 / scale);
  return fa;
}

std::vector<float> CropFace(const float* photo, int64_t channels, int64_t h, int64_t w,
                            const FaceAlignment& alignment) {
  return WarpAffine(photo, channels, h, w, alignment.tfm, alignment.crop_size, alignment.crop_size);
}

}  // namespace gpen
