// cudasim scheduler: runs a kernel launch on the CPU, one fiber per CUDA thread.
//
// Blocks run one after another. Within a block every thread is a fiber (context.h) that
// runs until it exits, reaches __syncthreads, or joins a warp collective; when no
// thread can run, the scheduler releases a barrier that every thread has reached, or
// completes a collective whose named lanes have all arrived, and otherwise aborts
// with a message (a divergent barrier, an exited lane, a deadlock).
//
// Fast path: most kernels never synchronise. The first thread of each block runs on a
// fiber; if it exits without any barrier or collective, the rest of the block runs as
// plain calls, and a barrier reached by one of them is a divergent barrier (the first
// thread exited without it), reported as such. GPEN_CUDASIM_FIBERS=always, and
// ThreadSanitizer builds, run every thread on its own fiber.
//
// Sanitizers: ASan is told about every stack switch; under TSan each fiber is a TSan
// fiber switched without implicit synchronisation, and barriers and collectives
// publish happens-before edges explicitly, so TSan reports exactly the accesses that
// no barrier orders: a missing __syncthreads shows as a data race.
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <vector>

#include "context.h"
#include "internal.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define CUDASIM_ASAN 1
#else
#define CUDASIM_ASAN 0
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
extern "C" void __tsan_ignore_thread_begin();  // exported by libtsan, not in its header
extern "C" void __tsan_ignore_thread_end();
#define CUDASIM_TSAN 1
#else
#define CUDASIM_TSAN 0
#endif

