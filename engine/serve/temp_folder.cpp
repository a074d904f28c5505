// The server's private temporary folder.
#include "serve/temp_folder.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

namespace gpen::serve {

Result<TempFolder> TempFolder::Create(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string base = tmp && *tmp ? tmp : "/tmp";
  std::string templ = base + "/" + prefix + "XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) {
    return IoError("cannot create a temporary folder in " + base + ": " + std::strerror(errno),
                   "set TMPDIR to a writable folder");
  }
  return TempFolder(std::string(buf.data()));
}

TempFolder::~TempFolder() {
  if (!path_.empty()) RemoveTree(path_);
}

bool RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  return !ec;
}

Status MakePrivateFolder(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0) {
    return IoError("cannot create " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace gpen::serve
