// Status: the result of anything a user can get wrong (files, shapes, flags, memory).
//
// The engine never exits or aborts. Operations that can fail because of their
// input return a [[nodiscard]] Status (or Result<T>) carrying a message, which names
// the file, tensor or flag involved and what was expected, and a hint for the user.
// Only main() turns a Status into an exit code. Programmer errors are different:
// they go through GPEN_CHECK (core/check.h). Reading the value of a failed Result is
// one: value() and -> check ok() and throw InternalError naming the Status.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "core/check.h"

namespace gpen {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,  // a flag or parameter the user passed
  kIo,               // a file that cannot be read or written
  kFormat,           // a model or image file that is malformed
  kShape,            // a tensor or image whose shape is not the one expected
  kOutOfMemory,      // an allocation that failed or a budget that is too small
  kUnavailable,      // a device or feature this build or machine does not have
  kInternal,
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message, std::string hint = {})
      : code_(code), message_(std::move(message)), hint_(std::move(hint)) {}
  static Status Ok() { return {}; }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& hint() const { return hint_; }
  // "message (hint: ...)" for logs and tests.
  std::string ToString() const {
    if (ok()) return "ok";
    return hint_.empty() ? message_ : message_ + "\n  hint: " + hint_;
  }
  // Prefixes context, e.g. the file being processed.
  Status WithContext(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + message_, hint_);
  }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
  std::string hint_;
};

inline Status InvalidArgument(std::string m, std::string h = {}) {
  return {ErrorCode::kInvalidArgument, std::move(m), std::move(h)};
}
inline Status IoError(std::string m, std::string h = {}) {
  return {ErrorCode::kIo, std::move(m), std::move(h)};
}
inline Status FormatError(std::string m, std::string h = {}) {
  return {ErrorCode::kFormat, std::move(m), std::move(h)};
}
inline Status ShapeError(std::string m, std::string h = {}) {
  return {ErrorCode::kShape, std::move(m), std::move(h)};
}
inline Status OutOfMemory(std::string m, std::string h = {}) {
  return {ErrorCode::kOutOfMemory, std::move(m), std::move(h)};
}
inline Status Unavailable(std::string m, std::string h = {}) {
  return {ErrorCode::kUnavailable, std::move(m), std::move(h)};
}

// A value or the Status explaining why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // NOLINT
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  // The value; a failed Result has none, and asking for it is a bug (InternalError).
  T& value() & {
    CheckHasValue();
    return *value_;
  }
  T&& value() && {
    CheckHasValue();
    return std::move(*value_);
  }
  const T& value() const& {
    CheckHasValue();
    return *value_;
  }
  T* operator->() {
    CheckHasValue();
    return &*value_;
  }
  const T* operator->() const {
    CheckHasValue();
    return &*value_;
  }

 private:
  void CheckHasValue() const {
    GPEN_CHECK_MSG(ok(), "value of a failed Result read: " << status_.ToString());
    GPEN_CHECK_MSG(value_.has_value(), "Result built from an ok Status holds no value");
  }

  Status status_;
  std::optional<T> value_;
};

}  // namespace gpen

#define GPEN_CONCAT_INNER(a, b) a##b
#define GPEN_CONCAT(a, b) GPEN_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` failed.
#define GPEN_TRY(expr)                                   \
  do {                                                   \
    ::gpen::Status gpen_try_status_ = (expr);            \
    if (!gpen_try_status_.ok()) return gpen_try_status_; \
  } while (0)

// `GPEN_ASSIGN_OR_RETURN(auto x, MakeX())`: unwraps a Result or returns its Status.
#define GPEN_ASSIGN_OR_RETURN(lhs, rexpr) \
  GPEN_ASSIGN_OR_RETURN_IMPL(GPEN_CONCAT(gpen_result_, __LINE__), lhs, rexpr)
#define GPEN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                               \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
