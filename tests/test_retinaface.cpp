// RetinaFace on the CPU backend: the raw heads and priors against upstream's (the
// retinaface_mnet fixture in tests/data: mobilenet0.25 with batch norms as saved, a
// 274x640 photo), the batch norm folding (a folded model built here from the same file
// gives the same heads), a random ResNet-50 at an odd size, and the ops the network
// added to the graph (depthwise convolution, max pooling, nearest to a size).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <tuple>

#include "compare.h"
#include "cpu/ops.h"
#include "fixtures.h"
#include "image/image.h"
#include "net/registry.h"
#include "net/retinaface_net.h"
#include "npy.h"
#include "retinaface_helpers.h"

using namespace gpen;
using namespace gpen::test;

namespace {

std::string FixtureModel() {
  return ModelsDir() + "/retinaface_mnet.safetensors";
}

std::shared_ptr<const RetinaFaceNetwork> LoadMnet() {
  const std::string model = FixtureModel();
  REQUIRE_MESSAGE(FileExists(model), "converted model missing: " << model);
  auto file = ModelFile::Open(model);
  REQUIRE_MESSAGE(file.ok(), file.status().ToString());
  auto w = RetinaFaceWeights::FromFile(file.value());
  REQUIRE_MESSAGE(w.ok(), w.status().ToString());
  return std::make_shared<const RetinaFaceNetwork>(
      std::make_shared<const RetinaFaceWeights>(std::move(w).value()));
}

// The BN module of a conv_bn convolution in mobilenet0.25's names: the Sequential index
// after the convolution's (body.stage1.0.0 -> body.stage1.0.1, fpn.output1.0 -> .1).
std::string BnOf(const std::string& conv) {
  const size_t dot = conv.rfind('.');
  return conv.substr(0, dot + 1) + std::to_string(std::stoi(conv.substr(dot + 1)) + 1);
}

const float* F32(const ModelFile& f, const std::string& name) {
  const TensorEntry* e = f.Find(name);
  REQUIRE_MESSAGE(e != nullptr, name);
  REQUIRE(e->dtype == DType::kF32);
  return reinterpret_cast<const float*>(e->data);
}

}  // namespace

TEST_CASE("retinaface fixture: CPU heads and priors against upstream (mobilenet0.25)") {
  const std::string dir = FixtureDir("retinaface", "retinaface_mnet");
  REQUIRE_MESSAGE(!dir.empty(), "retinaface_mnet ships in tests/data/retinaface");
  auto net = LoadMnet();
  auto img = LoadImage(dir + "/input.png");
  REQUIRE_MESSAGE(img.ok(), img.status().ToString());
  const int64_t h = img->height, w = img->width;
  auto io = net->Io(h, w);
  REQUIRE(io.ok());
  std::vector<float> x(static_cast<size_t>(io->in_numel()));
  net->Preprocess(img.value(), io.value(), x.data());
  const DetectorHeads got = RunHeads(net, Device::kCpu, x, h, w);

  auto loc = ReadNpy(dir + "/loc.npy");
  auto conf = ReadNpy(dir + "/conf.npy");
  auto landms = ReadNpy(dir + "/landms.npy");
  auto priors = ReadNpy(dir + "/priors.npy");
  REQUIRE((loc.ok() && conf.ok() && landms.ok() && priors.ok()));
  const int64_t p = priors->shape[0];
  CHECK(got.priors == p);
  CHECK(io->out_h == p);
  // Upstream ran float32 PyTorch with the batch norms unfolded; we fold them (one more
  // rounding per weight) and sum in another order (OpenBLAS), through ~30 layers on
  // inputs of magnitude ~100: measured 1.1e-6 at worst and 8e-7 relative L2 on heads of
  // order 1. 1e-4 absolute + 1e-4 relative elementwise and 1e-5 relative L2 leave 10x
  // margin and still catch a wrong row order (errors O(1)) or activation slope (O(0.1)).
  const Tolerance tol{1e-4, 1e-4, 1e-5};
  for (auto [name, ours, ref, k] :
       {std::tuple{"loc", &got.loc, &loc.value(), kRetinaFaceLoc},
        std::tuple{"conf", &got.conf, &conf.value(), kRetinaFaceConf},
        std::tuple{"landms", &got.landms, &landms.value(), kRetinaFaceLandm}}) {
    const CompareResult c = Compare(std::string("retinaface_mnet ") + name, *ours, {1, p, k},
                                    ref->data, ref->shape, tol);
    MESSAGE(c.message);
    CHECK_MESSAGE(c.ok, c.message);
  }
  // Priors: the same double arithmetic as PriorBox, rounded once to float32: equal.
  const std::vector<float> ours = RetinaFacePriors(h, w);
  const CompareResult c =
      Compare("retinaface priors", ours, {p, 4}, priors->data, priors->shape, {0, 0, 0});
  CHECK_MESSAGE(c.ok, c.message);
}

