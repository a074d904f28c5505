// gpen: the command-line front end. The only place a Status becomes an exit code.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "core/check.h"

namespace {

void Usage() {
  std::printf(
      "gpen: GPEN face restoration, CPU and CUDA\n\n"
      "usage: gpen COMMAND [flags]\n\n"
      "commands:\n"
      "  info MODEL            validate a converted model file and describe it\n"
      "  enhance               restore aligned face crops (file or folder)\n"
      "  bench                 time the GPEN forward pass (random weights by default)\n"
      "  plan                  choose batch and tiles for a memory budget, print the peak\n\n"
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
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help") ||
      !std::strcmp(argv[1], "help")) {
    Usage();
    return argc < 2 ? 1 : 0;
  }
  const std::string cmd = argv[1];
  try {
    if (cmd == "info") return Report(gpen::cli::CmdInfo(argc - 2, argv + 2));
    if (cmd == "bench") return Report(gpen::cli::CmdBench(argc - 2, argv + 2));
    if (cmd == "plan") return Report(gpen::cli::CmdPlan(argc - 2, argv + 2));
    if (cmd == "enhance") {
      int failed = 0;
      const int rc = Report(gpen::cli::CmdEnhance(argc - 2, argv + 2, &failed));
      return rc ? rc : (failed ? gpen::cli::kExitPartial : 0);
    }
  } catch (const gpen::InternalError& e) {
    std::fprintf(stderr, "%s\nThis is a bug in gpen; please report it with the command line.\n", e.what());
    return 70;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of host memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "internal error: %s\n", e.what());
    return 70;
  }
  std::fprintf(stderr, "error: unknown command '%s'\n\n", cmd.c_str());
  Usage();
  return 1;
}
