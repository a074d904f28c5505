// Compare(): shape, finiteness, elementwise bound, relative L2 (see compare.h).
#include "compare.h"

#include <cmath>
#include <sstream>

namespace gpen::test {

namespace {
std::string Coords(const Shape& s, int64_t flat) {
  std::vector<int64_t> c(s.rank());
  for (int i = static_cast<int>(s.rank()) - 1; i >= 0; --i) {
    c[i] = flat % s[i];
    flat /= s[i];
  }
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < c.size(); ++i) os << (i ? ", " : "") << c[i];
  return os.str() + "]";
}
}  // namespace

CompareResult Compare(const std::string& what, const float* x, const Shape& xs, const float* ref,
                      const Shape& refs, const Tolerance& tol) {
  CompareResult r;
  if (xs != refs) {
    r.message = what + ": shape " + xs.ToString() + ", expected " + refs.ToString();
    return r;
  }
  const int64_t n = xs.numel();
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) {
      r.message = what + ": non-finite value " + std::to_string(x[i]) + " at " + Coords(xs, i);
      return r;
    }
  }
  double num = 0, den = 0, worst_excess = -1;
  int64_t worst = -1;
  for (int64_t i = 0; i < n; ++i) {
    const double d = std::fabs(static_cast<double>(x[i]) - ref[i]);
    num += d * d;
    den += static_cast<double>(ref[i]) * ref[i];
    if (d > r.max_abs) r.max_abs = d;
    const double excess = d - (tol.atol + tol.rtol * std::fabs(static_cast<double>(ref[i])));
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = i;
    }
  }
  r.rel_l2 = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  std::ostringstream os;
  os.precision(4);
  os << what << ": max |diff| " << r.max_abs << ", rel L2 " << r.rel_l2;
  if (worst_excess > 0) {
    os << "; FAILED at " << Coords(xs, worst) << ": got " << x[worst] << ", expected " << ref[worst]
       << " (atol " << tol.atol << ", rtol " << tol.rtol << ")";
    r.message = os.str();
    return r;
  }
  if (r.rel_l2 > tol.max_rel_l2) {
    os << "; FAILED: rel L2 above " << tol.max_rel_l2 << " (worst element at "
       << (worst >= 0 ? Coords(xs, worst) : std::string("?")) << ")";
    r.message = os.str();
    return r;
  }
  r.ok = true;
  r.message = os.str();
  return r;
}

}  // namespace gpen::test
