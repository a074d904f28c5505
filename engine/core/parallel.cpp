// ParallelFor thread pool: workers sleep on a condition variable between jobs. The pool
// starts the threads it can (see parallel.h) and OpenBLAS is held to the threads it has.
#include "core/parallel.h"

#include <cblas.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "core/check.h"
#include "core/cpu_load.h"
#include "core/host_memory.h"

extern "C" void openblas_set_num_threads(int);
extern "C" int openblas_get_num_threads(void);

namespace gpen {

namespace {

using Fn = std::function<void(int64_t, int64_t)>;

// Set while this thread runs a ParallelFor body: a ParallelFor inside it is refused.
thread_local bool t_in_body = false;

void RunBody(const Fn& fn, int64_t begin, int64_t end) {
  t_in_body = true;
  try {
    fn(begin, end);
  } catch (...) {
    t_in_body = false;
    throw;
  }
  t_in_body = false;
}

// Address space one new thread maps for its stack (the process default).
int64_t ThreadStackBytes() {
  pthread_attr_t attr;
  size_t size = size_t{8} << 20;
  if (pthread_getattr_default_np(&attr) == 0) {
    pthread_attr_getstacksize(&attr, &size);
    pthread_attr_destroy(&attr);
  }
  return static_cast<int64_t>(std::max<size_t>(size, size_t{64} << 10));
}

class Pool {
 public:
  // Starts up to `threads` - 1 workers. Under an address-space limit their stacks may
  // take at most a quarter of what is left; a thread the system refuses ends the
  // start-up with the workers created so far. Either way a notice says so. It must not
  // throw: unwinding would destroy the condition variables under the workers already
  // waiting on them (a hang in pthread_cond_destroy) and then joinable threads.
  // `auto_threads`: the pool then uses only the cores others leave free (cpu_load.h).
  Pool(int threads, bool auto_threads) {
    int want = std::max(1, threads);
    std::string why;
    const int64_t headroom = AddressSpaceHeadroom();
    if (headroom != kNoLimit && want > 1) {
      const int64_t fit = 1 + headroom / 4 / ThreadStackBytes();
      if (fit < want) {
        want = static_cast<int>(std::max<int64_t>(1, fit));
        why = "the address-space limit (ulimit -v) leaves room for " + std::to_string(want) +
              (want == 1 ? " thread stack" : " thread stacks");
      }
    }
    try {
      workers_.reserve(static_cast<size_t>(want - 1));
      for (int i = 1; i < want; ++i) workers_.emplace_back([this] { Work(); });
    } catch (const std::system_error& e) {
      why = std::string("the system refused more: ") + e.what();
    } catch (const std::bad_alloc&) {
      why = "out of memory";
    }
    size_ = 1 + static_cast<int>(workers_.size());
    if (size_ < threads) {
      std::fprintf(stderr, "notice: started %d of %d CPU threads (%s); going on with %d\n", size_,
                   threads, why.c_str(), size_);
    }
    if (auto_threads && size_ > 1) free_ = std::make_unique<FreeCores>(size_);
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> l(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return size_; }
  int active() { return free_ ? free_->Threads() : size_; }

  // One ParallelFor at a time: the caller plus up to max_threads - 1 workers drain it.
  void Run(int64_t n, const Fn& fn, int max_threads) {
    std::lock_guard<std::mutex> caller(run_mutex_);              // one job at a time
    const int participants = std::clamp(max_threads, 1, size_);  // ParallelFor decided
    Job job(fn, n, ParallelChunks(n, participants), participants - 1);
    {
      std::lock_guard<std::mutex> l(m_);
      job_ = &job;
      ++generation_;
    }
    cv_.notify_all();
    Drain(&job);
    SpinUntil([&] { return job.active.load() == 0; });  // keep the core for a straggler
    std::unique_lock<std::mutex> l(m_);
    done_cv_.wait(l, [&] { return job.active.load() == 0; });  // every worker has left
    job_ = nullptr;
    if (job.error) std::rethrow_exception(job.error);
  }

 private:
  // Waits up to kSpin for `ready` before the caller sleeps on a condition variable. Under
  // contention a thread that sleeps between ops, or while the last chunk ends elsewhere,
  // waits a scheduler slice (milliseconds) to get a core back; ops follow each other
  // within microseconds, so a short spin keeps the core. Bounded, it costs an idle
  // machine nothing noticeable (unlike OpenMP's long spins, see parallel.h).
  template <typename Ready>
  static void SpinUntil(Ready ready) {
    constexpr auto kSpin = std::chrono::microseconds(50);
    const auto until = std::chrono::steady_clock::now() + kSpin;
    while (!ready()) {
      for (int i = 0; i < 64; ++i) CpuRelax();
      if (std::chrono::steady_clock::now() >= until) return;
    }
  }
  static void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::this_thread::yield();
#endif
  }

