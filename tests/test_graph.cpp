// Graph tests: GPEN lowering for every architecture shape the engine accepts.
//
// Most cases build seeded random weights; the tiled-against-untiled case runs the
// converted fixture models (tiny64 always, s128 when ../shared has it).
#include <doctest/doctest.h>

#include <cmath>
#include <memory>

#include "fixtures.h"
#include "graph/fuse.h"
#include "graph/gpen_graph.h"
#include "graph/planner.h"
#include "net/gpen_net.h"
#include "net/gpen_tiled.h"
#include "session.h"

using namespace gpen;

TEST_CASE("graph: FullGenerator_SR (encoder 32, output 64) runs with seeded noise above 32") {
  auto w = GpenWeights::Random(test::TinyArch(32, 64, 16, 1.0 / 32), 5);
  REQUIRE_MESSAGE(w.ok(), w.status().ToString());
  auto shared = std::make_shared<GpenWeights>(std::move(w).value());
  GpenGraphOptions o;
  o.batch = 2;
  o.noise_seed = 9;
  Graph g = BuildGpenGraph(*shared, o);
  int random_noise = 0, feature_noise = 0;
  for (const Node& n : g.nodes()) {
    if (n.kind != OpKind::kNoiseConcat) continue;
    (n.in.size() == 1 ? random_noise : feature_noise)++;
  }
  CHECK(random_noise == 2);   // both StyledConvs at 64x64
  CHECK(feature_noise == 7);  // conv1 at 4, then two at each of 8, 16, 32
  auto s = Session::Create(GpenNetwork::Wrap(shared), o, Device::kCpu, {});
  REQUIRE(s.ok());
  std::vector<float> in(2 * 3 * 32 * 32, 0.1f), out(2 * 3 * 64 * 64), again(out.size());
  REQUIRE(s.value()->Run(in.data(), out.data()).ok());
  REQUIRE(s.value()->Run(in.data(), again.data()).ok());
  CHECK(out == again);  // the noise is seeded, runs repeat exactly
  for (float v : out) REQUIRE(std::isfinite(v));
}

TEST_CASE("graph: output and intermediate shapes follow upstream's data flow") {
  auto w = GpenWeights::Random(test::TinyArch(64, 64, 16, 1.0 / 32), 6);
  REQUIRE(w.ok());
  GpenGraphOptions o;
  o.batch = 3;
  o.expose_intermediates = true;
  Graph g = BuildGpenGraph(w.value(), o);
  CHECK(g.tensor(g.FindOutput("image")).shape == Shape{3, 3, 64, 64});
  CHECK(g.tensor(g.FindOutput("latent")).shape == Shape{3, 16});
  CHECK(g.tensor(g.FindOutput("ecd0")).shape == Shape{3, 8, 64, 64});  // int(256 * 1 / 32)
  CHECK(g.tensor(g.FindOutput("ecd4")).shape == Shape{3, 16, 4, 4});
  // FLOPs scale with the batch.
  o.batch = 1;
  o.expose_intermediates = false;
  const double f1 = BuildGpenGraph(w.value(), o).Flops();
  CHECK(g.Flops() == doctest::Approx(3 * f1));
}

