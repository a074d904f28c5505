// How many cores other processes leave us: the CPU pool's thread count when --threads is
// not given (issue 13: with the default threads, a run must never be slower than with
// --threads 1 under the same load).
//
// Why: the backend's ops are fork-join loops of a few milliseconds each. On a core that
// another process keeps busy, a worker that waits between ops gets the core back only
// when the other process's time slice ends, and by then the op is over: measured on 2
// cores with one busy, our two threads together got 1.06 cores, the busy loop 0.90, and
// 2 threads were at parity with 1 at best (bench/README.md, "Contention"). So the
// pool uses as many threads as there are cores that others leave free, the way
// OpenMP's OMP_DYNAMIC sizes a team from the load, and measures again as the run goes:
// a load that starts or stops mid-run is followed within a fraction of a second.
//
// The measure: busy time of the CPUs this process may run on (/proc/stat, their cpuN
// lines, in clock ticks) minus this process's own CPU time (getrusage), over the wall
// time between two samples. Where /proc/stat cannot be read, every core counts as free.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace gpen {

// One reading of the counters: the busy ticks of the allowed CPUs, and our own CPU time.
struct CpuSample {
  double wall_s = 0;  // steady clock
  double busy_s = 0;  // busy time of the allowed CPUs (/proc/stat)
  double self_s = 0;  // this process's user + system time
  int cores = 0;      // allowed CPUs counted in busy_s; 0 = no reading
};

// The busy seconds of the CPUs whose index is in `allowed` (empty = every cpuN line),
// from the text of /proc/stat; `ticks_per_s` is USER_HZ. Returns the CPUs counted (0 when
// the text holds none of them). Busy = user + nice + system + irq + softirq + steal.
int BusySecondsFromProcStat(const std::string& text, const std::vector<int>& allowed,
                            double ticks_per_s, double* busy_s);

// Reads the counters now; cores = 0 when /proc/stat is unavailable.
CpuSample ReadCpuSample();

// Cores that other processes kept busy between two samples (0 when unknown).
double OtherBusyCores(const CpuSample& before, const CpuSample& after);

// Threads to use on `cores` cores when others keep `other_busy` of them busy: one per
// core that others do not hold, between 1 and `max_threads`. A core counts as held when
// others keep it at least 85% busy (kTakenSlack): a process that sleeps now and then
// leaves our worker enough of its core (measured with 75% of a core busy in 10 ms
// cycles: 2 threads 280 ms against 323 ms for 1), one that never sleeps does not; its
// share read 0.96-1.09 of a core (clock ticks over 0.25 s: 0.04 of a core each).
inline constexpr double kTakenSlack = 0.15;
int FreeCoreThreads(int cores, double other_busy, int max_threads);

// The steady clock in seconds.
double SteadySeconds();

// The pool's thread count for "auto": re-measured when kIntervalS has passed since the
// last reading, else the last answer. Thread-safe; between readings it costs a clock read.
// Tests pass their own counters and clock.
class FreeCores {
 public:
  static constexpr double kIntervalS = 0.25;
  using Sampler = std::function<CpuSample()>;
  using Clock = std::function<double()>;
  explicit FreeCores(int max_threads, Sampler sample = ReadCpuSample, Clock now = SteadySeconds);
  int Threads();

 private:
  const int max_threads_;
  const Sampler sample_;
  const Clock now_;
  std::mutex m_;                   // guards last_ while a reading is taken
  CpuSample last_;                 // the previous reading
  std::atomic<double> next_s_{0};  // steady-clock time of the next reading
  std::atomic<int> threads_;       // the last answer
};

}  // namespace gpen
