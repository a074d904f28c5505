// ParallelFor: a small persistent thread pool for the CPU backend's element-wise loops.
//
// Why not OpenMP: libgomp's worker threads spin after each parallel region, and on a
// 2-core machine they steal the cores OpenBLAS's own threads need for the next GEMM
// (measured: GPEN-512 went from 3.7 s to 1.7 s per face with passive waiting). This
// pool blocks on a condition variable instead, so GEMM and element-wise work never
// fight over cores.
#pragma once

#include <cstdint>
#include <functional>

namespace gpen {

// Number of worker threads (including the caller); 0 = hardware concurrency.
void SetParallelThreads(int threads);
int ParallelThreads();

// Calls fn(begin, end) on disjoint chunks covering [0, n); returns when all are done.
// Callers from several threads take turns; fn must not call ParallelFor itself.
void ParallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace gpen
