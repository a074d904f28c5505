// The table of network families: one row per family.
#include "net/registry.h"

#include "model/gpen_weights.h"
#include "model/model_file.h"
#include "net/gpen_net.h"
#include "net/retinaface_net.h"
#include "net/rrdb_net.h"

namespace gpen {

namespace {

struct Family {
  const char* name;
  Result<std::shared_ptr<const Network>> (*load)(const ModelFile&);
  std::vector<std::string> (*archs)();
  Result<std::shared_ptr<const Network>> (*make)(const std::string& arch, uint64_t seed,
                                                 bool shapes_only);
};

Result<std::shared_ptr<const Network>> LoadGpen(const ModelFile& f) {
  GPEN_ASSIGN_OR_RETURN(GpenWeights w, GpenWeights::FromFile(f));
  return std::shared_ptr<const Network>(
      GpenNetwork::Wrap(std::make_shared<const GpenWeights>(std::move(w))));
}

std::vector<std::string> GpenArchs() {
  return {"bfr256", "bfr512", "bfr1024", "bfr2048"};
}

Result<std::shared_ptr<const Network>> MakeGpen(const std::string& name, uint64_t seed,
                                                bool shapes_only) {
  GPEN_ASSIGN_OR_RETURN(GpenArch arch, GpenArch::Preset(name));
  GPEN_ASSIGN_OR_RETURN(
      GpenWeights w, shapes_only ? GpenWeights::ShapesOnly(arch) : GpenWeights::Random(arch, seed));
  return std::shared_ptr<const Network>(
      GpenNetwork::Wrap(std::make_shared<const GpenWeights>(std::move(w))));
}

Result<std::shared_ptr<const Network>> LoadRrdb(const ModelFile& f) {
  GPEN_ASSIGN_OR_RETURN(RrdbWeights w, RrdbWeights::FromFile(f));
  return std::shared_ptr<const Network>(
      std::make_shared<const RrdbNetwork>(std::make_shared<const RrdbWeights>(std::move(w))));
}

Result<std::shared_ptr<const Network>> MakeRrdb(const std::string& name, uint64_t seed,
                                                bool shapes_only) {
  GPEN_ASSIGN_OR_RETURN(RrdbArch arch, RrdbArch::Preset(name));
  GPEN_ASSIGN_OR_RETURN(
      RrdbWeights w, shapes_only ? RrdbWeights::ShapesOnly(arch) : RrdbWeights::Random(arch, seed));
  return std::shared_ptr<const Network>(
      std::make_shared<const RrdbNetwork>(std::make_shared<const RrdbWeights>(std::move(w))));
}

Result<std::shared_ptr<const Network>> LoadRetinaFace(const ModelFile& f) {
  GPEN_ASSIGN_OR_RETURN(RetinaFaceWeights w, RetinaFaceWeights::FromFile(f));
  return std::shared_ptr<const Network>(std::make_shared<const RetinaFaceNetwork>(
      std::make_shared<const RetinaFaceWeights>(std::move(w))));
}

Result<std::shared_ptr<const Network>> MakeRetinaFace(const std::string& name, uint64_t seed,
                                                      bool shapes_only) {
  GPEN_ASSIGN_OR_RETURN(RetinaFaceArch arch, RetinaFaceArch::Preset(name));
  GPEN_ASSIGN_OR_RETURN(RetinaFaceWeights w, shapes_only ? RetinaFaceWeights::ShapesOnly(arch)
                                                         : RetinaFaceWeights::Random(arch, seed));
  return std::shared_ptr<const Network>(std::make_shared<const RetinaFaceNetwork>(
      std::make_shared<const RetinaFaceWeights>(std::move(w))));
}

const std::vector<Family>& Families() {
  static const std::vector<Family> families = {
      {"gpen", LoadGpen, GpenArchs, MakeGpen},
      {"rrdbnet", LoadRrdb, RrdbArch::PresetNames, MakeRrdb},
      {"retinaface", LoadRetinaFace, RetinaFaceArch::PresetNames, MakeRetinaFace},
  };
  return families;
}

std::string FamilyList() {
  std::string s;
  for (const Family& f : Families()) s += (s.empty() ? "'" : ", '") + std::string(f.name) + "'";
  return s;
}

}  // namespace

Result<std::shared_ptr<const Network>> LoadNetwork(const std::string& path) {
  GPEN_ASSIGN_OR_RETURN(ModelFile file, ModelFile::Open(path));
  GPEN_ASSIGN_OR_RETURN(std::string family, file.MetaString("family"));
  for (const Family& f : Families()) {
    if (family == f.name) return f.load(file);
  }
  return FormatError(path + ": model family " + QuoteUntrusted(family) +
                         " is not one this engine runs (" + FamilyList() + ")",
                     "convert a supported checkpoint with tools/convert.py");
}

Result<std::string> FamilyOfArch(const std::string& arch) {
  for (const Family& f : Families()) {
    for (const std::string& a : f.archs()) {
      if (a == arch) return std::string(f.name);
    }
  }
  std::string names;
  for (const std::string& a : KnownArchNames()) names += (names.empty() ? "" : ", ") + a;
  return InvalidArgument("unknown architecture '" + arch + "'", "known: " + names);
}

Result<std::shared_ptr<const Network>> NetworkForArch(const std::string& arch, uint64_t seed,
                                                      bool shapes_only) {
  GPEN_ASSIGN_OR_RETURN(std::string family, FamilyOfArch(arch));
  for (const Family& f : Families()) {
    if (family == f.name) return f.make(arch, seed, shapes_only);
  }
  return InvalidArgument("unknown architecture '" + arch + "'");
}

std::vector<std::string> KnownArchNames() {
  std::vector<std::string> names;
  for (const Family& f : Families()) {
    for (std::string& a : f.archs()) names.push_back(std::move(a));
  }
  return names;
}

}  // namespace gpen
