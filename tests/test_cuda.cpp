// GPU tests (ctest label "gpu"; skipped with a message when no GPU is usable).
//
// 1. Every kernel against its CPU twin (or the chain of CPU ops it fuses), on random
//    inputs at odd sizes, batch 1 and 3, fp32 and fp16 storage.
// 2. The whole CUDA backend against the CPU backend, and against upstream's float64
//    fixtures, in both precisions; extreme styles and contrast in fp16.
// 3. The activation arena the backend allocates equals the plan (cudaMemGetInfo).
//
// Tolerances. fp32 kernels against fp32 CPU ops: both round per operation but sum in a
// different order, so 1e-5 relative. fp16 storage: inputs and outputs are rounded to
// 11 significant bits (2^-11 ~ 4.9e-4 relative each), math in fp32, so 2e-3 relative
// elementwise and 1e-3 relative L2. Whole model: the bounds (fp32 rel L2 <= 1e-5
// to float64; fp16 rel L2 <= 5e-3, images within 2 levels on 99.9% of pixels).
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <random>

#include "add.cuh"
#include "bias_act.cuh"
#include "cast.cuh"
#include "col2im.cuh"
#include "compare.h"
#include "concat.cuh"
#include "const_input.cuh"
#include "core/half.h"
#include "cpu/ops.h"
#include "crop.cuh"
#include "demod_coef.cuh"
#include "demod_noise_act.cuh"
#include "fixtures.h"
#include "im2col.cuh"
#include "image/image.h"
#include "mask_window.cuh"
#include "mod_conv1x1.cuh"
#include "net/gpen_net.h"
#include "net/gpen_tiled.h"
#include "noise_concat.cuh"
#include "npy.h"
#include "pixel_norm.cuh"
#include "pixel_unshuffle.cuh"
#include "scale_channels.cuh"
#include "session.h"
#include "style_scatter.cuh"
#include "upfirdn2d.cuh"
#include "upsample_nearest.cuh"

using namespace gpen;
using namespace gpen::test;
using kernels::StorageType;

