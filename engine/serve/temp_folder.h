// TempFolder: the private folder gpen serve keeps its uploads and results in.
//
// Made with mkdtemp (mode 0700: other users cannot list or read it) under $TMPDIR, or
// /tmp, and removed with everything in it when the object goes: on a normal exit, on
// SIGTERM/SIGINT (cmd_serve.cpp ends the server and returns), and on an error at start.
#pragma once

#include <string>

#include "core/status.h"

namespace gpen::serve {

class TempFolder {
 public:
  static Result<TempFolder> Create(const std::string& prefix);
  TempFolder(TempFolder&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  TempFolder& operator=(TempFolder&&) = delete;
  TempFolder(const TempFolder&) = delete;
  ~TempFolder();

  const std::string& path() const { return path_; }

 private:
  explicit TempFolder(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Removes a file or folder and everything in it; true when nothing is left.
bool RemoveTree(const std::string& path);

// Creates the folder `path` with mode 0700.
Status MakePrivateFolder(const std::string& path);

}  // namespace gpen::serve
