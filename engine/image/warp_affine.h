// Affine warp of planar float images, as cv2.warpAffine with bilinear interpolation
// and a constant 0 border.
//
// Upstream GPEN cuts each face out of the photo with cv2.warpAffine(img, tfm, (512,
// 512), flags=3) and pastes it back with cv2.warpAffine(face, tfm_inv, (w, h),
// flags=3). flags=3 is INTER_AREA, which warpAffine treats as INTER_LINEAR; without
// WARP_INVERSE_MAP, OpenCV inverts the matrix it is given (cv::invertAffineTransform,
// double) and samples the source at M^-1 (x, y) for every destination pixel (x, y).
// The code is our own, from OpenCV's definition, including its fixed-point sampling:
//
//   (sx, sy) = M^-1 (x, y), quantised to 1/32 pixel: with A = M^-1 and 1024 = 2^10,
//     X = (round((A01 y + A02) 1024) + 16 + round(A00 x 1024)) >> 5  (same for Y),
//     ix = X >> 5, fx = (X & 31) / 32  (round: to nearest, ties to even, as cvRound)
//   dst = (1-fy)((1-fx) s(ix, iy) + fx s(ix+1, iy)) + fy((1-fx) s(ix, iy+1) + fx s(ix+1, iy+1))
//   where a tap outside the source reads 0 (BORDER_CONSTANT, value 0).
//
// Destination coordinates are absolute, so a region of interest (WarpAffineRoi) gives
// exactly the pixels the full-size warp gives there: paste-back works on a window
// around each face, never on a full-canvas buffer. Weights and sums are float (OpenCV's
// float path; its 8-bit path uses 15-bit integer weights, within half a level of this).
#pragma once

#include <cstdint>
#include <vector>

namespace gpen {

// x' = m[0] x + m[1] y + m[2], y' = m[3] x + m[4] y + m[5] (OpenCV's 2x3 layout).
struct Affine {
  double m[6] = {1, 0, 0, 0, 1, 0};
};

// cv::invertAffineTransform (a singular matrix gives all zeros, as OpenCV's does).
Affine InvertAffine(const Affine& a);
// (a * b)(p) = a(b(p)).
Affine ComposeAffine(const Affine& a, const Affine& b);

// A window of the destination, in destination pixels.
struct PixelRect {
  int64_t x = 0, y = 0, w = 0, h = 0;
};

// The pixels (x, y) of `roi`, for each of `channels` planes of `src` (h, w), sampled
// at dst_to_src (x, y) as above; `dst` is (channels, roi.h, roi.w). dst_to_src is the
// map OpenCV samples with, i.e. the inverse of warpAffine's matrix.
void WarpAffineRoi(const float* src, int64_t channels, int64_t h, int64_t w,
                   const Affine& dst_to_src, const PixelRect& roi, float* dst);

// cv2.warpAffine(src, src_to_dst, (out_w, out_h), flags=INTER_LINEAR) on planar data:
// returns (channels, out_h, out_w).
std::vector<float> WarpAffine(const float* src, int64_t channels, int64_t h, int64_t w,
                              const Affine& src_to_dst, int64_t out_h, int64_t out_w);

}  // namespace gpen
