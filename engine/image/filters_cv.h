// The two small linear filters of upstream's paste-back, as OpenCV defines them.
//
// FaceEnhancement (face_enhancement.py) feathers its paste mask with
// cv2.GaussianBlur(mask, (101, 101), sigma) applied twice, and smooths restored faces
// that were small in the photo with cv2.filter2D(ef, -1, kernel), kernel
// [1 2 1; 2 4 2; 1 2 1] / 16. Both use OpenCV's default border, BORDER_REFLECT_101
// (gfedcb|abcdefgh|gfedcba). The code is our own, from OpenCV's documented definitions:
//
//   GaussianKernelCv: cv::getGaussianKernel for ksize > 7 or sigma > 0:
//     w_i = exp(-(i - (ksize - 1) / 2)^2 / (2 sigma^2)), i = 0..ksize-1, normalised to
//     sum 1 (double), stored as float as for a CV_32F image.
//   GaussianBlurPlane: separable, rows first then columns, float sums, like
//     cv::sepFilter2D on a float image.
//   Smooth3x3Planes: the 3x3 kernel above, applied separably as [1 2 1] / 4 twice (the
//     kernel is the outer product; float rounding aside the result is filter2D's).
//
// Upstream runs filter2D on an 8-bit face and rounds; here values stay float and are
// rounded once, where the final composite is written (face/paste_back.h).
#pragma once

#include <cstdint>
#include <vector>

namespace gpen {

// OpenCV's Gaussian kernel of odd size `ksize` (>= 1) and `sigma` > 0.
std::vector<float> GaussianKernelCv(int64_t ksize, double sigma);

// In place on one (h, w) plane: cv2.GaussianBlur(plane, (ksize, ksize), sigma).
void GaussianBlurPlane(float* plane, int64_t h, int64_t w, int64_t ksize, double sigma);

// In place on `channels` planes of (h, w): cv2.filter2D with [1 2 1; 2 4 2; 1 2 1] / 16.
void Smooth3x3Planes(float* planes, int64_t channels, int64_t h, int64_t w);

}  // namespace gpen