namespace cudasim::detail {

namespace {

using internal::Abort;

constexpr size_t kStackBytes = size_t{256} << 10;
constexpr size_t kSharedLimit = size_t{48} << 10;  // per block, without opt-in
constexpr unsigned kMaxThreads = 1024;

void TsanAcquire(const void* a) {
#if CUDASIM_TSAN
  __tsan_acquire(const_cast<void*>(a));
#else
  (void)a;
#endif
}
void TsanRelease(const void* a) {
#if CUDASIM_TSAN
  __tsan_release(const_cast<void*>(a));
#else
  (void)a;
#endif
}

// The emulator's own bookkeeping (thread states, coordinates, the launch record) is
// shared by the scheduler and every fiber without happens-before edges, on purpose:
// edges through the scheduler would order all CUDA threads and hide their races. So
// TSan is told to ignore the emulator's accesses, and sees only the kernel's.
struct TsanIgnore {
  TsanIgnore() {
#if CUDASIM_TSAN
    __tsan_ignore_thread_begin();
#endif
  }
  ~TsanIgnore() {
#if CUDASIM_TSAN
    __tsan_ignore_thread_end();
#endif
  }
  TsanIgnore(const TsanIgnore&) = delete;
  TsanIgnore& operator=(const TsanIgnore&) = delete;
};

// A fiber with its own stack; reused by thread slot across blocks and launches.
struct Fiber {
  Context ctx;
  void* map = nullptr;    // mapping including the guard page
  void* stack = nullptr;  // usable stack bottom
  void* tsan = nullptr;
  void* asan_fake = nullptr;
  Fiber() {
    const size_t page = 4096;
    map = mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
               0);
    if (map == MAP_FAILED) Abort("cannot map a fiber stack");
    mprotect(map, page, PROT_NONE);  // a stack overflow faults instead of corrupting
    stack = static_cast<char*>(map) + page;
#if CUDASIM_TSAN
    tsan = __tsan_create_fiber(0);
#endif
  }
  ~Fiber() {
#if CUDASIM_TSAN
    __tsan_destroy_fiber(tsan);
#endif
    munmap(map, kStackBytes + 4096);
  }
};

enum class State { kReady, kBarrier, kWarp, kDone };

struct SimThread {
  ThreadCoords coords{};
  unsigned linear = 0;
  State state = State::kReady;
  bool started = false;
  Fiber* fiber = nullptr;
  const char* file = nullptr;  // where it waits
  int line = 0;
  unsigned gen = 0;  // barrier or warp generation it waits on
  WarpOp op = WarpOp::kSyncWarp;
  unsigned mask = 0;
  uint64_t value = 0, result = 0;
  int arg = 0, width = 32;
};

struct Launch {
  dim3 grid, block;
  size_t smem = 0;
  const char* file = "";
  int line = 0;
  const std::function<void()>* body = nullptr;
  std::vector<SimThread> threads;
  std::vector<unsigned> order;
  SimThread* cur = nullptr;
  bool direct = false;
  int sync_calls = 0;
  std::map<const void*, std::pair<void*, size_t>> shared;
  size_t shared_bytes = 0;
  void* dynamic = nullptr;
  unsigned barrier_gen = 0;
  std::vector<unsigned> warp_gen;
  // TSan synchronisation objects (only their addresses matter).
  char block_sync = 0, end_sync = 0, barrier_sync[2] = {0, 0};
  std::vector<char> warp_sync;
  // The scheduler's own context.
  Context sched;
  void* sched_tsan = nullptr;
  void* sched_fake = nullptr;
  const void* sched_bottom = nullptr;
  size_t sched_size = 0;
};

thread_local Launch* g_launch = nullptr;
thread_local std::vector<std::unique_ptr<Fiber>> g_pool;
thread_local uint64_t g_launch_count = 0;

std::string Dim(const dim3& d) {
  std::ostringstream os;
  os << "(" << d.x << ", " << d.y << ", " << d.z << ")";
  return os.str();
}
std::string Dim(const uint3& d) {
  return Dim(dim3(d.x, d.y, d.z));
}

std::string Where(const Launch& L) {
  std::ostringstream os;
  os << "\n  in block " << Dim(L.threads.empty() ? uint3{} : L.threads[0].coords.block_idx)
     << " of the kernel launched at " << L.file << ":" << L.line << " with grid " << Dim(L.grid)
     << ", block " << Dim(L.block);
  return os.str();
}

std::string ThreadName(const SimThread& t) {
  std::ostringstream os;
  os << "thread " << Dim(t.coords.thread_idx) << " (warp " << t.linear / 32 << ", lane "
     << t.linear % 32 << ")";
  return os.str();
}

Launch& Current(const char* what) {
  if (!g_launch || !g_launch->cur) Abort(std::string(what) + " used outside a kernel");
  return *g_launch;
}

void* PoisonedAlloc(size_t bytes) {
  void* p = std::malloc(bytes ? bytes : 1);
  if (!p) Abort("out of host memory for shared memory");
  std::memset(p, internal::GetConfig().poison, bytes);
  return p;
}

// ---- fiber switching --------------------------------------------------------

// Called inside a TsanIgnore scope. A thread that waits keeps the scope open across
// the switch (it closes when the thread resumes); a finished thread never resumes, so
// its scope is closed here, after the last emulator access and before the switch.
void SwitchToScheduler(Launch& L, SimThread& t, bool finished) {
  Context* self = &t.fiber->ctx;
  Context* sched = &L.sched;
#if CUDASIM_TSAN
  void* sched_fiber = L.sched_tsan;
#endif
#if CUDASIM_ASAN
  __sanitizer_start_switch_fiber(finished ? nullptr : &t.fiber->asan_fake, L.sched_bottom,
                                 L.sched_size);
#endif
#if CUDASIM_TSAN
  if (finished) __tsan_ignore_thread_end();
  __tsan_switch_to_fiber(sched_fiber, __tsan_switch_to_fiber_no_sync);
#else
  (void)finished;
#endif
  SwitchContext(self, sched);
#if CUDASIM_ASAN
  __sanitizer_finish_switch_fiber(t.fiber->asan_fake, &L.sched_bottom, &L.sched_size);
#endif
}

void FiberEntry() {
  const std::function<void()>* body;
  const void* block_sync;
  {
    TsanIgnore ignore;
    Launch& L = *g_launch;
#if CUDASIM_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &L.sched_bottom, &L.sched_size);
#endif
    body = L.body;
    block_sync = &L.block_sync;
  }
  TsanAcquire(block_sync);
  (*body)();
#if CUDASIM_TSAN
  __tsan_ignore_thread_begin();  // closed by the final switch
#endif
  Launch& L = *g_launch;
  SimThread& t = *L.cur;
  t.state = State::kDone;
  TsanRelease(&L.end_sync);
  SwitchToScheduler(L, t, /*finished=*/true);
  Abort("a finished CUDA thread was resumed");
}

void Resume(Launch& L, SimThread& t) {
  if (!t.started) {
    t.started = true;
    MakeContext(&t.fiber->ctx, t.fiber->stack, kStackBytes, FiberEntry);
  }
  L.cur = &t;
#if CUDASIM_TSAN
  __tsan_switch_to_fiber(t.fiber->tsan, __tsan_switch_to_fiber_no_sync);
#endif
#if CUDASIM_ASAN
  __sanitizer_start_switch_fiber(&L.sched_fake, t.fiber->stack, kStackBytes);
#endif
  SwitchContext(&L.sched, &t.fiber->ctx);
#if CUDASIM_ASAN
  __sanitizer_finish_switch_fiber(L.sched_fake, nullptr, nullptr);
#endif
  L.cur = nullptr;
}

// ---- warp collectives -------------------------------------------------------

const char* OpName(WarpOp op) {
  switch (op) {
    case WarpOp::kShflIdx:
      return "__shfl_sync";
    case WarpOp::kShflUp:
      return "__shfl_up_sync";
    case WarpOp::kShflDown:
      return "__shfl_down_sync";
    case WarpOp::kShflXor:
      return "__shfl_xor_sync";
    case WarpOp::kBallot:
      return "__ballot_sync";
    case WarpOp::kAny:
      return "__any_sync";
    case WarpOp::kAll:
      return "__all_sync";
    case WarpOp::kSyncWarp:
      return "__syncwarp";
  }
  return "?";
}

std::string At(const SimThread& t) {
  return std::string(t.file ? t.file : "?") + ":" + std::to_string(t.line);
}

// The lane a shuffle reads for `lane`, or `lane` itself when it keeps its own value.
unsigned SourceLane(const SimThread& t, unsigned lane, const Launch& L) {
  const int w = t.width;
  if (w <= 0 || w > 32 || (w & (w - 1)) != 0)
    Abort(std::string(OpName(t.op)) + " at " + At(t) + ": width " + std::to_string(w) +
          " is not a power of two up to 32" + Where(L));
  const unsigned seg = lane / w * w;
  switch (t.op) {
    case WarpOp::kShflIdx:
      return seg + static_cast<unsigned>(((t.arg % w) + w) % w);
    case WarpOp::kShflUp:
      return t.arg < 0 || lane < seg + t.arg ? lane : lane - t.arg;
    case WarpOp::kShflDown:
      return t.arg < 0 || lane + t.arg >= seg + w ? lane : lane + t.arg;
    case WarpOp::kShflXor: {
      const unsigned s = lane ^ static_cast<unsigned>(t.arg);
      return s >= seg + w || s >= 32 ? lane : s;
    }
    default:
      return lane;
  }
}

// Completes the collective that `t` waits in when every lane it names has arrived.
bool TryCompleteWarp(Launch& L, SimThread& t) {
  const unsigned warp = t.linear / 32, lane = t.linear % 32;
  const std::string what = std::string(OpName(t.op)) + " at " + At(t) + " by " + ThreadName(t);
  if (!((t.mask >> lane) & 1u))
    Abort(what + ": its mask " + std::to_string(t.mask) + " does not name its own lane" + Where(L));
  std::vector<SimThread*> group;
  for (unsigned l = 0; l < 32; ++l) {
    if (!((t.mask >> l) & 1u)) continue;
    const size_t idx = static_cast<size_t>(warp) * 32 + l;
    if (idx >= L.threads.size()) continue;  // beyond the block: an inactive lane, as on a GPU
    SimThread& u = L.threads[idx];
    if (u.state == State::kDone)
      Abort(what + ": the mask names lane " + std::to_string(l) + ", which has exited" + Where(L));
    if (u.state != State::kWarp) return false;
    if (u.op != t.op || u.mask != t.mask)
      Abort(what + " with mask " + std::to_string(t.mask) + " meets " + OpName(u.op) + " at " +
            At(u) + " by " + ThreadName(u) + " with mask " + std::to_string(u.mask) + Where(L));
    group.push_back(&u);
  }
  uint64_t ballot = 0;
  for (SimThread* u : group) ballot |= (u->value ? 1ull : 0ull) << (u->linear % 32);
  for (SimThread* u : group) {
    const unsigned ul = u->linear % 32;
    switch (u->op) {
      case WarpOp::kBallot:
        u->result = ballot;
        break;
      case WarpOp::kAny:
        u->result = ballot != 0;
        break;
      case WarpOp::kAll: {
        uint64_t live = 0;  // the lanes that took part
        for (SimThread* v : group) live |= 1ull << (v->linear % 32);
        u->result = ballot == live;
        break;
      }
      case WarpOp::kSyncWarp:
        u->result = 0;
        break;
      default: {
        const unsigned src = SourceLane(*u, ul, L);
        const bool exists = static_cast<size_t>(warp) * 32 + src < L.threads.size();
        if (src != ul && (!((t.mask >> src) & 1u) || !exists))
          Abort(std::string(OpName(u->op)) + " at " + At(*u) + " by " + ThreadName(*u) +
                " reads lane " + std::to_string(src) + ", which " +
                (exists ? "its mask does not name" : "does not exist in the block") + Where(L));
        u->result = L.threads[static_cast<size_t>(warp) * 32 + src].value;
      }
    }
  }
  for (SimThread* u : group) u->state = State::kReady;
  ++L.warp_gen[warp];
  return true;
}

bool CompleteWarps(Launch& L) {
  bool any = false;
  for (SimThread& t : L.threads)
    if (t.state == State::kWarp) any |= TryCompleteWarp(L, t);
  return any;
}

// ---- barriers ---------------------------------------------------------------

bool ReleaseBarrier(Launch& L) {
  const SimThread* first = nullptr;
  const SimThread* exited = nullptr;
  size_t arrived = 0, done = 0;
  for (const SimThread& t : L.threads) {
    if (t.state == State::kWarp || t.state == State::kReady) return false;
    if (t.state == State::kDone) {
      ++done;
      if (!exited) exited = &t;
      continue;
    }
    ++arrived;
    if (!first) first = &t;
    if (t.file != first->file || t.line != first->line)
      Abort("threads wait at different __syncthreads: " + ThreadName(*first) + " at " + At(*first) +
            ", " + ThreadName(t) + " at " + At(t) + Where(L));
  }
  if (!first) return false;
  if (done > 0)
    Abort("__syncthreads at " + At(*first) +
          " is not reached by every thread of the block: " + std::to_string(arrived) + " of " +
          std::to_string(L.threads.size()) + " arrived, " + std::to_string(done) +
          " exited without it (first: " + ThreadName(*exited) + ")" + Where(L));
  for (SimThread& t : L.threads) t.state = State::kReady;
  ++L.barrier_gen;
  return true;
}

[[noreturn]] void AbortDeadlock(Launch& L) {
  std::ostringstream os;
  os << "no CUDA thread of the block can go on (deadlock):";
  int shown = 0;
  for (const SimThread& t : L.threads) {
    if (t.state == State::kDone || shown >= 8) continue;
    ++shown;
    os << "\n    " << ThreadName(t) << " waits in "
       << (t.state == State::kBarrier ? std::string("__syncthreads") : std::string(OpName(t.op)))
       << " at " << At(t);
  }
  Abort(os.str() + Where(L));
}

// ---- blocks and launches ----------------------------------------------------

std::vector<uint64_t> MakeOrder(uint64_t n) {
  std::vector<uint64_t> o(n);
  for (uint64_t i = 0; i < n; ++i) o[i] = i;
  const internal::Config& c = internal::GetConfig();
  if (c.order == internal::Order::kReverse) std::reverse(o.begin(), o.end());
  if (c.order == internal::Order::kShuffle) {
    std::mt19937_64 rng(c.seed * 1000003u + g_launch_count);
    std::shuffle(o.begin(), o.end(), rng);
  }
  return o;
}

// The rest of a block whose probe thread exited without synchronising: plain calls.
void RunDirect(Launch& L) {
  L.direct = true;
  for (unsigned idx : L.order) {
    SimThread& t = L.threads[idx];
    if (t.state == State::kDone) continue;
    L.cur = &t;
    (*L.body)();
    t.state = State::kDone;
  }
  L.cur = nullptr;
  L.direct = false;
}

void RunBlock(Launch& L, uint3 block_idx) {
  for (SimThread& t : L.threads) {
    t.coords.block_idx = block_idx;
    t.state = State::kReady;
    t.started = false;
  }
  L.dynamic = PoisonedAlloc(L.smem);
  L.sync_calls = 0;
  std::fill(L.warp_gen.begin(), L.warp_gen.end(), 0u);
  TsanRelease(&L.block_sync);
  const bool fast = !CUDASIM_TSAN && !internal::GetConfig().always_fibers;
  size_t first = 0;
  if (fast) {
    // The probe is thread 0 whatever the order: the thread least likely to leave early
    // (a tail guard exits the last threads), so a valid kernel is not misjudged.
    SimThread& t0 = L.threads[0];
    Resume(L, t0);
    if (t0.state == State::kDone && L.sync_calls == 0) {
      RunDirect(L);
      first = L.order.size();
    }
  }
  while (first < L.order.size()) {
    bool all_done = true;
    for (unsigned idx : L.order) {
      SimThread& t = L.threads[idx];
      if (t.state == State::kReady) Resume(L, t);
      all_done &= t.state == State::kDone;
    }
    if (all_done) break;
    if (CompleteWarps(L)) continue;
    if (ReleaseBarrier(L)) continue;
    AbortDeadlock(L);
  }
  TsanAcquire(&L.end_sync);
  for (auto& kv : L.shared) std::free(kv.second.first);
  L.shared.clear();
  L.shared_bytes = 0;
  std::free(L.dynamic);
  L.dynamic = nullptr;
}

void RunLaunch(dim3 grid, dim3 block, size_t smem, const char* file, int line,
               const std::function<void()>& body) {
  TsanIgnore ignore;  // the scheduler touches only the emulator's state (kernels run on fibers)
  if (g_launch)
    Abort(std::string("a kernel launched from inside a kernel at ") + file + ":" +
          std::to_string(line));
  Launch L;
  L.grid = grid;
  L.block = block;
  L.smem = smem;
  L.file = file;
  L.line = line;
  L.body = &body;
  const unsigned n = block.x * block.y * block.z;
  while (g_pool.size() < n) g_pool.push_back(std::make_unique<Fiber>());
  L.threads.resize(n);
  for (unsigned i = 0; i < n; ++i) {
    SimThread& t = L.threads[i];
    t.linear = i;
    t.fiber = g_pool[i].get();
    t.coords.thread_idx = {i % block.x, (i / block.x) % block.y, i / (block.x * block.y)};
    t.coords.block_dim = block;
    t.coords.grid_dim = grid;
  }
  const unsigned warps = (n + 31) / 32;
  L.warp_gen.assign(warps, 0);
  L.warp_sync.assign(2 * static_cast<size_t>(warps), 0);
  for (uint64_t i : MakeOrder(n)) L.order.push_back(static_cast<unsigned>(i));
#if CUDASIM_TSAN
  L.sched_tsan = __tsan_get_current_fiber();
#endif
  ++g_launch_count;
  g_launch = &L;
  const uint64_t gx = grid.x, gy = grid.y;
  for (uint64_t b : MakeOrder(gx * gy * grid.z)) {
    RunBlock(L, uint3{static_cast<unsigned>(b % gx), static_cast<unsigned>((b / gx) % gy),
                      static_cast<unsigned>(b / (gx * gy))});
  }
  g_launch = nullptr;
}

std::string CheckConfig(dim3 grid, dim3 block, size_t smem) {
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  if (threads == 0 || grid.x == 0 || grid.y == 0 || grid.z == 0)
    return "a zero grid or block dimension";
  if (threads > kMaxThreads) return std::to_string(threads) + " threads per block, above 1024";
  if (block.x > 1024 || block.y > 1024 || block.z > 64)
    return "block dimensions above (1024, 1024, 64)";
  if (grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535)
    return "grid dimensions above (2^31-1, 65535, 65535)";
  if (smem > kSharedLimit)
    return std::to_string(smem) + " bytes of dynamic shared memory, above 48 KiB";
  return {};
}

}  // namespace

