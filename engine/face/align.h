// Face alignment: the reference landmarks of a crop, the similarity transform that maps
// a face's 5 detected landmarks onto them, and the crop itself.
//
// Mirrors upstream GPEN's align_faces.py as FaceEnhancement calls it:
//   ReferencePoints    - get_reference_facial_points((size, size), inner_padding_factor
//                        0.25, outer_padding (0, 0), default_square True): the 5 points
//                        of the 96x112 template, squared to 112x112, padded to 168x168,
//                        scaled by size / 168. A 256 or 1024 model's points are the 512
//                        points times size / 512.
//   AlignFace          - warp_and_crop_face with align_type 'smilarity': _umeyama
//                        (Umeyama 1991, the least-squares similarity without reflection)
//                        from the landmarks to the reference points for tfm, and again
//                        from the reference points to the landmarks with the scale fixed
//                        to 1 / scale for tfm_inv. Both points sets are rounded to float32
//                        first, as upstream's np.float32() does.
//   CropFace           - cv2.warpAffine(img, tfm, (size, size), flags=3): bilinear with a
//                        black border (image/warp_affine.h).
// Landmarks are (x1, y1, ..., x5, y5) in photo pixels: left eye, right eye, nose, left
// and right mouth corners, as face/detect_decode.h gives them.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/status.h"
#include "face/detect_decode.h"
#include "image/warp_affine.h"

namespace gpen {

using Landmarks5 = std::array<double, 10>;  // x1, y1, ..., x5, y5

// A detected face's landmarks (FaceBox::lm, photo pixels).
inline Landmarks5 LandmarksOf(const FaceBox& box) {
  Landmarks5 lm;
  for (size_t i = 0; i < lm.size(); ++i) lm[i] = box.lm[i];
  return lm;
}

// Reference points of a square crop of `crop_size` pixels (> 0).
Landmarks5 ReferencePoints(int64_t crop_size);

// _umeyama(src, dst, estimate_scale, scale) for n 2-D points: the similarity
// dst ~ s R src + t. With estimate_scale the scale is fitted (and stored in *scale_out
// when given); otherwise `scale` is used. Points are (x, y) pairs.
Affine UmeyamaSimilarity(const double* src, const double* dst, int64_t n, bool estimate_scale,
                         double scale = 1.0, double* scale_out = nullptr);

struct FaceAlignment {
  int64_t crop_size = 0;
  Affine tfm;      // photo -> crop (what the crop is warped with)
  Affine tfm_inv;  // crop -> photo (what the restored face is pasted back with)
};

// The alignment of a face with `landmarks` to a crop of `crop_size`. Fails when the
// landmarks are degenerate (all five at one point, or not finite).
[[nodiscard]] Result<FaceAlignment> AlignFace(const Landmarks5& landmarks, int64_t crop_size);

// The aligned crop: (channels, crop_size, crop_size) planar, from `channels` planes of
// the (h, w) photo.
std::vector<float> CropFace(const float* photo, int64_t channels, int64_t h, int64_t w,
                            const FaceAlignment& alignment);

}  // namespace gpen
