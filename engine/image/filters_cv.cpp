// Separable Gaussian blur and 3x3 smoothing with BORDER_REFLECT_101 (see filters_cv.h).
//
// Each pass filters one line (a row, or a column gathered into a buffer) against a
// padded copy of itself, so the border rule is applied once per line.
#include "image/filters_cv.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace gpen {

namespace {

// BORDER_REFLECT_101 index of p on a line of n (n >= 1).
int64_t Reflect101(int64_t p, int64_t n) {
  if (n == 1) return 0;
  while (p < 0 || p >= n) p = p < 0 ? -p : 2 * n - 2 - p;
  return p;
}

// out[i] = sum_k k[j] line[i + j - r] over a line of n with reflected borders;
// `pad` is scratch of n + 2r.
void FilterLine(const float* line, int64_t n, int64_t stride, const std::vector<float>& k,
                std::vector<float>& pad, float* out, int64_t out_stride) {
  const int64_t r = static_cast<int64_t>(k.size()) / 2;
  pad.resize(static_cast<size_t>(n + 2 * r));
  for (int64_t i = -r; i < n + r; ++i) pad[i + r] = line[Reflect101(i, n) * stride];
  for (int64_t i = 0; i < n; ++i) {
    float acc = 0.f;
    for (size_t j = 0; j < k.size(); ++j) acc += k[j] * pad[i + j];
    out[i * out_stride] = acc;
  }
}

// Rows then columns with the same 1-D kernel, in place.
void SeparablePlane(float* p, int64_t h, int64_t w, const std::vector<float>& k) {
  std::vector<float> pad, line(static_cast<size_t>(std::max(h, w)));
  for (int64_t y = 0; y < h; ++y) {
    FilterLine(p + y * w, w, 1, k, pad, line.data(), 1);
    std::copy(line.begin(), line.begin() + w, p + y * w);
  }
  for (int64_t x = 0; x < w; ++x) {
    FilterLine(p + x, h, w, k, pad, line.data(), 1);
    for (int64_t y = 0; y < h; ++y) p[y * w + x] = line[y];
  }
}

}  // namespace

std::vector<float> GaussianKernelCv(int64_t ksize, double sigma) {
  GPEN_CHECK_MSG(ksize >= 1 && ksize % 2 == 1 && sigma > 0,
                 "Gaussian kernel of size " << ksize << ", sigma " << sigma);
  std::vector<double> w(static_cast<size_t>(ksize));
  double sum = 0;
  for (int64_t i = 0; i < ksize; ++i) {
    const double x = static_cast<double>(i) - static_cast<double>(ksize - 1) * 0.5;
    w[i] = std::exp(-x * x / (2 * sigma * sigma));
    sum += w[i];
  }
  std::vector<float> k(w.size());
  for (size_t i = 0; i < w.size(); ++i) k[i] = static_cast<float>(w[i] / sum);
  return k;
}

void GaussianBlurPlane(float* plane, int64_t h, int64_t w, int64_t ksize, double sigma) {
  GPEN_CHECK_MSG(h > 0 && w > 0, "blur of a " << w << "x" << h << " plane");
  SeparablePlane(plane, h, w, GaussianKernelCv(ksize, sigma));
}

void Smooth3x3Planes(float* planes, int64_t channels, int64_t h, int64_t w) {
  GPEN_CHECK_MSG(h > 0 && w > 0 && channels > 0,
                 "3x3 smoothing of " << channels << " planes of " << w << "x" << h);
  const std::vector<float> k = {0.25f, 0.5f, 0.25f};
  for (int64_t c = 0; c < channels; ++c) SeparablePlane(planes + c * h * w, h, w, k);
}

}  // namespace gpen
