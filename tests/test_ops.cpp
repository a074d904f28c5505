// Op tests: every CPU op against the float64 restatement of upstream, at odd sizes.
//
// Sizes are deliberately awkward (13x17 images, batch 3, 5 -> 7 channels) so that edge
// handling, banding and batch strides are all exercised. Tolerance: float32 results
// against float64 references of O(1) values, with reductions of at most a few hundred
// terms: 1e-5 absolute + relative covers float32 rounding (2^-24 ~ 6e-8 per op) with
// a wide margin while still catching any wrong tap or offset (errors of O(0.1)).
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "compare.h"
#include "cpu/ops.h"
#include "reference_ops.h"

using namespace gpen;
using namespace gpen::test;

namespace {

const Tolerance kOpTol{1e-5, 1e-5, 1e-6};

std::vector<float> Random(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

ref::Vec D(const std::vector<float>& v) {
  return ref::Vec(v.begin(), v.end());
}

std::vector<float> F(const ref::Vec& v) {
  return std::vector<float>(v.begin(), v.end());
}

void Expect(const std::string& what, const std::vector<float>& got, const Shape& s,
            const ref::Vec& want) {
  CompareResult r = Compare(what, got, s, F(want), s, kOpTol);
  CHECK_MESSAGE(r.ok, r.message);
}

}  // namespace

TEST_CASE("op conv2d: 1x1, 3x3 pad 1, 3x3 stride 2 pad 0, batch 3, 13x17") {
  const int64_t n = 3, c = 5, o = 7;
  struct Case {
    int64_t k;
    int stride, pad;
    int64_t h, w;
  };
  for (Case cs : {Case{1, 1, 0, 13, 17}, Case{3, 1, 1, 13, 17}, Case{3, 2, 0, 14, 18},
                  Case{3, 2, 1, 13, 17}}) {
    const auto x = Random(n * c * cs.h * cs.w, 1);
    const auto w = Random(o * c * cs.k * cs.k, 2);
    const float scale = 1.f / std::sqrt(static_cast<float>(c * cs.k * cs.k));
    int64_t ho, wo;
    const ref::Vec want =
        ref::Conv2d(D(x), n, c, cs.h, cs.w, D(w), o, cs.k, scale, cs.stride, cs.pad, &ho, &wo);
    const Shape ys{n, o, ho, wo};
    std::vector<float> y(static_cast<size_t>(ys.numel()));
    cpu::Workspace ws;
    cpu::Conv2d(x.data(), {n, c, cs.h, cs.w}, w.data(), cs.k, scale, cs.stride, cs.pad, y.data(),
                ys, &ws);
    Expect("conv2d k" + std::to_string(cs.k) + " s" + std::to_string(cs.stride), y, ys, want);
  }
}

TEST_CASE("op conv2d: banding splits rows exactly") {
  // Enough channels that one row of im2col exceeds the band budget's share.
  const int64_t n = 1, c = 300, o = 4, h = 37, w = 41, k = 3;
  const auto x = Random(n * c * h * w, 3);
  const auto wt = Random(o * c * k * k, 4);
  int64_t ho, wo;
  const ref::Vec want = ref::Conv2d(D(x), n, c, h, w, D(wt), o, k, 0.02, 1, 1, &ho, &wo);
  const Shape ys{n, o, ho, wo};
  std::vector<float> y(static_cast<size_t>(ys.numel()));
  cpu::Workspace ws;
  cpu::Conv2d(x.data(), {n, c, h, w}, wt.data(), k, 0.02f, 1, 1, y.data(), ys, &ws);
  Expect("conv2d banded", y, ys, want);
}

TEST_CASE("op conv_transpose2d: stride 2, batch 3, 13x17") {
  const int64_t n = 3, c = 5, o = 7, h = 13, w = 17, k = 3;
  const auto x = Random(n * c * h * w, 5);
  const auto wt = Random(o * c * k * k, 6);
  const ref::Vec want = ref::ConvTranspose2d(D(x), n, c, h, w, D(wt), o, k, 0.3);
  const Shape ys{n, o, 2 * h + 1, 2 * w + 1};
  std::vector<float> y(static_cast<size_t>(ys.numel()));
  cpu::Workspace ws;
  const auto prepared = cpu::PrepareConvTranspose(wt.data(), o, c, k);
  cpu::ConvTranspose2d(x.data(), {n, c, h, w}, prepared.data(), o, k, 0.3f, y.data(), ys, &ws);
  Expect("conv_transpose2d", y, ys, want);
}

TEST_CASE("op upfirdn2d: GPEN's three uses and generic cases") {
  const int64_t planes = 3 * 5, h = 13, w = 17;
  const auto x = Random(planes * h * w, 7);
  // An asymmetric kernel so that a missing flip is caught.
  const std::vector<float> kern = Random(16, 8, 0.f, 1.f);
  struct Case {
    int up, down, pad0, pad1;
    const char* what;
  };
  for (Case cs : {Case{1, 1, 2, 2, "encoder blur"}, Case{1, 1, 1, 1, "upsampling blur"},
                  Case{2, 1, 2, 1, "ToRGB skip upsample"}, Case{1, 2, 1, 1, "downsample"},
                  Case{2, 2, 0, 3, "up and down"}, Case{1, 1, -1, 2, "negative pad crops"}}) {
    int64_t ho, wo;
    const ref::Vec want = ref::Upfirdn2d(D(x), planes, h, w, D(kern), 4, 4, cs.up, cs.down, cs.pad0,
                                         cs.pad1, &ho, &wo);
    const Shape ys{3, 5, ho, wo};
    std::vector<float> y(static_cast<size_t>(ys.numel()));
    cpu::Upfirdn2d(x.data(), {3, 5, h, w}, kern.data(), 4, 4, cs.up, cs.down, cs.pad0, cs.pad1,
                   y.data(), ys);
    Expect(std::string("upfirdn2d ") + cs.what, y, ys, want);
  }
}

TEST_CASE("op bias_act, linear, pixel_norm: batch 3, odd widths") {
  const int64_t n = 3, c = 7, hw = 13 * 17;
  const auto x = Random(n * c * hw, 9, -2.f, 2.f);
  const auto b = Random(c, 10);
  std::vector<float> y(x.size());
  cpu::BiasAct(x.data(), {n, c, 13, 17}, b.data(), 0.5f, Activation::GpenLeakyRelu(), y.data());
  Expect("fused_leaky_relu", y, {n, c, 13, 17}, ref::FusedLeakyRelu(D(x), n, c, hw, D(b), 0.5));
  // GPEN's activation is exactly the expression the engine always computed, bit for bit.
  for (size_t i = 0; i < x.size(); ++i) {
    volatile float bs = b[(i / hw) % c] * 0.5f;  // volatile: never contracted into an FMA
    const float v = x[i] + bs;
    REQUIRE(y[i] == (v >= 0.f ? v : 0.2f * v) * 1.41421356237309504880f);
  }
  // Other networks' activations: nn.LeakyReLU(0.2) (RRDBNet), ReLU, LeakyReLU(0.1), each
  // with and without a bias.
  struct ActCase {
    Activation act;
    double slope;
    const char* what;
  };
  for (const ActCase& ac : {ActCase{Activation::LeakyRelu(0.2f), 0.2, "leaky_relu 0.2"},
                            ActCase{Activation::Relu(), 0.0, "relu"},
                            ActCase{Activation::LeakyRelu(0.1f), double(0.1f), "leaky_relu 0.1"}}) {
    cpu::BiasAct(x.data(), {n, c, 13, 17}, b.data(), 1.f, ac.act, y.data());
    Expect(std::string("bias + ") + ac.what, y, {n, c, 13, 17},
           ref::BiasLeakyRelu(D(x), n, c, hw, D(b), double(float(ac.slope)), 1.0));
    cpu::BiasAct(x.data(), {n, c, 13, 17}, nullptr, 1.f, ac.act, y.data());
    Expect(std::string("no bias, ") + ac.what, y, {n, c, 13, 17},
           ref::BiasLeakyRelu(D(x), n, c, hw, {}, double(float(ac.slope)), 1.0));
  }

  const int64_t in = 37, out = 11;
  const auto xl = Random(n * in, 11);
  const auto wl = Random(out * in, 12);
  const auto bl = Random(out, 13);
  for (bool act : {false, true}) {
    std::vector<float> yl(static_cast<size_t>(n * out));
    const float lr = 0.01f;
    cpu::Linear(xl.data(), n, in, wl.data(), out, 1.f / std::sqrt(37.f) * lr, bl.data(), lr,
                act ? Activation::GpenLeakyRelu() : Activation::None(), yl.data());
    Expect(act ? "equal_linear lrelu" : "equal_linear", yl, {n, out},
           ref::EqualLinear(D(xl), n, in, D(wl), out, D(bl), lr, act));
  }
  std::vector<float> yp(static_cast<size_t>(n * in));
  cpu::PixelNorm(xl.data(), n, in, yp.data());
  Expect("pixel_norm", yp, {n, in}, ref::PixelNorm(D(xl), n, in));
}

// The shared-weight chain (scale input by s, one conv, scale output by demod) against
// upstream's per-sample modulated weights: the rewrite every backend relies on.
TEST_CASE("op chain: modulated conv, shared-weight form == per-sample weights") {
  const int64_t n = 3, c = 5, o = 7, h = 13, w = 17, k = 3;
  const auto x = Random(n * c * h * w, 14);
  const auto wt = Random(o * c * k * k, 15);
  const auto style = Random(n * c, 16, 0.2f, 2.f);
  const float scale = 1.f / std::sqrt(static_cast<float>(c * k * k));
  for (bool up : {false, true}) {
    int64_t ho, wo;
    const ref::Vec want =
        ref::ModulatedConv(D(x), n, c, h, w, D(wt), o, k, D(style), true, up, &ho, &wo);
    const Shape xs{n, c, h, w}, ys{n, o, ho, wo};
    std::vector<float> xm(x.size()), y(static_cast<size_t>(ys.numel())),
        d(static_cast<size_t>(n * o));
    const auto wsq = cpu::PrepareDemod(wt.data(), o, c, k * k);
    cpu::DemodCoef(style.data(), n, c, wsq.data(), o, scale, d.data());
    cpu::ScaleChannels(x.data(), xs, style.data(), xm.data());
    cpu::Workspace ws;
    if (up) {
      const auto prepared = cpu::PrepareConvTranspose(wt.data(), o, c, k);
      cpu::ConvTranspose2d(xm.data(), xs, prepared.data(), o, k, scale, y.data(), ys, &ws);
    } else {
      cpu::Conv2d(xm.data(), xs, wt.data(), k, scale, 1, 1, y.data(), ys, &ws);
    }
    cpu::ScaleChannels(y.data(), ys, d.data(), y.data());
    Expect(up ? "modulated conv (transposed)" : "modulated conv", y, ys, want);
  }
}

TEST_CASE("op noise_concat: feature and seeded noise") {
  const int64_t n = 3, c = 5, h = 13, w = 17;
  const auto x = Random(n * c * h * w, 17);
  const auto f = Random(n * c * h * w, 18);
  std::vector<float> y(2 * x.size());
  cpu::NoiseConcat(x.data(), {n, c, h, w}, f.data(), {}, 0.25f, true, y.data());
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < c * h * w; ++i) {
      REQUIRE(y[b * 2 * c * h * w + i] == x[b * c * h * w + i]);
      REQUIRE(y[b * 2 * c * h * w + c * h * w + i] == 0.25f * f[b * c * h * w + i]);
    }
  // Seeded noise: deterministic, roughly standard normal.
  std::vector<float> y1(2 * x.size()), y2(2 * x.size());
  cpu::NoiseConcat(x.data(), {n, c, h, w}, nullptr, {42}, 1.f, true, y1.data());
  cpu::NoiseConcat(x.data(), {n, c, h, w}, nullptr, {42}, 1.f, true, y2.data());
  CHECK(y1 == y2);
  double s = 0, s2 = 0;
  const int64_t m = n * c * h * w;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < c * h * w; ++i) {
      const double v = y1[b * 2 * c * h * w + c * h * w + i];
      s += v;
      s2 += v * v;
    }
  CHECK(std::fabs(s / m) < 0.05);
  CHECK(std::fabs(s2 / m - 1.0) < 0.08);
}

