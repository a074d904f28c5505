// RetinaFace on the CUDA backend (a GPU, or the CPU emulator in CI) against the CPU
// backend: both backbones with random weights at odd sizes, and the mobilenet0.25 fixture
// model, in fp32. The ops RetinaFace added (depthwise convolution, max pooling, nearest to
// a size) have their one-op rows in test_backend_ops.cpp; this checks the whole graph.
//
// Tolerance: both backends compute in fp32 and differ in the order of sums (cuDNN or
// cuBLAS against OpenBLAS), ~1e-7 relative per layer through ~30 (mobilenet0.25) or ~70
// (ResNet-50) layers: 1e-4 absolute + 1e-4 relative elementwise on heads of order 1 and
// 1e-5 relative L2, the CPU fixture bound, still far below an indexing error (O(1)).
// fp16 (the fixture model): activations and convolution weights stored in fp16 (2^-11
// relative per rounding) with fp32 sums, ~30 layers deep, inputs of magnitude ~100:
// measured 2e-3 relative L2 and 6e-3 at worst on heads of order 1; bounds 5e-3 relative
// L2 and 2e-2 absolute + 2e-2 relative elementwise.
#include <doctest/doctest.h>

#include <memory>
#include <random>
#include <string>
#include <tuple>

#include "compare.h"
#include "fixtures.h"
#include "net/registry.h"
#include "net/retinaface_net.h"
#include "retinaface_helpers.h"

using namespace gpen;
using namespace gpen::test;

namespace {

void CudaAgainstCpu(const std::string& what, const std::shared_ptr<const RetinaFaceNetwork>& net,
                    int64_t h, int64_t w, Precision prec = Precision::kFp32,
                    Tolerance tol = {1e-4, 1e-4, 1e-5}) {
  const std::vector<float> x = RandomDetectorInput(3 * h * w, 11);
  CheckHeads(what, RunHeads(net, Device::kCuda, x, h, w, prec),
             RunHeads(net, Device::kCpu, x, h, w), tol);
}

std::shared_ptr<const RetinaFaceNetwork> Preset(const std::string& arch, uint64_t seed) {
  auto net = NetworkForArch(arch, seed);
  REQUIRE_MESSAGE(net.ok(), net.status().ToString());
  auto rf = std::dynamic_pointer_cast<const RetinaFaceNetwork>(net.value());
  REQUIRE(rf != nullptr);
  return rf;
}

}  // namespace

TEST_CASE("gpu retinaface: CUDA against CPU, random mobilenet0.25 and resnet50, odd sizes") {
  CudaAgainstCpu("retinaface-mnet 97x131", Preset("retinaface-mnet", 3), 97, 131);
  CudaAgainstCpu("retinaface-r50 97x131", Preset("retinaface-r50", 4), 97, 131);
}

TEST_CASE("gpu retinaface: CUDA against CPU, the mobilenet0.25 fixture model") {
  auto net = LoadNetwork(ModelsDir() + "/retinaface_mnet.safetensors");
  REQUIRE_MESSAGE(net.ok(), net.status().ToString());
  auto rf = std::dynamic_pointer_cast<const RetinaFaceNetwork>(net.value());
  REQUIRE(rf != nullptr);
  CudaAgainstCpu("retinaface_mnet 83x101", rf, 83, 101);
  CudaAgainstCpu("retinaface_mnet 83x101 [fp16]", rf, 83, 101, Precision::kFp16,
                 {2e-2, 2e-2, 5e-3});
}