  // A job lives on its caller's stack; workers reach it only while `active` counts them.
  struct Job {
    Job(const Fn& f, int64_t size, int64_t parts, int free_seats)
        : fn(&f), n(size), chunks(parts), seats(free_seats) {}
    const Fn* fn;
    const int64_t n, chunks;
    std::atomic<int64_t> next{0};
    std::atomic<bool> failed{false};
    int seats;                   // workers that may still join (guarded by m_)
    std::atomic<int> active{0};  // workers inside Drain (changed under m_)
    std::exception_ptr error;    // the first exception fn threw (guarded by m_)
  };

  // Claims chunks until none are left; after a failure the rest are claimed, not run.
  void Drain(Job* j) {
    for (;;) {
      const int64_t c = j->next.fetch_add(1);
      if (c >= j->chunks) break;
      if (j->failed.load(std::memory_order_relaxed)) continue;
      const int64_t b = j->n * c / j->chunks, e = j->n * (c + 1) / j->chunks;
      try {
        RunBody(*j->fn, b, e);
      } catch (...) {
        std::lock_guard<std::mutex> l(m_);
        if (!j->error) j->error = std::current_exception();
        j->failed.store(true);
      }
    }
  }
  void Work() {
    uint64_t seen = 0;
    for (;;) {
      Job* j = nullptr;
      {
        std::unique_lock<std::mutex> l(m_);
        cv_.wait(l, [&] { return stop_ || (generation_ != seen && job_ != nullptr); });
        if (stop_) return;
        seen = generation_;
        if (job_->seats == 0) continue;  // enough threads on this job (max_threads)
        j = job_;
        --j->seats;
        ++j->active;
      }
      Drain(j);
      {
        std::lock_guard<std::mutex> l(m_);
        if (--j->active == 0) done_cv_.notify_all();
      }
      SpinUntil([&] { return generation_.load() != seen; });  // the next op comes soon
    }
  }

  std::mutex m_, run_mutex_;
  std::condition_variable cv_, done_cv_;
  Job* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};  // changed under m_
  bool stop_ = false;
  int size_ = 1;
  std::unique_ptr<FreeCores> free_;  // auto mode only
  std::vector<std::thread> workers_;
};

std::mutex g_pool_mutex;
std::unique_ptr<Pool> g_pool;
int g_threads = 0;

Pool& GetPool() {
  std::lock_guard<std::mutex> l(g_pool_mutex);
  if (!g_pool) {
    int t = g_threads > 0 ? g_threads : static_cast<int>(std::thread::hardware_concurrency());
    g_pool = std::make_unique<Pool>(std::max(1, t), g_threads <= 0);
  }
  return *g_pool;
}

// OpenBLAS's threads as it created them at load, read before anyone changes them.
int BlasThreadsAtLoad() {
  static const int n = std::max(1, openblas_get_num_threads());
  return n;
}

std::mutex g_blas_mutex;
bool g_blas_buffer_mapped = false;
int g_blas_threads = 0;                 // what we last set; 0 = untouched
std::atomic<int> g_gemm_threads{1};     // concurrent cblas_sgemm callers (GemmThreads)
std::atomic<bool> g_gemm_split{false};  // GemmsSplit

// OpenBLAS's share of StartCpuThreads: its thread count, then its buffer.
Status StartBlas(int threads);

}  // namespace

void SetParallelThreads(int threads) {
  std::lock_guard<std::mutex> l(g_pool_mutex);
  if (threads == g_threads && g_pool) return;
  g_threads = threads;
  g_pool.reset();
}

