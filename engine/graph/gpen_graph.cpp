// GPEN graph builder. Each helper mirrors one upstream module; pads and scales are
// derived the way upstream derives them (see docs in ../shared/docs/gpen-dataflow.md).
#include "graph/gpen_graph.h"

#include <cmath>

#include "core/check.h"

namespace gpen {

namespace {

class Builder {
 public:
  Builder(const GpenWeights& w, const GpenGraphOptions& o) : w_(w), a_(w.arch), o_(o) {}

  Graph Build() {
    const int64_t n = o_.batch;
    const int x = g_.AddTensor({n, 3, a_.in_size, a_.in_size}, "input");
    g_.set_input(x);

    // Encoder (FullGenerator.forward: ecd0 .. ecdK, highest resolution first).
    std::vector<int> feats;
    int h = x;
    for (size_t i = 0; i < w_.ecd.size(); ++i) {
      h = EncoderLevel(w_.ecd[i], h, "ecd" + std::to_string(i));
      feats.push_back(h);
      if (o_.expose_intermediates) {
        g_.Rename(h, "ecd" + std::to_string(i));
        g_.MarkOutput(h);
      }
    }
    int latent = Linear(w_.final_linear, h, "final_linear", OpKind::kLinear);
    // Generator.style: PixelNorm then n_mlp EqualLinear(lr_mul=lr_mlp, fused lrelu).
    Node pn;
    pn.kind = OpKind::kPixelNorm;
    pn.name = "generator.style.0";
    pn.in = {latent};
    latent = g_.AddNode(pn, g_.tensor(latent).shape, TensorClass::kAlwaysFp32);
    for (size_t i = 0; i < w_.style.size(); ++i) {
      latent = Linear(w_.style[i], latent, "generator.style." + std::to_string(i + 1),
                      OpKind::kLinear);
    }
    if (o_.expose_intermediates) {
      g_.Rename(latent, "latent");
      g_.MarkOutput(latent);
    }
    latent_ = latent;

    // Feature used at resolution r, or -1 where upstream draws random noise (SR).
    auto feat_at = [&](int64_t r) -> int {
      for (int f : feats)
        if (g_.tensor(f).shape.h() == r) return f;
      return -1;
    };

    Node ci;
    ci.kind = OpKind::kConstInput;
    ci.name = "generator.input";
    ci.weight = w_.const_input;
    int out = g_.AddNode(ci, {n, a_.Channels(4), 4, 4});
    out = StyledConv(w_.conv1, out, feat_at(4), "generator.conv1");
    int skip = ToRgb(w_.to_rgb1, out, -1, "generator.to_rgb1");
    for (size_t k = 0; k < w_.to_rgbs.size(); ++k) {
      const int64_t r = int64_t{4} << (k + 1);
      out = StyledConv(w_.convs[2 * k], out, feat_at(r), "generator.convs." + std::to_string(2 * k));
      out = StyledConv(w_.convs[2 * k + 1], out, feat_at(r),
                       "generator.convs." + std::to_string(2 * k + 1));
      skip = ToRgb(w_.to_rgbs[k], out, skip, "generator.to_rgbs." + std::to_string(k));
    }
    g_.Rename(skip, "image");
    g_.MarkOutput(skip);
    return std::move(g_);
  }

