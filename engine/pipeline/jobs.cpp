// Jobs: the input and output files of a run, checked before anything is loaded.
#include "pipeline/jobs.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/temp_files.h"
#include "image/image.h"

namespace gpen {

namespace {

bool IsDir(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool Exists(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0;
}
std::string BaseName(const std::string& p) {
  const size_t s = p.find_last_of('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}
std::string DirName(const std::string& p) {
  const size_t s = p.find_last_of('/');
  return s == std::string::npos ? "." : (s == 0 ? "/" : p.substr(0, s));
}
// Canonical path of a file that may not exist yet (its folder must).
std::string Canonical(const std::string& p) {
  char buf[PATH_MAX];
  if (realpath(p.c_str(), buf)) return buf;
  if (realpath(DirName(p).c_str(), buf)) return std::string(buf) + "/" + BaseName(p);
  return p;
}
// What a file that is not a regular file is, for messages.
std::string KindOf(mode_t m) {
  if (S_ISDIR(m)) return "a folder";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  return "not a regular file";
}

std::string StripSlashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

// The folder an output goes to must exist and take new files.
Status CheckOutputFolder(const std::string& dir, const std::string& flag = "--output") {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) {
    return InvalidArgument(flag + ": the folder " + dir + " does not exist",
                           "create it first, or write to an existing folder");
  }
  if (!S_ISDIR(st.st_mode)) return InvalidArgument(flag + ": " + dir + " is not a folder");
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    return IoError(flag + ": cannot write in the folder " + dir + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

// The images of a folder, sorted: regular files with an image extension. Anything else
// with such a name is skipped with a notice; temporary files are counted, not read.
Result<std::vector<std::string>> ListImages(const std::string& in) {
  DIR* d = opendir(in.c_str());
  if (!d) return IoError("--input " + in + ": cannot list folder: " + std::strerror(errno));
  std::vector<std::string> names;
  int temps = 0;
  while (dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    if (IsTempFileName(n)) {
      ++temps;
      continue;
    }
    if (n[0] == '.' || !HasImageExtension(n)) continue;
    const std::string p = in + "/" + n;
    struct stat st {};
    if (stat(p.c_str(), &st) != 0) {
      std::fprintf(stderr, "notice: skipped %s: %s\n", p.c_str(), std::strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
      std::fprintf(stderr, "notice: skipped %s: %s, not a regular file\n", p.c_str(),
                   KindOf(st.st_mode).c_str());
    } else {
      names.push_back(n);
    }
  }
  closedir(d);
  if (temps) {
    std::fprintf(stderr,
                 "notice: ignored %d temporary file%s (.NAME.tmp.XXXXXX) in %s: left by an "
                 "interrupted run, not images (they may be removed)\n",
                 temps, temps == 1 ? "" : "s", in.c_str());
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

// An existing output is replaced only when it is a regular file we may write: a
// read-only file (no write permission bits, or none for us) is refused, not replaced.
Status CheckOutputTarget(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return IoError("--output " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return InvalidArgument(
        "--output " + path + " exists and is " + KindOf(st.st_mode) + "; it is not replaced",
        "remove it or choose another output");
  }
  if ((st.st_mode & 0222) == 0 || access(path.c_str(), W_OK) != 0) {
    return InvalidArgument("--output " + path + " exists and is read-only; it is not replaced",
                           "make it writable (chmod u+w), remove it, or choose another output");
  }
  return Status::Ok();
}

Status MakeFolder(const std::string& flag, const std::string& path_arg) {
  const std::string path = StripSlashes(path_arg);
  if (Exists(path) && !IsDir(path)) {
    return InvalidArgument(flag + " " + path + " is a file, not a folder");
  }
  if (!Exists(path) && mkdir(path.c_str(), 0755) != 0) {
    const int e = errno;
    // EEXIST: another worker of the same run (--shard) created it just now.
    if (e == EEXIST && IsDir(path)) return CheckOutputFolder(path, flag);
    if (e == ENOENT) {
      return InvalidArgument(
          flag + " " + path + ": cannot create it, the folder " + DirName(path) + " does not exist",
          "create the parent folder first");
    }
    return IoError(flag + " " + path + ": cannot create folder: " + std::strerror(e));
  }
  return CheckOutputFolder(path, flag);
}

Result<std::vector<Job>> PlanJobs(const std::string& in_arg, const std::string& out_arg) {
  const std::string in = StripSlashes(in_arg), out = StripSlashes(out_arg);
  std::vector<Job> jobs;
  struct stat in_st {};
  if (stat(in.c_str(), &in_st) != 0) {
    return IoError("--input " + in + ": " + std::strerror(errno));
  }
  if (S_ISDIR(in_st.st_mode)) {
    if (Exists(out) && !IsDir(out)) {
      return InvalidArgument("--output " + out + " is a file, but --input is a folder",
                             "give an output folder (it is created if missing)");
    }
    GPEN_TRY(MakeFolder("--output", out));
    if (Canonical(in) == Canonical(out)) {
      return InvalidArgument("--output " + out + " is the input folder",
                             "outputs take the inputs' names and would overwrite them; choose "
                             "another folder");
    }
    GPEN_ASSIGN_OR_RETURN(std::vector<std::string> names, ListImages(in));
    if (names.empty()) {
      return InvalidArgument("--input " + in + ": no .png, .jpg, .jpeg, .bmp or .tga files");
    }
    for (const auto& n : names) jobs.push_back({in + "/" + n, out + "/" + n});
  } else {
    if (!S_ISREG(in_st.st_mode)) {
      return InvalidArgument("--input " + in + " is " + KindOf(in_st.st_mode) +
                             ", not an image file or a folder");
    }
    std::string target = IsDir(out) ? out + "/" + BaseName(in) : out;
    if (!HasImageExtension(target)) {
      return InvalidArgument("--output " + out + ": unknown image extension",
                             "use .png, .jpg, .bmp or .tga");
    }
    GPEN_TRY(CheckOutputFolder(DirName(target)));
    jobs.push_back({in, target});
  }
  for (const Job& j : jobs) {
    if (Canonical(j.in) == Canonical(j.out)) {
      return InvalidArgument("--output " + j.out +
                             " is the input file; inputs are never overwritten");
    }
    GPEN_TRY(CheckOutputTarget(j.out));
  }
  return jobs;
}

}  // namespace gpen
