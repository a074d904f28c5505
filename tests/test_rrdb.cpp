// RRDBNet on the CPU backend: upstream's float64 outputs (rrdb fixture sets, x1, x2 and
// x4, in tests/data), the item shapes, and the pre/post-processing.
//
// Tolerances: as for GPEN (test_gpen_fixtures.cpp), the reference is float64 and we
// compute in float32 with sgemm reductions of up to Cin * 9 terms through ~35 layers;
// the issue asks for relative L2 <= 1e-5. Elementwise, 1e-4 absolute + 1e-4 relative on
// values of order 1 catches a localized indexing bug that the L2 would average away.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>

#include "compare.h"
#include "fixtures.h"
#include "net/registry.h"
#include "net/rrdb_net.h"
#include "npy.h"
#include "session.h"

using namespace gpen;
using namespace gpen::test;

namespace {

const char* const kSets[] = {"rrdb_x1_tiny", "rrdb_x2_tiny", "rrdb_x4_tiny"};

std::shared_ptr<const Network> LoadSet(const std::string& set) {
  const std::string model = ModelsDir() + "/" + set + ".safetensors";
  REQUIRE_MESSAGE(FileExists(model), "converted model missing: " << model);
  auto net = LoadNetwork(model);
  REQUIRE_MESSAGE(net.ok(), net.status().ToString());
  REQUIRE(net.value()->family() == "rrdbnet");
  return net.value();
}

}  // namespace

TEST_CASE("rrdb fixtures: CPU fp32 against upstream's float64 outputs, x1, x2 and x4") {
  for (const char* set : kSets) {
    const std::string dir = FixtureDir("rrdb", set);
    REQUIRE_MESSAGE(!dir.empty(), set << " ships in tests/data/rrdb");
    auto net = LoadSet(set);
    auto in = ReadNpy(dir + "/input.npy");
    auto ref = ReadNpy(dir + "/output.npy");
    REQUIRE(in.ok());
    REQUIRE(ref.ok());
    auto io = net->Io(in->shape[2], in->shape[3]);
    REQUIRE(io.ok());
    // The fixtures' sizes are multiples of the unshuffle factor: no padding.
    CHECK(io->in_h == in->shape[2]);
    CHECK(io->out_h == ref->shape[2]);
    CHECK(io->out_w == ref->shape[3]);
    auto s = Session::Create(net, net->OptionsFor(io.value(), in->shape[0]), Device::kCpu, {});
    REQUIRE_MESSAGE(s.ok(), s.status().ToString());
    std::vector<float> out(static_cast<size_t>(ref->shape.numel()));
    REQUIRE(s.value()->Run(in->data.data(), out.data()).ok());
    CompareResult c = Compare(set, out, ref->shape, ref->data, ref->shape, {1e-4, 1e-4, 1e-5});
    MESSAGE(c.message);
    CHECK_MESSAGE(c.ok, c.message);
  }
}

TEST_CASE("rrdb io: odd sizes pad to the unshuffle factor by reflection, the output is cropped") {
  for (const char* preset : {"rrdb-tiny"}) {
    auto base = RrdbArch::Preset(preset);
    REQUIRE(base.ok());
    for (int64_t scale : {1, 2, 4}) {
      RrdbArch a = base.value();
      a.scale = scale;
      auto w = RrdbWeights::Random(a, 3);
      REQUIRE(w.ok());
      auto net = std::make_shared<const RrdbNetwork>(
          std::make_shared<const RrdbWeights>(std::move(w).value()));
      const int64_t h = 13, wd = 7;  // divisible by nothing
      auto io = net->Io(h, wd);
      REQUIRE(io.ok());
      const int64_t m = 4 / scale;
      CHECK(io->in_h == (h + m - 1) / m * m);
      CHECK(io->in_w == (wd + m - 1) / m * m);
      CHECK(io->out_h == io->in_h * scale);
      CHECK(io->valid_h == h * scale);
      CHECK(io->valid_w == wd * scale);
      Image img;
      img.height = h;
      img.width = wd;
      for (int64_t i = 0; i < 3 * h * wd; ++i) img.rgb.push_back(static_cast<float>(i % 97) / 96.f);
      std::vector<float> x(static_cast<size_t>(io->in_numel()));
      net->Preprocess(img, io.value(), x.data());
      // Top-left copy; the padded rows and columns reflect (torch 'reflect').
      CHECK(x[0] == img.rgb[0]);
      if (io->in_h > h) {
        CHECK(x[static_cast<size_t>(h * io->in_w)] == img.rgb[static_cast<size_t>((h - 2) * wd)]);
      }
      if (io->in_w > wd) CHECK(x[static_cast<size_t>(wd)] == img.rgb[static_cast<size_t>(wd - 2)]);
      auto s = Session::Create(net, net->OptionsFor(io.value(), 1), Device::kCpu, {});
      REQUIRE(s.ok());
      std::vector<float> y(static_cast<size_t>(io->out_numel()));
      REQUIRE(s.value()->Run(x.data(), y.data()).ok());
      const Image out = net->Postprocess(y.data(), io.value());
      CHECK(out.height == h * scale);
      CHECK(out.width == wd * scale);
      for (float v : out.rgb) {
        REQUIRE(std::isfinite(v));
        CHECK(v >= 0.f);
        CHECK(v <= 1.f);
        CHECK(std::fabs(v * 255.f - std::round(v * 255.f)) < 1e-3f);  // 8-bit levels
      }
    }
  }
}

TEST_CASE("rrdb registry: named architectures and their parameter counts") {
  // realesrgan-x4plus: 64 features, 23 blocks, growth 32: 16,697,987 parameters
  // (Real-ESRGAN's RealESRGAN_x4plus.pth), 351 convolutions.
  auto net = NetworkForArch("realesrgan-x4plus", 0, /*shapes_only=*/true);
  REQUIRE(net.ok());
  CHECK(net.value()->family() == "rrdbnet");
  CHECK(net.value()->store().total_params() == 16697987);
  CHECK(net.value()->store().count() == 2 * 351);
  auto io = net.value()->Io(64, 48);
  REQUIRE(io.ok());
  const Graph g = net.value()->BuildGraph(net.value()->OptionsFor(io.value(), 1));
  int convs = 0;
  for (const Node& n : g.nodes()) convs += n.kind == OpKind::kConv2d;
  CHECK(convs == 351);
  CHECK(g.tensor(g.FindOutput("image")).shape == Shape{1, 3, 256, 192});
  CHECK_FALSE(FamilyOfArch("no-such-arch").ok());
}
