// The engine's CUDA failure paths, driven through the CPU emulator (built with
// -DGPEN_CUDASIM=ON only): situations a GPU test cannot provoke on demand.
//
// 1. Every device allocation failure while a session is created is an out-of-memory
//    Status (so that the planner's fallback runs), never an internal error, and leaks
//    no device memory.
// 2. The fallback itself: the planner chose a batch for the memory free at the time,
//    memory is then taken away, and BatchRunner plans again for less and restores every
//    face, with the same result as the CPU.
// 3. No NVIDIA driver, or no GPU: a plain notice, not a CUDA error string.
// 4. Tiles of an image network that do not fit the device after all: the tile shrinks,
//    the pass runs again, and no tile is lost.
#include <cudasim/control.h>
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <random>

#include "batch_runner.h"
#include "cli/device_select.h"
#include "compare.h"
#include "fixtures.h"
#include "net/gpen_net.h"
#include "net/registry.h"
#include "net/rrdb_net.h"
#include "net_helpers.h"
#include "pipeline/image_job.h"
#include "session.h"

using namespace gpen;
using namespace gpen::test;

namespace {

std::shared_ptr<const GpenWeights> SmallWeights() {
  auto w = GpenWeights::Random(TinyArch(64, 64, 64), 71);
  REQUIRE(w.ok());
  return std::make_shared<const GpenWeights>(std::move(w).value());
}

std::vector<float> Input(int64_t faces) {
  std::mt19937 rng(72);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(static_cast<size_t>(faces * 3 * 64 * 64));
  for (float& x : v) x = u(rng);
  return v;
}

int64_t PlannedTotal(const GpenWeights& w, const BackendOptions& o, int64_t batch) {
  int64_t total = 0;
  for (const MemoryLine& l : PlanLines(View(w), IoOf(w), o, Device::kCuda, batch, nullptr, false))
    total += l.bytes;
  return total;
}

// Device bytes a session of `batch` faces allocates with the default (16 GiB) caps.
int64_t SessionBytes(std::shared_ptr<const GpenWeights> w, int64_t batch) {
  GraphOptions go;
  go.batch = batch;
  const size_t before = cudasim::DeviceBytesInUse();
  auto s = Session::Create(GpenNetwork::Wrap(w), go, Device::kCuda, {});
  REQUIRE_MESSAGE(s.ok(), s.status().ToString());
  return static_cast<int64_t>(cudasim::DeviceBytesInUse() - before);
}

// Restores the simulated device to its defaults when a test ends.
struct DeviceReset {
  ~DeviceReset() {
    cudasim::SetMemoryLimit(size_t{16} << 30);
    cudasim::SetDeviceCount(1);
  }
};

}  // namespace

TEST_CASE(
    "cudasim engine: a session that runs out of device memory returns OutOfMemory and leaks "
    "nothing") {
  DeviceReset reset;
  auto w = SmallWeights();
  GraphOptions go;
  go.batch = 2;
  const size_t base = cudasim::DeviceBytesInUse();
  int failures = 0, successes = 0;
  // From nothing up to what the whole session needs, so that each allocation in turn
  // (weights, arena, workspaces, style tables) is the one that fails.
  for (size_t limit = size_t{64} << 10; limit < (size_t{96} << 20); limit = limit * 3 / 2) {
    cudasim::SetMemoryLimit(base + limit);
    auto s = Session::Create(GpenNetwork::Wrap(w), go, Device::kCuda, {});
    if (s.ok()) {
      ++successes;
      continue;
    }
    ++failures;
    CHECK_MESSAGE(s.status().code() == ErrorCode::kOutOfMemory, s.status().ToString());
    CHECK(cudasim::DeviceBytesInUse() == base);
  }
  MESSAGE(failures << " limits failed with OutOfMemory, " << successes << " succeeded");
  CHECK(failures >= 3);
  CHECK(successes >= 1);
}

