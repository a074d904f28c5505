// Float64 reference ops (see reference_ops.h).
#include "reference_ops.h"

#include <cmath>

namespace gpen::test::ref {

Vec Conv2d(const Vec& x, int64_t n, int64_t c, int64_t h, int64_t w, const Vec& wt, int64_t o,
           int64_t k, double scale, int stride, int pad, int64_t* ho, int64_t* wo) {
  *ho = (h + 2 * pad - k) / stride + 1;
  *wo = (w + 2 * pad - k) / stride + 1;
  Vec y(static_cast<size_t>(n * o * *ho * *wo), 0.0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oc = 0; oc < o; ++oc)
      for (int64_t oy = 0; oy < *ho; ++oy)
        for (int64_t ox = 0; ox < *wo; ++ox) {
          double acc = 0;
          for (int64_t ic = 0; ic < c; ++ic)
            for (int64_t ky = 0; ky < k; ++ky)
              for (int64_t kx = 0; kx < k; ++kx) {
                const int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                acc += x[((b * c + ic) * h + iy) * w + ix] * wt[((oc * c + ic) * k + ky) * k + kx] *
                       scale;
              }
          y[((b * o + oc) * *ho + oy) * *wo + ox] = acc;
        }
  return y;
}

Vec ConvTranspose2d(const Vec& x, int64_t n, int64_t c, int64_t h, int64_t w, const Vec& wt,
                    int64_t o, int64_t k, double scale) {
  const int64_t ho = (h - 1) * 2 + k, wo = (w - 1) * 2 + k;
  Vec y(static_cast<size_t>(n * o * ho * wo), 0.0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oc = 0; oc < o; ++oc)
      for (int64_t ic = 0; ic < c; ++ic)
        for (int64_t iy = 0; iy < h; ++iy)
          for (int64_t ix = 0; ix < w; ++ix)
            for (int64_t ky = 0; ky < k; ++ky)
              for (int64_t kx = 0; kx < k; ++kx)
                y[((b * o + oc) * ho + 2 * iy + ky) * wo + 2 * ix + kx] +=
                    x[((b * c + ic) * h + iy) * w + ix] * wt[((oc * c + ic) * k + ky) * k + kx] *
                    scale;
  return y;
}

Vec Upfirdn2d(const Vec& x, int64_t planes, int64_t h, int64_t w, const Vec& kernel, int64_t kh,
              int64_t kw, int up, int down, int pad0, int pad1, int64_t* ho, int64_t* wo) {
  // 1. zero insertion
  const int64_t uh = h * up, uw = w * up;
  // 2. pad (positive) then crop (negative), as upstream does in two steps
  const int64_t ph = uh + pad0 + pad1, pw = uw + pad0 + pad1;
  const int64_t fh = ph - kh + 1, fw = pw - kw + 1;
  *ho = (fh + down - 1) / down;
  *wo = (fw + down - 1) / down;
  Vec y(static_cast<size_t>(planes * *ho * *wo), 0.0);
  for (int64_t p = 0; p < planes; ++p) {
    Vec padded(static_cast<size_t>(ph * pw), 0.0);
    for (int64_t i = 0; i < ph; ++i)
      for (int64_t j = 0; j < pw; ++j) {
        const int64_t ui = i - pad0, uj = j - pad0;
        if (ui < 0 || uj < 0 || ui >= uh || uj >= uw || ui % up || uj % up) continue;
        padded[i * pw + j] = x[(p * h + ui / up) * w + uj / up];
      }
    for (int64_t oy = 0; oy < *ho; ++oy)
      for (int64_t ox = 0; ox < *wo; ++ox) {
        double acc = 0;
        for (int64_t a = 0; a < kh; ++a)
          for (int64_t b = 0; b < kw; ++b)  // F.conv2d with the flipped kernel
            acc += padded[(oy * down + a) * pw + ox * down + b] *
                   kernel[(kh - 1 - a) * kw + (kw - 1 - b)];
        y[(p * *ho + oy) * *wo + ox] = acc;
      }
  }
  return y;
}

Vec ModulatedConv(const Vec& x, int64_t n, int64_t c, int64_t h, int64_t w, const Vec& weight,
                  int64_t o, int64_t k, const Vec& style, bool demodulate, bool upsample,
                  int64_t* ho, int64_t* wo) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(c * k * k));
  Vec out;
  for (int64_t b = 0; b < n; ++b) {
    Vec wb(static_cast<size_t>(o * c * k * k));
    for (int64_t oc = 0; oc < o; ++oc) {
      double ss = 0;
      for (int64_t ic = 0; ic < c; ++ic)
        for (int64_t t = 0; t < k * k; ++t) {
          const double v = scale * weight[(oc * c + ic) * k * k + t] * style[b * c + ic];
          wb[(oc * c + ic) * k * k + t] = v;
          ss += v * v;
        }
      if (demodulate) {
        const double d = 1.0 / std::sqrt(ss + 1e-8);
        for (int64_t t = 0; t < c * k * k; ++t) wb[oc * c * k * k + t] *= d;
      }
    }
    Vec xb(x.begin() + b * c * h * w, x.begin() + (b + 1) * c * h * w);
    Vec yb;
    if (upsample) {
      yb = ConvTranspose2d(xb, 1, c, h, w, wb, o, k, 1.0);
      *ho = (h - 1) * 2 + k;
      *wo = (w - 1) * 2 + k;
    } else {
      yb = Conv2d(xb, 1, c, h, w, wb, o, k, 1.0, 1, static_cast<int>(k / 2), ho, wo);
    }
    out.insert(out.end(), yb.begin(), yb.end());
  }
  return out;
}

