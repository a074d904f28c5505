// GPEN_CHECK: the one checking macro for programmer and driver errors.
//
// A failed check means a bug (a broken invariant), not bad user input: user errors
// return a Status (core/status.h). The macro throws gpen::InternalError with the
// expression, file and line; main() catches it and exits non-zero, so the engine
// itself never calls exit() or abort(). CUDA_CHECK (cuda/cuda_check.h) reports
// driver errors through the same exception.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace gpen {

class InternalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] inline void FailCheck(const char* expr, const char* file, int line,
                                   const std::string& detail) {
  std::ostringstream os;
  os << "internal error: check '" << expr << "' failed at " << file << ":" << line;
  if (!detail.empty()) os << ": " << detail;
  throw InternalError(os.str());
}

}  // namespace gpen

#define GPEN_CHECK(cond)                                               \
  do {                                                                 \
    if (!(cond)) ::gpen::FailCheck(#cond, __FILE__, __LINE__, {});     \
  } while (0)

#define GPEN_CHECK_MSG(cond, msg)                                      \
  do {                                                                 \
    if (!(cond)) {                                                     \
      std::ostringstream gpen_check_os_;                               \
      gpen_check_os_ << msg;                                           \
      ::gpen::FailCheck(#cond, __FILE__, __LINE__, gpen_check_os_.str()); \
    }                                                                  \
  } while (0)