const ThreadCoords& Coords() {
  TsanIgnore ignore;
  return Current("threadIdx/blockIdx").cur->coords;
}

void LaunchImpl(const GridArg& grid, dim3 block, size_t smem, cudaStream_t stream,
                std::function<void()> body) {
  const std::string bad = CheckConfig(grid.dim, block, smem);
  if (!bad.empty()) {
    internal::Report("invalid launch at " + std::string(grid.file) + ":" +
                     std::to_string(grid.line) + ": " + bad + " (grid " + Dim(grid.dim) +
                     ", block " + Dim(block) + ")");
    internal::SetLastError(smem > kSharedLimit ? cudaErrorInvalidValue
                                               : cudaErrorInvalidConfiguration);
    return;
  }
  const dim3 g = grid.dim;
  const char* file = grid.file;
  const int line = grid.line;
  const cudaError_t e =
      internal::Submit(stream, [g, block, smem, file, line, body = std::move(body)]() {
        RunLaunch(g, block, smem, file, line, body);
      });
  if (e != cudaSuccess) internal::SetLastError(e);
}

void* StaticShared(const void* tag, size_t bytes, const char* file, int line) {
  TsanIgnore ignore;
  Launch& L = Current("__shared__");
  auto it = L.shared.find(tag);
  if (it != L.shared.end()) {
    TsanAcquire(it->second.first);
    return it->second.first;
  }
  if (L.shared_bytes + bytes + L.smem > kSharedLimit)
    Abort("__shared__ declared at " + std::string(file) + ":" + std::to_string(line) +
          " brings the block to " + std::to_string(L.shared_bytes + bytes + L.smem) +
          " bytes of shared memory, above 48 KiB" + Where(L));
  void* p = PoisonedAlloc(bytes);
  L.shared[tag] = {p, bytes};
  L.shared_bytes += bytes;
  TsanRelease(p);
  return p;
}