// RRDBNet's data movement and residuals against torch's definitions, restated.
TEST_CASE("op concat, upsample_nearest, pixel_unshuffle, scaled add: batch 3, odd sizes") {
  const int64_t n = 3, h = 13, w = 17, hw = h * w;
  const std::vector<int64_t> cs = {5, 3, 7};
  std::vector<std::vector<float>> xs;
  std::vector<ref::Vec> xd;
  std::vector<const float*> ptrs;
  for (size_t i = 0; i < cs.size(); ++i) {
    xs.push_back(Random(n * cs[i] * hw, 30 + uint32_t(i)));
    xd.push_back(D(xs.back()));
    ptrs.push_back(xs.back().data());
  }
  std::vector<float> cat(static_cast<size_t>(n * 15 * hw));
  cpu::Concat(ptrs, cs, n, hw, cat.data());
  Expect("torch.cat of 3", cat, {n, 15, h, w}, ref::Concat(xd, cs, n, hw));

  const auto x = Random(n * 5 * hw, 33);
  for (int f : {2, 3}) {
    std::vector<float> y(x.size() * f * f);
    cpu::UpsampleNearest(x.data(), {n, 5, h, w}, f, y.data());
    Expect("interpolate nearest x" + std::to_string(f), y, {n, 5, h * f, w * f},
           ref::UpsampleNearest(D(x), n * 5, h, w, f));
  }
  for (int f : {2, 4}) {
    const auto u = Random(n * 3 * hw * f * f, 34);
    std::vector<float> y(u.size());
    cpu::PixelUnshuffle(u.data(), {n, 3, h * f, w * f}, f, y.data());
    Expect("pixel_unshuffle " + std::to_string(f), y, {n, 3 * f * f, h, w},
           ref::PixelUnshuffle(D(u), n, 3, h * f, w * f, f));
  }

  // x5 * 0.2 + x (ResidualDenseBlock, RRDB) and GPEN's plain a + b, exact to the bit.
  const auto a = Random(1001, 35), b = Random(1001, 36);
  std::vector<float> y(a.size());
  cpu::Add(a.data(), b.data(), 1001, 0.2f, 1.f, y.data());
  ref::Vec want(a.size());
  for (size_t i = 0; i < a.size(); ++i) want[i] = 0.2 * a[i] + b[i];
  Expect("x5 * 0.2 + x", y, {1001}, want);
  cpu::Add(a.data(), b.data(), 1001, 1.f, 1.f, y.data());
  for (size_t i = 0; i < a.size(); ++i) REQUIRE(y[i] == a[i] + b[i]);
}
