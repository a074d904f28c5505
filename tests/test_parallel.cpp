// ParallelFor and ParallelSgemm tests (issue 13, CPU under contention): every index is
// covered exactly once at any thread count, chunks are claimed dynamically so that a
// slow thread (one sharing its core with another process) does not hold the others
// back, max_threads bounds the threads on a job, an exception in a body reaches the
// caller, a nested ParallelFor is refused, and the split GEMM equals one plain GEMM.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "cpu/ops.h"

using namespace gpen;

namespace {

// Restores the default pool when a test case ends.
struct PoolOf {
  explicit PoolOf(int threads) { SetParallelThreads(threads); }
  ~PoolOf() { SetParallelThreads(0); }
};

void Sleep(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

}  // namespace

TEST_CASE("parallel: every index is covered exactly once, with many threads") {
  for (int threads : {1, 2, 3, 8, 16}) {
    PoolOf pool(threads);
    REQUIRE(ParallelThreads() == threads);
    for (int64_t n : {int64_t{1}, int64_t{2}, int64_t{7}, int64_t{255}, int64_t{100003}}) {
      for (int max_threads : {0, 1, 2}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        ParallelFor(
            n,
            [&](int64_t b, int64_t e) {
              CHECK(b < e);
              for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
            },
            max_threads);
        int64_t wrong = 0;
        for (auto& h : hits) wrong += h.load() != 1;
        CHECK_MESSAGE(wrong == 0, threads << " threads, n " << n << ", max " << max_threads);
      }
    }
  }
}

TEST_CASE("parallel: chunks are many per thread, never more than the items") {
  CHECK(ParallelChunks(0, 4) == 0);
  CHECK(ParallelChunks(5, 1) == 1);
  CHECK(ParallelChunks(5, 4) == 5);
  CHECK(ParallelChunks(1000000, 2) >= 16);
  CHECK(ParallelChunks(1000000, 2) <= 1000000);
}

TEST_CASE("parallel: a slow thread takes fewer chunks; the others take the rest") {
  PoolOf pool(4);
  // One index per chunk. Whichever thread runs index 0 becomes slow (50 ms a chunk, as
  // if it shared its core); the others take 2 ms. Equal static parts would give the slow
  // thread 16 chunks (800 ms); claimed one at a time it runs a few.
  const int64_t n = ParallelChunks(64, 4);
  REQUIRE(n == 64);
  std::atomic<std::thread::id> slow{};
  std::atomic<int> slow_chunks{0};
  std::mutex m;
  std::set<std::thread::id> seen;
  const auto t0 = std::chrono::steady_clock::now();
  ParallelFor(n, [&](int64_t b, int64_t e) {
    REQUIRE(e == b + 1);
    const auto me = std::this_thread::get_id();
    if (b == 0) slow = me;
    {
      std::lock_guard<std::mutex> l(m);
      seen.insert(me);
    }
    if (slow.load() == me) {
      slow_chunks.fetch_add(1);
      Sleep(50);
    } else {
      Sleep(2);
    }
  });
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  CHECK(seen.size() >= 2);
  CHECK(slow_chunks.load() <= 6);
  CHECK(ms < 400);
}

TEST_CASE("parallel: max_threads bounds the threads on one job") {
  PoolOf pool(8);
  for (int max_threads : {1, 2, 3}) {
    std::mutex m;
    std::set<std::thread::id> seen;
    ParallelFor(
        64,
        [&](int64_t, int64_t) {
          {
            std::lock_guard<std::mutex> l(m);
            seen.insert(std::this_thread::get_id());
          }
          Sleep(1);
        },
        max_threads);
    CHECK(static_cast<int>(seen.size()) <= max_threads);
  }
}

TEST_CASE("parallel: an exception in a body reaches the caller; the pool goes on") {
  PoolOf pool(4);
  std::atomic<int64_t> ran{0};
  CHECK_THROWS_AS(ParallelFor(1000,
                              [&](int64_t b, int64_t e) {
                                ran += e - b;
                                if (b <= 500 && 500 < e) throw std::runtime_error("chunk 500");
                              }),
                  std::runtime_error);
  CHECK(ran.load() <= 1000);
  std::atomic<int64_t> sum{0};
  ParallelFor(1000, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) sum += i;
  });
  CHECK(sum.load() == 999 * 1000 / 2);
}