void* DynamicShared() {
  TsanIgnore ignore;
  return Current("extern __shared__").dynamic;
}

void SyncThreads(const char* file, int line) {
  TsanIgnore ignore;
  Launch& L = Current("__syncthreads");
  SimThread& t = *L.cur;
  if (L.direct) {
    const SimThread& first = L.threads[0];
    Abort("__syncthreads at " + std::string(file) + ":" + std::to_string(line) + " is reached by " +
          ThreadName(t) + ", but " + ThreadName(first) +
          " of the same block exited without reaching any barrier (divergent barrier)" + Where(L));
  }
  ++L.sync_calls;
  t.state = State::kBarrier;
  t.file = file;
  t.line = line;
  t.gen = L.barrier_gen;
  TsanRelease(&L.barrier_sync[t.gen & 1]);
  SwitchToScheduler(L, t, false);
  TsanAcquire(&L.barrier_sync[t.gen & 1]);
}

uint64_t WarpCollective(WarpOp op, unsigned mask, uint64_t value, int arg, int width,
                        const char* file, int line) {
  TsanIgnore ignore;
  Launch& L = Current(OpName(op));
  SimThread& t = *L.cur;
  if (L.direct) {
    const SimThread& first = L.threads[0];
    Abort(std::string(OpName(op)) + " at " + file + ":" + std::to_string(line) + " is reached by " +
          ThreadName(t) + ", but " + ThreadName(first) +
          " of the same block exited without any barrier or collective; if that "
          "lane is not in the mask, run with GPEN_CUDASIM_FIBERS=always" +
          Where(L));
  }
  ++L.sync_calls;
  const unsigned warp = t.linear / 32;
  t.state = State::kWarp;
  t.op = op;
  t.mask = mask;
  t.value = value;
  t.arg = arg;
  t.width = width;
  t.file = file;
  t.line = line;
  t.gen = L.warp_gen[warp];
  // Only __syncwarp orders memory among the lanes; a shuffle or vote exchanges values
  // and promises nothing about memory, so TSan is told nothing for those.
  const bool orders_memory = op == WarpOp::kSyncWarp;
  if (orders_memory) TsanRelease(&L.warp_sync[2 * warp + (t.gen & 1)]);
  SwitchToScheduler(L, t, false);
  if (orders_memory) TsanAcquire(&L.warp_sync[2 * warp + (t.gen & 1)]);
  return t.result;
}

}  // namespace cudasim::detail
