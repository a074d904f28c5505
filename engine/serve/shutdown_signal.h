// ShutdownSignal: SIGTERM and SIGINT turned into something a thread can wait for.
//
// The handler only writes one byte to a pipe (async-signal-safe); a thread blocked in
// Wait() then does the real work (gpen serve: refuse new jobs, let the running one
// finish, stop the server). Wake() ends the wait without a signal. The previous
// handlers come back and the pipe is closed when the object goes.
#pragma once

#include <signal.h>

#include "core/status.h"

namespace gpen::serve {

class ShutdownSignal {
 public:
  ShutdownSignal() = default;
  ~ShutdownSignal();
  ShutdownSignal(const ShutdownSignal&) = delete;
  ShutdownSignal& operator=(const ShutdownSignal&) = delete;

  // Creates the pipe and installs the handlers.
  [[nodiscard]] Status Install();
  // Blocks until a signal or Wake(); true when a signal came.
  bool Wait();
  void Wake();

 private:
  int fds_[2] = {-1, -1};
  struct sigaction old_term_ {
  }, old_int_{};
  bool installed_ = false;
};

}  // namespace gpen::serve