Vec FusedLeakyRelu(const Vec& x, int64_t n, int64_t c, int64_t hw, const Vec& bias, double lr_mul) {
  Vec y(x.size());
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t i = 0; i < hw; ++i) {
        const double v = x[(b * c + ch) * hw + i] + bias[ch] * lr_mul;
        y[(b * c + ch) * hw + i] = std::sqrt(2.0) * (v >= 0 ? v : 0.2 * v);
      }
  return y;
}

Vec EqualLinear(const Vec& x, int64_t n, int64_t in, const Vec& w, int64_t out, const Vec& b,
                double lr_mul, bool activation) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(in)) * lr_mul;
  Vec y(static_cast<size_t>(n * out));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < out; ++j) {
      double acc = 0;
      for (int64_t i = 0; i < in; ++i) acc += x[r * in + i] * w[j * in + i] * scale;
      y[r * out + j] = acc;
    }
  if (activation) return FusedLeakyRelu(y, n, out, 1, b, lr_mul);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < out; ++j) y[r * out + j] += b[j] * lr_mul;
  return y;
}

Vec PixelNorm(const Vec& x, int64_t n, int64_t c) {
  Vec y(x.size());
  for (int64_t b = 0; b < n; ++b) {
    double ss = 0;
    for (int64_t i = 0; i < c; ++i) ss += x[b * c + i] * x[b * c + i];
    const double r = 1.0 / std::sqrt(ss / c + 1e-8);
    for (int64_t i = 0; i < c; ++i) y[b * c + i] = x[b * c + i] * r;
  }
  return y;
}

Vec BiasLeakyRelu(const Vec& x, int64_t n, int64_t c, int64_t hw, const Vec& bias, double slope,
                  double gain) {
  Vec y(x.size());
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t i = 0; i < hw; ++i) {
        const double v = x[(b * c + ch) * hw + i] + (bias.empty() ? 0.0 : bias[ch]);
        y[(b * c + ch) * hw + i] = gain * (v >= 0 ? v : slope * v);
      }
  return y;
}

Vec Concat(const std::vector<Vec>& xs, const std::vector<int64_t>& channels, int64_t n,
           int64_t hw) {
  Vec y;
  for (int64_t b = 0; b < n; ++b)
    for (size_t i = 0; i < xs.size(); ++i)
      for (int64_t ch = 0; ch < channels[i]; ++ch)
        for (int64_t p = 0; p < hw; ++p) y.push_back(xs[i][(b * channels[i] + ch) * hw + p]);
  return y;
}

Vec UpsampleNearest(const Vec& x, int64_t planes, int64_t h, int64_t w, int f) {
  const int64_t ho = h * f, wo = w * f;
  Vec y(static_cast<size_t>(planes * ho * wo));
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t r = 0; r < ho; ++r)
      for (int64_t c = 0; c < wo; ++c) {
        const auto sr = static_cast<int64_t>(std::floor(double(r) * h / ho));
        const auto sc = static_cast<int64_t>(std::floor(double(c) * w / wo));
        y[(p * ho + r) * wo + c] = x[(p * h + sr) * w + sc];
      }
  return y;
}

Vec PixelUnshuffle(const Vec& x, int64_t n, int64_t c, int64_t h, int64_t w, int f) {
  const int64_t hh = h / f, hw = w / f;
  // view (b, c, hh, f, hw, f): element [b][ch][y][i][x][j] is x[b, ch, y * f + i, x * f + j].
  auto at = [&](int64_t b, int64_t ch, int64_t y, int64_t i, int64_t xx, int64_t j) {
    return x[((b * c + ch) * h + y * f + i) * w + xx * f + j];
  };
  // permute(0, 1, 3, 5, 2, 4): dims (b, c, i, j, y, x), then reshape merges (c, i, j).
  Vec y;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t i = 0; i < f; ++i)
        for (int64_t j = 0; j < f; ++j)
          for (int64_t yy = 0; yy < hh; ++yy)
            for (int64_t xx = 0; xx < hw; ++xx) y.push_back(at(b, ch, yy, i, xx, j));
  return y;
}

}  // namespace gpen::test::ref
