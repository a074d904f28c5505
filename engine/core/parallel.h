// ParallelFor: a small persistent thread pool for the CPU backend's element-wise loops,
// and the start of the CPU backend's threads (the pool's and OpenBLAS's).
//
// Why not OpenMP: libgomp's worker threads spin after each parallel region, and on a
// 2-core machine they steal the cores OpenBLAS's own threads need for the next GEMM
// (measured: GPEN-512 went from 3.7 s to 1.7 s per face with passive waiting). This
// pool blocks on a condition variable instead, so GEMM and element-wise work never
// fight over cores.
//
// Threads are a resource like memory: under a process limit (ulimit -u) or an
// address-space limit (ulimit -v, every thread maps a stack) fewer can be created than
// asked for. The pool then goes on with the threads it got and says so. OpenBLAS is
// never asked for more threads than it started with: it creates them without checking
// that they exist, and a GEMM handed to a thread that does not exist never returns.
//
// Under CPU contention (issue 13: a laptop is never idle) every split must adapt to
// threads that run slower than others. ParallelFor hands out many small chunks from an
// atomic counter, so a thread on a busy core simply takes fewer of them. OpenBLAS's own
// threads cannot do that: they split each GEMM into equal static parts and spin-wait
// (sched_yield) on each other inside it and between GEMMs, so one preempted thread
// stalls the GEMM while its partner burns the free core (GPEN-512 with one core busy:
// 2 threads slower than 1). So OpenBLAS runs single-threaded and our GEMMs are split
// into column blocks over this pool (cpu/ops.cpp ParallelSgemm), GemmThreads() callers
// at a time. Under an address-space limit each concurrent caller would map another
// OpenBLAS buffer lazily (and OpenBLAS retries a failed map forever), so there OpenBLAS
// keeps its own threads and GemmThreads() is 1.
//
// Dynamic chunks do not help against a process that never sleeps: a worker sharing its
// core waits a scheduler slice for it after every op, and ops last about as long. So by
// default (threads 0) the pool uses only the cores other processes leave free, measured
// as it runs (core/cpu_load.h); an explicit thread count is always used as given.
#pragma once

#include <cstdint>
#include <functional>

#include "core/status.h"

namespace gpen {

// OpenBLAS's buffer per thread (BUFFER_SIZE in OpenBLAS's common_x86_64.h: 32 << 22):
// address space mapped at the thread's first GEMM, kept for the life of the process.
// Only what a GEMM packs into it becomes resident (run_plan.cpp counts that).
inline constexpr int64_t kBlasBufferBytes = int64_t{128} << 20;

// Number of worker threads (including the caller); 0 = auto: the pool starts one per
// core and uses as many as other processes leave free (core/cpu_load.h).
void SetParallelThreads(int threads);
// The threads the pool has: fewer than asked for when no more could be created.
int ParallelThreads();
// The threads a ParallelFor uses now: the pool's, or in auto mode the free cores,
// measured again every FreeCores::kIntervalS.
int ActiveThreads();

// The threads OpenBLAS uses when `threads` are asked for (0 = all it started with):
// at most the number it created when it was loaded (all cores or OPENBLAS_NUM_THREADS).
int BlasThreadsFor(int threads);

// Starts the CPU backend's threads for `threads` (0 = auto, see above): the pool (falling back
// to the threads it can create, with a notice) and OpenBLAS's share. The first call also
// has OpenBLAS map its buffer for the calling thread now, with one small GEMM, so that
// later GEMMs never allocate: OpenBLAS retries a buffer it cannot map forever. It fails
// (OutOfMemory) instead when the address-space limit leaves no room for that buffer.
[[nodiscard]] Status StartCpuThreads(int threads);

// How many threads may call cblas_sgemm at once (OpenBLAS then single-threaded): the
// threads OpenBLAS would have used, or 1 when OpenBLAS keeps its own threads (see above).
int GemmThreads();

// Whether GEMMs are split into blocks over the pool (OpenBLAS single-threaded; false
// before StartCpuThreads and under an address-space limit), and the thread count the
// blocks are sized for: OpenBLAS's threads at load, whatever --threads or the free cores
// say. A GEMM's blocks, and with them its rounding, so do not depend on how many threads
// run them: the output is the same at any --threads and under any load.
bool GemmsSplit();
int GemmBlockThreads();

// Calls fn(begin, end) on disjoint chunks covering [0, n), claimed one at a time from a
// shared counter by at most `max_threads` threads (0 = ActiveThreads()); returns when
// all are done. An exception thrown by fn is rethrown here once every chunk has ended
// (chunks not started by then are skipped). Callers from several threads take turns; fn
// must not call ParallelFor itself: a nested call is a programmer error (GPEN_CHECK).
void ParallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int max_threads = 0);

// Chunks ParallelFor splits `n` into for `threads` threads: enough per thread that a
// thread slowed by another process takes fewer while the others take more.
int64_t ParallelChunks(int64_t n, int threads);

}  // namespace gpen
