// Free cores from /proc/stat and our own CPU time (see cpu_load.h).
#include "core/cpu_load.h"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <utility>

namespace gpen {

namespace {

double SelfCpuSeconds() {
  rusage u{};
  if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
  const auto s = [](const timeval& t) { return t.tv_sec + t.tv_usec * 1e-6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

// The CPUs this process may run on (sched_getaffinity); empty when unknown.
std::vector<int> AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int i = 0; i < CPU_SETSIZE; ++i)
    if (CPU_ISSET(i, &set)) cpus.push_back(i);
  return cpus;
}

std::string ReadProcStat() {
  std::ifstream f("/proc/stat");
  if (!f) return {};
  std::ostringstream text;
  text << f.rdbuf();
  return text.str();
}

}  // namespace

double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int BusySecondsFromProcStat(const std::string& text, const std::vector<int>& allowed,
                            double ticks_per_s, double* busy_s) {
  std::istringstream lines(text);
  std::string line;
  int counted = 0;
  double ticks = 0;
  while (std::getline(lines, line)) {
    // "cpuN user nice system idle iowait irq softirq steal guest guest_nice"
    if (line.size() < 4 || line.compare(0, 3, "cpu") != 0 || line[3] < '0' || line[3] > '9')
      continue;
    std::istringstream fields(line.substr(3));
    int cpu = -1;
    double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    fields >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq;
    if (!fields) continue;
    fields >> steal;  // absent on old kernels
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), cpu) == allowed.end())
      continue;
    ticks += user + nice + system + irq + softirq + (fields ? steal : 0);
    ++counted;
  }
  *busy_s = ticks_per_s > 0 ? ticks / ticks_per_s : 0;
  return counted;
}

CpuSample ReadCpuSample() {
  static const std::vector<int> allowed = AllowedCpus();
  static const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  CpuSample s;
  s.wall_s = SteadySeconds();
  s.self_s = SelfCpuSeconds();
  s.cores = BusySecondsFromProcStat(ReadProcStat(), allowed, hz, &s.busy_s);
  return s;
}

double OtherBusyCores(const CpuSample& before, const CpuSample& after) {
  const double wall = after.wall_s - before.wall_s;
  if (before.cores == 0 || after.cores != before.cores || wall <= 0) return 0;
  const double other = (after.busy_s - before.busy_s) - (after.self_s - before.self_s);
  return std::clamp(other / wall, 0.0, static_cast<double>(after.cores));
}

int FreeCoreThreads(int cores, double other_busy, int max_threads) {
  const int taken = static_cast<int>(std::floor(other_busy + kTakenSlack));
  return std::clamp(cores - taken, 1, std::max(1, max_threads));
}

FreeCores::FreeCores(int max_threads, Sampler sample, Clock now)
    : max_threads_(std::max(1, max_threads)),
      sample_(std::move(sample)),
      now_(std::move(now)),
      last_(sample_()),
      threads_(max_threads_) {
  // Without a reading every core counts as free, for good.
  next_s_.store(last_.cores > 0 ? last_.wall_s + kIntervalS : HUGE_VAL);
}

int FreeCores::Threads() {
  if (max_threads_ == 1 || now_() < next_s_.load(std::memory_order_relaxed))
    return threads_.load(std::memory_order_relaxed);
  std::unique_lock<std::mutex> l(m_, std::try_to_lock);
  if (!l.owns_lock()) return threads_.load(std::memory_order_relaxed);  // another reads now
  const CpuSample reading = sample_();
  if (reading.cores == 0) {  // unreadable now: the last answer stands until the next try
    next_s_.store(now_() + kIntervalS);
  } else if (reading.wall_s - last_.wall_s >= kIntervalS) {
    threads_.store(FreeCoreThreads(reading.cores, OtherBusyCores(last_, reading), max_threads_));
    last_ = reading;
    next_s_.store(reading.wall_s + kIntervalS);
  }
  return threads_.load();
}

}  // namespace gpen
