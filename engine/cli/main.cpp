// gpen: the command-line front end. The only place a Status becomes an exit code.
//
// Exit codes (README): 0 success, 1 an error the user can act on (usage, files,
// memory), 2 a folder run that finished without some images, 70 a bug. A SIGINT or
// SIGTERM removes the temporary file of an output being written before the process
// dies of it (core/temp_files.h).
//
// OpenBLAS starts its threads when it is loaded, before main: one per core unless
// OPENBLAS_NUM_THREADS (or GOTO_NUM_THREADS, OMP_NUM_THREADS) says otherwise, each
// mapping a 128 MiB buffer and a stack. Under an address-space limit (ulimit -v) a
// thread whose buffer cannot be mapped retries forever, and every threaded GEMM and
// the exit wait for it; under a process limit (ulimit -u) OpenBLAS raises SIGINT at
// itself when a thread cannot be created. Its thread count can only be chosen before
// it is loaded, so gpen restarts itself once with OPENBLAS_NUM_THREADS set: to 1 when
// a thread could not be created (a handler installed before any library starts notes
// OpenBLAS's SIGINT instead of dying of it), or, when the user has not chosen the
// count and more threads start than a quarter of the address-space limit holds, to
// what fits.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "core/check.h"
#include "core/host_memory.h"
#include "core/parallel.h"
#include "core/temp_files.h"

namespace {

constexpr const char* kRestartedEnv = "GPEN_RESTARTED_FOR_OPENBLAS";

// Set when OpenBLAS raised SIGINT at itself while it started (it could not create a
// thread); g_sigint_before is the disposition to restore once main runs.
volatile sig_atomic_t g_blas_start_failed = 0;
bool g_watching_sigint = false;
struct sigaction g_sigint_before {};

void OnSigintWhileLoading(int sig, siginfo_t* info, void*) {
  if (info && info->si_code == SI_TKILL && info->si_pid == getpid()) {
    g_blas_start_failed = 1;  // OpenBLAS's raise(SIGINT): go on, main restarts gpen
    return;
  }
  if (g_sigint_before.sa_handler == SIG_IGN) return;  // a real interrupt, ignored before
  signal(sig, SIG_DFL);                               // a real interrupt: die of it
  raise(sig);
}

void BeforeLibraries(int, char**, char**) {
  struct sigaction sa {};
  sa.sa_sigaction = OnSigintWhileLoading;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  g_watching_sigint = sigaction(SIGINT, &sa, &g_sigint_before) == 0;
}
// Runs before the constructors of every shared library, OpenBLAS's included.
__attribute__((section(".preinit_array"),
               used)) void (*const g_before_libraries)(int, char**, char**) = BeforeLibraries;

void Restart(char** argv, int blas_threads) {
  setenv("OPENBLAS_NUM_THREADS", std::to_string(blas_threads).c_str(), 1);
  setenv(kRestartedEnv, "1", 1);
  execv("/proc/self/exe", argv);
  std::fprintf(stderr, "notice: cannot restart gpen (%s); going on\n", std::strerror(errno));
  unsetenv(kRestartedEnv);
}

void RestartForOpenBlasIfNeeded(char** argv) {
  if (g_watching_sigint) sigaction(SIGINT, &g_sigint_before, nullptr);
  const bool restarted = std::getenv(kRestartedEnv) != nullptr;
  unsetenv(kRestartedEnv);
  // With one thread OpenBLAS creates none, so this restart happens at most once.
  if (g_blas_start_failed && gpen::BlasThreadsFor(0) > 1) {
    std::fprintf(stderr,
                 "notice: OpenBLAS could not create its threads (a process limit, ulimit -u?); "
                 "restarting with OPENBLAS_NUM_THREADS=1\n");
    Restart(argv, 1);
    return;
  }
  if (restarted) return;
  for (const char* v : {"OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"})
    if (std::getenv(v)) return;  // the user's choice
  const int64_t limit = gpen::AddressSpaceLimit();
  if (limit == gpen::kNoLimit) return;
  const int64_t per_thread = gpen::kBlasBufferBytes + (int64_t{8} << 20);  // buffer, stack
  const int fit = static_cast<int>(std::clamp<int64_t>(limit / 4 / per_thread, 1, 1024));
  const int started = gpen::BlasThreadsFor(0);
  if (started <= fit) return;
  std::fprintf(stderr,
               "notice: the address-space limit (%lld MiB) holds OpenBLAS's buffers for %d of "
               "its %d threads; restarting with OPENBLAS_NUM_THREADS=%d\n",
               static_cast<long long>(limit >> 20), fit, started, fit);
  Restart(argv, fit);
}

void Usage() {
  std::printf(
      "gpen: GPEN face restoration and RRDBNet upscaling, CPU and CUDA\n\n"
      "usage: gpen COMMAND [flags]\n\n"
      "commands:\n"
      "  info MODEL            validate a converted model file and describe it\n"
      "  enhance               restore the faces of photos, or aligned crops (file or folder)\n"
      "  detect                find faces: boxes, scores and 5 landmarks (RetinaFace)\n"
      "  upscale               enlarge images with an RRDBNet model (Real-ESRGAN)\n"
      "  bench                 time a forward pass (random weights by default)\n"
      "  plan                  choose batch and tiles for a memory budget, print the peak\n"
      "  serve                 a web page and HTTP API that restore uploaded photos\n\n"
      "Run 'gpen COMMAND --help' for the flags of a command.\n"
      "Model files come from upstream checkpoints: tools/convert.py IN.pth OUT.safetensors\n");
}

int Report(const gpen::Status& s) {
  if (s.ok()) return 0;
  std::fprintf(stderr, "error: %s\n", s.message().c_str());
  if (!s.hint().empty()) std::fprintf(stderr, "hint: %s\n", s.hint().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  RestartForOpenBlasIfNeeded(argv);
  gpen::RecordProcessStartResident();  // the CPU plan's process line (run_plan.h)
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help") ||
      !std::strcmp(argv[1], "help")) {
    Usage();
    return argc < 2 ? 1 : 0;
  }
  const std::string cmd = argv[1];
  gpen::InstallTempFileCleanup();
  try {
    if (cmd == "info") return Report(gpen::cli::CmdInfo(argc - 2, argv + 2));
    if (cmd == "bench") return Report(gpen::cli::CmdBench(argc - 2, argv + 2));
    if (cmd == "plan") return Report(gpen::cli::CmdPlan(argc - 2, argv + 2));
    if (cmd == "detect") return Report(gpen::cli::CmdDetect(argc - 2, argv + 2));
    if (cmd == "serve") return Report(gpen::cli::CmdServe(argc - 2, argv + 2));
    if (cmd == "enhance") {
      int failed = 0;
      const int rc = Report(gpen::cli::CmdEnhance(argc - 2, argv + 2, &failed));
      return rc ? rc : (failed ? gpen::cli::kExitPartial : 0);
    }
    if (cmd == "upscale") {
      int failed = 0;
      const int rc = Report(gpen::cli::CmdUpscale(argc - 2, argv + 2, &failed));
      return rc ? rc : (failed ? gpen::cli::kExitPartial : 0);
    }
  } catch (const gpen::InternalError& e) {
    std::fprintf(stderr, "%s\nThis is a bug in gpen; please report it with the command line.\n",
                 e.what());
    return 70;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr,
                 "error: out of host memory\nhint: free memory, or raise the process's limits "
                 "(ulimit -v)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "internal error: %s\n", e.what());
    return 70;
  }
  std::fprintf(stderr, "error: unknown command '%s'\n\n", cmd.c_str());
  Usage();
  return 1;
}
