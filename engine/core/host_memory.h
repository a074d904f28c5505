// Host memory limits of this process: the address-space limit (ulimit -v; the data
// limit, ulimit -d, counts mappings alike) and how much of it is left.
//
// Why: under RLIMIT_AS every mapping counts, not only what is resident: thread stacks,
// malloc arenas and OpenBLAS's 128 MiB buffer per thread take address space long
// before they take memory. The CPU planner caps its budget at what is left, the thread
// pool starts no more threads than the limit has room for, and OpenBLAS is refused
// before it would loop forever on a buffer it cannot map (core/parallel.h).
// Header-only: read by core, the planner and the CLI alike.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <limits>

namespace gpen {

inline constexpr int64_t kNoLimit = std::numeric_limits<int64_t>::max();

namespace host_memory_detail {

inline int64_t Soft(int resource) {
  struct rlimit rl {};
  if (getrlimit(resource, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return kNoLimit;
  return rl.rlim_cur > static_cast<rlim_t>(kNoLimit) ? kNoLimit : static_cast<int64_t>(rl.rlim_cur);
}

// Fields of /proc/self/statm in bytes: 0 = all mappings (VmSize), 5 = data and stack
// (what RLIMIT_DATA counts); 0 when it cannot be read.
inline int64_t Statm(int field) {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long long v[7] = {};
  const int got = std::fscanf(f, "%lld %lld %lld %lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3],
                              &v[4], &v[5], &v[6]);
  std::fclose(f);
  return got == 7 ? v[field] * static_cast<int64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

}  // namespace host_memory_detail

// Address space this process has mapped now (VmSize), or 0 when it cannot be read.
inline int64_t AddressSpaceUsed() {
  return host_memory_detail::Statm(0);
}

// Resident memory of this process now (VmRSS), or 0 when it cannot be read.
inline int64_t ResidentBytes() {
  return host_memory_detail::Statm(1);
}

// The resident memory of the process when main() began: the code and data of every
// library it loads, which no plan line sees otherwise. In a build linked against the
// CUDA toolkit that is about 125 MiB (cuDNN, cuBLAS and the runtime relocate and
// initialise their data when loaded), a few MiB without. main() records it first thing;
// 0 until then (tests that plan without main).
inline int64_t& ProcessStartResidentSlot() {
  static int64_t bytes = 0;
  return bytes;
}
inline void RecordProcessStartResident() {
  ProcessStartResidentSlot() = ResidentBytes();
}
inline int64_t ProcessStartResident() {
  return ProcessStartResidentSlot();
}

// The smaller of the address-space limit (ulimit -v) and the data limit (ulimit -d,
// which counts private writable mappings too), in bytes, or kNoLimit.
inline int64_t AddressSpaceLimit() {
  using namespace host_memory_detail;
  const int64_t as = Soft(RLIMIT_AS), data = Soft(RLIMIT_DATA);
  return as < data ? as : data;
}

// What those limits leave to map now, or kNoLimit when there is none.
inline int64_t AddressSpaceHeadroom() {
  using namespace host_memory_detail;
  const int64_t as = Soft(RLIMIT_AS), data = Soft(RLIMIT_DATA);
  int64_t left = kNoLimit;
  if (as != kNoLimit) left = as - Statm(0);
  if (data != kNoLimit && data - Statm(5) < left) left = data - Statm(5);
  return left == kNoLimit ? kNoLimit : (left > 0 ? left : 0);
}

}  // namespace gpen
