// Temporary files and signals: what a SIGINT or SIGTERM leaves behind, and what a run
// must not mistake for an image.
//
// Outputs are written to `.NAME.tmp.XXXXXX` next to NAME and renamed into place
// (image/image.h, WriteFileAtomic), so an output is whole or absent. A signal between
// the two used to leave the temporary file. A small registry records what is being
// written now, and a signal handler removes it and then dies of the same signal with
// its default action (the exit status still says "interrupted"). The handler only makes
// async-signal-safe calls (open, getdents64, fstatat, unlinkat, close, sigaction,
// raise) on fixed-size slots, filled before the write starts.
//
// A slot names either a temporary file by its exact path (RegisterTempFile, for code
// that creates the file itself) or an output being written (PendingOutput): then the
// handler removes, in that output's folder, the files `.NAME.tmp.` + 6 characters that
// are regular, ours (same user) and modified since the write began.
// Header-only: WriteFileAtomic holds a PendingOutput while it writes.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <string>

namespace gpen {

namespace temp_files_detail {

constexpr int kSlots = 16;

struct Slot {
  std::atomic<int> state{0};  // 0 free, 1 being filled, 2 live
  bool exact = false;         // path is the temporary file itself, else its folder
  char path[PATH_MAX] = {};
  char prefix[NAME_MAX + 16] = {};  // ".NAME.tmp."
  time_t since = 0;
};

inline Slot g_slots[kSlots];

// Takes a free slot and fills it; -1 when all are taken or the names do not fit.
inline int Acquire(bool exact, const std::string& path, const std::string& prefix) {
  if (path.size() >= PATH_MAX || prefix.size() >= NAME_MAX + 16) return -1;
  for (int i = 0; i < kSlots; ++i) {
    int expected = 0;
    if (!g_slots[i].state.compare_exchange_strong(expected, 1)) continue;
    Slot& s = g_slots[i];
    s.exact = exact;
    std::memcpy(s.path, path.c_str(), path.size() + 1);
    std::memcpy(s.prefix, prefix.c_str(), prefix.size() + 1);
    s.since = std::time(nullptr) - 1;  // file times have whole seconds on some systems
    s.state.store(2, std::memory_order_release);
    return i;
  }
  return -1;
}

inline void Release(int slot) {
  if (slot >= 0) g_slots[slot].state.store(0, std::memory_order_release);
}

// The Linux directory entry getdents64 returns.
struct Dirent64 {
  uint64_t ino;
  int64_t off;
  unsigned short reclen;
  unsigned char type;
  char name[1];
};

// Async-signal-safe: removes the matching temporary files of one pending output.
inline void RemovePending(const Slot& s) {
  const int fd = open(s.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  const size_t plen = std::strlen(s.prefix);
  alignas(8) char buf[8192];
  for (;;) {
    const long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      const auto* d = reinterpret_cast<const Dirent64*>(buf + off);
      off += d->reclen;
      if (std::strncmp(d->name, s.prefix, plen) != 0 || std::strlen(d->name) != plen + 6) continue;
      struct stat st {};
      if (fstatat(fd, d->name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
          st.st_uid == geteuid() && st.st_mtime >= s.since) {
        unlinkat(fd, d->name, 0);
      }
    }
  }
  close(fd);
}

inline void OnSignal(int sig) {
  const int saved = errno;
  for (const Slot& s : g_slots) {
    if (s.state.load(std::memory_order_acquire) != 2) continue;
    if (s.exact) {
      unlink(s.path);
    } else {
      RemovePending(s);
    }
  }
  // Die of the same signal, with its default action, once this handler returns.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
  raise(sig);
  errno = saved;
}

}  // namespace temp_files_detail

// Installs the handler for SIGINT, SIGTERM and SIGHUP (a signal the process ignores,
// as under nohup, stays ignored). Call once, early in main.
inline void InstallTempFileCleanup() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    struct sigaction sa {};
    sa.sa_handler = temp_files_detail::OnSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(sig, &sa, nullptr);
  }
}

// True for the names WriteFileAtomic gives its temporary files: ".NAME.tmp.XXXXXX".
inline bool IsTempFileName(const std::string& name) {
  const size_t tag = name.rfind(".tmp.");
  return name.size() > 1 && name[0] == '.' && tag != std::string::npos && tag > 1 &&
         name.size() == tag + 5 + 6;
}

// While alive, a signal removes the temporary files of `target` (see above).
class PendingOutput {
 public:
  explicit PendingOutput(const std::string& target) {
    const size_t slash = target.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : target.substr(0, slash + 1);
    const std::string base = slash == std::string::npos ? target : target.substr(slash + 1);
    slot_ = temp_files_detail::Acquire(false, dir, "." + base + ".tmp.");
  }
  ~PendingOutput() { temp_files_detail::Release(slot_); }
  PendingOutput(const PendingOutput&) = delete;
  PendingOutput& operator=(const PendingOutput&) = delete;

 private:
  int slot_ = -1;
};

// For code that creates a temporary file itself: register its exact path after creating
// it, unregister after renaming or removing it. Returns the slot (-1: not registered).
inline int RegisterTempFile(const std::string& path) {
  return temp_files_detail::Acquire(true, path, "");
}
inline void UnregisterTempFile(int slot) {
  temp_files_detail::Release(slot);
}

}  // namespace gpen
