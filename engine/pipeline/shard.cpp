// Shards and resumption: the share of a run's files that one worker takes.
#include "pipeline/shard.h"

#include <sys/stat.h>

#include <cstdlib>

namespace gpen {

Result<Shard> ParseShard(const std::string& v) {
  const Status bad = InvalidArgument(
      "--shard '" + v + "' is not K/N with 0 <= K < N",
      "for example --shard 0/4 ... --shard 3/4 for four workers (K counts from 0, as "
      "SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX do)");
  const size_t slash = v.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == v.size()) return bad;
  const std::string ks = v.substr(0, slash), ns = v.substr(slash + 1);
  for (const std::string& s : {ks, ns}) {
    if (s.size() > 7 || s.find_first_not_of("0123456789") != std::string::npos) return bad;
  }
  Shard s{std::atoll(ks.c_str()), std::atoll(ns.c_str())};
  if (s.n < 1 || s.n > 1'000'000 || s.k >= s.n) return bad;
  return s;
}

int64_t ShardOf(const std::string& path, int64_t n) {
  const size_t slash = path.find_last_of('/');
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  uint64_t h = 14695981039346656037ull;  // FNV-1a, 64-bit offset basis
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ull;  // FNV prime
  }
  return static_cast<int64_t>(h % static_cast<uint64_t>(n));
}

std::vector<Job> SelectShard(const std::vector<Job>& jobs, const Shard& s) {
  std::vector<Job> mine;
  for (const Job& j : jobs) {
    if (ShardOf(j.in, s.n) == s.k) mine.push_back(j);
  }
  return mine;
}

std::vector<Job> SkipFinished(const std::vector<Job>& jobs) {
  std::vector<Job> left;
  for (const Job& j : jobs) {
    struct stat st {};
    const bool done = stat(j.out.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
    if (!done) left.push_back(j);
  }
  return left;
}

}  // namespace gpen
