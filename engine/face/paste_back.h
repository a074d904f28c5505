// Paste-back: restored faces composited into the output image with a feathered mask.
//
// Mirrors the loop of upstream GPEN's FaceEnhancement.process (face_enhancement.py,
// with the rectangle mask it used before face parsing; the code is our own):
//   PasteMask     - the 512x512 template: a filled rectangle from (26, 26) to (486, 486)
//                   (cv2.rectangle, LINE_AA: exactly rows/columns 26..486 are 1) blurred
//                   twice with cv2.GaussianBlur((101, 101), sigma) (sigma 11 in the
//                   upstream versions that pasted with it; 4 in later ones, where it
//                   went unused), then cv2.resize to the crop size (bilinear) when that
//                   is not 512; then (our one departure) tapered to 0 at the crop's
//                   edge, see PasteMask.
//   PasteFaces    - per face, in order: cv2.filter2D with the 3x3 kernel for a small
//                   face; ef = addWeighted(ef, alpha, of, 1 - alpha); mask and face
//                   warped into the canvas with cv2.warpAffine(..., tfm_inv, flags=3)
//                   (bilinear, black border); then "mask = tmp_mask - full_mask;
//                   where mask > 0: full_mask = tmp_mask, full_img = tmp_img": per
//                   pixel, the face with the largest mask value wins, the earliest one
//                   among equals; finally convertScaleAbs(bg * (1 - full_mask) +
//                   full_img * full_mask), rounded to 8 bits.
//   IsSmallFace   - upstream's "min(fh, fw) < 100" on the detection box, measured in the
//                   image faces were detected in (with its SR model on, the upscaled one).
//
// Unlike upstream, nothing is canvas-sized per face: each face is warped into the
// window its crop covers in the canvas, and where the windows of two faces overlap, the
// other face's mask is warped over the overlap to decide which one wins; winners are
// written straight into the 8-bit canvas. Memory is that of the largest window, whatever
// the canvas size. The restored face stays float until the one rounding of the composite
// (upstream also rounds to 8 bits after filter2D, addWeighted and warpAffine: half a level
// at most each).
//
// Upscaled output: the canvas may be the photo upscaled by `upscale` (the background
// from the upscaler, faces aligned and cropped from the photo itself). A photo pixel p
// is then at canvas pixel upscale * p + (upscale - 1) / 2: the centres of the upscale's
// output pixels, as a half-pixel-centred resize places them. The crop-to-photo transform
// is composed with that (CropToCanvas).
#pragma once

#include <cstdint>
#include <vector>

#include "face/detect_decode.h"
#include "image/pixels.h"
#include "image/warp_affine.h"

namespace gpen {

inline constexpr double kPasteMaskSigma = 11.0;

// Upstream's feathered mask for a crop of `size` (> 0): (size, size), values in [0, 1].
std::vector<float> UpstreamPasteMask(int64_t size, double sigma = kPasteMaskSigma);
// The mask faces are pasted with: upstream's, tapered linearly to 0 over the outermost
// PasteMaskTaper(size) pixels of the crop (8 at 512). Upstream's is still about 0.10 at
// the crop's edge, where its warp falls off to nothing: a step of a tenth of the face
// against the background along the crop's outline, and the warp's black border mixed
// into the last pixel. Tapered, the blend weight reaches 0 at the edge continuously, so
// the outline leaves no seam; inside the taper upstream's mask is kept as it is.
std::vector<float> PasteMask(int64_t size, double sigma = kPasteMaskSigma);
int64_t PasteMaskTaper(int64_t size);

// Upstream's small-face rule for a box in photo pixels when faces are pasted into a
// canvas `upscale` times larger (the box measured as upstream measured it).
bool IsSmallFace(const FaceBox& box, double upscale = 1.0);

// crop -> canvas: the crop -> photo transform followed by photo -> canvas.
Affine CropToCanvas(const Affine& tfm_inv, double upscale);

struct PasteFace {
  const float* restored = nullptr;  // (3, size, size) planar RGB in [0, 1], at the crop size
  const float* original = nullptr;  // (3, size, size) the aligned crop; needed when alpha < 1
  int64_t size = 0;                 // the crop size the face was aligned to
  Affine tfm_inv;                   // crop -> photo (FaceAlignment::tfm_inv)
  bool smooth = false;              // IsSmallFace: 3x3 smoothing before blending
};

struct PasteOptions {
  float alpha = 1.0f;    // restored weight: addWeighted(restored, alpha, original, 1 - alpha)
  double upscale = 1.0;  // canvas pixels per photo pixel (> 0)
  double mask_sigma = kPasteMaskSigma;
};

// Composites `faces` into `canvas` (8-bit RGB or RGBA, the background: the photo, or the
// photo upscaled by options.upscale). An alpha channel is left as it is.
void PasteFaces(PixelImage* canvas, const std::vector<PasteFace>& faces,
                const PasteOptions& options);

}  // namespace gpen