TEST_CASE(
    "graph: the fused graph computes what the primitive graph computes, with fewer intermediates") {
  auto w = GpenWeights::Random(test::TinyArch(64, 64, 16, 1.0 / 32), 7);
  REQUIRE(w.ok());
  auto shared = std::make_shared<GpenWeights>(std::move(w).value());
  GpenGraphOptions o;
  o.batch = 2;
  Graph g = BuildGpenGraph(*shared, o);
  Graph f = FuseGraph(g);
  int mod1x1 = 0, epilogue = 0;
  for (const Node& n : f.nodes()) {
    mod1x1 += n.kind == OpKind::kModConv1x1;
    epilogue += n.kind == OpKind::kDemodNoiseAct;
  }
  CHECK(mod1x1 == 5);    // to_rgb1 + 4 to_rgbs
  CHECK(epilogue == 9);  // conv1 + 8 convs
  CHECK(f.nodes().size() < g.nodes().size());
  // Fewer intermediates exist at all (the arena peak itself is set by the top level,
  // which both graphs share, and best-fit placement can differ by fragmentation).
  auto total = [](const MemoryPlan& p) {
    int64_t s = 0;
    for (int64_t b : p.bytes) s += b;
    return s;
  };
  CHECK(total(PlanMemory(f, 2)) < total(PlanMemory(g, 2)));
  CHECK(PlanIsValid(f, PlanMemory(f, 4)));
  CHECK(f.Flops() == doctest::Approx(g.Flops()));

  // Run both on the CPU backend: identical arithmetic, so identical bits.
  std::vector<float> in(2 * 3 * 64 * 64);
  for (size_t i = 0; i < in.size(); ++i) in[i] = std::sin(0.37f * static_cast<float>(i));
  auto run = [&](const Graph& graph) {
    auto b = CreateCpuBackend(graph, shared->store, {});
    REQUIRE(b.ok());
    REQUIRE(b.value()->SetInput(in.data(), static_cast<int64_t>(in.size())).ok());
    REQUIRE(b.value()->Run().ok());
    const int img = graph.FindOutput("image");
    std::vector<float> out(static_cast<size_t>(graph.tensor(img).shape.numel()));
    REQUIRE(b.value()->ReadOutput(img, out.data(), static_cast<int64_t>(out.size())).ok());
    return out;
  };
  CHECK(run(g) == run(f));
}

namespace {
// Untiled and tiled passes of the same weights and input; returns max |difference|.
double TiledVsUntiled(std::shared_ptr<const GpenWeights> w, int64_t batch, const TileSpec& spec,
                      double* rel_l2) {
  const GpenArch& a = w->arch;
  std::vector<float> in(static_cast<size_t>(batch * 3 * a.in_size * a.in_size));
  for (size_t i = 0; i < in.size(); ++i) in[i] = std::sin(0.71f * static_cast<float>(i)) * 0.9f;
  std::vector<float> full(static_cast<size_t>(batch * 3 * a.out_size * a.out_size)),
      tiled(full.size(), -7.f);
  GpenGraphOptions o;
  o.batch = batch;
  o.noise_seed = 3;
  auto s = Session::Create(GpenNetwork::Wrap(w), o, Device::kCpu, {});
  REQUIRE(s.ok());
  REQUIRE(s.value()->Run(in.data(), full.data()).ok());
  auto t = TiledGpenSession::Create(w, o, spec, Device::kCpu, {});
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  REQUIRE(t.value()->Run(in.data(), tiled.data()).ok());
  double m = 0, num = 0, den = 0;
  for (size_t i = 0; i < full.size(); ++i) {
    const double d = std::fabs(double(full[i]) - tiled[i]);
    m = std::max(m, d);
    num += d * d;
    den += double(full[i]) * full[i];
  }
  *rel_l2 = std::sqrt(num / den);
  return m;
}
}  // namespace

// Exact staged tiling: every tile value is computed from the same inputs as untiled,
// so the difference is float rounding only (the GEMMs see different matrix shapes),
// never a seam. 1e-5 relative is 100x the rounding we measure and far below a seam.
TEST_CASE("graph tiled: tiled generator equals untiled on the fixtures (CPU)") {
  for (const char* set : {"tiny64", "s128"}) {
    std::string dir;
    if (!test::SkipUnlessGpenFixture(set, &dir)) continue;  // tiny64 always runs
    auto w = LoadGpenModel(gpen::test::ModelsDir() + "/" + set + ".safetensors");
    REQUIRE_MESSAGE(w.ok(), w.status().ToString());
    auto shared = std::make_shared<const GpenWeights>(std::move(w).value());
    const int64_t out = shared->arch.out_size;
    for (TileSpec spec :
         {TileSpec{out / 4, out / 4}, TileSpec{out / 2, out / 4 + out / 8}, TileSpec{8, out / 2}}) {
      double rel = 0;
      const double m = TiledVsUntiled(shared, 2, spec, &rel);
      MESSAGE(std::string(set) << " split " << spec.split_res << " tile " << spec.tile
                               << ": max |diff| " << m << ", rel L2 " << rel);
      CHECK(rel < 1e-5);
      CHECK(m < 1e-4);
    }
  }
}

