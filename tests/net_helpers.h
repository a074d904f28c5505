// Small helpers for tests that hold GPEN weights and call the network-generic engine
// (session, planner, batch runner) with them, and for the detector's tests.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "model/gpen_weights.h"
#include "net/gpen_net.h"

namespace gpen::test {

// A GpenNetwork over weights the caller keeps alive (no copy, no ownership).
inline GpenNetwork View(const GpenWeights& w) {
  return GpenNetwork(std::shared_ptr<const GpenWeights>(std::shared_ptr<const GpenWeights>(), &w));
}
// GPEN's item shapes (every face is resized to in_size).
inline IoSpec IoOf(const GpenWeights& w) {
  return View(w).Io(w.arch.in_size, w.arch.in_size).value();
}

// A detector input of n values, seeded: uniform over the range of 8-bit BGR minus
// RetinaFace's means (104, 117, 123).
inline std::vector<float> RandomDetectorInput(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-120.f, 130.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = u(rng);
  return v;
}

}  // namespace gpen::test
