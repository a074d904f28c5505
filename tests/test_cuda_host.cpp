// Host-side tests of the CUDA backend's pure helpers, compiled in every build and run
// without a GPU: the batch split that keeps every tensor handed to cuDNN's legacy API
// (which indexes with ints) at most 2^31 - 1 elements, on small shapes and on the GPEN
// releases at large-card batches (64 at 512, 32 at 1024, 16 at 2048, and whatever the
// planner chooses for a 141 GiB card: 64 for all three), where whole-batch tensors reach
// 2^31 elements (2^33 for 2048 at batch 64).
//
// The test cases are named "planner: ..." so that ctest's planner test runs them.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "cuda/cuda_layout.h"
#include "graph/fuse.h"
#include "graph/gpen_graph.h"
#include "model/gpen_weights.h"
#include "net_helpers.h"
#include "run_plan.h"

using namespace gpen;
using namespace gpen::test;
using cuda::ConvBatchChunk;
using cuda::kCudnnMaxElements;

namespace {

int64_t PerSample(const Shape& x, const Shape& y) {
  return std::max(x.numel() / x.n(), y.numel() / y.n());
}

// The split of x -> y into calls: every call within the limit, no more calls than
// needed, the chunks even but for a smaller last one. Returns the number of calls.
int64_t CheckSplit(const Shape& x, const Shape& y) {
  const int64_t n = x.n(), per = PerSample(x, y);
  const int64_t chunk = ConvBatchChunk(x, y);
  INFO(x.ToString() << " -> " << y.ToString() << ": chunk " << chunk);
  REQUIRE(chunk >= 1);
  REQUIRE(chunk <= n);
  const int64_t calls = (n + chunk - 1) / chunk;
  const int64_t last = n - (calls - 1) * chunk;
  CHECK(chunk * per <= kCudnnMaxElements);  // x and y of a full chunk
  CHECK(last * per <= kCudnnMaxElements);   // and of the last one
  CHECK(last >= 1);
  const int64_t fit = kCudnnMaxElements / per;  // the most samples one call may take
  CHECK(calls == (n + fit - 1) / fit);          // the fewest calls
  CHECK(chunk - last < calls);                  // as even as the count allows
  return calls;
}

// Every convolution of a GPEN release at `batch`, as the CUDA backend runs it (the fused
// graph). Returns how many need more than one cuDNN call; *largest is the largest
// whole-batch tensor among them.
int64_t CheckGpen(const std::string& arch, int64_t batch, int64_t* largest) {
  auto w = GpenWeights::ShapesOnly(GpenArch::Preset(arch).value());
  REQUIRE(w.ok());
  GpenGraphOptions go;
  go.batch = batch;
  const Graph g = FuseGraph(BuildGpenGraph(w.value(), go));
  int64_t split = 0, convs = 0;
  *largest = 0;
  for (const Node& node : g.nodes()) {
    if (node.kind != OpKind::kConv2d && node.kind != OpKind::kConvTranspose2d) continue;
    const Shape& x = g.tensor(node.in[0]).shape;  // (N, Cin, H, W)
    const Shape& y = g.tensor(node.out).shape;    // (N, Cout, Ho, Wo)
    INFO(arch << " batch " << batch << ", " << node.name);
    REQUIRE(x.n() == batch);
    ++convs;
    *largest = std::max({*largest, x.numel(), y.numel()});
    if (CheckSplit(x, y) > 1) ++split;
  }
  CHECK(convs > 0);
  MESSAGE(arch << " batch " << batch << ": " << split << " of " << convs
               << " convolutions split, largest tensor " << *largest << " elements");
  return split;
}

}  // namespace

TEST_CASE("planner: cuDNN batch chunk is the whole batch when it fits") {
  CHECK(ConvBatchChunk({1, 3, 8, 8}, {1, 16, 8, 8}) == 1);
  CHECK(ConvBatchChunk({64, 3, 512, 512}, {64, 64, 512, 512}) == 64);  // exactly 2^30
  // 2^31 - 1 elements in x is still one call; y is counted as well as x.
  CHECK(ConvBatchChunk({1, 1, 1, kCudnnMaxElements}, {1, 1, 1, 1}) == 1);
  CHECK(ConvBatchChunk({1, 1, 1, 1}, {1, 1, 1, kCudnnMaxElements}) == 1);
}

TEST_CASE("planner: cuDNN batch chunks split as PyTorch does, evenly") {
  // 2^31 elements: two calls of 32 samples.
  CHECK(ConvBatchChunk({64, 128, 512, 512}, {64, 64, 512, 512}) == 32);
  CHECK(ConvBatchChunk({64, 64, 512, 512}, {64, 128, 512, 512}) == 32);  // y decides
  // 63 samples fit one call: 64 go as 32 + 32, not 63 + 1.
  const int64_t per = kCudnnMaxElements / 63;
  CHECK(ConvBatchChunk({64, 1, 1, per}, {64, 1, 1, 1}) == 32);
  // Two samples fit: 5 go as 2 + 2 + 1.
  const int64_t two = kCudnnMaxElements / 2;
  CHECK(ConvBatchChunk({5, 1, 1, two}, {5, 1, 1, two}) == 2);
  CHECK(CheckSplit({5, 1, 1, two}, {5, 1, 1, two}) == 3);
  // One sample per call.
  CHECK(ConvBatchChunk({3, 1, 1, two + 1}, {3, 1, 1, 1}) == 1);
  for (int64_t n : {1, 2, 3, 7, 16, 31, 32, 33, 63, 64, 65, 100}) {
    for (int64_t c : {1, 3, 64, 128, 513}) CheckSplit({n, c, 1024, 1024}, {n, c, 1024, 1024});
  }
}

TEST_CASE("planner: cuDNN batch chunk is 0 when one sample is too large") {
  CHECK(ConvBatchChunk({1, 1, 1, kCudnnMaxElements + 1}, {1, 1, 1, 1}) == 0);
  CHECK(ConvBatchChunk({4, 1, 1, 1}, {4, 2, 1 << 15, 1 << 15}) == 0);
}

TEST_CASE("planner: GPEN releases at the large-card batches stay within cuDNN's limit") {
  int64_t largest = 0;
  // Each reaches 2^31 elements (e.g. a top-resolution StyledConv of 512 with its
  // concatenated encoder feature, (64, 128, 512, 512)): some convolutions must be split.
  CHECK(CheckGpen("bfr512", 64, &largest) > 0);
  CHECK(largest > kCudnnMaxElements);
  CHECK(CheckGpen("bfr1024", 32, &largest) > 0);
  CHECK(largest > kCudnnMaxElements);
  CHECK(CheckGpen("bfr2048", 16, &largest) > 0);
  CHECK(largest > kCudnnMaxElements);
}

TEST_CASE("planner: GPEN releases at the batch planned for a 141 GiB card split within limits") {
  for (const char* arch : {"bfr512", "bfr1024", "bfr2048"}) {
    auto w = GpenWeights::ShapesOnly(GpenArch::Preset(arch).value());
    REQUIRE(w.ok());
    for (Precision p : {Precision::kFp32, Precision::kFp16}) {
      PlanRequest r;
      r.device = Device::kCuda;
      r.precision = p;
      r.faces = 1000;
      r.budget = int64_t{141} << 30;
      auto plan = ChooseRunPlan(View(w.value()), IoOf(w.value()), r);
      REQUIRE(plan.ok());
      REQUIRE_FALSE(plan->tiled);
      int64_t largest = 0;
      CheckGpen(arch, plan->batch, &largest);
    }
  }
}
