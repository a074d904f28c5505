// GPEN graph builder, untiled and tiled. Each helper mirrors one upstream module; pads
// and scales are derived the way upstream derives them (../shared/docs/gpen-dataflow.md).
//
// Every activation carries a window (Span, the same along y and x): the rows/columns
// of the untiled tensor it holds. Untiled, windows are whole and no crop or mask is
// ever emitted. Tiled, windows come from a backward pass over the stages (BuildTile)
// and each op's output window follows from its input window; Crop cuts the needed part
// and MaskWindow zeroes what lies outside the image.
#include "graph/gpen_graph.h"

#include <cmath>

#include "core/check.h"

namespace gpen {

namespace {

int64_t FloorDiv(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}
int64_t CeilDiv(int64_t a, int64_t b) {
  return -FloorDiv(-a, b);
}
Span Hull(const Span& a, const Span& b) {
  return {std::min(a.lo, b.lo), std::max(a.hi, b.hi)};
}
bool Inside(const Span& in, const Span& out) {
  return out.lo <= in.lo && in.hi <= out.hi;
}

class Builder {
 public:
  Builder(const GpenWeights& w, const GpenGraphOptions& o) : w_(w), a_(w.arch), o_(o) {}

  Graph BuildFull() {
    Encoder();
    Mapping();
    int skip = -1;
    GenerateUpTo(a_.out_size, &skip);
    g_.Rename(skip, "image");
    g_.MarkOutput(skip);
    return std::move(g_);
  }

  Graph BuildGlobal(int64_t split) {
    Encoder();
    Mapping();
    int skip = -1;
    const int x = GenerateUpTo(split, &skip);
    g_.Rename(latent_, "latent");
    g_.MarkOutput(latent_);
    g_.Rename(x, "tile_x");
    g_.MarkOutput(x);
    g_.Rename(skip, "tile_skip");
    g_.MarkOutput(skip);
    for (int f : feats_) {
      const int64_t r = g_.tensor(f).shape.h();
      if (r > split) {
        g_.Rename(f, "feat" + std::to_string(r));
        g_.MarkOutput(f);
      }
    }
    return std::move(g_);
  }

  TileGraph BuildTile(const TileSpec& spec) {
    GPEN_CHECK(TileSpecValid(a_, spec));
    tiled_ = true;
    const int64_t n = o_.batch, top = a_.out_size, split = spec.split_res;
    const int64_t mult = a_.isconcat ? 2 : 1;
    // Backward pass over the stages, for the tile whose origin is (0, 0): W[r] is the
    // RGB skip window needed at r, U[r] the activation window the next stage's
    // upsampling convolution needs, NX/NXP the windows of the two StyledConvs at r.
    std::map<int64_t, Span> W, U, NX, NXP;
    W[top] = {0, spec.tile};
    for (int64_t r = top; r > split; r /= 2) {
      NXP[r] = r == top ? W[r] : Hull(W[r], U[r]);
      NX[r] = {NXP[r].lo - 1, NXP[r].hi + 1};                          // 3x3, pad 1
      const Span t{NX[r].lo - 1, NX[r].hi + 2};                        // blur, pad (1, 1)
      U[r / 2] = {CeilDiv(t.lo - 2, 2), FloorDiv(t.hi - 1, 2) + 1};    // transposed, stride 2
      W[r / 2] = {CeilDiv(W[r].lo - 2, 2), FloorDiv(W[r].hi, 2) + 1};  // upsample, pad (2, 1)
    }
    TileGraph tg;
    auto input = [&](const std::string& name, Shape shape, TensorClass cls, Span win, int64_t res) {
      const int t = g_.AddTensor(std::move(shape), name, cls);
      g_.AddInput(t);
      win_[t] = win;
      tg.input_window[name] = win;
      tg.input_res[name] = res;
      return t;
    };
    latent_ = g_.AddTensor({n, a_.style_dim}, "latent", TensorClass::kAlwaysFp32);
    g_.set_input(latent_);
    origin_ = g_.AddTensor({1, 2}, "tile_origin", TensorClass::kAlwaysFp32);
    g_.AddInput(origin_);
    int x = input("tile_x", {n, a_.Channels(split) * mult, U[split].size(), U[split].size()},
                  TensorClass::kActivation, U[split], split);
    int skip = input("tile_skip", {n, 3, W[split].size(), W[split].size()},
                     TensorClass::kAlwaysFp32, W[split], split);
    for (int64_t r = split * 2; r <= top; r *= 2) {
      const int k = static_cast<int>(std::log2(static_cast<double>(r))) - 3;
      int feat = -1;
      if (r <= a_.in_size) {
        feat = input("feat" + std::to_string(r), {n, a_.Channels(r), NX[r].size(), NX[r].size()},
                     TensorClass::kActivation, NX[r], r);
      }
      x = StyledConv(w_.convs[2 * k], Crop(x, U[r / 2]), feat, NX[r], r,
                     "generator.convs." + std::to_string(2 * k));
      x = StyledConv(w_.convs[2 * k + 1], x, feat, NXP[r], r,
                     "generator.convs." + std::to_string(2 * k + 1));
      skip = ToRgb(w_.to_rgbs[k], x, skip, W[r], r, "generator.to_rgbs." + std::to_string(k));
    }
    g_.Rename(skip, "image");
    g_.MarkOutput(skip);
    tg.graph = std::move(g_);
    return tg;
  }

