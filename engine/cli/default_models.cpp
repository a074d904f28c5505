// Default model files: models/NAME in the current folder, then beside the binary's build folder.
#include "cli/default_models.h"

#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdio>

#include "face/face_detector.h"
#include "net/registry.h"

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

Result<std::shared_ptr<const Network>> LoadRestorer(const std::string& command,
                                                    const std::string& path) {
  GPEN_ASSIGN_OR_RETURN(std::shared_ptr<const Network> net, LoadNetwork(path));
  if (net->family() != "gpen") {
    return InvalidArgument("--model " + path + " is a " + net->family() + " model; " + command +
                               " restores faces with a GPEN model",
                           "an RRDBNet model goes to --upscaler, a RetinaFace to --detector");
  }
  std::fprintf(stderr, "model: %s\n", net->Describe().c_str());
  return net;
}

Result<std::shared_ptr<const RetinaFaceNetwork>> LoadPhotoDetector(const std::string& command,
                                                                   std::string path,
                                                                   const std::string& hint) {
  if (path.empty()) path = FindDefaultModel(kDefaultDetector);
  if (path.empty()) {
    return InvalidArgument(command + ": no face detector: --detector is not given and models/" +
                               std::string(kDefaultDetector) + " is not found",
                           "run tools/fetch_models.sh (it converts the pinned RetinaFace), give "
                           "--detector MODEL" +
                               hint);
  }
  GPEN_ASSIGN_OR_RETURN(std::shared_ptr<const RetinaFaceNetwork> det,
                        LoadDetector("--detector", path));
  std::fprintf(stderr, "detector: %s\n", det->Describe().c_str());
  return det;
}

Result<std::shared_ptr<const Network>> LoadUpscaler(const std::string& path) {
  GPEN_ASSIGN_OR_RETURN(std::shared_ptr<const Network> net, LoadNetwork(path));
  if (!net->FullyConvolutional()) {
    return InvalidArgument(
        "--upscaler " + path + " is a " + net->family() + " model, not an image upscaler",
        "give an RRDBNet model (tools/fetch_models.sh converts Real-ESRGAN)");
  }
  std::fprintf(stderr, "upscaler: %s\n", net->Describe().c_str());
  return net;
}

}  // namespace gpen::cli
