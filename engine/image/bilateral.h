// Bilateral filter: the edge-preserving post-filter behind --hf-suppress.
//
// A restored face or an upscaled background can carry faint high-frequency ringing
// (checkerboard and halo residue of transposed/upsampled convolutions). A bilateral
// filter averages each pixel with its neighbours, weighting each neighbour both by its
// distance and by how different its colour is, so flat regions are smoothed while edges
// (large colour differences) are kept. This mirrors OpenCV's cv::bilateralFilter (the
// documented definition, used as cv2.bilateralFilter(img, d=5, sigmaColor=75,
// sigmaSpace=75) on 8-bit BGR images); the code is our own.
//
// Definition implemented, per output pixel p and channel c:
//
//   out_c(p) = sum_q w(p, q) I_c(q) / sum_q w(p, q),
//   w(p, q)  = exp(-|p - q|^2 / (2 sigma_space^2)) * exp(-D(p, q)^2 / (2 sigma_color^2)),
//   D(p, q)  = sum over R, G, B of |I(p) - I(q)| on the 0..255 scale (the L1 colour
//              distance OpenCV uses for 3-channel images),
//
// where q runs over the disc |p - q| <= radius (OpenCV's window: offsets (dy, dx) of
// the (2 radius + 1)^2 square with sqrt(dx^2 + dy^2) <= radius, the centre included),
// radius = d / 2 (integer division) for d > 0 and round(1.5 sigma_space) for d <= 0,
// at least 1. d = 5 gives radius 2: 13 taps. Pixels outside the image are read with
// BORDER_REFLECT_101 (gfedcb|abcdefgh|gfedcba), bilateralFilter's default border. A
// sigma <= 0 is taken as 1, as OpenCV does.
//
// Like OpenCV, the colour weight comes from a lookup table indexed by the integer L1
// distance (0..765) between 8-bit levels: each value v is first quantised to
// floor(clamp(v, 0, 1) * 255 + 0.5) (float arithmetic; NaN reads as 0). For an image of
// 8-bit values (k / 255, what LoadImage and FromModelOutput produce) the weights are
// then exactly the formula's on the values; for other values the distance D is off by
// less than 3 levels, which moves the result by a fraction of a level: at most 0.1 level
// measured on photo-like content (smooth + noise, sharp edges), up to about 1.4 levels on
// full-range white noise, the worst case (tests/test_filters.cpp). The averaged values
// themselves are not quantised, and unlike OpenCV's 8-bit path the output is not rounded
// to 8 bits: it stays float, a convex combination of the input values. Spatial and
// colour weights and the sums are float, as OpenCV's.
//
// Gray images are filtered as the three equal planes Image holds (upstream reads images
// with cv2.imread in colour, so cv2 sees the same three channels). The alpha plane, if
// any, is passed through unchanged.
//
// Cost (d = 5, 13 taps): about 0.05 s per megapixel on one core of the 2-core
// development machine (a 12-megapixel image in 0.6 s). Rows are spread over the engine's
// thread pool (core/parallel.h).
#pragma once

#include "image/image.h"

namespace gpen {

// d, sigma_color and sigma_space as cv::bilateralFilter takes them (sigma_color on the
// 0..255 scale). `in` must have width * height * 3 RGB values.
Image BilateralFilter(const Image& in, int d, double sigma_color, double sigma_space);

}  // namespace gpen
