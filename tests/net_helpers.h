// Small helpers for tests that hold GPEN weights and call the network-generic engine
// (session, planner, batch runner) with them.
#pragma once

#include <memory>

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

}  // namespace gpen::test
