// Shards and resumption: which of a run's jobs this process does.
//
// Scale-out past one machine uses the schedulers people already run (a Slurm job array,
// a Kubernetes Indexed Job, or N local processes), not a scheduler of ours: each worker
// is given `--shard K/N` and takes the files whose name hashes to K modulo N. The share
// is stable and deterministic: it depends on a file's name alone (FNV-1a, 64 bits), so
// every worker agrees without talking to the others, each file has exactly one owner,
// and adding or removing files never moves the others between shards. `--skip-existing`
// resumes an interrupted run: outputs are written whole or not at all (image/image.h),
// so an output that exists as a non-empty regular file is finished work.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "pipeline/jobs.h"

namespace gpen {

struct Shard {
  int64_t k = 0, n = 1;  // this worker's index, zero-based, of n
};

// "K/N" with 0 <= K < N <= 1,000,000; errors name --shard.
Result<Shard> ParseShard(const std::string& value);

// The FNV-1a hash of a file's name (no folder) modulo n.
int64_t ShardOf(const std::string& path, int64_t n);

// The jobs of shard s, in their order.
std::vector<Job> SelectShard(const std::vector<Job>& jobs, const Shard& s);

// The jobs whose output is not yet a non-empty regular file.
std::vector<Job> SkipFinished(const std::vector<Job>& jobs);

}  // namespace gpen