 private:
  // Encoder (FullGenerator.forward: ecd0 .. ecdK, highest resolution first).
  void Encoder() {
    const int x = g_.AddTensor({o_.batch, 3, a_.in_size, a_.in_size}, "input");
    g_.set_input(x);
    win_[x] = {0, a_.in_size};
    int h = x;
    for (size_t i = 0; i < w_.ecd.size(); ++i) {
      h = EncoderLevel(w_.ecd[i], h, "ecd" + std::to_string(i));
      feats_.push_back(h);
      if (o_.expose_intermediates) {
        g_.Rename(h, "ecd" + std::to_string(i));
        g_.MarkOutput(h);
      }
    }
    latent_ = Linear(w_.final_linear, h, "final_linear", OpKind::kLinear);
  }

  // Generator.style: PixelNorm then n_mlp EqualLinear(lr_mul=lr_mlp, fused lrelu).
  void Mapping() {
    Node pn;
    pn.kind = OpKind::kPixelNorm;
    pn.name = "generator.style.0";
    pn.in = {latent_};
    latent_ = g_.AddNode(pn, g_.tensor(latent_).shape, TensorClass::kAlwaysFp32);
    for (size_t i = 0; i < w_.style.size(); ++i) {
      latent_ =
          Linear(w_.style[i], latent_, "generator.style." + std::to_string(i + 1), OpKind::kLinear);
    }
    if (o_.expose_intermediates) {
      g_.Rename(latent_, "latent");
      g_.MarkOutput(latent_);
    }
  }

  // Feature used at resolution r, or -1 where upstream draws random noise (SR).
  int FeatAt(int64_t r) const {
    for (int f : feats_)
      if (g_.tensor(f).shape.h() == r) return f;
    return -1;
  }

  // Generator.forward up to (and including) the stage at resolution `last`; returns the
  // activation and sets *skip to the RGB skip there.
  int GenerateUpTo(int64_t last, int* skip) {
    Node ci;
    ci.kind = OpKind::kConstInput;
    ci.name = "generator.input";
    ci.weight = w_.const_input;
    int out = g_.AddNode(ci, {o_.batch, a_.Channels(4), 4, 4});
    win_[out] = {0, 4};
    out = StyledConv(w_.conv1, out, FeatAt(4), {0, 4}, 4, "generator.conv1");
    *skip = ToRgb(w_.to_rgb1, out, -1, {0, 4}, 4, "generator.to_rgb1");
    for (size_t k = 0; k < w_.to_rgbs.size(); ++k) {
      const int64_t r = int64_t{4} << (k + 1);
      if (r > last) break;
      out = StyledConv(w_.convs[2 * k], out, FeatAt(r), {0, r}, r,
                       "generator.convs." + std::to_string(2 * k));
      out = StyledConv(w_.convs[2 * k + 1], out, FeatAt(r), {0, r}, r,
                       "generator.convs." + std::to_string(2 * k + 1));
      *skip = ToRgb(w_.to_rgbs[k], out, *skip, {0, r}, r, "generator.to_rgbs." + std::to_string(k));
    }
    return out;
  }

