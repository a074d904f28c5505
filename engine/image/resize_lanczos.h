// Lanczos-4 resize: the final resize behind --outscale (and a bicubic one beside it).
//
// Real-ESRGAN's inference script upsamples by the network's fixed factor (x2 or x4)
// and, when --outscale asks for another factor, resizes the result to
// (int(w_input * outscale), int(h_input * outscale)) with cv2.resize(...,
// interpolation=cv2.INTER_LANCZOS4). This mirrors that resize (OpenCV's cv::resize with
// INTER_LANCZOS4, from its documented definition); the code is our own.
//
// Definition implemented, separably (rows, then columns), for each output coordinate
// o along an axis of `in` source and `out` output pixels:
//
//   s = (o + 0.5) * in / out - 0.5      (half-pixel centres)
//   i0 = floor(s), f = s - i0
//   out(o) = sum_{k=-3..4} L(f - k) src(clamp(i0 + k, 0, in - 1)) / sum_k L(f - k)
//   L(t) = sinc(t) sinc(t / 4),  sinc(x) = sin(pi x) / (pi x),  sinc(0) = 1
//
// i.e. Lanczos with a = 4: 8 taps per axis, 8x8 per output pixel, the weights normalised
// to sum 1 per output position, and edge pixels repeated beyond the border (OpenCV's
// resize clamps source indices, BORDER_REPLICATE). As in OpenCV the kernel is not
// widened when shrinking (no antialiasing): a downscale samples, it does not average.
// At f = 0 the weights are exactly (0, 0, 0, 1, 0, 0, 0, 0), so an unchanged size is the
// identity. Weights are precomputed per output position in double and kept as float;
// sums are float.
//
// All three RGB planes and the alpha plane (if any) are resized; results are clamped to
// [0, 1] (Lanczos overshoots at edges; OpenCV's 8-bit output saturates likewise).
//
// Cost: about 0.026 s per output megapixel on one core of the 2-core development machine
// when enlarging (a 12-megapixel image doubled to 48 in 1.2 s), 0.04 s per output
// megapixel when shrinking. Output rows are spread over the engine's thread pool
// (core/parallel.h).
#pragma once

#include <cstdint>

#include "image/image.h"

namespace gpen {

// `in` must be non-empty, out_w and out_h at least 1.
Image ResizeLanczos4(const Image& in, int64_t out_w, int64_t out_h);

// The same with OpenCV's bicubic kernel (cv::resize with INTER_CUBIC, A = -0.75, taps
// i0 - 1 .. i0 + 2), the background upsampler `--bg-upsampler bicubic` of whole photos.
Image ResizeBicubic(const Image& in, int64_t out_w, int64_t out_h);

}  // namespace gpen
