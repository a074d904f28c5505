// Helpers shared by the RetinaFace tests (CPU: test_retinaface.cpp; CUDA against CPU:
// test_retinaface_cuda.cpp): a seeded detector input, one run of the heads on a device,
// and the comparison of two sets of heads with the one comparison helper.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "compare.h"
#include "net/retinaface_net.h"

namespace gpen::test {

// A detector input of n values, seeded: uniform over the range of 8-bit BGR minus
// RetinaFace's means (104, 117, 123).
inline std::vector<float> RandomDetectorInput(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-120.f, 130.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = u(rng);
  return v;
}

// The heads of one (3, h, w) input on `device`.
inline DetectorHeads RunHeads(std::shared_ptr<const RetinaFaceNetwork> net, Device device,
                              const std::vector<float>& x, int64_t h, int64_t w,
                              Precision precision = Precision::kFp32) {
  BackendOptions o;
  o.precision = precision;
  auto d = RetinaFaceDetector::Create(std::move(net), h, w, device, o);
  REQUIRE_MESSAGE(d.ok(), d.status().ToString());
  auto r = d.value()->RunHeads(x.data());
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return std::move(r).value();
}

// loc, conf and landms of `got` against `want`, each within `tol`.
inline void CheckHeads(const std::string& what, const DetectorHeads& got, const DetectorHeads& want,
                       const Tolerance& tol) {
  const int64_t p = want.priors;
  REQUIRE(got.priors == p);
  for (auto [name, a, b, k] : {std::tuple{"loc", &got.loc, &want.loc, kRetinaFaceLoc},
                               std::tuple{"conf", &got.conf, &want.conf, kRetinaFaceConf},
                               std::tuple{"landms", &got.landms, &want.landms, kRetinaFaceLandm}}) {
    const CompareResult c = Compare(what + " " + name, *a, {p, k}, *b, {p, k}, tol);
    MESSAGE(c.message);
    CHECK_MESSAGE(c.ok, c.message);
  }
}

}  // namespace gpen::test
