// Planner tests: lifetimes, reuse, alignment, that the CPU arena equals the plan, that
// the CPU plan counts what the process holds besides (OpenBLAS, the process itself), and
// that an allocation that fails is planned again from what failed (issue 9).
#include <doctest/doctest.h>
#include <sys/resource.h>

#include <climits>
#include <cmath>

#include "batch_runner.h"
#include "core/host_memory.h"
#include "core/parallel.h"
#include "cuda/cuda_layout.h"
#include "fixtures.h"
#include "graph/fuse.h"
#include "graph/gpen_graph.h"
#include "graph/planner.h"
#include "net/gpen_tiled.h"
#include "net_helpers.h"
#include "run_plan.h"
#include "session.h"

using namespace gpen;
using namespace gpen::test;

namespace {

// A chain a -> b -> c -> d of equal-size ops plus one long-lived tensor: element-wise ops
// that may run in place (bias_act), or whole-tensor crops that may not (MayRunInPlace).
Graph Chain(bool inplace) {
  Graph g;
  const int x = g.AddTensor({1, 4, 8, 8}, "x");
  g.set_input(x);
  int t = x;
  for (int i = 0; i < 4; ++i) {
    Node n;
    n.kind = inplace ? OpKind::kBiasAct : OpKind::kCrop;
    if (!inplace) n.attr = CropAttr{};
    n.name = "op" + std::to_string(i);
    n.in = {t};
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
  auto s = Session::Create(GpenNetwork::Wrap(shared), o, Device::kCpu, {});
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
          auto plan = ChooseRunPlan(View(w.value()), IoOf(w.value()), r);
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
  auto plan = ChooseRunPlan(View(w.value()), IoOf(w.value()), r);
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
  auto user = ChooseRunPlan(View(w.value()), IoOf(w.value()), r);
  r.budget_measured = true;
  auto measured = ChooseRunPlan(View(w.value()), IoOf(w.value()), r);
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
    const auto lines =
        PlanLines(View(*shared), IoOf(*shared), bo, Device::kCpu, batch, nullptr, false);
    GpenGraphOptions go;
    go.batch = batch;
    auto s = Session::Create(GpenNetwork::Wrap(shared), go, Device::kCpu, bo);
    REQUIRE(s.ok());
    const MemoryReport m = s.value()->backend().memory();
    CHECK(lines[0].bytes == m.weights);
    CHECK(lines[1].bytes == m.arena);
    CHECK(lines[2].bytes == m.workspace);
  }
  const TileSpec spec{16, 16};
  const auto lines = PlanLines(View(*shared), IoOf(*shared), bo, Device::kCpu, 1, &spec, false);
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

TEST_CASE("planner choice: the CPU plan counts OpenBLAS's packing and the process") {
  auto w = GpenWeights::ShapesOnly(GpenArch::Preset("bfr256").value());
  REQUIRE(w.ok());
  for (int threads : {1, 2, 64}) {
    BackendOptions bo;
    bo.threads = threads;
    const auto lines =
        PlanLines(View(w.value()), IoOf(w.value()), bo, Device::kCpu, 2, nullptr, false, 3);
    REQUIRE(lines.size() == 6);
    CHECK(lines[3].what.find("3 batches in flight") != std::string::npos);
    const int blas = BlasThreadsFor(threads);
    CHECK(blas <= threads);  // never more than asked for, nor than OpenBLAS started with
    CHECK(lines[4].what.find("OpenBLAS") != std::string::npos);
    CHECK(lines[4].bytes > 0);
    CHECK(lines[4].bytes % blas == 0);                 // the same bound for each thread
    CHECK(lines[4].bytes <= blas * kBlasBufferBytes);  // never beyond its buffers
    CHECK(lines[5].bytes >= kCpuProcessEstimate);
  }
}

TEST_CASE("planner choice: the decoded input image is a line of the CPU plan") {
  auto w = GpenWeights::ShapesOnly(GpenArch::Preset("bfr256").value());
  REQUIRE(w.ok());
  BackendOptions bo;
  bo.threads = 2;
  const int64_t decode = int64_t{300} << 20;  // a 25-megapixel input, say
  const auto without =
      PlanLines(View(w.value()), IoOf(w.value()), bo, Device::kCpu, 1, nullptr, false, 3);
  const auto with =
      PlanLines(View(w.value()), IoOf(w.value()), bo, Device::kCpu, 1, nullptr, false, 3, decode);
  REQUIRE(with.size() == without.size() + 1);
  CHECK(with[4].what == "decoding the largest input image");
  CHECK(with[4].bytes == decode);
  // It decides the batch: a budget that holds batch 2 without it holds only 1 with it.
  PlanRequest req;
  req.device = Device::kCpu;
  req.faces = 4;
  req.threads = 2;
  req.image_batches = 3;
  int64_t one = 0, two = 0;
  for (const MemoryLine& l :
       PlanLines(View(w.value()), IoOf(w.value()), bo, Device::kCpu, 1, nullptr, false, 3))
    one += l.bytes;
  for (const MemoryLine& l :
       PlanLines(View(w.value()), IoOf(w.value()), bo, Device::kCpu, 2, nullptr, false, 3))
    two += l.bytes;
  req.budget = SmallestBudgetFor(two);
  auto plain = ChooseRunPlan(View(w.value()), IoOf(w.value()), req);
  REQUIRE(plain.ok());
  CHECK(plain->batch >= 2);
  req.decode_bytes = two - one + 1;
  auto decoding = ChooseRunPlan(View(w.value()), IoOf(w.value()), req);
  REQUIRE(decoding.ok());
  CHECK(decoding->batch < plain->batch);
  // Not a line of a device plan: decoding holds host memory, not VRAM.
  const auto cuda =
      PlanLines(View(w.value()), IoOf(w.value()), bo, Device::kCuda, 1, nullptr, false, 3, decode);
  for (const MemoryLine& l : cuda) CHECK(l.what.find("decoding") == std::string::npos);
}

TEST_CASE("planner choice: a re-plan starts from what the failed plan needed, not the host") {
  auto w = GpenWeights::ShapesOnly(GpenArch::Preset("bfr512").value());
  REQUIRE(w.ok());
  PlanRequest r;
  r.device = Device::kCpu;
  r.faces = 3;
  r.budget = int64_t{64} << 30;  // the whole host's memory, measured
  r.budget_measured = true;
  auto failed = ChooseRunPlan(View(w.value()), IoOf(w.value()), r);
  REQUIRE(failed.ok());
  const int64_t next = ReplanBudget(failed.value(), 0);
  CHECK(next <= static_cast<int64_t>(kReplanFraction * SmallestBudgetFor(failed->total)) + 1);
  CHECK(next < r.budget / 10);  // 70% of 64 GiB would choose the same plan again
  CHECK(ReplanBudget(failed.value(), int64_t{100} << 20) == int64_t{100} << 20);  // free now
  // Every re-plan is smaller than the one before, so retrying ends.
  int64_t budget = next, last_total = failed->total, plans = 0;
  for (; plans < 100; ++plans) {
    r.budget = budget;
    auto p = ChooseRunPlan(View(w.value()), IoOf(w.value()), r);
    if (!p.ok()) {
      CHECK(p.status().code() == ErrorCode::kOutOfMemory);
      break;
    }
    CHECK(p->total < last_total);
    last_total = p->total;
    budget = ReplanBudget(p.value(), 0);
  }
  CHECK(plans < 100);
}

// An address-space limit lowered after the plan was made: the batch-4 session cannot be
// allocated, the CPU backend says OutOfMemory (no exception), and the runner plans again
// from what failed and from what is free now, and restores every face.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GPEN_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define GPEN_TEST_SANITIZED 1
#endif
#endif

TEST_CASE("planner oom retry: a batch that cannot be allocated is planned again and runs") {
#ifdef GPEN_TEST_SANITIZED
  MESSAGE("skipped: sanitizers reserve shadow memory that an address-space limit breaks");
  return;
#endif
  auto w = GpenWeights::Random(GpenArch::Preset("bfr256").value(), 11);
  REQUIRE(w.ok());
  auto shared = std::make_shared<const GpenWeights>(std::move(w).value());
  REQUIRE(StartCpuThreads(1).ok());
  BatchRunnerOptions o;
  o.items = 4;
  o.threads = 1;
  o.quiet = true;
  o.budget = int64_t{4} << 30;  // a user budget larger than what the limit will leave
  auto runner = BatchRunner::Create(GpenNetwork::Wrap(shared), IoOf(*shared), o);
  REQUIRE(runner.ok());
  REQUIRE(runner.value()->batch() == 4);
  const RunPlan first = runner.value()->plan();

  // Room for a batch of one with its margin, not for a batch of four.
  BackendOptions bo;
  bo.threads = 1;
  int64_t one = 0;
  for (const MemoryLine& l :
       PlanLines(View(*shared), IoOf(*shared), bo, Device::kCpu, 1, nullptr, false))
    one += l.bytes;
  const int64_t held = shared->store.total_params() * 4 + kCpuProcessEstimate;  // mapped already
  const int64_t headroom = SmallestBudgetFor(one) - held + (int64_t{8} << 20);
  REQUIRE(headroom + (int64_t{40} << 20) < first.total - held);

  const int64_t in_px = 3 * 256 * 256;
  std::vector<float> in(static_cast<size_t>(4 * in_px)), out(in.size(), NAN);
  for (size_t i = 0; i < in.size(); ++i) in[i] = std::sin(0.001f * static_cast<float>(i));
  struct rlimit before {};
  REQUIRE(getrlimit(RLIMIT_AS, &before) == 0);
  struct rlimit tight = before;
  tight.rlim_cur = static_cast<rlim_t>(AddressSpaceUsed() + headroom);
  REQUIRE(setrlimit(RLIMIT_AS, &tight) == 0);
  const Status st = runner.value()->Run(TensorView(in.data(), {4, 3, 256, 256}),
                                        TensorView(out.data(), {4, 3, 256, 256}));
  REQUIRE(setrlimit(RLIMIT_AS, &before) == 0);

  CHECK_MESSAGE(st.ok(), st.ToString());
  const RunPlan& again = runner.value()->plan();
  CHECK(again.batch < 4);
  CHECK(again.budget_source.find("re-planned") != std::string::npos);
  CHECK(again.budget < SmallestBudgetFor(first.total));  // from what failed, not 4 GiB
  for (float v : out) REQUIRE(std::isfinite(v));
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
