// Lanczos-4 and bicubic resizes (cv::resize with INTER_LANCZOS4 and INTER_CUBIC, see
// resize_lanczos.h), separable.
//
// Per axis, each output position gets its 8 clamped source indices and 8 normalised
// weights once. Each worker takes a band of output rows of one plane and keeps the
// horizontally resized source rows in a ring of 8 (slot = source row mod 8): the 8
// clamped rows one output row reads are a contiguous range of at most 8 rows, so they
// never share a slot, and each source row is resized horizontally at most once per band
// (rows a downscale skips are never resized).
#include "image/resize_lanczos.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"

namespace gpen {

namespace {

constexpr int kTaps = 8;  // 2a, a = 4

double Sinc(double x) {
  if (x == 0) return 1;
  const double px = M_PI * x;
  return std::sin(px) / px;
}

// Source indices (clamped) and weights of every output position along one axis.
struct Axis {
  std::vector<int64_t> index;  // (out, 8)
  std::vector<float> weight;   // (out, 8)
};

enum class Kernel { kLanczos4, kCubic };

// The weights of the 8 taps i0 - 3 .. i0 + 4 for a source position i0 + f.
void TapWeights(Kernel kernel, double f, double w[kTaps]) {
  if (kernel == Kernel::kLanczos4) {
    for (int k = 0; k < kTaps; ++k) {
      const double t = f - (k - 3);  // distance from source i0 - 3 + k
      w[k] = f == 0 ? (k == 3 ? 1.0 : 0.0) : Sinc(t) * Sinc(t / 4);
    }
    return;
  }
  // OpenCV's interpolateCubic (A = -0.75) on the taps i0 - 1 .. i0 + 2.
  constexpr double A = -0.75;
  std::fill(w, w + kTaps, 0.0);
  w[2] = ((A * (f + 1) - 5 * A) * (f + 1) + 8 * A) * (f + 1) - 4 * A;
  w[3] = ((A + 2) * f - (A + 3)) * f * f + 1;
  w[4] = ((A + 2) * (1 - f) - (A + 3)) * (1 - f) * (1 - f) + 1;
  w[5] = 1 - w[2] - w[3] - w[4];
}

Axis MakeAxis(int64_t in, int64_t out, Kernel kernel) {
  Axis a;
  a.index.resize(static_cast<size_t>(out * kTaps));
  a.weight.resize(static_cast<size_t>(out * kTaps));
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  for (int64_t o = 0; o < out; ++o) {
    const double s = (static_cast<double>(o) + 0.5) * scale - 0.5;
    const double i0 = std::floor(s);
    double w[kTaps], sum = 0;
    TapWeights(kernel, s - i0, w);
    for (int k = 0; k < kTaps; ++k) sum += w[k];
    const int64_t base = static_cast<int64_t>(i0) - 3;
    for (int k = 0; k < kTaps; ++k) {
      a.index[o * kTaps + k] = std::clamp<int64_t>(base + k, 0, in - 1);
      a.weight[o * kTaps + k] = static_cast<float>(w[k] / sum);
    }
  }
  return a;
}

// Resizes one plane of width w into (oh, ow); ay's indices keep to the source rows.
void ResizePlane(const float* src, int64_t w, float* dst, int64_t ow, int64_t oh, const Axis& ax,
                 const Axis& ay) {
  ParallelFor(oh, [&](int64_t y0, int64_t y1) {
    std::vector<float> ring(static_cast<size_t>(kTaps * ow));
    std::vector<int64_t> held(kTaps, -1);  // source row in each slot
    const float* rows[kTaps];
    for (int64_t y = y0; y < y1; ++y) {
      for (int k = 0; k < kTaps; ++k) {
        const int64_t sy = ay.index[y * kTaps + k];
        const int64_t slot = sy % kTaps;
        float* r = ring.data() + slot * ow;
        if (held[slot] != sy) {
          const float* s = src + sy * w;
          for (int64_t x = 0; x < ow; ++x) {
            const int64_t* ix = &ax.index[x * kTaps];
            const float* wx = &ax.weight[x * kTaps];
            float acc = 0.f;
            for (int j = 0; j < kTaps; ++j) acc += wx[j] * s[ix[j]];
            r[x] = acc;
          }
          held[slot] = sy;
        }
        rows[k] = r;
      }
      const float* wy = &ay.weight[y * kTaps];
      float* d = dst + y * ow;
      for (int64_t x = 0; x < ow; ++x) {
        float acc = 0.f;
        for (int k = 0; k < kTaps; ++k) acc += wy[k] * rows[k][x];
        d[x] = std::clamp(acc, 0.f, 1.f);
      }
    }
  });
}

Image Resize(const Image& in, int64_t out_w, int64_t out_h, Kernel kernel) {
  const int64_t w = in.width, h = in.height, plane = w * h;
  GPEN_CHECK_MSG(w > 0 && h > 0 && out_w > 0 && out_h > 0 &&
                     static_cast<int64_t>(in.rgb.size()) == 3 * plane &&
                     (in.alpha.empty() || static_cast<int64_t>(in.alpha.size()) == plane),
                 "resize of a " << w << "x" << h << " image (" << in.rgb.size() << " + "
                                << in.alpha.size() << " values) to " << out_w << "x" << out_h);
  const Axis ax = MakeAxis(w, out_w, kernel), ay = MakeAxis(h, out_h, kernel);
  Image out;
  out.width = out_w;
  out.height = out_h;
  out.source_channels = in.source_channels;
  out.source_16bit = in.source_16bit;
  const int64_t oplane = out_w * out_h;
  out.rgb.resize(static_cast<size_t>(3 * oplane));
  for (int c = 0; c < 3; ++c) {
    ResizePlane(in.rgb.data() + c * plane, w, out.rgb.data() + c * oplane, out_w, out_h, ax, ay);
  }
  if (!in.alpha.empty()) {
    out.alpha.resize(static_cast<size_t>(oplane));
    ResizePlane(in.alpha.data(), w, out.alpha.data(), out_w, out_h, ax, ay);
  }
  return out;
}

}  // namespace

Image ResizeLanczos4(const Image& in, int64_t out_w, int64_t out_h) {
  return Resize(in, out_w, out_h, Kernel::kLanczos4);
}

Image ResizeBicubic(const Image& in, int64_t out_w, int64_t out_h) {
  return Resize(in, out_w, out_h, Kernel::kCubic);
}

}  // namespace gpen
