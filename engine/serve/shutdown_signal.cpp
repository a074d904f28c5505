// SIGTERM/SIGINT through a pipe (the self-pipe pattern).
#include "serve/shutdown_signal.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace gpen::serve {

namespace {

std::atomic<int> g_write_fd{-1};

void OnSignal(int) {
  const int saved = errno;
  const int fd = g_write_fd.load();
  const char byte = 's';
  if (fd >= 0) (void)!::write(fd, &byte, 1);
  errno = saved;
}

}  // namespace

Status ShutdownSignal::Install() {
  if (::pipe2(fds_, O_CLOEXEC) != 0) {
    return IoError(std::string("cannot create a pipe for the signal handler: ") +
                   std::strerror(errno));
  }
  ::fcntl(fds_[1], F_SETFL, O_NONBLOCK);  // a full pipe already says "stop"
  g_write_fd = fds_[1];
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, &old_term_);
  sigaction(SIGINT, &sa, &old_int_);
  installed_ = true;
  return Status::Ok();
}

bool ShutdownSignal::Wait() {
  char byte = 0;
  for (;;) {
    const ssize_t n = ::read(fds_[0], &byte, 1);
    if (n == 1) return byte == 's';
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

void ShutdownSignal::Wake() {
  const char byte = 'w';
  if (fds_[1] >= 0) (void)!::write(fds_[1], &byte, 1);
}

ShutdownSignal::~ShutdownSignal() {
  if (installed_) {
    sigaction(SIGTERM, &old_term_, nullptr);
    sigaction(SIGINT, &old_int_, nullptr);
    g_write_fd = -1;
  }
  for (int fd : fds_) {
    if (fd >= 0) ::close(fd);
  }
}

}  // namespace gpen::serve
