// Planner tests: lifetimes, reuse, alignment, and that the CPU arena equals the plan.
#include <doctest/doctest.h>

#include <climits>

#include "cuda/cuda_layout.h"
#include "fixtures.h"
#include "graph/fuse.h"
#include "graph/gpen_graph.h"
#include "graph/planner.h"
#include "run_plan.h"
#include "session.h"
#include "tiled.h"

using namespace gpen;

namespace {

// A chain a -> b -> c -> d of equal-size element-wise ops plus one long-lived tensor.
Graph Chain(bool inplace) {
  Graph g;
  const int x = g.AddTensor({1, 4, 8, 8}, "x");
  g.set_input(x);
  int t = x;
  for (int i = 0; i < 4; ++i) {
    Node n;
    n.kind = OpKind::kBiasAct;
    n.name = "op" + std::to_string(i);
    n.in = {t};
    n.inplace = inplace;
    t = g.AddNode(n, {1, 4, 8, 8});
  }
  g.MarkOutput(t);
  return g;
}

}  // namespace

TEST_CASE("planner: lifetimes from graph order") {
  Graph g = Chain(false);
  MemoryPlan p = PlanMemory(g, 4, 256);
  CHECK(p.first_node[g.input()] == -1);
  CHECK(p.last_node[g.input()] == INT32_MAX);  // kept so that a pass can be repeated
  CHECK(p.first_node[2] == 1);
  CHECK(p.last_node[2] == 2);
  CHECK(p.last_node[g.outputs()[0]] == INT32_MAX);
  CHECK(PlanIsValid(g, p));
}

TEST_CASE("planner: dead tensors are reused, two buffers suffice for a chain") {
  Graph g = Chain(false);
  MemoryPlan p = PlanMemory(g, 4, 256);
  const int64_t one = 4 * 8 * 8 * 4;  // 1 KiB, a multiple of 256
  CHECK(p.arena_bytes == 3 * one);    // the kept input + two alternating buffers
  CHECK(PlanIsValid(g, p));
}

TEST_CASE("planner: in-place ops take over their dying input") {
  Graph g = Chain(true);
  MemoryPlan p = PlanMemory(g, 4, 256);
  CHECK(p.arena_bytes == 2 * 4 * 8 * 8 * 4);  // the kept input + one buffer taken over in place
  for (size_t t = 2; t < g.tensors().size(); ++t) CHECK(p.offset[t] == p.offset[1]);
  CHECK(PlanIsValid(g, p));
}

TEST_CASE("planner: alignment of every offset") {
  Graph g;
  const int x = g.AddTensor({1, 3, 5, 7}, "x");  // 420 bytes, not aligned
  g.set_input(x);
  Node n;
  n.kind = OpKind::kAdd;
  n.in = {x, x};
  const int y = g.AddNode(n, {1, 3, 5, 7});
  n.in = {x, y};
  const int z = g.AddNode(n, {1, 3, 5, 7});
  g.MarkOutput(z);
  for (size_t al : {64, 256, 512}) {
    MemoryPlan p = PlanMemory(g, 4, al);
    for (int64_t off : p.offset) CHECK(off % static_cast<int64_t>(al) == 0);
    CHECK(PlanIsValid(g, p));
  }
}

TEST_CASE("planner: GPEN graphs plan validly, fp16 halves activations, batch scales") {
  const GpenArch a = test::TinyArch(64, 64, 64);
  auto w = GpenWeights::Random(a, 3);
  REQUIRE(w.ok());
  for (int64_t batch : {1, 3}) {
    GpenGraphOptions o;
    o.batch = batch;
    Graph g = BuildGpenGraph(w.value(), o);
    MemoryPlan p32 = PlanMemory(g, 4);
    MemoryPlan p16 = PlanMemory(g, 2);
    CHECK(PlanIsValid(g, p32));
    CHECK(PlanIsValid(g, p16));
    CHECK(p16.arena_bytes < p32.arena_bytes);
    int64_t sum = 0;
    for (int64_t b : p32.bytes) sum += b;
    CHECK(p32.arena_bytes < sum);  // reuse happened
  }
}

TEST_CASE("planner: the CPU backend allocates exactly the planned arena") {
  const GpenArch a = test::TinyArch(32, 32);
  auto w = GpenWeights::Random(a, 4);
  REQUIRE(w.ok());
  auto shared = std::make_shared<GpenWeights>(std::move(w).value());
  GpenGraphOptions o;
  o.batch = 3;
  auto s = GpenSession::Create(shared, o, Device::kCpu, {});
  REQUIRE(s.ok());
  const MemoryReport m = s.value()->backend().memory();
  CHECK(m.arena == s.value()->backend().plan().arena_bytes);
  CHECK(m.arena == PlanMemory(s.value()->graph(), 4).arena_bytes);
}

TEST_CASE("planner choice: a larger budget never chooses a smaller batch (cuda and cpu)") {
  for (const char* arch : {"bfr512", "bfr1024", "bfr2048"}) {
    auto w = GpenWeights::ShapesOnly(GpenArch::Preset(arch).value());
    REQUIRE(w.ok());
    for (Device d : {Device::kCuda, Device::kCpu}) {
      for (Precision p : {Precision::kFp32, Precision::kFp16}) {
        if (d == Device::kCpu && p == Precision::kFp16) continue;
        int64_t last_batch = 0, last_tiles = INT64_MAX;
        for (int64_t gib : {1, 2, 3, 4, 6, 8, 12, 16, 24}) {
          PlanRequest r;
          r.device = d;
          r.precision = p;
          r.faces = 100;
          r.budget = gib << 30;
          auto plan = ChooseRunPlan(w.value(), r);
          if (!plan.ok()) {
            CHECK(last_batch == 0);  // only the smallest budgets may fail
            CHECK(plan.status().code() == ErrorCode::kOutOfMemory);
            continue;
          }
          CHECK(plan->total <= r.budget - plan->margin);
          CHECK(plan->batch >= last_batch);
          if (plan->batch == last_batch) CHECK(plan->tiles_per_face <= last_tiles);
          last_batch = plan->batch;
          last_tiles = plan->tiles_per_face;
        }
        CHECK(last_batch > 1);
      }
    }
  }
}