 private:
  // ConvLayer (upstream): [Blur(pad (2, 2))] + EqualConv2d + FusedLeakyReLU.
  int EncoderLevel(const EncoderLevelW& e, int x, const std::string& name) {
    const Shape xs = g_.tensor(x).shape;
    const int64_t cout = e.weight.shape[0], cin = e.weight.shape[1], k = e.weight.shape[2];
    int h = x;
    int64_t hh = xs.h(), ww = xs.w();
    if (e.downsample) {
      // p = (len(kernel) - factor) + (kernel_size - 1); pad = ((p + 1) / 2, p / 2)
      const int p = static_cast<int>(a_.blur_kernel.size()) - 2 + static_cast<int>(k) - 1;
      h = Upfirdn(h, e.blur_kernel, 1, 1, (p + 1) / 2, p / 2, name + ".0.0");
      hh = g_.tensor(h).shape.h();
      ww = g_.tensor(h).shape.w();
    }
    Node c;
    c.kind = OpKind::kConv2d;
    c.name = name + (e.downsample ? ".0.1" : ".0.0");
    c.in = {h};
    c.weight = e.weight;
    c.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(cin * k * k)));
    c.stride = e.downsample ? 2 : 1;
    c.pad = e.downsample ? 0 : static_cast<int>(k / 2);
    const int64_t ho = (hh + 2 * c.pad - k) / c.stride + 1;
    const int64_t wo = (ww + 2 * c.pad - k) / c.stride + 1;
    const int y = g_.AddNode(c, {xs.n(), cout, ho, wo});
    return BiasAct(y, e.act_bias, 1.f, true, name + (e.downsample ? ".0.2" : ".0.1"));
  }

  int BiasAct(int x, const Param& bias, float bias_scale, bool act, const std::string& name) {
    Node b;
    b.kind = OpKind::kBiasAct;
    b.name = name;
    b.in = {x};
    b.bias = bias;
    b.bias_scale = bias_scale;
    b.act = act;
    b.inplace = true;
    return g_.AddNode(b, g_.tensor(x).shape, g_.tensor(x).cls);
  }

  int Upfirdn(int x, const Param& kernel, int up, int down, int pad0, int pad1,
              const std::string& name) {
    const Shape s = g_.tensor(x).shape;
    const int64_t kh = kernel.shape[0], kw = kernel.shape[1];
    Node u;
    u.kind = OpKind::kUpfirdn2d;
    u.name = name;
    u.in = {x};
    u.weight = kernel;
    u.up = up;
    u.down = down;
    u.pad0 = pad0;
    u.pad1 = pad1;
    const int64_t ho = (s.h() * up + pad0 + pad1 - kh) / down + 1;
    const int64_t wo = (s.w() * up + pad0 + pad1 - kw) / down + 1;
    return g_.AddNode(u, {s.n(), s.c(), ho, wo}, g_.tensor(x).cls);
  }

