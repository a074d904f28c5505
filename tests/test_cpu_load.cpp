// Free-core measure tests (issue 13: with the default threads a run must never be slower
// than with --threads 1 under the same load). The pool's "auto" thread count comes from
// /proc/stat's busy ticks minus our own CPU time (core/cpu_load.h); these tests check the
// parser on fixed text, the arithmetic, the rule that turns others' load into threads,
// and FreeCores following a load that starts and stops, on a fake clock and fake
// counters. The last cases read the real counters and run the auto pool.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "core/cpu_load.h"
#include "core/parallel.h"

using namespace gpen;

namespace {

// Two CPUs, one line for their sum, and the lines that follow in a real /proc/stat.
const char* kProcStat =
    "cpu  500 10 200 9000 30 5 5 0 0 0\n"
    "cpu0 100 0 50 4000 10 2 3 0 0 0\n"
    "cpu1 400 10 150 5000 20 3 2 40 0 0\n"
    "intr 123456 0 0\n"
    "ctxt 99\n"
    "cpu9x garbage\n";

// One reading of the counters (cores: the CPUs they cover).
CpuSample At(double wall_s, double busy_s, double self_s, int cores = 2) {
  CpuSample s;
  s.wall_s = wall_s;
  s.busy_s = busy_s;
  s.self_s = self_s;
  s.cores = cores;
  return s;
}

}  // namespace

TEST_CASE("cpu_load: /proc/stat's busy ticks, of every CPU or of the allowed ones") {
  double busy = 0;
  // cpu0: 100 + 0 + 50 + 2 + 3 + 0 = 155; cpu1: 400 + 10 + 150 + 3 + 2 + 40 (steal) = 605.
  CHECK(BusySecondsFromProcStat(kProcStat, {}, 100, &busy) == 2);
  CHECK(busy == doctest::Approx(7.60));
  CHECK(BusySecondsFromProcStat(kProcStat, {1}, 100, &busy) == 1);
  CHECK(busy == doctest::Approx(6.05));
  CHECK(BusySecondsFromProcStat(kProcStat, {0, 5}, 100, &busy) == 1);
  CHECK(busy == doctest::Approx(1.55));
  // An old kernel's line without steal; idle and iowait never count as busy.
  CHECK(BusySecondsFromProcStat("cpu0 10 0 10 900 50 0 0\n", {}, 100, &busy) == 1);
  CHECK(busy == doctest::Approx(0.20));
  CHECK(BusySecondsFromProcStat("", {}, 100, &busy) == 0);
  CHECK(BusySecondsFromProcStat("cpu 1 2 3\nnot a stat file\n", {}, 100, &busy) == 0);
}

TEST_CASE("cpu_load: others' load is the CPUs' busy time less our own, per wall second") {
  // 0.5 s: the CPUs were busy 1.0 s, of which 0.5 s was ours: others kept 1 core busy.
  CHECK(OtherBusyCores(At(10, 100, 3), At(10.5, 101, 3.5)) == doctest::Approx(1.0));
  // Ticks are coarse: a negative difference is no load, never more than every core.
  CHECK(OtherBusyCores(At(10, 100, 3), At(10.5, 100.2, 3.5)) == 0);
  CHECK(OtherBusyCores(At(10, 100, 0), At(10.5, 103, 0)) == doctest::Approx(2.0));
  // No reading, another set of CPUs, or no time passed: unknown, so no load.
  CHECK(OtherBusyCores(At(10, 100, 3, 0), At(10.5, 101, 3.5, 0)) == 0);
  CHECK(OtherBusyCores(At(10, 100, 3, 2), At(10.5, 101, 3.5, 1)) == 0);
  CHECK(OtherBusyCores(At(10, 100, 3), At(10, 101, 3.5)) == 0);
}

