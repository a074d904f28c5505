// RetinaFace's architectures and weight binding: the one place where its state_dict names
// appear (upstream face_detect/facemodels/net.py and retinaface.py, torchvision's resnet50,
// as tools/archs.py tables them, `module.` stripped and num_batches_tracked dropped).
// From a file the binding runs twice (check only, then allocate); then each batch norm
// is folded into its convolution, in double:
//   s = gamma / sqrt(running_var + 1e-5);  W' = W * s;  b' = beta - running_mean * s.
#include <cmath>
#include <sstream>

#include "net/retinaface_net.h"

namespace gpen {

namespace {

constexpr double kBnEps = 1e-5;  // nn.BatchNorm2d's default

// net.py MobileNetV1: conv_dw (in, out, stride) after stage1.0, per stage.
struct DwSpec {
  int64_t cin, cout;
  int stride;
};
const std::vector<DwSpec> kMnetStages[3] = {
    {{8, 16, 1}, {16, 32, 2}, {32, 32, 1}, {32, 64, 2}, {64, 64, 1}},
    {{64, 128, 2}, {128, 128, 1}, {128, 128, 1}, {128, 128, 1}, {128, 128, 1}, {128, 128, 1}},
    {{128, 256, 2}, {256, 256, 1}}};
// torchvision resnet50: (planes, blocks) of layer1..4; layer1 has stride 1, the others 2.
constexpr int64_t kResnetLayers[4][2] = {{64, 3}, {128, 4}, {256, 6}, {512, 3}};

}  // namespace

std::string RetinaFaceArch::ToString() const {
  std::ostringstream os;
  os << "RetinaFace " << backbone << " (FPN and SSH " << out_channel() << " channels, "
     << (folded ? "batch norms folded" : "batch norms folded at load") << ")";
  return os.str();
}

Status RetinaFaceArch::Validate(const std::string& where) const {
  if (backbone != "mobilenet0.25" && backbone != "resnet50") {
    return FormatError(where + ": RetinaFace backbone " + QuoteUntrusted(backbone) +
                           ", expected 'mobilenet0.25' or 'resnet50'",
                       "convert the checkpoint with tools/convert.py");
  }
  return Status::Ok();
}

Result<RetinaFaceArch> RetinaFaceArch::FromModelFile(const ModelFile& f) {
  GPEN_ASSIGN_OR_RETURN(std::string family, f.MetaString("family"));
  if (family != "retinaface") {
    return FormatError(
        f.path() + ": model family is " + QuoteUntrusted(family) + ", expected 'retinaface'",
        "this runs RetinaFace face detectors");
  }
  RetinaFaceArch a;
  GPEN_ASSIGN_OR_RETURN(a.backbone, f.MetaString("backbone"));
  GPEN_ASSIGN_OR_RETURN(a.folded, f.MetaBool("folded"));
  GPEN_TRY(a.Validate(f.path()));
  return a;
}

std::vector<std::string> RetinaFaceArch::PresetNames() {
  return {"retinaface-mnet", "retinaface-r50"};
}

Result<RetinaFaceArch> RetinaFaceArch::Preset(const std::string& name) {
  RetinaFaceArch a;
  a.folded = true;  // random weights: a conv bias each, no batch norm statistics to draw
  if (name == "retinaface-mnet") return a;
  if (name == "retinaface-r50") {
    a.backbone = "resnet50";
    return a;
  }
  return InvalidArgument("unknown RetinaFace architecture '" + name + "'");
}

namespace {

// One conv_bn: `conv`.weight, then `conv`.bias (folded) or `bn`.{weight, bias,
// running_mean, running_var}, recorded for folding. In random and shapes-only modes
// `folded` is true (Preset).
RfConvW BindConvBn(Binder& b, const std::string& conv, const std::string& bn, const Shape& shape,
                   RetinaFaceWeights* w) {
  RfConvW c;
  c.weight = b.Bind(conv + ".weight", shape, Init::kConv);
  const Shape ch{shape[0]};
  if (w->arch.folded) {
    c.bias = b.Bind(conv + ".bias", ch, Init::kBias);
    return c;
  }
  RfBnFold f;
  f.name = bn;
  f.conv_weight = c.weight;
  f.gamma = b.Bind(bn + ".weight", ch);
  f.beta = b.Bind(bn + ".bias", ch, Init::kBias);
  f.mean = b.Bind(bn + ".running_mean", ch, Init::kBias);
  f.var = b.Bind(bn + ".running_var", ch);
  c.bias = f.beta;  // folded in place: beta - mean * s
  w->folds.push_back(f);
  return c;
}

// A head: nn.Conv2d(inchannels, 2 * k, 1) with its own bias (retinaface.py *Head.conv1x1).
RfConvW BindHead(Binder& b, const std::string& name, int64_t cin, int64_t k) {
  RfConvW c;
  c.weight = b.Bind(name + ".weight", {kRetinaFaceAnchors * k, cin, 1, 1}, Init::kConv);
  c.bias = b.Bind(name + ".bias", {kRetinaFaceAnchors * k}, Init::kBias);
  return c;
}

void BindMobileNet(Binder& b, RetinaFaceWeights* w) {
  w->mnet_first = BindConvBn(b, "body.stage1.0.0", "body.stage1.0.1", {8, 3, 3, 3}, w);
  for (int s = 0; s < 3; ++s) {
    const int first = s == 0 ? 1 : 0;  // stage1.0 is the plain conv_bn
    for (size_t i = 0; i < kMnetStages[s].size(); ++i) {
      const DwSpec& d = kMnetStages[s][i];
      const std::string p =
          "body.stage" + std::to_string(s + 1) + "." + std::to_string(first + static_cast<int>(i));
      RfDwBlockW blk;
      blk.stride = d.stride;
      blk.dw = BindConvBn(b, p + ".0", p + ".1", {d.cin, 1, 3, 3}, w);
      blk.pw = BindConvBn(b, p + ".3", p + ".4", {d.cout, d.cin, 1, 1}, w);
      w->mnet_stages[s].push_back(blk);
    }
  }
}

void BindResnet(Binder& b, RetinaFaceWeights* w) {
  w->r50_conv1 = BindConvBn(b, "body.conv1", "body.bn1", {64, 3, 7, 7}, w);
  int64_t inplanes = 64;
  for (int l = 0; l < 4; ++l) {
    const int64_t planes = kResnetLayers[l][0];
    for (int64_t i = 0; i < kResnetLayers[l][1]; ++i) {
      const std::string p = "body.layer" + std::to_string(l + 1) + "." + std::to_string(i);
      RfBottleneckW blk;
      blk.stride = (l > 0 && i == 0) ? 2 : 1;
      blk.conv1 = BindConvBn(b, p + ".conv1", p + ".bn1", {planes, inplanes, 1, 1}, w);
      blk.conv2 = BindConvBn(b, p + ".conv2", p + ".bn2", {planes, planes, 3, 3}, w);
      blk.conv3 = BindConvBn(b, p + ".conv3", p + ".bn3", {planes * 4, planes, 1, 1}, w);
      blk.has_downsample = i == 0;  // stride 2 or inplanes != planes * 4
      if (blk.has_downsample) {
        blk.downsample = BindConvBn(b, p + ".downsample.0", p + ".downsample.1",
                                    {planes * 4, inplanes, 1, 1}, w);
      }
      inplanes = planes * 4;
      w->r50_layers[l].push_back(blk);
    }
  }
}

void BindNeck(Binder& b, RetinaFaceWeights* w) {
  const int64_t in = w->arch.in_channel(), out = w->arch.out_channel();
  for (int i = 0; i < 3; ++i) {
    const std::string p = "fpn.output" + std::to_string(i + 1);
    w->fpn_output[i] = BindConvBn(b, p + ".0", p + ".1", {out, in * (int64_t{2} << i), 1, 1}, w);
  }
  for (int i = 0; i < 2; ++i) {
    const std::string p = "fpn.merge" + std::to_string(i + 1);
    w->fpn_merge[i] = BindConvBn(b, p + ".0", p + ".1", {out, out, 3, 3}, w);
  }
  const int64_t half = out / 2, quarter = out / 4;
  for (int s = 0; s < 3; ++s) {
    const std::string p = "ssh" + std::to_string(s + 1) + ".";
    RfSshW& h = w->ssh[s];
    auto bind = [&](const std::string& m, int64_t cout, int64_t cin) {
      return BindConvBn(b, p + m + ".0", p + m + ".1", {cout, cin, 3, 3}, w);
    };
    h.conv3x3 = bind("conv3X3", half, out);
    h.conv5x5_1 = bind("conv5X5_1", quarter, out);
    h.conv5x5_2 = bind("conv5X5_2", quarter, quarter);
    h.conv7x7_2 = bind("conv7X7_2", quarter, quarter);
    h.conv7x7_3 = bind("conv7x7_3", quarter, quarter);
  }
  // retinaface.py's state_dict order: ClassHead, BboxHead, LandmarkHead.
  for (int i = 0; i < 3; ++i)
    w->class_head[i] =
        BindHead(b, "ClassHead." + std::to_string(i) + ".conv1x1", out, kRetinaFaceConf);
  for (int i = 0; i < 3; ++i)
    w->bbox_head[i] =
        BindHead(b, "BboxHead." + std::to_string(i) + ".conv1x1", out, kRetinaFaceLoc);
  for (int i = 0; i < 3; ++i)
    w->landmark_head[i] =
        BindHead(b, "LandmarkHead." + std::to_string(i) + ".conv1x1", out, kRetinaFaceLandm);
}

Status Bind(const RetinaFaceArch& a, Binder& b, RetinaFaceWeights* w) {
  if (a.resnet()) {
    BindResnet(b, w);
  } else {
    BindMobileNet(b, w);
  }
  BindNeck(b, w);
  return b.Finish(a.ToString());
}

// Folds each batch norm into its convolution in place: the conv weight becomes W * s, the
// BN's beta becomes the conv bias beta - mean * s (RfConvW::bias already points at it).
Status FoldBatchNorms(RetinaFaceWeights* w, const std::string& path) {
  WeightStore& st = w->store;
  for (const RfBnFold& f : w->folds) {
    const int64_t cout = f.gamma.numel(), per = f.conv_weight.numel() / cout;
    float* wt = st.mutable_data(f.conv_weight);
    float* beta = st.mutable_data(f.beta);
    const float *gamma = st.data(f.gamma), *mean = st.data(f.mean), *var = st.data(f.var);
    for (int64_t o = 0; o < cout; ++o) {
      if (!(var[o] >= 0.f)) {
        return FormatError(path + ": '" + f.name + ".running_var'[" + std::to_string(o) + "] is " +
                               std::to_string(var[o]) + ", a variance must not be negative",
                           "the checkpoint is damaged; convert it again from upstream's file");
      }
      const double s =
          static_cast<double>(gamma[o]) / std::sqrt(static_cast<double>(var[o]) + kBnEps);
      for (int64_t i = 0; i < per; ++i) wt[o * per + i] = static_cast<float>(wt[o * per + i] * s);
      beta[o] = static_cast<float>(static_cast<double>(beta[o]) - static_cast<double>(mean[o]) * s);
    }
  }
  w->folds.clear();
  return Status::Ok();
}

}  // namespace

Result<RetinaFaceWeights> RetinaFaceWeights::FromFile(const ModelFile& file) {
  GPEN_ASSIGN_OR_RETURN(RetinaFaceArch arch, RetinaFaceArch::FromModelFile(file));
  GPEN_ASSIGN_OR_RETURN(RetinaFaceWeights w, BindFromFile<RetinaFaceWeights>(file, arch, Bind));
  GPEN_TRY(FoldBatchNorms(&w, file.path()));
  return w;
}

Result<RetinaFaceWeights> RetinaFaceWeights::Random(const RetinaFaceArch& arch, uint64_t seed) {
  if (!arch.folded) {
    return InvalidArgument("random RetinaFace weights are drawn folded (no batch norm statistics)",
                           "use RetinaFaceArch::Preset");
  }
  return BindWithoutFile<RetinaFaceWeights>(arch, BindMode::kRandom, seed, Bind);
}

Result<RetinaFaceWeights> RetinaFaceWeights::ShapesOnly(const RetinaFaceArch& arch) {
  return BindWithoutFile<RetinaFaceWeights>(arch, BindMode::kShapesOnly, 0, Bind);
}

}  // namespace gpen