  // EqualLinear on the flattened input.
  int Linear(const LinearW& l, int x, const std::string& name, OpKind kind) {
    const int64_t in = l.weight.shape[1], out = l.weight.shape[0];
    GPEN_CHECK(g_.tensor(x).shape.numel() == o_.batch * in);
    Node n;
    n.kind = kind;
    n.name = name;
    n.in = {x};
    n.weight = l.weight;
    n.bias = l.bias;
    n.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(in)) * l.lr_mul);
    n.bias_scale = l.lr_mul;
    n.act = l.activate;
    return g_.AddNode(n, {o_.batch, out}, TensorClass::kAlwaysFp32);
  }

  int ScaleChannels(int x, int s, const std::string& name, TensorClass cls) {
    Node n;
    n.kind = OpKind::kScaleChannels;
    n.name = name;
    n.in = {x, s};
    n.inplace = true;
    return g_.AddNode(n, g_.tensor(x).shape, cls);
  }

  // StyledConv: ModulatedConv2d(demodulate) + NoiseInjection + FusedLeakyReLU, in the
  // shared-weight form: x * s, one convolution, then * demod.
  int StyledConv(const StyledConvW& w, int x, int feat, const std::string& name) {
    const Shape xs = g_.tensor(x).shape;
    const int64_t cout = w.weight.shape[1], cin = w.weight.shape[2], k = w.weight.shape[3];
    GPEN_CHECK(xs.c() == cin);
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(cin * k * k)));
    const int s = Linear(w.modulation, latent_, name + ".conv.modulation", OpKind::kModStyle);
    Node d;
    d.kind = OpKind::kDemodCoef;
    d.name = name + ".conv.demod";
    d.in = {s};
    d.weight = w.weight;
    d.scale = scale;
    const int demod = g_.AddNode(d, {xs.n(), cout}, TensorClass::kAlwaysFp32);
    const int xm = ScaleChannels(x, s, name + ".conv.modulate", TensorClass::kActivation);
    Node c;
    c.name = name + ".conv";
    c.in = {xm};
    c.weight = w.weight;
    c.scale = scale;
    int y;
    if (w.upsample) {
      c.kind = OpKind::kConvTranspose2d;
      c.stride = 2;
      y = g_.AddNode(c, {xs.n(), cout, (xs.h() - 1) * 2 + k, (xs.w() - 1) * 2 + k});
      // p = (len(kernel) - factor) - (kernel_size - 1); pad0 = (p+1)/2 + factor - 1, pad1 = p/2 + 1
      const int p = static_cast<int>(a_.blur_kernel.size()) - 2 - (static_cast<int>(k) - 1);
      y = Upfirdn(y, w.blur_kernel, 1, 1, FloorDiv(p + 1, 2) + 1, FloorDiv(p, 2) + 1,
                  name + ".conv.blur");
    } else {
      c.kind = OpKind::kConv2d;
      c.pad = static_cast<int>(k / 2);
      y = g_.AddNode(c, {xs.n(), cout, xs.h(), xs.w()});
    }
    y = ScaleChannels(y, demod, name + ".conv.demodulate", TensorClass::kActivation);
    const Shape ys = g_.tensor(y).shape;
    Node nz;
    nz.kind = OpKind::kNoiseConcat;
    nz.name = name + ".noise";
    nz.in = {y};
    if (feat >= 0) {
      GPEN_CHECK(g_.tensor(feat).shape == ys);
      nz.in.push_back(feat);
    } else {
      nz.seed = o_.noise_seed * 1000003ull + static_cast<uint64_t>(g_.nodes().size());
    }
    nz.weight = w.noise_weight;
    nz.concat = a_.isconcat;
    const int64_t cz = a_.isconcat ? 2 * cout : cout;
    nz.inplace = !a_.isconcat;
    const int z = g_.AddNode(nz, {ys.n(), cz, ys.h(), ys.w()});
    return BiasAct(z, w.act_bias, 1.f, true, name + ".activate");
  }

  // ToRGB: modulated 1x1 conv (no demodulation) + bias + upsampled skip.
  int ToRgb(const ToRgbW& w, int x, int skip, const std::string& name) {
    const Shape xs = g_.tensor(x).shape;
    const int64_t cin = w.weight.shape[2];
    const int s = Linear(w.modulation, latent_, name + ".conv.modulation", OpKind::kModStyle);
    const int xm = ScaleChannels(x, s, name + ".conv.modulate", TensorClass::kActivation);
    Node c;
    c.kind = OpKind::kConv2d;
    c.name = name + ".conv";
    c.in = {xm};
    c.weight = w.weight;
    c.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(cin)));
    int y = g_.AddNode(c, {xs.n(), 3, xs.h(), xs.w()}, TensorClass::kAlwaysFp32);
    y = BiasAct(y, w.bias, 1.f, false, name + ".bias");
    if (skip >= 0) {
      // Upsample(kernel, factor 2): p = len(kernel) - 2; pad = ((p + 1) / 2 + 1, p / 2)
      const int p = static_cast<int>(a_.blur_kernel.size()) - 2;
      const int su = Upfirdn(skip, w.up_kernel, 2, 1, (p + 1) / 2 + 1, p / 2, name + ".upsample");
      Node add;
      add.kind = OpKind::kAdd;
      add.name = name + ".skip";
      add.in = {y, su};
      add.inplace = true;
      y = g_.AddNode(add, g_.tensor(y).shape, TensorClass::kAlwaysFp32);
    }
    return y;
  }

  static int FloorDiv(int a, int b) { return (a >= 0) ? a / b : -((-a + b - 1) / b); }

  const GpenWeights& w_;
  const GpenArch& a_;
  GpenGraphOptions o_;
  Graph g_;
  int latent_ = -1;
};

}  // namespace

Graph BuildGpenGraph(const GpenWeights& w, const GpenGraphOptions& opt) {
  GPEN_CHECK(opt.batch >= 1);
  return Builder(w, opt).Build();
}

}  // namespace gpen