TEST_CASE("parallel: a nested ParallelFor is refused, at any thread count") {
  for (int threads : {1, 4}) {
    PoolOf pool(threads);
    CHECK_THROWS_AS(
        ParallelFor(100, [&](int64_t, int64_t) { ParallelFor(10, [](int64_t, int64_t) {}); }),
        InternalError);
    std::atomic<int64_t> count{0};  // usable afterwards
    ParallelFor(100, [&](int64_t b, int64_t e) { count += e - b; });
    CHECK(count.load() == 100);
  }
}

TEST_CASE("parallel: the split GEMM equals the plain product, by columns and by rows") {
  REQUIRE(StartCpuThreads(0).ok());
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  struct Case {
    int64_t m, n, k;
  };
  // Wide (split by columns), tall and narrow (split by rows), small (one call).
  for (const Case& c : {Case{64, 3000, 72}, Case{2304, 16, 512}, Case{8, 8, 8}, Case{3, 1000, 9}}) {
    const int64_t ldb = c.n + 5, ldc = c.n + 3;  // strided, as the banded convolutions are
    std::vector<float> a(static_cast<size_t>(c.m * c.k)), b(static_cast<size_t>(c.k * ldb));
    for (float& v : a) v = u(rng);
    for (float& v : b) v = u(rng);
    std::vector<float> y(static_cast<size_t>(c.m * ldc), 7.f);
    cpu::ParallelSgemm(c.m, c.n, c.k, 0.5f, a.data(), c.k, b.data(), ldb, y.data(), ldc);
    double err = 0, ref_norm = 0;
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j) {
        double ref = 0;
        for (int64_t t = 0; t < c.k; ++t)
          ref += static_cast<double>(a[i * c.k + t]) * b[t * ldb + j];
        ref *= 0.5;
        err = std::max(err, std::abs(ref - y[i * ldc + j]));
        ref_norm = std::max(ref_norm, std::abs(ref));
      }
    CHECK_MESSAGE(err <= 1e-5 * std::max(1.0, ref_norm), c.m << "x" << c.n << "x" << c.k);
    int64_t touched = 0;  // the padding between rows is left alone
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = c.n; j < ldc; ++j) touched += y[i * ldc + j] != 7.f;
    CHECK(touched == 0);
  }
  CHECK(GemmThreads() >= 1);
  CHECK(GemmThreads() <= BlasThreadsFor(0));
}

TEST_CASE("parallel: the split GEMM gives the same bits at any thread count") {
  // The default threads follow the load (core/cpu_load.h), so a GEMM may run on 1 thread
  // in one pass and on 2 in the next: its blocks, and so its rounding, must not depend on
  // that (an x4plus output differed by 1 level in 7 of 368,640 values before).
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  // Split by columns. A short inner dimension: here OpenBLAS rounds a block of columns
  // differently from the whole (390 of 192,000 values differed, OpenBLAS 0.3.21 on Zen).
  const int64_t m = 64, n = 3000, k = 72;
  std::vector<float> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(k * n));
  for (float& v : a) v = u(rng);
  for (float& v : b) v = u(rng);
  auto product = [&](int threads) {
    REQUIRE(StartCpuThreads(threads).ok());
    std::vector<float> y(static_cast<size_t>(m * n));
    cpu::ParallelSgemm(m, n, k, 1.f, a.data(), k, b.data(), n, y.data(), n);
    return y;
  };
  const std::vector<float> one = product(1);
  for (int threads : {2, 3, 0}) {
    const std::vector<float> y = product(threads);
    CHECK_MESSAGE(std::memcmp(y.data(), one.data(), y.size() * sizeof(float)) == 0,
                  threads << " threads");
  }
  REQUIRE(StartCpuThreads(0).ok());
}
