// RRDBNet's hyperparameters and weight binding: the one place where its state_dict
// names appear (upstream basicsr/archs/rrdbnet_arch.py, as tools/archs.py tables them).
// From a file the binding runs twice: a check-only pass, then the one that allocates.
#include <sstream>

#include "net/rrdb_net.h"

namespace gpen {

std::string RrdbArch::ToString() const {
  std::ostringstream os;
  os << "RRDBNet x" << scale << " (" << num_feat << " features, " << num_block << " blocks, growth "
     << num_grow_ch << ", " << num_in_ch << " -> " << num_out_ch << " channels)";
  return os.str();
}

Status RrdbArch::Validate(const std::string& where) const {
  if (scale != 1 && scale != 2 && scale != 4) {
    return FormatError(where + ": RRDBNet scale " + std::to_string(scale) + ", expected 1, 2 or 4");
  }
  const struct {
    const char* key;
    int64_t v, lo, hi;
  } ranges[] = {{"num_in_ch", num_in_ch, 1, 4},
                {"num_out_ch", num_out_ch, 1, 4},
                {"num_feat", num_feat, 1, 1024},
                {"num_block", num_block, 1, 64},
                {"num_grow_ch", num_grow_ch, 1, 1024}};
  for (const auto& r : ranges) {
    if (r.v < r.lo || r.v > r.hi) {
      return FormatError(where + ": RRDBNet " + r.key + " " + std::to_string(r.v) + ", expected " +
                         std::to_string(r.lo) + ".." + std::to_string(r.hi));
    }
  }
  return Status::Ok();
}

Result<RrdbArch> RrdbArch::FromModelFile(const ModelFile& f) {
  GPEN_ASSIGN_OR_RETURN(std::string family, f.MetaString("family"));
  if (family != "rrdbnet") {
    return FormatError(
        f.path() + ": model family is " + QuoteUntrusted(family) + ", expected 'rrdbnet'",
        "this command runs RRDBNet upscalers");
  }
  RrdbArch a;
  GPEN_ASSIGN_OR_RETURN(a.scale, f.MetaInt("scale", 1, 4));
  GPEN_ASSIGN_OR_RETURN(a.num_in_ch, f.MetaInt("num_in_ch", 1, 4));
  GPEN_ASSIGN_OR_RETURN(a.num_out_ch, f.MetaInt("num_out_ch", 1, 4));
  GPEN_ASSIGN_OR_RETURN(a.num_feat, f.MetaInt("num_feat", 1, 1024));
  GPEN_ASSIGN_OR_RETURN(a.num_block, f.MetaInt("num_block", 1, 64));
  GPEN_ASSIGN_OR_RETURN(a.num_grow_ch, f.MetaInt("num_grow_ch", 1, 1024));
  GPEN_TRY(a.Validate(f.path()));
  return a;
}

std::vector<std::string> RrdbArch::PresetNames() {
  return {"realesrgan-x4plus", "realesrgan-x2plus", "rrdb-small", "rrdb-tiny"};
}

Result<RrdbArch> RrdbArch::Preset(const std::string& name) {
  RrdbArch a;
  if (name == "realesrgan-x4plus") return a;
  if (name == "realesrgan-x2plus") {
    a.scale = 2;
    return a;
  }
  if (name == "rrdb-small") {
    a.num_feat = 32, a.num_block = 6, a.num_grow_ch = 16;
    return a;
  }
  if (name == "rrdb-tiny") {
    a.num_feat = 16, a.num_block = 2, a.num_grow_ch = 8;
    return a;
  }
  return InvalidArgument("unknown RRDBNet architecture '" + name + "'");
}

namespace {

RrdbConvW BindConv(Binder& b, const std::string& name, int64_t cin, int64_t cout) {
  RrdbConvW c;
  c.weight = b.Bind(name + ".weight", {cout, cin, 3, 3}, Init::kConv);
  c.bias = b.Bind(name + ".bias", {cout}, Init::kBias);
  return c;
}

Status Bind(const RrdbArch& a, Binder& b, RrdbWeights* w) {
  const int64_t nf = a.num_feat, gc = a.num_grow_ch, u = a.Unshuffle();
  w->conv_first = BindConv(b, "conv_first", a.num_in_ch * u * u, nf);
  for (int64_t i = 0; i < a.num_block; ++i) {
    RrdbBlockW block;
    for (int r = 0; r < 3; ++r) {
      const std::string p = "body." + std::to_string(i) + ".rdb" + std::to_string(r + 1) + ".conv";
      for (int k = 0; k < 5; ++k) {
        block.rdb[r].conv[k] = BindConv(b, p + std::to_string(k + 1), nf + k * gc, k < 4 ? gc : nf);
      }
    }
    w->body.push_back(block);
  }
  w->conv_body = BindConv(b, "conv_body", nf, nf);
  w->conv_up1 = BindConv(b, "conv_up1", nf, nf);
  w->conv_up2 = BindConv(b, "conv_up2", nf, nf);
  w->conv_hr = BindConv(b, "conv_hr", nf, nf);
  w->conv_last = BindConv(b, "conv_last", nf, a.num_out_ch);
  return b.Finish(a.ToString());
}

}  // namespace

Result<RrdbWeights> RrdbWeights::FromFile(const ModelFile& file) {
  GPEN_ASSIGN_OR_RETURN(RrdbArch arch, RrdbArch::FromModelFile(file));
  return BindFromFile<RrdbWeights>(file, arch, Bind);
}

Result<RrdbWeights> RrdbWeights::Random(const RrdbArch& arch, uint64_t seed) {
  return BindWithoutFile<RrdbWeights>(arch, BindMode::kRandom, seed, Bind);
}

Result<RrdbWeights> RrdbWeights::ShapesOnly(const RrdbArch& arch) {
  return BindWithoutFile<RrdbWeights>(arch, BindMode::kShapesOnly, 0, Bind);
}

}  // namespace gpen
