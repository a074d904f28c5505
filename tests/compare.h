// The one comparison helper of the test suite.
//
// Checks, in order: shape; NaN/Inf in the result; |x - ref| <= atol + rtol * |ref| for
// every element; relative L2 error ||x - ref|| / ||ref|| <= max_rel_l2. On failure the
// message names the worst element by its coordinates. Every caller states why its
// tolerances are what they are.
#pragma once

#include <string>
#include <vector>

#include "core/shape.h"

namespace gpen::test {

struct Tolerance {
  double atol = 0;
  double rtol = 0;
  double max_rel_l2 = 0;
};

struct CompareResult {
  bool ok = false;
  std::string message;  // what failed (or a summary when ok)
  double max_abs = 0;   // largest |x - ref|
  double rel_l2 = 0;    // ||x - ref|| / ||ref||
};

CompareResult Compare(const std::string& what, const float* x, const Shape& xs, const float* ref,
                      const Shape& refs, const Tolerance& tol);

inline CompareResult Compare(const std::string& what, const std::vector<float>& x, const Shape& xs,
                             const std::vector<float>& ref, const Shape& refs,
                             const Tolerance& tol) {
  if (x.size() != static_cast<size_t>(xs.numel()) || ref.size() != static_cast<size_t>(refs.numel()))
    return {false, what + ": buffer sizes disagree with shapes", 0, 0};
  return Compare(what, x.data(), xs, ref.data(), refs, tol);
}

}  // namespace gpen::test