  int Add(Node n, Shape shape, TensorClass cls, Span win) {
    const int t = g_.AddNode(std::move(n), std::move(shape), cls);
    win_[t] = win;
    return t;
  }

  // Cuts `need` out of tensor t (no-op when t's window is exactly `need`).
  int Crop(int t, const Span& need) {
    const Span have = win_.at(t);
    if (have == need) return t;
    GPEN_CHECK_MSG(Inside(need, have), "window [" << need.lo << ", " << need.hi
                                                  << ") is not inside [" << have.lo << ", "
                                                  << have.hi << ")");
    const Shape s = g_.tensor(t).shape;
    Node c;
    c.kind = OpKind::kCrop;
    c.name = g_.tensor(t).name + ".crop";
    c.in = {t};
    const int off = static_cast<int>(need.lo - have.lo);
    c.attr = CropAttr{off, off};
    return Add(c, {s.n(), s.c(), need.size(), need.size()}, g_.tensor(t).cls, need);
  }

  // Tiled only: zero the positions of t that lie outside the res x res image.
  int Mask(int t, int64_t res) {
    if (!tiled_) return t;
    Node m;
    m.kind = OpKind::kMaskWindow;
    m.name = g_.tensor(t).name + ".mask";
    m.in = {t, origin_};
    m.attr = WindowAttr{};
    SetWindow(&m, &m.a<WindowAttr>(), win_.at(t), res);
    return Add(m, g_.tensor(t).shape, g_.tensor(t).cls, win_.at(t));
  }

  // The window of node n (its WindowAttr `w`); tiled, the origin becomes n's last input.
  void SetWindow(Node* n, WindowAttr* w, const Span& win, int64_t res) const {
    w->full_h = w->full_w = res;
    if (tiled_) {
      w->div = static_cast<int>(a_.out_size / res);
      w->y0 = w->x0 = win.lo;
      n->in.push_back(origin_);
    }
  }

  // ConvLayer (upstream): [Blur(pad (2, 2))] + EqualConv2d + FusedLeakyReLU.
  int EncoderLevel(const EncoderLevelW& e, int x, const std::string& name) {
    const Shape xs = g_.tensor(x).shape;
    const int64_t cout = e.weight.shape[0], cin = e.weight.shape[1], k = e.weight.shape[2];
    int h = x;
    if (e.downsample) {
      // p = (len(kernel) - factor) + (kernel_size - 1); pad = ((p + 1) / 2, p / 2)
      const int p = static_cast<int>(a_.blur_kernel.size()) - 2 + static_cast<int>(k) - 1;
      h = Upfirdn(h, e.blur_kernel, 1, 1, (p + 1) / 2, p / 2, name + ".0.0");
    }
    const Shape hs = g_.tensor(h).shape;
    Node c;
    c.kind = OpKind::kConv2d;
    c.name = name + (e.downsample ? ".0.1" : ".0.0");
    c.in = {h};
    c.weight = e.weight;
    c.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(cin * k * k)));
    const ConvAttr ca{e.downsample ? 2 : 1, e.downsample ? 0 : static_cast<int>(k / 2)};
    c.attr = ca;
    const int64_t ho = (hs.h() + 2 * ca.pad - k) / ca.stride + 1;
    const int64_t wo = (hs.w() + 2 * ca.pad - k) / ca.stride + 1;
    const int y = Add(c, {xs.n(), cout, ho, wo}, TensorClass::kActivation, {0, ho});
    return BiasAct(y, e.act_bias, 1.f, Activation::GpenLeakyRelu(),
                   name + (e.downsample ? ".0.2" : ".0.1"));
  }

  int BiasAct(int x, const Param& bias, float bias_scale, Activation act, const std::string& name) {
    Node b;
    b.kind = OpKind::kBiasAct;
    b.name = name;
    b.in = {x};
    b.bias = bias;
    b.bias_scale = bias_scale;
    b.act = act;
    return Add(b, g_.tensor(x).shape, g_.tensor(x).cls, win_.at(x));
  }