TEST_CASE("cpu_load: a core that others hold is left to them; a part-time load is not") {
  CHECK(FreeCoreThreads(2, 0.0, 2) == 2);
  CHECK(FreeCoreThreads(2, 0.06, 2) == 2);  // kernel threads on an idle machine
  CHECK(FreeCoreThreads(2, 0.75, 2) == 2);  // a process that sleeps a quarter of the time
  CHECK(FreeCoreThreads(2, 0.94, 2) == 1);  // a busy loop, as measured beside our 2 threads
  CHECK(FreeCoreThreads(2, 1.07, 2) == 1);
  CHECK(FreeCoreThreads(2, 2.0, 2) == 1);  // never fewer than one thread
  CHECK(FreeCoreThreads(8, 3.0, 8) == 5);
  CHECK(FreeCoreThreads(8, 0.0, 4) == 4);  // never more than the pool has
  CHECK(FreeCoreThreads(2, 0.0, 0) == 1);
}

TEST_CASE("cpu_load: FreeCores follows a load that starts and stops, once per interval") {
  // Fake counters: others' load is `load` cores, ours 1 core, from the fake clock.
  double clock = 100, busy = 0, self = 0, load = 0, last = 100;
  int readings = 0;
  auto advance = [&](double dt) { clock += dt; };
  auto sample = [&] {
    ++readings;
    busy += (clock - last) * (load + 1);
    self += clock - last;
    last = clock;
    return At(clock, busy, self);
  };
  FreeCores free(2, sample, [&] { return clock; });
  CHECK(readings == 1);
  CHECK(free.Threads() == 2);  // all cores until the first interval has passed
  advance(0.1);
  CHECK(free.Threads() == 2);
  CHECK(readings == 1);  // no reading before the interval ends

  load = 1.0;  // another process starts a busy loop
  advance(FreeCores::kIntervalS);
  CHECK(free.Threads() == 1);
  CHECK(readings == 2);
  advance(0.01);
  CHECK(free.Threads() == 1);
  CHECK(readings == 2);

  load = 0.7;  // it sleeps part of the time
  advance(FreeCores::kIntervalS);
  CHECK(free.Threads() == 2);

  load = 0;
  advance(FreeCores::kIntervalS);
  CHECK(free.Threads() == 2);
  CHECK(readings == 4);
}

TEST_CASE("cpu_load: without counters every core counts as free, and nothing is re-read") {
  double clock = 5;
  int readings = 0;
  FreeCores free(
      4,
      [&] {
        ++readings;
        return CpuSample{};
      },
      [&] { return clock; });
  for (int i = 0; i < 10; ++i) {
    clock += 1;
    CHECK(free.Threads() == 4);
  }
  CHECK(readings == 1);
}

TEST_CASE("cpu_load: the real counters see this process's own work as its own") {
  const CpuSample before = ReadCpuSample();
  REQUIRE(before.cores >= 1);  // Linux: /proc/stat is readable
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  std::atomic<double> sink{0};
  while (std::chrono::steady_clock::now() < until) sink = sink + 1;
  const CpuSample after = ReadCpuSample();
  CHECK(after.cores == before.cores);
  CHECK(after.self_s - before.self_s >= 0.2);  // about 0.3 s of our own spinning
  CHECK(after.busy_s >= before.busy_s);
  // Whatever else runs, our own 0.3 s is not counted as others' load: of the CPUs' busy
  // time per second, about one core (ours) is left out.
  const double wall = after.wall_s - before.wall_s;
  const double busy = (after.busy_s - before.busy_s) / wall;
  CHECK(busy - OtherBusyCores(before, after) >= 0.5);
}

TEST_CASE("cpu_load: the auto pool covers every index at whatever threads it uses") {
  SetParallelThreads(0);
  CHECK(ActiveThreads() >= 1);
  CHECK(ActiveThreads() <= ParallelThreads());
  std::vector<std::atomic<int>> hits(100003);
  for (int round = 0; round < 3; ++round) {
    ParallelFor(static_cast<int64_t>(hits.size()), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
    });
  }
  int64_t wrong = 0;
  for (auto& h : hits) wrong += h.load() != 3;
  CHECK(wrong == 0);
  SetParallelThreads(2);
  CHECK(ActiveThreads() == ParallelThreads());  // a fixed count is never lowered
  SetParallelThreads(0);
}