TEST_CASE(
    "cudasim engine: memory taken after planning makes BatchRunner plan again, and no face is "
    "lost") {
  DeviceReset reset;
  auto w = SmallWeights();
  // What one face needs as the planner counts it for a small budget (under 2 GiB it
  // caps the convolution and cuBLAS workspaces at 16 and 4 MiB), plus its margin.
  BackendOptions small;
  small.conv_workspace_limit = int64_t{16} << 20;
  small.cublas_workspace = int64_t{4} << 20;
  const int64_t free_now = PlannedTotal(*w, small, 1) + kMarginMin + (int64_t{4} << 20);
  // A face count whose session, as planned for 16 GiB, really allocates more than that.
  int64_t faces = 8;
  for (; faces <= kMaxBatchCuda; faces *= 2) {
    if (SessionBytes(w, faces) > free_now) break;
  }
  REQUIRE(faces <= kMaxBatchCuda);

  BatchRunnerOptions fo;
  fo.device = Device::kCuda;
  fo.items = faces;
  fo.quiet = true;
  auto runner =
      BatchRunner::Create(GpenNetwork::Wrap(w), IoOf(*w), fo);  // plans for the 16 GiB free now
  REQUIRE_MESSAGE(runner.ok(), runner.status().ToString());
  CHECK(runner.value()->batch() == faces);
  // Another process takes memory: one face still fits with the margin, the batch not.
  cudasim::SetMemoryLimit(cudasim::DeviceBytesInUse() + static_cast<size_t>(free_now));

  auto in = Input(faces);  // TensorView takes mutable data
  std::vector<float> out(in.size(), 0.f), ref(in.size(), 0.f);
  const Shape s{faces, 3, 64, 64};
  const Status st = runner.value()->Run(TensorView(in.data(), s), TensorView(out.data(), s));
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  CHECK(runner.value()->batch() < faces);
  MESSAGE("planned batch " << faces << ", after the memory was taken: batch "
                           << runner.value()->batch());

  BatchRunnerOptions co;
  co.items = faces;
  co.quiet = true;
  auto cpu = BatchRunner::Create(GpenNetwork::Wrap(w), IoOf(*w), co);
  REQUIRE(cpu.ok());
  REQUIRE(cpu.value()->Run(TensorView(in.data(), s), TensorView(ref.data(), s)).ok());
  // fp32 on both; the emulated GPU sums in another order (see test_cuda.cpp).
  const CompareResult r =
      Compare("faces after re-planning vs cpu", out, s, ref, s, {1e-4, 1e-4, 1e-5});
  CHECK_MESSAGE(r.ok, r.message);
}

TEST_CASE("cudasim engine: no NVIDIA driver, or no GPU, reads as such") {
  DeviceReset reset;
  for (int devices : {-1, 0}) {
    cudasim::SetDeviceCount(devices);
    std::string why;
    CHECK_FALSE(CudaUsable(&why));
    CHECK_MESSAGE(why.find("no NVIDIA driver or GPU was found") != std::string::npos, why);
    auto s = Session::Create(GpenNetwork::Wrap(SmallWeights()), {}, Device::kCuda, {});
    REQUIRE_FALSE(s.ok());
    CHECK(s.status().code() != ErrorCode::kOutOfMemory);
  }
}

TEST_CASE("cudasim engine: tiles that do not fit the device shrink and no tile is lost") {
  DeviceReset reset;
  // A very small RRDBNet (receptive field about 18 input pixels), so that the emulator
  // runs it quickly.
  RrdbArch arch;
  arch.num_feat = 4, arch.num_block = 1, arch.num_grow_ch = 4;
  auto w = RrdbWeights::Random(arch, 9);
  REQUIRE(w.ok());
  const std::shared_ptr<const Network> net = std::make_shared<const RrdbNetwork>(
      std::make_shared<const RrdbWeights>(std::move(w).value()));
  Image img;
  img.height = 300;
  img.width = 400;
  for (int64_t i = 0; i < 3 * img.height * img.width; ++i)
    img.rgb.push_back(0.5f + 0.5f * std::cos(0.29f * static_cast<float>(i % 173)));
  PipelineOptions po;
  // Past the receptive field with a hard crop: any tiling equals the whole image.
  po.tiles.pad = 24;
  po.tiles.hard_crop = true;
  auto cpu = ImageJobRunner({net}, po).Run(img, "[cpu]");
  REQUIRE_MESSAGE(cpu.ok(), cpu.status().ToString());

  // A user budget the simulated card does not have: the plan runs the whole image as one
  // tile, its session cannot be allocated, and the pass is planned again for the memory
  // free, in tiles.
  po.device = Device::kCuda;
  po.budget = int64_t{8} << 30;
  auto io = net->Io(img.height, img.width);
  REQUIRE(io.ok());
  const size_t before = cudasim::DeviceBytesInUse();
  {
    auto whole = Session::Create(net, net->OptionsFor(io.value(), 1), Device::kCuda, {});
    REQUIRE(whole.ok());
    const size_t need = cudasim::DeviceBytesInUse() - before;
    whole.value().reset();
    MESSAGE("the whole image takes " << need << " bytes");
    // Room for the planner's margin (64 MiB) and about half of the whole image.
    cudasim::SetMemoryLimit(before + need / 2 + (size_t{64} << 20));
  }
  auto gpu = ImageJobRunner({net}, po).Run(img, "[cuda]");
  REQUIRE_MESSAGE(gpu.ok(), gpu.status().ToString());
  REQUIRE(gpu->data.size() == cpu->data.size());
  int64_t worst = 0;
  for (size_t i = 0; i < cpu->data.size(); ++i)
    worst = std::max<int64_t>(worst, std::abs(int(cpu->data[i]) - int(gpu->data[i])));
  CHECK(worst <= 1);  // 8-bit levels of outputs equal to float rounding
  CHECK(cudasim::DeviceBytesInUse() == before);
}
