// Per-op profiles (Backend::ProfiledRun, Graph::NodeFlops/NodeBytes; gpen bench
// --profile): a small RRDBNet profiled on the CPU and, labelled gpu, on the CUDA backend
// (a GPU, or the emulator). Every node of the backend's graph is timed once, in order,
// with a time >= 0 whose shares sum to 1; the per-node counts sum to the whole graph's;
// and a profiled run computes exactly what a plain run does.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "net/registry.h"
#include "session.h"

using namespace gpen;

namespace {

void CheckProfile(Device device) {
  auto net = NetworkForArch("rrdb-tiny", 3);
  REQUIRE_MESSAGE(net.ok(), net.status().ToString());
  auto io = net.value()->Io(16, 12);
  REQUIRE(io.ok());
  auto s = Session::Create(net.value(), net.value()->OptionsFor(io.value(), 2), device, {});
  REQUIRE_MESSAGE(s.ok(), s.status().ToString());
  Session& session = *s.value();
  std::vector<float> in(static_cast<size_t>(2 * io.value().in_numel()));
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>((i * 37) % 101) / 100.f;
  std::vector<float> plain(static_cast<size_t>(2 * io.value().out_numel())), profiled;
  REQUIRE(session.Run(in.data(), plain.data()).ok());

  REQUIRE(session.SetInput(in.data()).ok());
  auto timings = session.backend().ProfiledRun();
  REQUIRE_MESSAGE(timings.ok(), timings.status().ToString());
  const Graph& g = session.backend().graph();
  REQUIRE(timings.value().size() == g.nodes().size());
  double total = 0;
  for (size_t i = 0; i < timings.value().size(); ++i) {
    CHECK(timings.value()[i].node == i);
    CHECK(timings.value()[i].ms >= 0);
    total += timings.value()[i].ms;
  }
  CHECK(total > 0);
  double shares = 0, flops = 0, bytes = 0;
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    shares += timings.value()[i].ms / total;
    flops += g.NodeFlops(i);
    bytes += g.NodeBytes(i, 4);
  }
  CHECK(shares == doctest::Approx(1.0).epsilon(1e-9));
  CHECK(flops == doctest::Approx(g.Flops()).epsilon(1e-12));
  CHECK(bytes == doctest::Approx(g.BytesMoved(4)).epsilon(1e-12));
  CHECK(g.Flops() > 0);

  profiled.resize(plain.size());
  REQUIRE(session.ReadImage(profiled.data()).ok());
  CHECK(profiled == plain);
}

}  // namespace

TEST_CASE("profile: every CPU node timed, shares sum to 1, output unchanged") {
  CheckProfile(Device::kCpu);
}

#if GPEN_WITH_CUDA
TEST_CASE("gpu profile: every CUDA node timed with events, shares sum to 1, output unchanged") {
  CheckProfile(Device::kCuda);
}
#endif
