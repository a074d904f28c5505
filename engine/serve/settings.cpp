// Form fields to job settings, each error naming its field and what it takes.
#include "serve/settings.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

namespace gpen::serve {

namespace {

bool IsSettingField(const std::string& name) {
  for (const char* f : {"tile", "tile_pad", "tile_batch", "precision", "device", "upscale",
                        "bg_upsampler", "only_faces", "alpha", "hf_suppress"}) {
    if (name == f) return true;
  }
  return false;
}

Status BadField(const std::string& field, const std::string& value, const std::string& expected) {
  return InvalidArgument("field '" + field + "' is '" + value + "'; expected " + expected,
                         "fix the field '" + field + "', or leave it out for its default");
}

// A whole decimal number: digits only, no sign, no spaces.
bool ParseWhole(const std::string& v, int64_t* out) {
  if (v.empty() || v.size() > 12) return false;
  int64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  *out = n;
  return true;
}

// "auto" (-1) or a whole number in [lo, hi].
Status AutoOrWhole(const Fields& f, const std::string& field, int64_t lo, int64_t hi,
                   std::string* text, int64_t* out) {
  auto it = f.find(field);
  if (it == f.end() || it->second == "auto") return Status::Ok();
  int64_t n = 0;
  if (!ParseWhole(it->second, &n) || n < lo || n > hi) {
    return BadField(
        field, it->second,
        "\"auto\" or a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
  }
  *text = it->second;
  *out = n;
  return Status::Ok();
}

Status OneOf(const Fields& f, const std::string& field, std::initializer_list<const char*> allowed,
             std::string* out) {
  auto it = f.find(field);
  if (it == f.end()) return Status::Ok();
  std::string list;
  for (const char* a : allowed) {
    if (it->second == a) {
      *out = it->second;
      return Status::Ok();
    }
    list += std::string(list.empty() ? "" : ", ") + "\"" + a + "\"";
  }
  return BadField(field, it->second, "one of " + list);
}

Status Switch(const Fields& f, const std::string& field, bool* out) {
  auto it = f.find(field);
  if (it == f.end()) return Status::Ok();
  const std::string& v = it->second;
  if (v == "1" || v == "true" || v == "on") {
    *out = true;
  } else if (v == "0" || v == "false" || v == "off" || v.empty()) {
    *out = false;
  } else {
    return BadField(field, v, "\"0\" or \"1\" (also \"true\", \"false\", \"on\")");
  }
  return Status::Ok();
}

Status Alpha(const Fields& f, double* out) {
  auto it = f.find("alpha");
  if (it == f.end()) return Status::Ok();
  const std::string& v = it->second;
  char* end = nullptr;
  errno = 0;
  const double a = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || errno != 0 || !std::isfinite(a) || a < 0 || a > 1 ||
      v.find_first_of("xXnNiI ") != std::string::npos) {
    return BadField("alpha", v, "a number from 0 to 1");
  }
  *out = a;
  return Status::Ok();
}

Status CheckDevice(const JobSettings& s, const ServerCaps& caps) {
  if (s.device == "cuda" && !caps.cuda_usable) {
    return InvalidArgument("field 'device' is 'cuda', but this server has no usable GPU",
                           "choose \"cpu\" or \"auto\"");
  }
  const bool cpu =
      s.device == "cpu" || (s.device == "auto" && caps.base.run.device == Device::kCpu);
  if (s.precision == "fp16" && cpu) {
    return InvalidArgument("field 'precision' is 'fp16', which runs on cuda only",
                           "choose \"fp32\" or \"auto\" for the CPU");
  }
  return Status::Ok();
}

Status CheckBackground(const JobSettings& s, const ServerCaps& caps) {
  if (s.bg_upsampler == "rrdb" && !caps.have_upscaler) {
    return InvalidArgument(
        "field 'bg_upsampler' is 'rrdb', but the server has no upscaler model loaded",
        "choose \"auto\" or \"bicubic\", or start gpen serve with --upscaler MODEL");
  }
  if (s.bg_upsampler == "none" && s.upscale != 1) {
    return InvalidArgument(
        "field 'bg_upsampler' is 'none', which keeps the photo's size, but "
        "'upscale' is " +
            std::to_string(s.upscale),
        "set upscale to 1, or choose \"rrdb\" or \"bicubic\"");
  }
  return Status::Ok();
}

}  // namespace

bool IsPlanField(const std::string& name) {
  return name == "width" || name == "height" || name == "faces";
}

Result<JobSettings> ParseSettings(const Fields& fields, const ServerCaps& caps) {
  JobSettings s;
  for (const auto& [name, value] : fields) {
    if (!IsSettingField(name)) {
      return InvalidArgument("unknown field '" + name + "'",
                             "the fields are tile, tile_pad, tile_batch, precision, device, "
                             "upscale, bg_upsampler, only_faces, alpha and hf_suppress");
    }
  }
  GPEN_TRY(AutoOrWhole(fields, "tile", kMinTile, 65536, &s.tile, &s.tiles.tile));
  GPEN_TRY(AutoOrWhole(fields, "tile_pad", 0, 1024, &s.tile_pad, &s.tiles.pad));
  GPEN_TRY(AutoOrWhole(fields, "tile_batch", 1, 256, &s.tile_batch, &s.tiles.batch));
  GPEN_TRY(OneOf(fields, "precision", {"auto", "fp32", "fp16"}, &s.precision));
  GPEN_TRY(OneOf(fields, "device", {"auto", "cpu", "cuda"}, &s.device));
  GPEN_TRY(OneOf(fields, "bg_upsampler", {"auto", "rrdb", "bicubic", "none"}, &s.bg_upsampler));
  std::string up = "2";
  GPEN_TRY(OneOf(fields, "upscale", {"1", "2", "4"}, &up));
  s.upscale = up[0] - '0';
  GPEN_TRY(Switch(fields, "only_faces", &s.only_faces));
  GPEN_TRY(Switch(fields, "hf_suppress", &s.hf_suppress));
  GPEN_TRY(Alpha(fields, &s.alpha));
  GPEN_TRY(CheckDevice(s, caps));
  GPEN_TRY(CheckBackground(s, caps));
  return s;
}

PhotoOptions ToPhotoOptions(const JobSettings& s, const ServerCaps& caps) {
  PhotoOptions po = caps.base;
  PipelineOptions& run = po.run;
  const Device base_device = run.device;
  if (s.device == "cpu") run.device = Device::kCpu;
  if (s.device == "cuda") run.device = Device::kCuda;
  if (s.precision == "fp32") run.precision = Precision::kFp32;
  if (s.precision == "fp16") run.precision = Precision::kFp16;
  if (s.precision == "auto" && run.device != base_device) run.precision = Precision::kFp32;
  run.tiles = s.tiles;
  run.hf_suppress = s.hf_suppress;
  po.upscale = s.upscale;
  po.alpha = static_cast<float>(s.alpha);
  po.only_faces = s.only_faces;
  po.background = s.bg_upsampler == "none" ? Background::kNone : Background::kBicubic;
  const bool rrdb = s.bg_upsampler == "rrdb" || (s.bg_upsampler == "auto" && caps.have_upscaler);
  if (rrdb && !s.only_faces && s.upscale != 1) po.background = Background::kUpscaler;
  return po;
}

std::string JobSettings::Json() const {
  nlohmann::json j;
  j["device"] = device;
  j["precision"] = precision;
  j["tile"] = tile;
  j["tile_pad"] = tile_pad;
  j["tile_batch"] = tile_batch;
  j["upscale"] = upscale;
  j["bg_upsampler"] = bg_upsampler;
  j["only_faces"] = only_faces;
  j["alpha"] = alpha;
  j["hf_suppress"] = hf_suppress;
  return j.dump();
}

}  // namespace gpen::serve
