// Default model files: models/NAME in the current folder, then beside the binary's build folder.
#include "cli/default_models.h"

#include <sys/stat.h>
#include <unistd.h>

#include <climits>

namespace gpen::cli {

namespace {

bool IsFile(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string Parent(const std::string& p) {
  const size_t s = p.find_last_of('/');
  return s == std::string::npos || s == 0 ? "/" : p.substr(0, s);
}

}  // namespace

std::string FindDefaultModel(const std::string& name) {
  const std::string here = "models/" + name;
  if (IsFile(here)) return here;
  char exe[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return "";
  exe[n] = '\0';
  // build/gpen -> the checkout is the build folder's parent.
  const std::string beside = Parent(Parent(exe)) + "/models/" + name;
  return IsFile(beside) ? beside : "";
}

}  // namespace gpen::cli
