// ParallelFor thread pool: workers sleep on a condition variable between jobs.
#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace gpen {

namespace {

class Pool {
 public:
  explicit Pool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { Work(); });
    size_ = threads;
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

  void Run(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
    std::lock_guard<std::mutex> caller(run_mutex_);  // one job at a time
    const int64_t chunks = std::min<int64_t>(n, size_ * 4);
    {
      std::lock_guard<std::mutex> l(m_);
      fn_ = &fn;
      n_ = n;
      chunks_ = chunks;
      next_.store(0);
      done_ = 0;
      ++generation_;
    }
    cv_.notify_all();
    Drain();
    std::unique_lock<std::mutex> l(m_);
    done_cv_.wait(l, [&] { return done_ == chunks_; });
    fn_ = nullptr;
  }

 private:
  void Drain() {
    int64_t finished = 0;
    for (;;) {
      const int64_t c = next_.fetch_add(1);
      if (c >= chunks_) break;
      const int64_t b = n_ * c / chunks_, e = n_ * (c + 1) / chunks_;
      (*fn_)(b, e);
      ++finished;
    }
    if (finished) {
      std::lock_guard<std::mutex> l(m_);
      done_ += finished;
      if (done_ == chunks_) done_cv_.notify_all();
    }
  }
  void Work() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> l(m_);
        cv_.wait(l, [&] { return stop_ || (generation_ != seen && fn_ != nullptr); });
        if (stop_) return;
        seen = generation_;
      }
      Drain();
    }
  }

  std::vector<std::thread> workers_;
  int size_ = 1;
  std::mutex m_, run_mutex_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, chunks_ = 0, done_ = 0;
  std::atomic<int64_t> next_{0};
  uint64_t generation_ = 0;
  bool stop_ = false;
};

std::mutex g_pool_mutex;
std::unique_ptr<Pool> g_pool;
int g_threads = 0;

Pool& GetPool() {
  std::lock_guard<std::mutex> l(g_pool_mutex);
  if (!g_pool) {
    int t = g_threads > 0 ? g_threads : static_cast<int>(std::thread::hardware_concurrency());
    g_pool = std::make_unique<Pool>(std::max(1, t));
  }
  return *g_pool;
}

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

void ParallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  Pool& p = GetPool();
  if (p.size() == 1 || n == 1) {
    fn(0, n);
    return;
  }
  p.Run(n, fn);
}

}  // namespace gpen