TEST_CASE("graph tiled: FullGenerator_SR, seeded noise levels tile exactly too") {
  auto w = GpenWeights::Random(test::TinyArch(32, 64, 16, 1.0 / 32), 8);
  REQUIRE(w.ok());
  auto shared = std::make_shared<const GpenWeights>(std::move(w).value());
  double rel = 0;
  const double m = TiledVsUntiled(shared, 1, TileSpec{16, 24}, &rel);
  MESSAGE("SR split 16 tile 24: max |diff| " << m << ", rel L2 " << rel);
  CHECK(rel < 1e-5);
}

TEST_CASE("graph: in-place reuse is decided by the op kind; every kind has a name") {
  Node n;
  for (OpKind k : {OpKind::kBiasAct, OpKind::kAdd, OpKind::kScaleChannels, OpKind::kMaskWindow}) {
    n.kind = k;
    CHECK_MESSAGE(MayRunInPlace(n), OpName(k));
  }
  n.kind = OpKind::kNoiseConcat;
  NoiseAttr na;
  na.concat = false;  // x + w * noise: element-wise
  n.attr = na;
  CHECK(MayRunInPlace(n));
  na.concat = true;  // cat(x, w * noise): twice the channels
  n.attr = na;
  CHECK_FALSE(MayRunInPlace(n));
  for (OpKind k : {OpKind::kConv2d, OpKind::kConvTranspose2d, OpKind::kUpfirdn2d, OpKind::kLinear,
                   OpKind::kModStyle, OpKind::kPixelNorm, OpKind::kDemodCoef, OpKind::kConcat,
                   OpKind::kUpsampleNearest, OpKind::kPixelUnshuffle, OpKind::kModConv1x1,
                   OpKind::kDemodNoiseAct, OpKind::kCrop, OpKind::kConstInput}) {
    n.kind = k;
    CHECK_FALSE_MESSAGE(MayRunInPlace(n), OpName(k));
  }
  for (int k = static_cast<int>(OpKind::kInput); k <= static_cast<int>(OpKind::kMaskWindow); ++k)
    CHECK(std::string(OpName(static_cast<OpKind>(k))) != "?");
  // Attributes are typed: asking a node for another kind's is a programmer error.
  Node c;
  c.kind = OpKind::kConv2d;
  c.attr = ConvAttr{2, 1};
  CHECK(c.a<ConvAttr>().stride == 2);
  CHECK_THROWS(c.a<UpfirdnAttr>());
}

TEST_CASE("graph: RRDBNet's new ops count no FLOPs and move each tensor once") {
  Graph g;
  const int a = g.AddTensor({1, 5, 8, 8}, "a"), b = g.AddTensor({1, 3, 8, 8}, "b");
  g.set_input(a);
  g.AddInput(b);
  Node cat;
  cat.kind = OpKind::kConcat;
  cat.in = {a, b, a};
  const int c = g.AddNode(cat, {1, 13, 8, 8});
  Node up;
  up.kind = OpKind::kUpsampleNearest;
  up.attr = ResampleAttr{2};
  up.in = {c};
  const int u = g.AddNode(up, {1, 13, 16, 16});
  Node un;
  un.kind = OpKind::kPixelUnshuffle;
  un.attr = ResampleAttr{2};
  un.in = {u};
  const int s = g.AddNode(un, {1, 52, 8, 8});
  g.MarkOutput(s);
  CHECK(g.Flops() == 0.0);
  const double e = (5 + 3 + 5 + 13) * 64 + (13 * 64 + 13 * 256) + (13 * 256 + 52 * 64);
  CHECK(g.BytesMoved(2) == doctest::Approx(2 * e));
  const MemoryPlan p = PlanMemory(g, 4, 256);
  CHECK(PlanIsValid(g, p));
  CHECK(p.offset[s] != p.offset[u]);  // never in place: it rearranges
}
