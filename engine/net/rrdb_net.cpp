// RRDBNet lowered to the op graph (upstream rrdbnet_arch.RRDBNet.forward), and its
// item shapes and pre/post-processing (Real-ESRGAN's RealESRGANer).
#include "net/rrdb_net.h"

#include <algorithm>
#include <cmath>

#include "core/reflect.h"
#include "graph/layers.h"
namespace gpen {

namespace {

const Activation kLrelu = Activation::LeakyRelu(0.2f);  // nn.LeakyReLU(0.2), no gain

class RrdbBuilder {
 public:
  RrdbBuilder(const RrdbWeights& w, const GraphOptions& o) : w_(w), o_(o) {}

  Graph Build() {
    const RrdbArch& a = w_.arch;
    const int64_t u = a.Unshuffle();
    const int x = g_.AddTensor({o_.batch, a.num_in_ch, o_.in_h, o_.in_w}, "x");
    g_.set_input(x);
    int feat =
        u > 1 ? Resample(OpKind::kPixelUnshuffle, x, static_cast<int>(u), "pixel_unshuffle") : x;
    feat = Conv(feat, w_.conv_first, Activation::None(), "conv_first");
    int body = feat;
    for (size_t i = 0; i < w_.body.size(); ++i)
      body = Rrdb(body, w_.body[i], "body." + std::to_string(i));
    body = Conv(body, w_.conv_body, Activation::None(), "conv_body");
    feat = Add(body, feat, 1.f, "body_residual");
    feat = Resample(OpKind::kUpsampleNearest, feat, 2, "interpolate1");
    feat = Conv(feat, w_.conv_up1, kLrelu, "conv_up1");
    feat = Resample(OpKind::kUpsampleNearest, feat, 2, "interpolate2");
    feat = Conv(feat, w_.conv_up2, kLrelu, "conv_up2");
    feat = Conv(feat, w_.conv_hr, kLrelu, "conv_hr");
    const int out = Conv(feat, w_.conv_last, Activation::None(), "conv_last");
    g_.Rename(out, "image");
    g_.MarkOutput(out);
    return std::move(g_);
  }

 private:
  // Conv2d 3x3, stride 1, zero pad 1 (no bias), then bias + activation.
  int Conv(int x, const RrdbConvW& c, Activation act, const std::string& name) {
    return AddConvLayer(g_, x, c.weight, c.bias, ConvAttr{1, 1}, act, name);
  }
  // alpha * a + b: the residual scaling of RDB and RRDB, or a plain sum.
  int Add(int a, int b, float alpha, const std::string& name) {
    return AddSum(g_, a, b, alpha, 1.f, name);
  }
  int Resample(OpKind kind, int x, int f, const std::string& name) {
    const Shape& s = g_.tensor(x).shape;
    Node n;
    n.kind = kind;
    n.name = name;
    n.in = {x};
    n.attr = ResampleAttr{f};
    const Shape out = kind == OpKind::kUpsampleNearest
                          ? Shape{s.n(), s.c(), s.h() * f, s.w() * f}
                          : Shape{s.n(), s.c() * f * f, s.h() / f, s.w() / f};
    return g_.AddNode(n, out);
  }
  // ResidualDenseBlock: 0.2 * conv5(cat(x, x1..x4)) + x.
  int Rdb(int x, const ResidualDenseBlockW& w, const std::string& p) {
    std::vector<int> dense = {x};
    for (int k = 0; k < 5; ++k) {
      const std::string name = p + ".conv" + std::to_string(k + 1);
      const int in = dense.size() == 1 ? x : AddConcat(g_, dense, name + ".cat");
      const int y = Conv(in, w.conv[k], k < 4 ? kLrelu : Activation::None(), name);
      if (k == 4) return Add(y, x, 0.2f, p + ".residual");
      dense.push_back(y);
    }
    return x;  // not reached
  }
  // RRDB: 0.2 * rdb3(rdb2(rdb1(x))) + x.
  int Rrdb(int x, const RrdbBlockW& w, const std::string& p) {
    int y = x;
    for (int r = 0; r < 3; ++r) y = Rdb(y, w.rdb[r], p + ".rdb" + std::to_string(r + 1));
    return Add(y, x, 0.2f, p + ".residual");
  }

  const RrdbWeights& w_;
  const GraphOptions& o_;
  Graph g_;
};

}  // namespace

Graph BuildRrdbGraph(const RrdbWeights& w, const GraphOptions& options) {
  return RrdbBuilder(w, options).Build();
}

Result<IoSpec> RrdbNetwork::Io(int64_t h, int64_t w) const {
  const RrdbArch& a = w_->arch;
  if (a.num_in_ch != 3 || a.num_out_ch != 3) {
    return Unavailable(a.ToString() + ": only RGB models (3 channels in and out) run on images");
  }
  if (h < 1 || w < 1) return InvalidArgument("an empty image has nothing to upscale");
  const int64_t m = a.Unshuffle();
  IoSpec io;
  io.in_c = io.out_c = 3;
  io.in_h = (h + m - 1) / m * m;  // RealESRGANer.pre_process: pad to a multiple (mod_pad)
  io.in_w = (w + m - 1) / m * m;
  io.out_h = io.in_h * a.scale;
  io.out_w = io.in_w * a.scale;
  io.valid_h = h * a.scale;
  io.valid_w = w * a.scale;
  return io;
}

Graph RrdbNetwork::BuildGraph(const GraphOptions& options) const {
  return BuildRrdbGraph(*w_, options);
}

void RrdbNetwork::Preprocess(const Image& img, const IoSpec& io, float* dst) const {
  // (3, in_h, in_w) in [0, 1], the image at the top left, reflected below and to the right.
  for (int64_t c = 0; c < 3; ++c) {
    const float* src = img.rgb.data() + c * img.height * img.width;
    for (int64_t y = 0; y < io.in_h; ++y) {
      const int64_t sy = Reflect101(y, img.height);
      for (int64_t x = 0; x < io.in_w; ++x) {
        dst[(c * io.in_h + y) * io.in_w + x] = src[sy * img.width + Reflect101(x, img.width)];
      }
    }
  }
}

Image RrdbNetwork::Postprocess(const float* src, const IoSpec& io) const {
  // RealESRGANer.post_process and enhance: crop, clamp_(0, 1), * 255, round to 8 bits.
  Image img;
  img.width = io.valid_w;
  img.height = io.valid_h;
  img.rgb.resize(static_cast<size_t>(3 * io.valid_h * io.valid_w));
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t y = 0; y < io.valid_h; ++y) {
      for (int64_t x = 0; x < io.valid_w; ++x) {
        const float v = std::clamp(src[(c * io.out_h + y) * io.out_w + x], 0.f, 1.f);
        img.rgb[(c * io.valid_h + y) * io.valid_w + x] = std::round(v * 255.f) / 255.f;
      }
    }
  }
  return img;
}

}  // namespace gpen
