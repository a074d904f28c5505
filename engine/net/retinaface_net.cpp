// RetinaFace lowered to the op graph (upstream facemodels/retinaface.py RetinaFace.forward
// with net.py's MobileNetV1, FPN and SSH, or torchvision's resnet50), its priors
// (layers/functions/prior_box.py), pre-processing, and the detector that runs the graph
// and flattens its heads.
#include "net/retinaface_net.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "graph/layers.h"
namespace gpen {

namespace {

const Activation kRelu = Activation::Relu();
const Activation kLeaky01 = Activation::LeakyRelu(0.1f);  // nn.LeakyReLU(negative_slope=0.1)

int64_t CeilDiv(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

class RetinaFaceBuilder {
 public:
  RetinaFaceBuilder(const RetinaFaceWeights& w, const GraphOptions& o) : w_(w), o_(o) {}

  Graph Build() {
    const int x = g_.AddTensor({o_.batch, 3, o_.in_h, o_.in_w}, "x");  // (N, 3, H, W) BGR - mean
    g_.set_input(x);
    int c[3];  // IntermediateLayerGetter's return_layers: strides 8, 16, 32
    if (w_.arch.resnet()) {
      Resnet(x, c);
    } else {
      MobileNet(x, c);
    }
    int p[3];
    Fpn(c, p);
    for (int i = 0; i < 3; ++i) {
      const int f = Ssh(p[i], w_.ssh[i], "ssh" + std::to_string(i + 1));
      Head(f, w_.bbox_head[i], RetinaFaceOutputName("loc", i));
      Head(f, w_.class_head[i], RetinaFaceOutputName("conf", i));
      Head(f, w_.landmark_head[i], RetinaFaceOutputName("landm", i));
    }
    return std::move(g_);
  }

 private:
  // FPN and SSH: leaky = 0.1 if out_channels <= 64 else 0 (nn.LeakyReLU(0) is ReLU).
  Activation NeckAct() const { return w_.arch.out_channel() <= 64 ? kLeaky01 : kRelu; }

  // Conv2d (stride, pad, groups; the weight's own k) then BiasAct(folded BN bias, act):
  // net.py conv_bn / conv_bn_no_relu / conv_bn1X1, torchvision conv + bn (+ relu).
  int ConvBn(int x, const RfConvW& c, int stride, int pad, Activation act, const std::string& name,
             int groups = 1) {
    return AddConvLayer(g_, x, c.weight, c.bias, ConvAttr{stride, pad, groups}, act, name);
  }
  // An activation alone (BiasAct without a bias).
  int Act(int x, Activation act, const std::string& name) {
    Node n;
    n.kind = OpKind::kBiasAct;
    n.name = name;
    n.in = {x};
    n.act = act;
    return g_.AddNode(n, g_.tensor(x).shape);
  }
  int Add(int a, int b, const std::string& name) { return AddSum(g_, a, b, 1.f, 1.f, name); }

  // net.py MobileNetV1 stage1..3 (its avg and fc are not returned, never run).
  void MobileNet(int x, int out[3]) {
    int y = ConvBn(x, w_.mnet_first, 2, 1, kLeaky01, "body.stage1.0");  // conv_bn(3, 8, 2, 0.1)
    for (int s = 0; s < 3; ++s) {
      const int first = s == 0 ? 1 : 0;
      for (size_t i = 0; i < w_.mnet_stages[s].size(); ++i) {
        const RfDwBlockW& b = w_.mnet_stages[s][i];
        const std::string p =
            "body.stage" + std::to_string(s + 1) + "." + std::to_string(first + int(i));
        const int64_t c = b.dw.weight.shape[0];  // conv_dw: depthwise 3x3, pointwise 1x1
        y = ConvBn(y, b.dw, b.stride, 1, kLeaky01, p + ".0", static_cast<int>(c));
        y = ConvBn(y, b.pw, 1, 0, kLeaky01, p + ".3");
      }
      out[s] = y;
    }
  }

  // torchvision resnet50 up to layer4; returns layer2, layer3, layer4.
  void Resnet(int x, int out[3]) {
    int y = ConvBn(x, w_.r50_conv1, 2, 3, kRelu, "body.conv1");
    const Shape& s = g_.tensor(y).shape;
    Node m;
    m.kind = OpKind::kMaxPool2d;
    m.name = "body.maxpool";
    m.in = {y};
    m.attr = PoolAttr{3, 2, 1};
    y = g_.AddNode(m, {s.n(), s.c(), (s.h() - 1) / 2 + 1, (s.w() - 1) / 2 + 1});
    for (int l = 0; l < 4; ++l) {
      for (size_t i = 0; i < w_.r50_layers[l].size(); ++i) {
        y = Bottleneck(y, w_.r50_layers[l][i],
                       "body.layer" + std::to_string(l + 1) + "." + std::to_string(i));
      }
      if (l > 0) out[l - 1] = y;
    }
  }
  // torchvision Bottleneck.forward: relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) +
  // identity), the stride on conv2 (3x3) and on the downsample's 1x1.
  int Bottleneck(int x, const RfBottleneckW& b, const std::string& p) {
    int y = ConvBn(x, b.conv1, 1, 0, kRelu, p + ".conv1");
    y = ConvBn(y, b.conv2, b.stride, 1, kRelu, p + ".conv2");
    y = ConvBn(y, b.conv3, 1, 0, Activation::None(), p + ".conv3");
    const int id = b.has_downsample
                       ? ConvBn(x, b.downsample, b.stride, 0, Activation::None(), p + ".downsample")
                       : x;
    return Act(Add(y, id, p + ".add"), kRelu, p + ".relu");
  }

  // F.interpolate(x, size=like's (H, W), mode="nearest").
  int UpsampleTo(int x, int like, const std::string& name) {
    const Shape& s = g_.tensor(x).shape;
    const Shape& t = g_.tensor(like).shape;
    Node n;
    n.kind = OpKind::kUpsampleNearest;
    n.name = name;
    n.in = {x};
    ResampleAttr ra;
    ra.out_h = t.h();
    ra.out_w = t.w();
    n.attr = ra;
    return g_.AddNode(n, {s.n(), s.c(), t.h(), t.w()});
  }

  // net.py FPN.forward.
  void Fpn(const int c[3], int p[3]) {
    const Activation act = NeckAct();
    int o[3];
    for (int i = 0; i < 3; ++i)
      o[i] = ConvBn(c[i], w_.fpn_output[i], 1, 0, act, "fpn.output" + std::to_string(i + 1));
    o[1] = Add(o[1], UpsampleTo(o[2], o[1], "fpn.up3"), "fpn.add2");
    o[1] = ConvBn(o[1], w_.fpn_merge[1], 1, 1, act, "fpn.merge2");
    o[0] = Add(o[0], UpsampleTo(o[1], o[0], "fpn.up2"), "fpn.add1");
    o[0] = ConvBn(o[0], w_.fpn_merge[0], 1, 1, act, "fpn.merge1");
    for (int i = 0; i < 3; ++i) p[i] = o[i];
  }

  // net.py SSH.forward: relu(cat(conv3X3(x), conv5X5_2(a), conv7x7_3(conv7X7_2(a)))) with
  // a = conv5X5_1(x). The final ReLU is applied by each branch's last BiasAct instead of
  // after the concatenation: ReLU is element-wise, so the result is the same bits.
  int Ssh(int x, const RfSshW& w, const std::string& p) {
    const Activation act = NeckAct();
    const int c3 = ConvBn(x, w.conv3x3, 1, 1, kRelu, p + ".conv3X3");
    const int a = ConvBn(x, w.conv5x5_1, 1, 1, act, p + ".conv5X5_1");
    const int c5 = ConvBn(a, w.conv5x5_2, 1, 1, kRelu, p + ".conv5X5_2");
    const int b = ConvBn(a, w.conv7x7_2, 1, 1, act, p + ".conv7X7_2");
    const int c7 = ConvBn(b, w.conv7x7_3, 1, 1, kRelu, p + ".conv7x7_3");
    return AddConcat(g_, {c3, c5, c7}, p + ".cat");
  }

  // retinaface.py ClassHead / BboxHead / LandmarkHead: conv1x1 with bias; the permute and
  // view happen on the host (RetinaFaceDetector).
  void Head(int x, const RfConvW& c, const std::string& name) {
    const int y = ConvBn(x, c, 1, 0, Activation::None(), name);
    g_.Rename(y, name);
    g_.MarkOutput(y);
  }

  const RetinaFaceWeights& w_;
  const GraphOptions& o_;
  Graph g_;
};

}  // namespace

std::string RetinaFaceOutputName(const char* head, int level) {
  return std::string(head) + std::to_string(level);
}

Graph BuildRetinaFaceGraph(const RetinaFaceWeights& w, const GraphOptions& options) {
  return RetinaFaceBuilder(w, options).Build();
}

int64_t RetinaFacePriorCount(int64_t h, int64_t w) {
  int64_t p = 0;
  for (int64_t step : kRetinaFaceSteps)
    p += kRetinaFaceAnchors * CeilDiv(h, step) * CeilDiv(w, step);
  return p;
}

std::vector<float> RetinaFacePriors(int64_t h, int64_t w) {
  // PriorBox.forward, in Python floats (double), stored as torch.Tensor's float32.
  const int64_t min_sizes[3][2] = {{16, 32}, {64, 128}, {256, 512}};
  std::vector<float> out;
  out.reserve(static_cast<size_t>(RetinaFacePriorCount(h, w) * 4));
  for (int k = 0; k < 3; ++k) {
    const int64_t step = kRetinaFaceSteps[k], fh = CeilDiv(h, step), fw = CeilDiv(w, step);
    for (int64_t i = 0; i < fh; ++i)
      for (int64_t j = 0; j < fw; ++j)
        for (int64_t m : min_sizes[k]) {
          out.push_back(static_cast<float>((j + 0.5) * double(step) / double(w)));  // cx
          out.push_back(static_cast<float>((i + 0.5) * double(step) / double(h)));  // cy
          out.push_back(static_cast<float>(double(m) / double(w)));
          out.push_back(static_cast<float>(double(m) / double(h)));
        }
  }
  return out;
}

Result<IoSpec> RetinaFaceNetwork::Io(int64_t h, int64_t w) const {
  if (h < 1 || w < 1) return InvalidArgument("an empty image has no faces to detect");
  IoSpec io;
  io.in_c = 3;
  io.in_h = h;
  io.in_w = w;
  io.out_c = kRetinaFaceLoc + kRetinaFaceConf + kRetinaFaceLandm;
  io.out_h = io.valid_h = RetinaFacePriorCount(h, w);
  io.out_w = io.valid_w = 1;
  return io;
}

Graph RetinaFaceNetwork::BuildGraph(const GraphOptions& options) const {
  return BuildRetinaFaceGraph(*w_, options);
}

void RetinaFaceNetwork::Preprocess(const Image& img, const IoSpec& io, float* dst) const {
  GPEN_CHECK(img.height == io.in_h && img.width == io.in_w);
  // Upstream reads 8-bit BGR (cv2) and subtracts the BGR means: our RGB planes in [0, 1]
  // back to 8-bit levels, in B, G, R order.
  const float mean_bgr[3] = {104.f, 117.f, 123.f};
  const int64_t hw = img.height * img.width;
  for (int64_t c = 0; c < 3; ++c) {
    const float* src = img.rgb.data() + (2 - c) * hw;
    float* d = dst + c * hw;
    for (int64_t i = 0; i < hw; ++i) d[i] = std::round(src[i] * 255.f) - mean_bgr[c];
  }
}

Image RetinaFaceNetwork::Postprocess(const float*, const IoSpec&) const {
  GPEN_CHECK_MSG(false, "RetinaFace outputs detections, not an image: use RetinaFaceDetector");
  return {};
}

Result<std::shared_ptr<const RetinaFaceNetwork>> AsRetinaFace(std::shared_ptr<const Network> net) {
  auto rf = std::dynamic_pointer_cast<const RetinaFaceNetwork>(net);
  if (!rf) {
    return InvalidArgument("a " + net->family() + " model is no face detector",
                           "pass a RetinaFace model (tools/convert.py converts upstream's)");
  }
  return rf;
}

Result<std::unique_ptr<RetinaFaceDetector>> RetinaFaceDetector::Create(
    std::shared_ptr<const RetinaFaceNetwork> network, int64_t h, int64_t w, Device device,
    const BackendOptions& options) {
  auto d = std::unique_ptr<RetinaFaceDetector>(new RetinaFaceDetector());
  GPEN_ASSIGN_OR_RETURN(IoSpec io, network->Io(h, w));
  d->network_ = std::move(network);
  d->h_ = h;
  d->w_ = w;
  d->graph_ = d->network_->BuildGraph(d->network_->OptionsFor(io, 1));
  GPEN_ASSIGN_OR_RETURN(d->backend_,
                        CreateBackend(device, d->graph_, d->network_->store(), options));
  const Graph& g = d->backend_->graph();  // a backend may renumber tensors
  for (int i = 0; i < 3; ++i) {
    d->loc_[i] = g.FindOutput(RetinaFaceOutputName("loc", i));
    d->conf_[i] = g.FindOutput(RetinaFaceOutputName("conf", i));
    d->landm_[i] = g.FindOutput(RetinaFaceOutputName("landm", i));
    GPEN_CHECK(d->loc_[i] >= 0 && d->conf_[i] >= 0 && d->landm_[i] >= 0);
  }
  return d;
}

Status RetinaFaceDetector::AppendHead(int tensor, int64_t k, std::vector<float>* rows) {
  const Shape& s = backend_->graph().tensor(tensor).shape;  // (1, A k, fh, fw)
  GPEN_CHECK(s.n() == 1 && s.c() == kRetinaFaceAnchors * k);
  scratch_.resize(static_cast<size_t>(s.numel()));
  GPEN_TRY(backend_->ReadOutput(tensor, scratch_.data(), s.numel()));
  const int64_t hw = s.h() * s.w(), ak = s.c();
  // out.permute(0, 2, 3, 1).view(N, -1, k): row (pixel * A + anchor), value j at channel
  // anchor * k + j.
  for (int64_t px = 0; px < hw; ++px)
    for (int64_t c = 0; c < ak; ++c) rows->push_back(scratch_[static_cast<size_t>(c * hw + px)]);
  return Status::Ok();
}

Result<DetectorHeads> RetinaFaceDetector::RunHeads(const float* input_bgr_minus_mean) {
  GPEN_TRY(backend_->SetInput(input_bgr_minus_mean, 3 * h_ * w_));
  GPEN_TRY(backend_->Run());
  DetectorHeads r;
  r.priors = RetinaFacePriorCount(h_, w_);
  for (int i = 0; i < 3; ++i) {
    GPEN_TRY(AppendHead(loc_[i], kRetinaFaceLoc, &r.loc));
    GPEN_TRY(AppendHead(conf_[i], kRetinaFaceConf, &r.conf));
    GPEN_TRY(AppendHead(landm_[i], kRetinaFaceLandm, &r.landms));
  }
  GPEN_CHECK(static_cast<int64_t>(r.conf.size()) == r.priors * kRetinaFaceConf);
  // F.softmax(classifications, dim=-1) over each row's 2 classes, in double.
  for (int64_t p = 0; p < r.priors; ++p) {
    float* c = r.conf.data() + p * 2;
    const double m = std::max(c[0], c[1]);
    const double e0 = std::exp(c[0] - m), e1 = std::exp(c[1] - m);
    c[0] = static_cast<float>(e0 / (e0 + e1));
    c[1] = static_cast<float>(e1 / (e0 + e1));
  }
  return r;
}

}  // namespace gpen