namespace {

std::vector<float> Random(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// A device copy of host floats, stored as fp32 or fp16.
class Dev {
 public:
  Dev(const std::vector<float>& host, StorageType t) : n_(host.size()), t_(t) {
    CUDA_CHECK(cudaMalloc(&p_, n_ * Es()));
    Upload(host);
  }
  Dev(size_t n, StorageType t) : n_(n), t_(t) {
    CUDA_CHECK(cudaMalloc(&p_, n_ * Es()));
    CUDA_CHECK(cudaMemset(p_, 0xFF, n_ * Es()));  // poison: NaN in both types
  }
  ~Dev() { cudaFree(p_); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  void Upload(const std::vector<float>& host) {
    if (t_ == StorageType::kF32) {
      CUDA_CHECK(cudaMemcpy(p_, host.data(), n_ * 4, cudaMemcpyHostToDevice));
    } else {
      std::vector<uint16_t> h(n_);
      for (size_t i = 0; i < n_; ++i) h[i] = FloatToHalf(host[i]);
      CUDA_CHECK(cudaMemcpy(p_, h.data(), n_ * 2, cudaMemcpyHostToDevice));
    }
  }
  std::vector<float> Download() const {
    CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<float> out(n_);
    if (t_ == StorageType::kF32) {
      CUDA_CHECK(cudaMemcpy(out.data(), p_, n_ * 4, cudaMemcpyDeviceToHost));
    } else {
      std::vector<uint16_t> h(n_);
      CUDA_CHECK(cudaMemcpy(h.data(), p_, n_ * 2, cudaMemcpyDeviceToHost));
      for (size_t i = 0; i < n_; ++i) out[i] = HalfToFloat(h[i]);
    }
    return out;
  }
  void* get() const { return p_; }
  float* f() const { return static_cast<float*>(p_); }

 private:
  size_t Es() const { return t_ == StorageType::kF32 ? 4 : 2; }
  void* p_ = nullptr;
  size_t n_;
  StorageType t_;
};

// What the device sees after storage rounding, so CPU references start from the same values.
std::vector<float> Rounded(const std::vector<float>& v, StorageType t) {
  if (t == StorageType::kF32) return v;
  std::vector<float> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = HalfToFloat(FloatToHalf(v[i]));
  return r;
}

Tolerance Tol(StorageType t) {
  return t == StorageType::kF32 ? Tolerance{1e-5, 1e-5, 1e-5} : Tolerance{2e-3, 2e-3, 1e-3};
}

void Expect(const std::string& what, StorageType t, const std::vector<float>& got, const Shape& s,
            const std::vector<float>& want) {
  const std::string name = what + (t == StorageType::kF16 ? " [fp16]" : " [fp32]");
  CompareResult r = Compare(name, got, s, want, s, Tol(t));
  CHECK_MESSAGE(r.ok, r.message);
}

const StorageType kTypes[] = {StorageType::kF32, StorageType::kF16};

}  // namespace

TEST_CASE("gpu op upfirdn2d against cpu::Upfirdn2d") {
  for (StorageType t : kTypes) {
    for (int64_t n : {1, 3}) {
      const int64_t c = 5, h = 13, w = 17;
      const auto x = Rounded(Random(n * c * h * w, 1), t);
      const auto k = Random(16, 2, 0.f, 1.f);
      struct Case {
        int up, down, pad0, pad1;
      };
      for (Case cs : {Case{1, 1, 2, 2}, Case{1, 1, 1, 1}, Case{2, 1, 2, 1}, Case{1, 2, 1, 1}}) {
        const int64_t ho = (h * cs.up + cs.pad0 + cs.pad1 - 4) / cs.down + 1;
        const int64_t wo = (w * cs.up + cs.pad0 + cs.pad1 - 4) / cs.down + 1;
        const Shape ys{n, c, ho, wo};
        std::vector<float> want(static_cast<size_t>(ys.numel()));
        cpu::Upfirdn2d(x.data(), {n, c, h, w}, k.data(), 4, 4, cs.up, cs.down, cs.pad0, cs.pad1,
                       want.data(), ys);
        Dev dx(x, t), dy(static_cast<size_t>(ys.numel()), t);
        kernels::Upfirdn2dParams p{};
        p.x = dx.get();
        p.y = dy.get();
        p.type = t;
        p.planes = n * c;
        p.h = h;
        p.w = w;
        p.ho = ho;
        p.wo = wo;
        p.up = cs.up;
        p.down = cs.down;
        p.pad0 = cs.pad0;
        p.kh = p.kw = 4;
        std::copy(k.begin(), k.end(), p.kernel);
        kernels::LaunchUpfirdn2d(p, nullptr);
        Expect("upfirdn2d", t, dy.Download(), ys, want);
      }
    }
  }
}

TEST_CASE("gpu op bias_act, scale_channels, add, const_input, cast, pixel_norm") {
  for (StorageType t : kTypes) {
    const int64_t n = 3, c = 7, h = 13, w = 17, hw = h * w;
    const Shape s{n, c, h, w};
    const auto x = Rounded(Random(n * c * hw, 3, -2.f, 2.f), t);
    const auto b = Random(c, 4);
    std::vector<float> want(x.size());
    Dev dx(x, t), dy(x.size(), t), db(b, StorageType::kF32);
    // GPEN's fused leaky ReLU, RRDBNet's LeakyReLU(0.2), ReLU, LeakyReLU(0.1), none; with
    // and without a bias.
    const Activation acts[] = {Activation::GpenLeakyRelu(), Activation::LeakyRelu(0.2f),
                               Activation::Relu(), Activation::LeakyRelu(0.1f), Activation::None()};
    for (const Activation& act : acts) {
      for (bool with_bias : {true, false}) {
        const float* hb = with_bias ? b.data() : nullptr;
        cpu::BiasAct(x.data(), s, hb, 0.5f, act, want.data());
        kernels::LaunchBiasAct(
            {dx.get(), dy.get(), t, t, with_bias ? db.f() : nullptr, 0.5f, act, n, c, hw}, nullptr);
        Expect("bias_act kind " + std::to_string(static_cast<int>(act.kind)) + " slope " +
                   std::to_string(act.slope) + (with_bias ? "" : " no bias"),
               t, dy.Download(), s, want);
      }
    }

    const auto sc = Random(n * c, 5, 0.1f, 3.f);
    cpu::ScaleChannels(x.data(), s, sc.data(), want.data());
    Dev ds(sc, StorageType::kF32);
    kernels::LaunchScaleChannels({dx.get(), dy.get(), t, ds.f(), n * c, hw}, nullptr);
    Expect("scale_channels", t, dy.Download(), s, want);

    const auto param = Random(c * 4 * 4, 6);
    std::vector<float> cw(static_cast<size_t>(n * c * 16));
    cpu::ConstInput(param.data(), c * 16, n, cw.data());
    Dev dp(param, StorageType::kF32), dc(cw.size(), t);
    kernels::LaunchConstInput({dp.f(), dc.get(), t, c * 16, n}, nullptr);
    Expect("const_input", t, dc.Download(), {n, c, 4, 4}, Rounded(cw, t));

    Dev df(x.size(), StorageType::kF32);
    kernels::LaunchCast({dx.get(), t, df.get(), StorageType::kF32, static_cast<int64_t>(x.size())},
                        nullptr);
    Expect("cast", t, df.Download(), s, x);

    // The ToRGB skip sum (a + b) and RRDB's scaled residual (0.2 a + b), 1001 elements.
    const auto a = Rounded(Random(1001, 7), t), b2 = Rounded(Random(1001, 8), t);
    for (float alpha : {1.f, 0.2f}) {
      std::vector<float> sum(a.size());
      cpu::Add(a.data(), b2.data(), 1001, alpha, 1.f, sum.data());
      Dev da(a, t), db2(b2, t), dsum(a.size(), t);
      kernels::LaunchAdd({da.get(), db2.get(), dsum.get(), t, alpha, 1.f, 1001}, nullptr);
      Expect("add alpha " + std::to_string(alpha), t, dsum.Download(), {1001}, sum);
      kernels::LaunchAdd({da.get(), db2.get(), da.get(), t, alpha, 1.f, 1001}, nullptr);
      Expect("add alpha " + std::to_string(alpha) + " in place", t, da.Download(), {1001}, sum);
    }
  }

  const auto v = Random(3 * 37, 9);
  std::vector<float> pn(v.size());
  cpu::PixelNorm(v.data(), 3, 37, pn.data());
  Dev dv(v, StorageType::kF32), dpn(v.size(), StorageType::kF32);
  kernels::LaunchPixelNorm({dv.f(), dpn.f(), 3, 37}, nullptr);
  Expect("pixel_norm", StorageType::kF32, dpn.Download(), {3, 37}, pn);
}

TEST_CASE("gpu op demod_coef and style_scatter against the CPU ops") {
  const int64_t n = 3, cin = 37, cout = 11, k = 3, sd = 19;
  const auto s = Random(n * cin, 10, 0.2f, 2.f);
  const auto w = Random(cout * cin * k * k, 11);
  const auto wsq = cpu::PrepareDemod(w.data(), cout, cin, k * k);
  std::vector<float> want(static_cast<size_t>(n * cout)), wsqf(wsq.begin(), wsq.end());
  cpu::DemodCoef(s.data(), n, cin, wsq.data(), cout, 0.05f, want.data());
  Dev ds(s, StorageType::kF32), dw(wsqf, StorageType::kF32), dd(want.size(), StorageType::kF32);
  kernels::LaunchDemodCoef({ds.f(), dw.f(), dd.f(), 0.05f, n, cin, cout}, nullptr);
  Expect("demod_coef", StorageType::kF32, dd.Download(), {n, cout}, want);

  // Two layers' styles from one (N x total) product, as the backend computes them.
  const auto lat = Random(n * sd, 12);
  const auto w1 = Random(cin * sd, 13), w2 = Random(cout * sd, 14);
  const auto b1 = Random(cin, 15), b2 = Random(cout, 16);
  const float scale = 1.f / std::sqrt(static_cast<float>(sd));
  std::vector<float> s1(static_cast<size_t>(n * cin)), s2(static_cast<size_t>(n * cout));
  cpu::Linear(lat.data(), n, sd, w1.data(), cin, scale, b1.data(), 1.f, {}, s1.data());
  cpu::Linear(lat.data(), n, sd, w2.data(), cout, scale, b2.data(), 1.f, {}, s2.data());
  const int64_t total = cin + cout;
  std::vector<float> all(static_cast<size_t>(n * total)), ball(b1);
  ball.insert(ball.end(), b2.begin(), b2.end());
  for (int64_t b = 0; b < n; ++b)
    for (int64_t j = 0; j < total; ++j) {
      const float* wr = j < cin ? &w1[j * sd] : &w2[(j - cin) * sd];
      double acc = 0;
      for (int64_t i = 0; i < sd; ++i) acc += double(lat[b * sd + i]) * wr[i];
      all[b * total + j] = static_cast<float>(acc * scale);
    }
  Dev dall(all, StorageType::kF32), dball(ball, StorageType::kF32);
  Dev d1(s1.size(), StorageType::kF32), d2(s2.size(), StorageType::kF32);
  std::vector<kernels::StyleSlice> sl = {{d1.f(), 0, cin, 0}, {d2.f(), cin, cout, 1}};
  void* dsl = nullptr;
  CUDA_CHECK(cudaMalloc(&dsl, sl.size() * sizeof(sl[0])));
  CUDA_CHECK(cudaMemcpy(dsl, sl.data(), sl.size() * sizeof(sl[0]), cudaMemcpyHostToDevice));
  kernels::LaunchStyleScatter(
      {dall.f(), dball.f(), 1.f, static_cast<const kernels::StyleSlice*>(dsl), 2, n, total},
      nullptr);
  Expect("style_scatter", StorageType::kF32, d1.Download(), {n, cin}, s1);
  // The second slice is normalised by its per-sample max |s|.
  for (int64_t b = 0; b < n; ++b) {
    float m = 0;
    for (int64_t j = 0; j < cout; ++j) m = std::max(m, std::fabs(s2[b * cout + j]));
    for (int64_t j = 0; j < cout; ++j) s2[b * cout + j] /= m;
  }
  Expect("style_scatter normalised", StorageType::kF32, d2.Download(), {n, cout}, s2);
  cudaFree(dsl);
}

// Fused kernels against the chains of unfused CPU ops they replace.
TEST_CASE("gpu op demod_noise_act == ScaleChannels -> NoiseConcat -> BiasAct") {
  for (StorageType t : kTypes) {
    for (int64_t n : {1, 3}) {
      for (bool with_feat : {true, false}) {
        const int64_t c = 5, h = 13, w = 17;
        const Shape xs{n, c, h, w}, ys{n, 2 * c, h, w};
        const auto y = Rounded(Random(n * c * h * w, 17, -3.f, 3.f), t);
        const auto feat = Rounded(Random(n * c * h * w, 18), t);
        const auto d = Random(n * c, 19, 0.1f, 2.f);
        const auto bias = Random(2 * c, 20);
        std::vector<float> yd(y.size()), want(static_cast<size_t>(ys.numel()));
        cpu::ScaleChannels(y.data(), xs, d.data(), yd.data());
        cpu::NoiseConcat(yd.data(), xs, with_feat ? feat.data() : nullptr, {77}, 0.3f, true,
                         want.data());
        cpu::BiasAct(want.data(), ys, bias.data(), 1.f, Activation::GpenLeakyRelu(), want.data());
        Dev dy(y, t), df(feat, t), dd(d, StorageType::kF32), db(bias, StorageType::kF32);
        Dev dout(static_cast<size_t>(ys.numel()), t);
        kernels::DemodNoiseActParams p{};
        p.y = dy.get();
        p.d = dd.f();
        p.feat = with_feat ? df.get() : nullptr;
        p.seed = 77;
        p.noise_weight = 0.3f;
        p.concat = true;
        p.bias = db.f();
        p.bias_scale = 1.f;
        p.act = Activation::GpenLeakyRelu();
        p.out = dout.get();
        p.type = t;
        p.n = n;
        p.c = c;
        p.hw = h * w;
        p.w = w;
        kernels::LaunchDemodNoiseAct(p, nullptr);
        Expect(with_feat ? "demod_noise_act" : "demod_noise_act (seeded noise)", t, dout.Download(),
               ys, want);

        // The unfused kernel too.
        std::vector<float> nc(static_cast<size_t>(ys.numel()));
        cpu::NoiseConcat(y.data(), xs, with_feat ? feat.data() : nullptr, {77}, 0.3f, true,
                         nc.data());
        Dev dnc(static_cast<size_t>(ys.numel()), t);
        kernels::NoiseConcatParams q{};
        q.x = dy.get();
        q.feat = with_feat ? df.get() : nullptr;
        q.seed = 77;
        q.weight = 0.3f;
        q.concat = true;
        q.y = dnc.get();
        q.type = t;
        q.n = n;
        q.c = c;
        q.hw = h * w;
        q.w = w;
        kernels::LaunchNoiseConcat(q, nullptr);
        Expect("noise_concat", t, dnc.Download(), ys, nc);
      }
    }
  }
}

TEST_CASE("gpu op mod_conv1x1 == ScaleChannels -> Conv2d(1x1)") {
  for (StorageType t : kTypes) {
    for (int64_t n : {1, 3}) {
      const int64_t cin = 37, cout = 3, h = 13, w = 17;
      const Shape xs{n, cin, h, w}, ys{n, cout, h, w};
      const auto x = Rounded(Random(n * cin * h * w, 21), t);
      const auto s = Random(n * cin, 22, 0.1f, 2.f);
      const auto wt = Random(cout * cin, 23);
      const float scale = 1.f / std::sqrt(37.f);
      std::vector<float> xm(x.size()), want(static_cast<size_t>(ys.numel()));
      cpu::ScaleChannels(x.data(), xs, s.data(), xm.data());
      cpu::Workspace ws;
      cpu::Conv2d(xm.data(), xs, wt.data(), 1, scale, 1, 0, want.data(), ys, &ws);
      Dev dx(x, t), ds(s, StorageType::kF32), dw(wt, StorageType::kF32);
      Dev dy(static_cast<size_t>(ys.numel()), StorageType::kF32);
      kernels::LaunchModConv1x1({dx.get(), t, ds.f(), dw.f(), scale, dy.f(), n, cin, cout, h * w},
                                nullptr);
      // fp32 output even from fp16 input: only the input was rounded, so fp32 bounds.
      Expect("mod_conv1x1", StorageType::kF32, dy.Download(), ys, want);
    }
  }
}

TEST_CASE("gpu op im2col and col2im against host formulas") {
  for (StorageType t : kTypes) {
    const int64_t cin = 3, h = 13, w = 17, k = 3;
    const int stride = 2, pad = 1;
    const int64_t wo = (w + 2 * pad - k) / stride + 1;
    const auto x = Rounded(Random(cin * h * w, 24), t);
    const int64_t row0 = 2, rows = 3, ncol = rows * wo;
    std::vector<float> want(static_cast<size_t>(cin * k * k * ncol));
    for (int64_t c = 0; c < cin; ++c)
      for (int64_t ky = 0; ky < k; ++ky)
        for (int64_t kx = 0; kx < k; ++kx)
          for (int64_t col = 0; col < ncol; ++col) {
            const int64_t oy = row0 + col / wo, ox = col % wo;
            const int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
            want[((c * k + ky) * k + kx) * ncol + col] =
                (iy >= 0 && iy < h && ix >= 0 && ix < w) ? x[(c * h + iy) * w + ix] : 0.f;
          }
    Dev dx(x, t), dc(want.size(), t);
    kernels::LaunchIm2col({dx.get(), dc.get(), t, cin, h, w, wo, int(k), stride, pad, row0, rows},
                          nullptr);
    Expect("im2col", t, dc.Download(), {int64_t(want.size())}, want);

    // col2im of a band equals the transposed convolution restricted to that band.
    const int64_t cout = 4, ih = 5, iw = 7, oh = 2 * ih + 1, ow = 2 * iw + 1;
    const auto cols = Random(cout * k * k * 2 * iw, 25);  // band rows [1, 3)
    std::vector<float> y0 = Rounded(Random(cout * oh * ow, 26), t), wantc(y0);
    for (int64_t o = 0; o < cout; ++o)
      for (int64_t ky = 0; ky < k; ++ky)
        for (int64_t kx = 0; kx < k; ++kx)
          for (int64_t iy = 0; iy < 2; ++iy)
            for (int64_t ix = 0; ix < iw; ++ix)
              wantc[(o * oh + 2 * (1 + iy) + ky) * ow + 2 * ix + kx] +=
                  cols[((o * k + ky) * k + kx) * 2 * iw + iy * iw + ix];
    Dev dcols(cols, StorageType::kF32), dy(y0, t);
    kernels::LaunchCol2im({dcols.f(), dy.get(), t, cout, iw, oh, ow, int(k), 1, 2}, nullptr);
    Expect("col2im", t, dy.Download(), {cout, oh, ow}, wantc);
  }
}

TEST_CASE("gpu op crop and mask_window against cpu::Crop and cpu::MaskWindow") {
  for (StorageType t : kTypes) {
    for (int64_t n : {1, 3}) {
      const int64_t c = 5, h = 13, w = 17, ho = 6, wo = 9, y0 = 4, x0 = 7;
      const Shape xs{n, c, h, w}, ys{n, c, ho, wo};
      const auto x = Rounded(Random(xs.numel(), 27), t);
      std::vector<float> want(static_cast<size_t>(ys.numel()));
      cpu::Crop(x.data(), xs, y0, x0, want.data(), ys);
      Dev dx(x, t), dy(want.size(), t);
      kernels::LaunchCrop({dx.get(), dy.get(), t, n * c, h, w, ho, wo, y0, x0}, nullptr);
      Expect("crop", t, dy.Download(), ys, want);

      // A window whose origin is (static part) + (runtime origin) / div, overlapping the
      // image's top-left corner and its right edge, as tiles at the borders do.
      const std::vector<float> origin = {-16.f, 40.f};  // top-resolution pixels
      const int div = 4;                                // this tensor is at 1/4 of it
      const int64_t sy0 = 1, sx0 = -3, full_h = 11, full_w = 15;
      const int64_t wy0 = sy0 + static_cast<int64_t>(origin[0]) / div;
      const int64_t wx0 = sx0 + static_cast<int64_t>(origin[1]) / div;
      std::vector<float> masked(x.size());
      cpu::MaskWindow(x.data(), xs, wy0, wx0, full_h, full_w, masked.data());
      Dev dorigin(origin, StorageType::kF32), dm(x.size(), t);
      kernels::MaskWindowParams mp{dx.get(), dm.get(), t,           n * c, h,      w,
                                   sy0,      sx0,      dorigin.f(), div,   full_h, full_w};
      kernels::LaunchMaskWindow(mp, nullptr);
      Expect("mask_window", t, dm.Download(), xs, masked);
      // In place, as the graph runs it (the node's output reuses its input).
      Dev dxi(x, t);
      mp.x = mp.y = dxi.get();
      mp.origin = nullptr;
      std::vector<float> static_only(x.size());
      cpu::MaskWindow(x.data(), xs, sy0, sx0, full_h, full_w, static_only.data());
      kernels::LaunchMaskWindow(mp, nullptr);
      Expect("mask_window in place", t, dxi.Download(), xs, static_only);
    }
  }
}

TEST_CASE("gpu op concat, upsample_nearest, pixel_unshuffle against the CPU ops") {
  for (StorageType t : kTypes) {
    for (int64_t n : {1, 3}) {
      const int64_t h = 13, w = 17, hw = h * w;
      // torch.cat of 3 inputs (C 5, 3, 7), and of 11 inputs: more than one launch holds.
      for (const std::vector<int64_t>& cs :
           {std::vector<int64_t>{5, 3, 7}, std::vector<int64_t>{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 5}}) {
        std::vector<std::vector<float>> xs;
        std::vector<std::unique_ptr<Dev>> dxs;
        std::vector<const float*> hp;
        std::vector<const void*> dp;
        int64_t total = 0;
        for (size_t i = 0; i < cs.size(); ++i) {
          xs.push_back(Rounded(Random(n * cs[i] * hw, 40 + uint32_t(i)), t));
          dxs.push_back(std::make_unique<Dev>(xs.back(), t));
          hp.push_back(xs.back().data());
          dp.push_back(dxs.back()->get());
          total += cs[i];
        }
        const Shape ys{n, total, h, w};
        std::vector<float> want(static_cast<size_t>(ys.numel()));
        cpu::Concat(hp, cs, n, hw, want.data());
        Dev dy(want.size(), t);
        kernels::LaunchConcat(dp.data(), cs.data(), static_cast<int>(cs.size()), dy.get(), t, n, hw,
                              nullptr);
        Expect("concat of " + std::to_string(cs.size()), t, dy.Download(), ys, want);
      }

      const int64_t c = 5;
      const Shape xs{n, c, h, w};
      const auto x = Rounded(Random(xs.numel(), 52), t);
      Dev dx(x, t);
      for (int f : {2, 3}) {
        const Shape ys{n, c, h * f, w * f};
        std::vector<float> want(static_cast<size_t>(ys.numel()));
        cpu::UpsampleNearest(x.data(), xs, f, want.data());
        Dev dy(want.size(), t);
        kernels::LaunchUpsampleNearest({dx.get(), dy.get(), t, n * c, h, w, f}, nullptr);
        Expect("upsample_nearest x" + std::to_string(f), t, dy.Download(), ys, want);
      }
      for (int f : {2, 4}) {
        const Shape us{n, 3, h * f, w * f}, ys{n, 3 * f * f, h, w};
        const auto u = Rounded(Random(us.numel(), 53), t);
        std::vector<float> want(static_cast<size_t>(ys.numel()));
        cpu::PixelUnshuffle(u.data(), us, f, want.data());
        Dev du(u, t), dy(want.size(), t);
        kernels::LaunchPixelUnshuffle({du.get(), dy.get(), t, n * 3, h, w, f}, nullptr);
        Expect("pixel_unshuffle " + std::to_string(f), t, dy.Download(), ys, want);
      }
    }
  }
}

// Lowers the grid-stride kernels' grid cap for a scope, so that small tensors take the
// loop's later passes (real sizes would need over half a billion elements).
class GridCap {
 public:
  explicit GridCap(unsigned blocks) : saved_(kernels::MaxGridBlocks()) {
    kernels::MaxGridBlocks() = blocks;
  }
  ~GridCap() { kernels::MaxGridBlocks() = saved_; }

 private:
  unsigned saved_;
};

TEST_CASE("gpu op grid-stride loops past the grid cap (second and later passes)") {
  GridCap cap(3);  // 3 blocks x 256 threads: every tensor below needs several passes
  for (StorageType t : kTypes) {
    const int64_t n = 3, c = 7, h = 13, w = 17, hw = h * w;  // 4641 elements: 7 passes
    const Shape s{n, c, h, w};
    const auto x = Rounded(Random(s.numel(), 28, -2.f, 2.f), t);
    const auto b = Random(c, 29);
    std::vector<float> want(x.size());
    cpu::BiasAct(x.data(), s, b.data(), 0.5f, Activation::GpenLeakyRelu(), want.data());
    Dev dx(x, t), dy(x.size(), t), db(b, StorageType::kF32);
    kernels::LaunchBiasAct(
        {dx.get(), dy.get(), t, t, db.f(), 0.5f, Activation::GpenLeakyRelu(), n, c, hw}, nullptr);
    Expect("bias_act past the cap", t, dy.Download(), s, want);

    // Concatenation of 3 inputs, upsampling and unshuffling past the cap as well.
    const std::vector<int64_t> cc = {2, 3, 2};  // sums to c
    std::vector<const float*> parts = {x.data(), x.data() + n * 2 * hw, x.data() + n * 5 * hw};
    std::vector<float> cat(x.size());
    cpu::Concat(parts, cc, n, hw, cat.data());
    Dev dcat(cat.size(), t);
    {
      const int64_t es = t == StorageType::kF16 ? 2 : 4;
      const void* dparts[3] = {dx.get(), static_cast<char*>(dx.get()) + n * 2 * hw * es,
                               static_cast<char*>(dx.get()) + n * 5 * hw * es};
      kernels::LaunchConcat(dparts, cc.data(), 3, dcat.get(), t, n, hw, nullptr);
    }
    Expect("concat past the cap", t, dcat.Download(), s, cat);
    std::vector<float> near(x.size() * 4);
    cpu::UpsampleNearest(x.data(), s, 2, near.data());
    Dev dnear(near.size(), t);
    kernels::LaunchUpsampleNearest({dx.get(), dnear.get(), t, n * c, h, w, 2}, nullptr);
    Expect("upsample_nearest past the cap", t, dnear.Download(), {n, c, 2 * h, 2 * w}, near);

    std::vector<float> crop(static_cast<size_t>(n * c * 11 * 16));
    cpu::Crop(x.data(), s, 1, 1, crop.data(), {n, c, 11, 16});
    Dev dc(crop.size(), t);
    kernels::LaunchCrop({dx.get(), dc.get(), t, n * c, h, w, 11, 16, 1, 1}, nullptr);
    Expect("crop past the cap", t, dc.Download(), {n, c, 11, 16}, crop);

    const auto k = Random(16, 30, 0.f, 1.f);
    const Shape us{n, c, 2 * h, 2 * w};  // up 2, pads (2, 1): the generator's upsampling
    std::vector<float> up(static_cast<size_t>(us.numel()));
    cpu::Upfirdn2d(x.data(), s, k.data(), 4, 4, 2, 1, 2, 1, up.data(), us);
    Dev du(up.size(), t);
    kernels::Upfirdn2dParams p{};
    p.x = dx.get();
    p.y = du.get();
    p.type = t;
    p.planes = n * c;
    p.h = h;
    p.w = w;
    p.ho = 2 * h;
    p.wo = 2 * w;
    p.up = 2;
    p.down = 1;
    p.pad0 = 2;
    p.kh = p.kw = 4;
    std::copy(k.begin(), k.end(), p.kernel);
    kernels::LaunchUpfirdn2d(p, nullptr);
    Expect("upfirdn2d past the cap", t, du.Download(), us, up);
  }
  // mod_conv1x1 strides over pixels with its own grid (capped the same way): 40 x 40
  // pixels are 7 blocks' worth, so 3 blocks take three passes.
  const int64_t n = 2, cin = 9, cout = 3, hw = 40 * 40;
  const auto x = Random(n * cin * hw, 31), sv = Random(n * cin, 32, 0.1f, 2.f),
             wt = Random(cout * cin, 33);
  std::vector<float> xm(x.size()), want(static_cast<size_t>(n * cout * hw));
  cpu::ScaleChannels(x.data(), {n, cin, 40, 40}, sv.data(), xm.data());
  cpu::Workspace ws;
  cpu::Conv2d(xm.data(), {n, cin, 40, 40}, wt.data(), 1, 0.5f, 1, 0, want.data(), {n, cout, 40, 40},
              &ws);
  Dev dx(x, StorageType::kF32), ds(sv, StorageType::kF32), dw(wt, StorageType::kF32),
      dy(want.size(), StorageType::kF32);
  kernels::LaunchModConv1x1(
      {dx.get(), StorageType::kF32, ds.f(), dw.f(), 0.5f, dy.f(), n, cin, cout, hw}, nullptr);
  Expect("mod_conv1x1 past the cap", StorageType::kF32, dy.Download(), {n, cout, 40, 40}, want);
}

// GPEN-BFR-512's widest layers: Cin 1024 (channels at 8x8 with narrow 1 and
// channel_multiplier 2 reach 512; the 1024-wide case covers GPEN-2048's mapping and
// the concat inputs), batch 2.
TEST_CASE("gpu op real channel counts: Cin 1024, batch 2") {
  const int64_t n = 2, cin = 1024, cout = 3, h = 9, w = 11;
  const auto s = Random(n * cin, 34, 0.2f, 2.f);
  const auto wt = Random(cout * cin, 35);
  const auto x = Random(n * cin * h * w, 36);
  const float scale = 1.f / std::sqrt(static_cast<float>(cin));
  std::vector<float> xm(x.size()), want(static_cast<size_t>(n * cout * h * w));
  cpu::ScaleChannels(x.data(), {n, cin, h, w}, s.data(), xm.data());
  cpu::Workspace ws;
  cpu::Conv2d(xm.data(), {n, cin, h, w}, wt.data(), 1, scale, 1, 0, want.data(), {n, cout, h, w},
              &ws);
  for (StorageType t : kTypes) {
    const auto xr = Rounded(x, t);
    std::vector<float> xmr(x.size()), wantr(want.size());
    cpu::ScaleChannels(xr.data(), {n, cin, h, w}, s.data(), xmr.data());
    cpu::Conv2d(xmr.data(), {n, cin, h, w}, wt.data(), 1, scale, 1, 0, wantr.data(),
                {n, cout, h, w}, &ws);
    Dev dx(xr, t), ds(s, StorageType::kF32), dw(wt, StorageType::kF32),
        dy(want.size(), StorageType::kF32);
    kernels::LaunchModConv1x1({dx.get(), t, ds.f(), dw.f(), scale, dy.f(), n, cin, cout, h * w},
                              nullptr);
    // fp32 output from (rounded) inputs: only the summation order differs, over 1024 terms.
    Expect("mod_conv1x1 cin 1024", StorageType::kF32, dy.Download(), {n, cout, h, w}, wantr);
  }
  const int64_t co = 512, k = 3;
  const auto w3 = Random(co * cin * k * k, 37);
  const auto wsq = cpu::PrepareDemod(w3.data(), co, cin, k * k);
  std::vector<float> d(static_cast<size_t>(n * co)), wsqf(wsq.begin(), wsq.end());
  cpu::DemodCoef(s.data(), n, cin, wsq.data(), co, 0.01f, d.data());
  Dev ds(s, StorageType::kF32), dw(wsqf, StorageType::kF32), dd(d.size(), StorageType::kF32);
  kernels::LaunchDemodCoef({ds.f(), dw.f(), dd.f(), 0.01f, n, cin, co}, nullptr);
  Expect("demod_coef cin 1024", StorageType::kF32, dd.Download(), {n, co}, d);

  std::vector<float> pn(s.size());
  cpu::PixelNorm(s.data(), n, cin, pn.data());
  Dev dpn(s.size(), StorageType::kF32);
  kernels::LaunchPixelNorm({ds.f(), dpn.f(), n, cin}, nullptr);
  Expect("pixel_norm c 1024", StorageType::kF32, dpn.Download(), {n, cin}, pn);

  // One style slice of 1024 columns, normalised by its max |s| (fp16 path).
  const auto all = Random(n * cin, 38, -3.f, 3.f), bias = Random(cin, 39);
  std::vector<float> styles(all.size());
  for (int64_t b = 0; b < n; ++b) {
    float m = 0.f;
    for (int64_t j = 0; j < cin; ++j) m = std::max(m, std::fabs(all[b * cin + j] + bias[j] * 0.5f));
    for (int64_t j = 0; j < cin; ++j) styles[b * cin + j] = (all[b * cin + j] + bias[j] * 0.5f) / m;
  }
  Dev dall(all, StorageType::kF32), dbias(bias, StorageType::kF32),
      dst(styles.size(), StorageType::kF32);
  const kernels::StyleSlice slice{dst.f(), 0, cin, 1};
  void* dslice = nullptr;
  CUDA_CHECK(cudaMalloc(&dslice, sizeof(slice)));
  CUDA_CHECK(cudaMemcpy(dslice, &slice, sizeof(slice), cudaMemcpyHostToDevice));
  kernels::LaunchStyleScatter(
      {dall.f(), dbias.f(), 0.5f, static_cast<const kernels::StyleSlice*>(dslice), 1, n, cin},
      nullptr);
  Expect("style_scatter 1024 normalised", StorageType::kF32, dst.Download(), {n, cin}, styles);
  CUDA_CHECK(cudaFree(dslice));
}

TEST_CASE("gpu op fp16 stores keep NaN and saturate infinities") {
  const float nan = std::nanf(""), inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {nan, inf, -inf, 1e6f, -1e6f, 0.5f};
  Dev dx(x, StorageType::kF32), dy(x.size(), StorageType::kF16);
  kernels::LaunchCast(
      {dx.get(), StorageType::kF32, dy.get(), StorageType::kF16, static_cast<int64_t>(x.size())},
      nullptr);
  const auto y = dy.Download();
  CHECK(std::isnan(y[0]));  // a NaN must stay visible to the finiteness checks
  CHECK(y[1] == 65504.f);
  CHECK(y[2] == -65504.f);
  CHECK(y[3] == 65504.f);
  CHECK(y[4] == -65504.f);
  CHECK(y[5] == 0.5f);
}

namespace {

GpenArch SmallArch() {
  return TinyArch(64, 64, 64);
}

std::vector<float> RunModel(std::shared_ptr<const GpenWeights> w, Device d, Precision p,
                            const std::vector<float>& in, int64_t batch) {
  GpenGraphOptions go;
  go.batch = batch;
  BackendOptions bo;
  bo.precision = p;
  auto s = Session::Create(GpenNetwork::Wrap(w), go, d, bo);
  REQUIRE_MESSAGE(s.ok(), s.status().ToString());
  const int64_t o = w->arch.out_size;
  std::vector<float> out(static_cast<size_t>(batch * 3 * o * o));
  REQUIRE(s.value()->Run(in.data(), out.data()).ok());
  return out;
}

}  // namespace

TEST_CASE("gpu backend: whole graph against the CPU backend, batch 1 and 3, fp32 and fp16") {
  auto w = GpenWeights::Random(SmallArch(), 31);
  REQUIRE(w.ok());
  auto shared = std::make_shared<const GpenWeights>(std::move(w).value());
  for (int64_t batch : {1, 3}) {
    const auto in = Random(batch * 3 * 64 * 64, 32);
    const auto ref = RunModel(shared, Device::kCpu, Precision::kFp32, in, batch);
    const Shape s{batch, 3, 64, 64};
    const auto g32 = RunModel(shared, Device::kCuda, Precision::kFp32, in, batch);
    CompareResult r32 = Compare("cuda fp32 vs cpu", g32, s, ref, s, {1e-4, 1e-4, 1e-5});
    MESSAGE(r32.message);
    CHECK_MESSAGE(r32.ok, r32.message);
    const auto g16 = RunModel(shared, Device::kCuda, Precision::kFp16, in, batch);
    CompareResult r16 = Compare("cuda fp16 vs cpu", g16, s, ref, s, {5e-2, 5e-2, 5e-3});
    MESSAGE(r16.message);
    CHECK_MESSAGE(r16.ok, r16.message);
  }
}

TEST_CASE("gpu model fixtures: fp32 and fp16 against upstream's float64 outputs") {
  for (const char* set : {"tiny64", "s128", "bfr256_fp16"}) {
    std::string dir;
    if (!SkipUnlessGpenFixture(set, &dir)) continue;
    auto w = LoadGpenModel(ModelsDir() + "/" + set + ".safetensors");
    REQUIRE_MESSAGE(w.ok(), w.status().ToString());
    auto shared = std::make_shared<const GpenWeights>(std::move(w).value());
    auto in = ReadNpy(dir + "/input.npy");
    auto ref = ReadNpy(dir + "/output.npy");
    REQUIRE(in.ok());
    REQUIRE(ref.ok());
    const int64_t batch = in->shape[0];
    for (Precision p : {Precision::kFp32, Precision::kFp16}) {
      const bool h = p == Precision::kFp16;
      const auto out = RunModel(shared, Device::kCuda, p, in->data, batch);
      const std::string what = std::string(set) + (h ? " fp16" : " fp32");
      CompareResult r = Compare(what, out, ref->shape, ref->data, ref->shape,
                                h ? Tolerance{1e-1, 1e-1, 5e-3} : Tolerance{1e-4, 1e-4, 1e-5});
      MESSAGE(r.message);
      CHECK_MESSAGE(r.ok, r.message);
      // 8-bit images: within 2 levels on 99.9% of values (fp16), 1 level everywhere (fp32).
      const int64_t o = shared->arch.out_size, per = 3 * o * o;
      int64_t over = 0, worst = 0;
      for (int64_t b = 0; b < batch; ++b) {
        Image a = FromModelOutput(out.data() + b * per, o),
              e = FromModelOutput(ref->data.data() + b * per, o);
        for (int64_t i = 0; i < per; ++i) {
          const int64_t d = std::llabs(std::lround(a.rgb[i] * 255) - std::lround(e.rgb[i] * 255));
          worst = std::max(worst, d);
          over += d > (h ? 2 : 1);
        }
      }
      MESSAGE(what << ": worst level difference " << worst << ", " << over << " of " << batch * per
                   << " beyond bound");
      CHECK(over <= (h ? batch * per / 1000 : 0));
    }
  }
}

TEST_CASE("gpu fp16 survives extreme styles and contrast (no black or solid images)") {
  GpenArch a = SmallArch();
  auto w = GpenWeights::Random(a, 41);
  REQUIRE(w.ok());
  GpenWeights gw = std::move(w).value();
  // Styles 100x larger than the random init: trained GPEN styles reach tens to hundreds.
  for (StyledConvW* sc : {&gw.conv1}) {
    float* m = gw.store.mutable_data(sc->modulation.bias);
    for (int64_t i = 0; i < sc->modulation.bias.numel(); ++i) m[i] *= 100.f;
  }
  for (StyledConvW& sc : gw.convs) {
    float* m = gw.store.mutable_data(sc.modulation.bias);
    for (int64_t i = 0; i < sc.modulation.bias.numel(); ++i) m[i] *= 100.f;
  }
  auto shared = std::make_shared<const GpenWeights>(std::move(gw));
  std::vector<float> in(3 * 64 * 64);
  for (size_t i = 0; i < in.size(); ++i)
    in[i] = ((i / 64 + i % 64) / 4) % 2 ? 1.f : -1.f;  // hard checkerboard
  const auto ref = RunModel(shared, Device::kCpu, Precision::kFp32, in, 1);
  const auto h = RunModel(shared, Device::kCuda, Precision::kFp16, in, 1);
  const Shape s{1, 3, 64, 64};
  CompareResult r = Compare("extreme fp16 vs cpu", h, s, ref, s, {5e-2, 5e-2, 5e-3});
  MESSAGE(r.message);
  CHECK_MESSAGE(r.ok, r.message);
}

TEST_CASE("gpu memory: the activation arena allocated equals the plan") {
  auto w = GpenWeights::Random(SmallArch(), 51);
  REQUIRE(w.ok());
  auto shared = std::make_shared<const GpenWeights>(std::move(w).value());
  GpenGraphOptions go;
  go.batch = 2;
  for (Precision p : {Precision::kFp32, Precision::kFp16}) {
    BackendOptions bo;
    bo.precision = p;
    size_t free0 = 0, free1 = 0, total = 0;
    CUDA_CHECK(cudaMemGetInfo(&free0, &total));
    auto s = Session::Create(GpenNetwork::Wrap(shared), go, Device::kCuda, bo);
    REQUIRE(s.ok());
    CUDA_CHECK(cudaMemGetInfo(&free1, &total));
    const MemoryReport m = s.value()->backend().memory();
    CHECK(m.arena == s.value()->backend().plan().arena_bytes);
    // cudaMalloc rounds to its page size (2 MiB): the delta covers every planned line.
    MESSAGE("planned " << m.total() << " bytes, measured cudaMemGetInfo delta " << (free0 - free1));
    CHECK(static_cast<int64_t>(free0 - free1) >= m.total());
  }
}

TEST_CASE("gpu tiled: tiled generation equals untiled on the GPU, fp32 and fp16") {
  auto w = GpenWeights::Random(SmallArch(), 61);
  REQUIRE(w.ok());
  auto shared = std::make_shared<const GpenWeights>(std::move(w).value());
  const auto in = Random(2 * 3 * 64 * 64, 62);
  for (Precision p : {Precision::kFp32, Precision::kFp16}) {
    const auto full = RunModel(shared, Device::kCuda, p, in, 2);
    GpenGraphOptions go;
    go.batch = 2;
    BackendOptions bo;
    bo.precision = p;
    auto t = TiledGpenSession::Create(shared, go, TileSpec{16, 24}, Device::kCuda, bo);
    REQUIRE_MESSAGE(t.ok(), t.status().ToString());
    std::vector<float> tiled(full.size());
    REQUIRE(t.value()->Run(in.data(), tiled.data()).ok());
    const Shape s{2, 3, 64, 64};
    // fp16: tiles see the same fp16 values, so only accumulation order differs.
    CompareResult r =
        Compare(p == Precision::kFp16 ? "tiled fp16" : "tiled fp32", tiled, s, full, s,
                p == Precision::kFp16 ? Tolerance{1e-2, 1e-2, 1e-3} : Tolerance{1e-5, 1e-5, 1e-6});
    MESSAGE(r.message);
    CHECK_MESSAGE(r.ok, r.message);
  }
}