  // upfirdn2d; the output window is the input window mapped through the same geometry
  // (output j holds absolute position up * in.lo + j for the pads GPEN uses).
  int Upfirdn(int x, const Param& kernel, int up, int down, int pad0, int pad1,
              const std::string& name) {
    const Shape s = g_.tensor(x).shape;
    const int64_t kh = kernel.shape[0], kw = kernel.shape[1];
    Node u;
    u.kind = OpKind::kUpfirdn2d;
    u.name = name;
    u.in = {x};
    u.weight = kernel;
    u.attr = UpfirdnAttr{up, down, pad0, pad1};
    const int64_t ho = (s.h() * up + pad0 + pad1 - kh) / down + 1;
    const int64_t wo = (s.w() * up + pad0 + pad1 - kw) / down + 1;
    const Span in = win_.at(x);
    const int64_t lo = (in.lo * up) / down;
    return Add(u, {s.n(), s.c(), ho, wo}, g_.tensor(x).cls, {lo, lo + ho});
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
    n.act = l.activate ? Activation::GpenLeakyRelu() : Activation::None();
    return Add(n, {o_.batch, out}, TensorClass::kAlwaysFp32, {0, 1});
  }

  int ScaleChannels(int x, int s, const std::string& name) {
    Node n;
    n.kind = OpKind::kScaleChannels;
    n.name = name;
    n.in = {x, s};
    return Add(n, g_.tensor(x).shape, g_.tensor(x).cls, win_.at(x));
  }

  // StyledConv: ModulatedConv2d(demodulate) + NoiseInjection + FusedLeakyReLU, in the
  // shared-weight form: x * s, one convolution, then * demod. `need` is the output
  // window at resolution `res` (whole when untiled).
  int StyledConv(const StyledConvW& w, int x, int feat, const Span& need, int64_t res,
                 const std::string& name) {
    const Shape xs = g_.tensor(x).shape;
    const Span xw = win_.at(x);
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
    const int demod = Add(d, {xs.n(), cout}, TensorClass::kAlwaysFp32, {0, 1});
    const int xm = ScaleChannels(x, s, name + ".conv.modulate");
    Node c;
    c.name = name + ".conv";
    c.in = {xm};
    c.weight = w.weight;
    c.scale = scale;
    int y;
    if (w.upsample) {
      c.kind = OpKind::kConvTranspose2d;
      const Span tw{2 * xw.lo, 2 * xw.hi + k - 2};  // output t = 2 * i + tap
      y = Add(c, {xs.n(), cout, tw.size(), tw.size()}, TensorClass::kActivation, tw);
      // Blur after the transposed convolution: p = (len(kernel) - 2) - (k - 1),
      // pad0 = (p + 1) / 2 + 1, pad1 = p / 2 + 1; output Y reads t in [Y - pad0, Y - pad0 + 4).
      const int p = static_cast<int>(a_.blur_kernel.size()) - 2 - (static_cast<int>(k) - 1);
      const int pad0 = static_cast<int>(FloorDiv(p + 1, 2)) + 1,
                pad1 = static_cast<int>(FloorDiv(p, 2)) + 1;
      const int64_t taps = static_cast<int64_t>(a_.blur_kernel.size());
      if (tiled_) {
        const Span t{need.lo - pad0, need.hi - pad0 + taps - 1};
        GPEN_CHECK(Inside(t, {tw.lo + 1, tw.hi - 1}));  // every needed t has all its taps
        y = Crop(y, t);
      }
      y = Upfirdn(y, w.blur_kernel, 1, 1, pad0, pad1, name + ".conv.blur");
    } else {
      c.kind = OpKind::kConv2d;
      const int pad = static_cast<int>(k / 2);
      c.attr = ConvAttr{1, pad};
      y = Add(c, {xs.n(), cout, xs.h(), xs.w()}, TensorClass::kActivation, xw);
      if (tiled_) GPEN_CHECK(Inside(need, {xw.lo + pad, xw.hi - pad}));
    }
    y = Crop(y, need);
    const int f = feat >= 0 ? Crop(feat, need) : -1;  // before the epilogue, which may be fused
    y = ScaleChannels(y, demod, name + ".conv.demodulate");
    const Shape ys = g_.tensor(y).shape;
    Node nz;
    nz.kind = OpKind::kNoiseConcat;
    nz.name = name + ".noise";
    nz.in = {y};
    NoiseAttr na;
    na.concat = a_.isconcat;
    if (f >= 0) {
      GPEN_CHECK(g_.tensor(f).shape == ys);
      nz.in.push_back(f);
      na.has_feat = true;
    } else {
      // Seeded by the layer's name, so that tiled and untiled graphs draw the same noise.
      uint64_t h = 1469598103934665603ull;  // FNV-1a
      for (char ch : name) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
      na.seed = o_.noise_seed ^ h;
    }
    SetWindow(&nz, &na.window, need, res);
    nz.attr = na;
    nz.weight = w.noise_weight;
    const int64_t cz = a_.isconcat ? 2 * cout : cout;
    const int z = Add(nz, {ys.n(), cz, ys.h(), ys.w()}, TensorClass::kActivation, need);
    return Mask(BiasAct(z, w.act_bias, 1.f, Activation::GpenLeakyRelu(), name + ".activate"), res);
  }