TEST_CASE("retinaface folding: a folded model built from the BN model gives the same heads") {
  auto bn_net = LoadMnet();
  auto file = ModelFile::Open(FixtureModel());
  REQUIRE(file.ok());
  const ModelFile& f = file.value();
  auto meta_folded = f.MetaBool("folded");
  REQUIRE(meta_folded.ok());
  REQUIRE_FALSE(meta_folded.value());
  // The folded architecture's tensors (conv weights and biases, no BN), filled here from
  // the file by folding each BN in double, independently of the engine's binder.
  auto arch = RetinaFaceArch::Preset("retinaface-mnet");
  REQUIRE(arch.ok());
  auto folded = RetinaFaceWeights::Random(arch.value(), 1);
  REQUIRE(folded.ok());
  WeightStore& st = folded->store;
  for (size_t i = 0; i < st.count(); ++i) {
    const std::string& name = st.name(i);
    const bool head = name.find("Head.") != std::string::npos;
    Param p;
    p.index = static_cast<int32_t>(i);
    float* dst = st.mutable_data(p);
    const size_t n = st.tensor(i).size();
    if (head) {  // the heads have their own biases and no BN
      std::memcpy(dst, F32(f, name), n * sizeof(float));
      continue;
    }
    const std::string conv = name.substr(0, name.rfind('.')), bn = BnOf(conv);
    const float* gamma = F32(f, bn + ".weight");
    const float* beta = F32(f, bn + ".bias");
    const float* mean = F32(f, bn + ".running_mean");
    const float* var = F32(f, bn + ".running_var");
    const bool is_bias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    const TensorEntry* e = f.Find(bn + ".weight");
    const int64_t cout = e->shape[0];
    if (is_bias) {
      for (int64_t o = 0; o < cout; ++o) {
        const double s = gamma[o] / std::sqrt(double(var[o]) + 1e-5);
        dst[o] = static_cast<float>(beta[o] - mean[o] * s);
      }
    } else {
      const float* wsrc = F32(f, name);
      const int64_t per = static_cast<int64_t>(n) / cout;
      for (int64_t o = 0; o < cout; ++o) {
        const double s = gamma[o] / std::sqrt(double(var[o]) + 1e-5);
        for (int64_t j = 0; j < per; ++j)
          dst[o * per + j] = static_cast<float>(wsrc[o * per + j] * s);
      }
    }
  }
  auto folded_net = std::make_shared<const RetinaFaceNetwork>(
      std::make_shared<const RetinaFaceWeights>(std::move(folded).value()));
  const int64_t h = 97, w = 131;  // odd sizes: every level's ceil(H / step) rounds up
  const std::vector<float> x = RandomDetectorInput(3 * h * w, 5);
  // Both fold in double and round each weight once: the same floats, the same sums; 1e-6
  // relative allows the two folds to differ in the last bit of a weight.
  CheckHeads("folded vs BN", RunHeads(folded_net, Device::kCpu, x, h, w),
             RunHeads(bn_net, Device::kCpu, x, h, w), {1e-5, 1e-5, 1e-6});
}

TEST_CASE("retinaface resnet50: random weights run at an odd size with upstream's shapes") {
  auto net = NetworkForArch("retinaface-r50", 7);
  REQUIRE_MESSAGE(net.ok(), net.status().ToString());
  auto as = AsRetinaFace(net.value());
  REQUIRE(as.ok());
  const std::shared_ptr<const RetinaFaceNetwork> rf = as.value();
  CHECK_FALSE(AsRetinaFace(NetworkForArch("rrdb-tiny", 0, true).value()).ok());
  const int64_t h = 97, w = 131;
  const DetectorHeads r = RunHeads(rf, Device::kCpu, RandomDetectorInput(3 * h * w, 9), h, w);
  // Levels of 13 x 17, 7 x 9 and 4 x 5 positions, 2 anchors each.
  CHECK(r.priors == 2 * (13 * 17 + 7 * 9 + 4 * 5));
  CHECK(r.loc.size() == static_cast<size_t>(r.priors * 4));
  CHECK(r.landms.size() == static_cast<size_t>(r.priors * 10));
  for (float v : r.loc) REQUIRE(std::isfinite(v));
  for (int64_t i = 0; i < r.priors; ++i) {
    CHECK(std::fabs(r.conf[i * 2] + r.conf[i * 2 + 1] - 1.f) < 1e-6f);  // softmax rows
  }
  const Graph g = rf->BuildGraph(rf->OptionsFor(rf->Io(h, w).value(), 1));
  int pools = 0, convs = 0;
  for (const Node& n : g.nodes()) {
    pools += n.kind == OpKind::kMaxPool2d;
    convs += n.kind == OpKind::kConv2d;
  }
  CHECK(pools == 1);
  CHECK(convs == 53 + 5 + 15 + 9);  // resnet50 up to layer4, FPN, 3 SSH, 9 heads
}