TEST_CASE("planner choice: too small a budget names the minimum") {
  auto w = GpenWeights::ShapesOnly(GpenArch::Preset("bfr512").value());
  PlanRequest r;
  r.device = Device::kCuda;
  r.budget = int64_t{300} << 20;
  auto plan = ChooseRunPlan(w.value(), r);
  REQUIRE_FALSE(plan.ok());
  CHECK(plan.status().code() == ErrorCode::kOutOfMemory);
  CHECK(plan.status().message().find("the smallest configuration needs") != std::string::npos);
  CHECK(plan.status().message().find("300.0 MiB") != std::string::npos);
}

// A re-plan after an allocation failed measures free memory on a device this process
// already uses: its context is spent, so it is no line, unlike a --vram-budget's.
TEST_CASE("planner choice: a measured re-plan budget does not count the CUDA context again") {
  auto w = GpenWeights::ShapesOnly(GpenArch::Preset("bfr512").value());
  REQUIRE(w.ok());
  PlanRequest r;
  r.device = Device::kCuda;
  r.faces = 64;
  r.budget = int64_t{3} << 30;
  auto user = ChooseRunPlan(w.value(), r);
  r.budget_measured = true;
  auto measured = ChooseRunPlan(w.value(), r);
  REQUIRE(user.ok());
  REQUIRE(measured.ok());
  auto has_context = [](const RunPlan& p) {
    for (const MemoryLine& l : p.lines)
      if (l.what.find("context") != std::string::npos) return true;
    return false;
  };
  CHECK(has_context(user.value()));
  CHECK_FALSE(has_context(measured.value()));
  CHECK(measured->batch >= user->batch);
  CHECK(measured->budget_source.find("measured") != std::string::npos);
}

TEST_CASE("planner choice: planned lines equal what the CPU backends allocate, tiled or not") {
  const GpenArch a = test::TinyArch(64, 64, 32);
  auto w = GpenWeights::Random(a, 9);
  REQUIRE(w.ok());
  auto shared = std::make_shared<const GpenWeights>(std::move(w).value());
  BackendOptions bo;
  for (int64_t batch : {1, 3}) {
    const auto lines = PlanLines(*shared, bo, Device::kCpu, batch, nullptr, false);
    GpenGraphOptions go;
    go.batch = batch;
    auto s = GpenSession::Create(shared, go, Device::kCpu, bo);
    REQUIRE(s.ok());
    const MemoryReport m = s.value()->backend().memory();
    CHECK(lines[0].bytes == m.weights);
    CHECK(lines[1].bytes == m.arena);
    CHECK(lines[2].bytes == m.workspace);
  }
  const TileSpec spec{16, 16};
  const auto lines = PlanLines(*shared, bo, Device::kCpu, 1, &spec, false);
  GpenGraphOptions go;
  auto t = TiledGpenSession::Create(shared, go, spec, Device::kCpu, bo);
  REQUIRE(t.ok());
  const MemoryReport g = t.value()->global_backend().memory(),
                     tl = t.value()->tile_backend().memory();
  CHECK(lines[0].bytes ==
        g.weights + tl.weights - shared->store.total_params() * 4);  // shared once
  CHECK(lines[1].bytes == g.arena + tl.arena);
  CHECK(lines[2].bytes == g.workspace + tl.workspace);
}

TEST_CASE("planner cuda layout: one source for uploaded and planned weight bytes") {
  const GpenArch a = test::TinyArch(64, 64, 32);
  auto w = GpenWeights::Random(a, 10);
  auto shapes = GpenWeights::ShapesOnly(a);
  REQUIRE(w.ok());
  REQUIRE(shapes.ok());
  GpenGraphOptions go;
  go.batch = 2;
  const Graph fused = FuseGraph(BuildGpenGraph(w.value(), go));
  for (bool half : {false, true}) {
    const cuda::WeightLayout with = cuda::BuildWeightLayout(fused, w->store, half, true, true);
    const cuda::WeightLayout without =
        cuda::BuildWeightLayout(fused, shapes->store, half, true, false);
    CHECK(with.blob.size() == with.blob_bytes);
    CHECK(without.blob.empty());
    CHECK(with.blob_bytes == without.blob_bytes);
    REQUIRE(with.nodes.size() == without.nodes.size());
    for (size_t i = 0; i < with.nodes.size(); ++i) {
      CHECK(with.nodes[i].w == without.nodes[i].w);
      CHECK(with.nodes[i].b == without.nodes[i].b);
    }
    // Every modulation layer reads the latent back to back after fusion: one GEMM.
    REQUIRE(with.groups.size() == 1);
    CHECK(with.groups[0].slices.size() == 5 + 9);  // 5 ToRGB + 9 StyledConv layers
    int normalized = 0;
    for (const auto& sl : with.groups[0].slices) normalized += sl.normalize;
    CHECK(normalized == (half ? 9 : 0));  // only styles feeding a demodulation, only in fp16
    BackendOptions bo;
    bo.precision = half ? Precision::kFp16 : Precision::kFp32;
    CHECK(CudaBackendMemory(BuildGpenGraph(w.value(), go), w->store, bo).weights ==
          static_cast<int64_t>(with.blob_bytes));
  }
}