  // ToRGB: modulated 1x1 conv (no demodulation) + bias + upsampled skip, on window `need`.
  int ToRgb(const ToRgbW& w, int x_full, int skip, const Span& need, int64_t res,
            const std::string& name) {
    const int x = Crop(x_full, need);
    const Shape xs = g_.tensor(x).shape;
    const int64_t cin = w.weight.shape[2];
    const int s = Linear(w.modulation, latent_, name + ".conv.modulation", OpKind::kModStyle);
    const int xm = ScaleChannels(x, s, name + ".conv.modulate");
    Node c;
    c.kind = OpKind::kConv2d;
    c.name = name + ".conv";
    c.in = {xm};
    c.weight = w.weight;
    c.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(cin)));
    c.attr = ConvAttr{};
    int y = Add(c, {xs.n(), 3, xs.h(), xs.w()}, TensorClass::kAlwaysFp32, need);
    y = BiasAct(y, w.bias, 1.f, Activation::None(), name + ".bias");
    if (skip >= 0) {
      // Upsample(kernel, factor 2): p = len(kernel) - 2; pad = ((p + 1) / 2 + 1, p / 2)
      const int p = static_cast<int>(a_.blur_kernel.size()) - 2;
      const Span sw = win_.at(skip);
      int su = Upfirdn(skip, w.up_kernel, 2, 1, (p + 1) / 2 + 1, p / 2, name + ".upsample");
      if (tiled_) GPEN_CHECK(Inside(need, {2 * sw.lo + 1, 2 * sw.hi - 1}));
      su = Crop(su, need);
      Node add;
      add.kind = OpKind::kAdd;
      add.name = name + ".skip";
      add.in = {y, su};
      add.attr = AddAttr{};
      y = Add(add, g_.tensor(y).shape, TensorClass::kAlwaysFp32, need);
    }
    return res < a_.out_size ? Mask(y, res) : y;
  }

  const GpenWeights& w_;
  const GpenArch& a_;
  GpenGraphOptions o_;
  Graph g_;
  std::map<int, Span> win_;
  std::vector<int> feats_;
  int latent_ = -1;
  int origin_ = -1;
  bool tiled_ = false;
};

}  // namespace

bool TileSpecValid(const GpenArch& a, const TileSpec& s) {
  if (s.split_res < 4 || s.split_res >= a.out_size || (s.split_res & (s.split_res - 1)))
    return false;
  const int64_t step = a.out_size / s.split_res;
  return s.tile >= step && s.tile <= a.out_size && s.tile % step == 0;
}

Graph BuildGpenGraph(const GpenWeights& w, const GpenGraphOptions& opt) {
  GPEN_CHECK(opt.batch >= 1);
  return Builder(w, opt).BuildFull();
}

Graph BuildGpenGlobalGraph(const GpenWeights& w, const GpenGraphOptions& opt, int64_t split_res) {
  GPEN_CHECK(opt.batch >= 1 && split_res >= 4 && split_res < w.arch.out_size);
  return Builder(w, opt).BuildGlobal(split_res);
}

TileGraph BuildGpenTileGraph(const GpenWeights& w, const GpenGraphOptions& opt,
                             const TileSpec& spec) {
  GPEN_CHECK(opt.batch >= 1);
  return Builder(w, opt).BuildTile(spec);
}

}  // namespace gpen