TEST_CASE("retinaface registry: presets, parameter counts, refused groupings") {
  // mobilenet0.25 with BNs folded: the fixture's 433,296 parameters less 2 x 2 x C per BN
  // (gamma and running_var gone; beta becomes the bias, running_mean goes).
  auto mnet = NetworkForArch("retinaface-mnet", 0, /*shapes_only=*/true);
  REQUIRE(mnet.ok());
  CHECK(mnet.value()->family() == "retinaface");
  CHECK_FALSE(RetinaFaceArch::Preset("retinaface-x").ok());
  auto bn = LoadMnet();
  CHECK(bn->store().total_params() == 433296);
  // A grouped convolution that is not depthwise is refused when the node is added.
  Graph g;
  const int x = g.AddTensor({1, 4, 5, 5}, "x");
  g.set_input(x);
  WeightStore store;
  Binder b(uint64_t{1}, &store);
  Node n;
  n.kind = OpKind::kConv2d;
  n.in = {x};
  n.weight = b.Bind("w", {4, 2, 3, 3});
  n.attr = ConvAttr{1, 1, 2};
  CHECK_THROWS(g.AddNode(n, {1, 4, 5, 5}));
  n.weight = b.Bind("dw", {4, 1, 3, 3});
  n.attr = ConvAttr{1, 1, 4};
  CHECK_NOTHROW(g.AddNode(n, {1, 4, 5, 5}));
}

TEST_CASE("retinaface ops: depthwise conv, max pool and nearest-to-size against definitions") {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  const Shape xs{2, 3, 9, 11};
  std::vector<float> x(static_cast<size_t>(xs.numel()));
  for (float& v : x) v = u(rng);
  // Depthwise 3x3 stride 2 pad 1 equals a full convolution whose weight is zero off the
  // channel diagonal.
  const int64_t k = 3, c = 3;
  std::vector<float> wd(static_cast<size_t>(c * k * k)),
      wf(static_cast<size_t>(c * c * k * k), 0.f);
  for (int64_t o = 0; o < c; ++o)
    for (int64_t t = 0; t < k * k; ++t) wf[(o * c + o) * k * k + t] = wd[o * k * k + t] = u(rng);
  const Shape ys{2, 3, 5, 6};
  std::vector<float> yd(static_cast<size_t>(ys.numel())), yf(yd.size());
  cpu::DepthwiseConv2d(x.data(), xs, wd.data(), k, 0.5f, 2, 1, yd.data(), ys);
  cpu::Workspace ws;
  cpu::Conv2d(x.data(), xs, wf.data(), k, 0.5f, 2, 1, yf.data(), ys, &ws);
  // The full convolution adds zeros in another order: float rounding only.
  const CompareResult r = Compare("depthwise", yd, ys, yf, ys, {1e-6, 1e-6, 1e-6});
  CHECK_MESSAGE(r.ok, r.message);
  // max_pool2d k3 s2 p1: the corner window covers x[0..1, 0..1] only (padding is -inf).
  std::vector<float> yp(static_cast<size_t>(ys.numel()));
  cpu::MaxPool2d(x.data(), xs, 3, 2, 1, yp.data(), ys);
  CHECK(yp[0] == std::max({x[0], x[1], x[11], x[12]}));
  std::vector<float> neg(x.size(), -5.f);
  cpu::MaxPool2d(neg.data(), xs, 3, 2, 1, yp.data(), ys);
  CHECK(yp[0] == -5.f);  // not a zero from the padding
  // torch's nearest_idx: 5 -> 9 rows reads 0,0,1,1,2,2,3,3,4 (floor(d * 0.5555556f)).
  const int64_t want[9] = {0, 0, 1, 1, 2, 2, 3, 3, 4};
  for (int64_t d = 0; d < 9; ++d) CHECK(cpu::NearestSource(d, 5, 9) == want[d]);
  for (int64_t d = 0; d < 10; ++d) CHECK(cpu::NearestSource(d, 5, 10) == d / 2);
  CHECK(cpu::NearestSource(6, 7, 7) == 6);
}