int ParallelThreads() {
  return GetPool().size();
}

int ActiveThreads() {
  return GetPool().active();
}

int BlasThreadsFor(int threads) {
  const int at_load = BlasThreadsAtLoad();
  return threads > 0 ? std::min(threads, at_load) : at_load;
}

int GemmThreads() {
  return g_gemm_threads.load();
}

bool GemmsSplit() {
  return g_gemm_split.load();
}

int GemmBlockThreads() {
  return BlasThreadsAtLoad();
}

Status StartCpuThreads(int threads) {
  GPEN_TRY(StartBlas(threads));  // first: OpenBLAS needs its buffer, the pool can do with less
  SetParallelThreads(threads);
  (void)ParallelThreads();  // starts the pool now, with its notice if it falls short
  return Status::Ok();
}

namespace {

Status StartBlas(int threads) {
  std::lock_guard<std::mutex> l(g_blas_mutex);
  const int blas = BlasThreadsFor(threads);
  // Without an address-space limit our pool splits the GEMMs and OpenBLAS runs each part
  // on one thread (see parallel.h); under a limit OpenBLAS keeps its threads.
  const bool split = AddressSpaceHeadroom() == kNoLimit;
  const int openblas = split ? 1 : blas;
  if (threads > blas && g_blas_threads == 0) {
    std::fprintf(stderr,
                 "notice: OpenBLAS uses %d thread%s, as many as it started with (all cores, or "
                 "OPENBLAS_NUM_THREADS), not %d\n",
                 blas, blas == 1 ? "" : "s", threads);
  }
  if (openblas != g_blas_threads) {
    openblas_set_num_threads(openblas);
    g_blas_threads = openblas;
  }
  g_gemm_threads.store(split ? blas : 1);
  g_gemm_split.store(split);
  if (g_blas_buffer_mapped) return Status::Ok();
  // The first GEMM maps OpenBLAS's buffer (kBlasBufferBytes); if the mapping fails,
  // OpenBLAS tries again forever. Its threads mapped theirs when they started, so room
  // for one buffer is all that must be left now.
  const int64_t headroom = AddressSpaceHeadroom();
  const int64_t need = kBlasBufferBytes + (int64_t{16} << 20);
  if (headroom < need) {
    return OutOfMemory(
        "the address-space limit (ulimit -v) leaves " + std::to_string(headroom >> 20) +
            " MiB to map; OpenBLAS needs " + std::to_string(need >> 20) +
            " MiB for its buffer (it maps " + std::to_string(kBlasBufferBytes >> 20) +
            " MiB per thread, " + std::to_string(BlasThreadsAtLoad()) + " now)",
        "raise the limit (ulimit -v), or start gpen with OPENBLAS_NUM_THREADS=1 so that "
        "OpenBLAS maps fewer buffers");
  }
  // Large enough to take OpenBLAS's ordinary path (not its small-matrix kernels).
  constexpr int kN = 128;
  std::vector<float> a, c;
  try {
    a.assign(kN * kN, 1.f);
    c.resize(kN * kN);
  } catch (const std::bad_alloc&) {
    return OutOfMemory("cannot allocate 128 KiB to start OpenBLAS", "free host memory");
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, kN, kN, kN, 0.5f, a.data(), kN, a.data(),
              kN, 0.f, c.data(), kN);
  g_blas_buffer_mapped = true;
  return Status::Ok();
}

}  // namespace

int64_t ParallelChunks(int64_t n, int threads) {
  // 16 per thread: a thread at half speed costs at most 1/16 of its share at the end.
  constexpr int64_t kChunksPerThread = 16;
  return threads <= 1 ? std::min<int64_t>(n, 1) : std::min<int64_t>(n, threads * kChunksPerThread);
}

void ParallelFor(int64_t n, const Fn& fn, int max_threads) {
  GPEN_CHECK_MSG(!t_in_body, "ParallelFor called inside a ParallelFor body");
  if (n <= 0) return;
  Pool& p = GetPool();
  const int threads = max_threads > 0 ? std::min(max_threads, p.size()) : p.active();
  if (threads <= 1 || n == 1) {
    RunBody(fn, 0, n);
    return;
  }
  p.Run(n, fn, threads);
}

}  // namespace gpen
