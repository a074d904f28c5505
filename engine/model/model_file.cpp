// ModelFile parsing and validation. nlohmann::json parses the header; every other check
// is explicit here and yields its own message. See model_file.h for the list.
#include "model/model_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

namespace gpen {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // 100 MiB of JSON is already absurd
constexpr size_t kMaxRank = 8;

bool ParseDType(const std::string& s, DType* out) {
  if (s == "F32") *out = DType::kF32;
  else if (s == "F16") *out = DType::kF16;
  else if (s == "BF16") *out = DType::kBF16;
  else if (s == "U8") *out = DType::kU8;
  else return false;
  return true;
}

std::string Bytes(uint64_t n) { return std::to_string(n) + " bytes"; }

}  // namespace

const char* DTypeName(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kU8: return "U8";
  }
  return "?";
}

size_t DTypeSize(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kU8: return 1;
  }
  return 0;
}

Result<ModelFile> ModelFile::Open(const std::string& path) {
  GPEN_ASSIGN_OR_RETURN(MappedFile map, MappedFile::Open(path));
  auto shared = std::make_shared<MappedFile>(std::move(map));
  GPEN_ASSIGN_OR_RETURN(ModelFile mf, Parse(shared->data(), shared->size(), path));
  mf.map_ = std::move(shared);
  return mf;
}

Result<ModelFile> ModelFile::FromBytes(std::vector<uint8_t> bytes, const std::string& name) {
  auto owned = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  GPEN_ASSIGN_OR_RETURN(ModelFile mf, Parse(owned->data(), owned->size(), name));
  mf.owned_ = std::move(owned);
  return mf;
}

Result<ModelFile> ModelFile::Parse(const uint8_t* bytes, size_t size, const std::string& name) {
  const std::string hint_convert =
      "model files are made by tools/convert.py from an upstream .pth checkpoint";
  if (size < 8) {
    return FormatError(name + ": file is " + Bytes(size) +
                           ", too short for the 8-byte header length of a safetensors file",
                       hint_convert);
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > size - 8) {
    return FormatError(name + ": header length " + std::to_string(header_len) +
                           " reaches past the end of the file (" + Bytes(size) +
                           "); the file is truncated or not a safetensors file",
                       hint_convert);
  }
  if (header_len > kMaxHeaderBytes) {
    return FormatError(name + ": header length " + std::to_string(header_len) +
                       " is larger than the " + Bytes(kMaxHeaderBytes) + " allowed");
  }
  const char* hbegin = reinterpret_cast<const char*>(bytes + 8);
  const char* hend = hbegin + header_len;

  // Parse with a callback that records duplicate top-level names (the JSON library
  // would otherwise keep the last silently).
  std::set<std::string> seen;
  std::string duplicate;
  auto cb = [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    if (depth == 1 && ev == nlohmann::json::parse_event_t::key) {
      const std::string k = parsed.get<std::string>();
      if (!seen.insert(k).second && duplicate.empty()) duplicate = k;
    }
    return true;
  };
  nlohmann::json header = nlohmann::json::parse(hbegin, hend, cb, /*allow_exceptions=*/false);
  if (header.is_discarded()) {
    return FormatError(name + ": the " + Bytes(header_len) +
                           " header is not valid JSON (the file is damaged or not a "
                           "safetensors file)",
                       hint_convert);
  }
  if (!header.is_object()) {
    return FormatError(name + ": header is JSON but not an object of tensor entries");
  }
  if (!duplicate.empty()) {
    return FormatError(name + ": tensor name '" + duplicate +
                       "' appears more than once in the header");
  }

  ModelFile mf;
  mf.path_ = name;
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = size - data_start;
  if (data_start % kFileAlignment != 0) {
    return FormatError(name + ": data section starts at byte " + std::to_string(data_start) +
                           ", expected a multiple of " + std::to_string(kFileAlignment),
                       hint_convert);
  }

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& key = it.key();
    const nlohmann::json& v = it.value();
    if (key == "__metadata__") {
      if (!v.is_object()) return FormatError(name + ": __metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) {
          return FormatError(name + ": __metadata__ entry '" + m.key() +
                             "' is not a string (safetensors metadata maps strings to strings)");
        }
        mf.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = name + ": tensor '" + key + "'";
    if (!v.is_object()) return FormatError(where + ": entry is not a JSON object");
    if (!v.contains("dtype") || !v["dtype"].is_string()) {
      return FormatError(where + ": missing string field 'dtype'");
    }
    TensorEntry e;
    e.name = key;
    const std::string dt = v["dtype"].get<std::string>();
    if (!ParseDType(dt, &e.dtype)) {
      return FormatError(where + ": unsupported dtype '" + dt + "', expected F32, F16, BF16 or U8",
                         "convert the checkpoint again with tools/convert.py --dtype fp32|fp16");
    }
    if (!v.contains("shape") || !v["shape"].is_array()) {
      return FormatError(where + ": missing array field 'shape'");
    }
    if (v["shape"].size() > kMaxRank) {
      return FormatError(where + ": shape has " + std::to_string(v["shape"].size()) +
                         " dimensions, at most " + std::to_string(kMaxRank) + " are supported");
    }
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > (1ull << 40)) {
        return FormatError(where + ": shape " + v["shape"].dump() +
                           " is not a list of non-negative integers below 2^40");
      }
      const uint64_t dim = d.get<uint64_t>();
      e.shape.dims.push_back(static_cast<int64_t>(dim));
      if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / 8 / dim) {
        return FormatError(where + ": shape " + v["shape"].dump() + " overflows");
      }
      numel *= dim;
    }
    if (!v.contains("data_offsets") || !v["data_offsets"].is_array() ||
        v["data_offsets"].size() != 2 || !v["data_offsets"][0].is_number_unsigned() ||
        !v["data_offsets"][1].is_number_unsigned()) {
      return FormatError(where + ": 'data_offsets' must be two non-negative integers [begin, end]");
    }
    e.begin = v["data_offsets"][0].get<uint64_t>();
    e.end = v["data_offsets"][1].get<uint64_t>();
    if (e.end < e.begin) {
      return FormatError(where + ": data_offsets [" + std::to_string(e.begin) + ", " +
                         std::to_string(e.end) + "] end before they begin");
    }
    const uint64_t want = numel * DTypeSize(e.dtype);
    if (e.end - e.begin != want) {
      return FormatError(where + ": holds " + Bytes(e.end - e.begin) + " but shape " +
                         e.shape.ToString() + " of " + DTypeName(e.dtype) + " needs " +
                         Bytes(want));
    }
    if (e.end > data_size) {
      return FormatError(where + ": data_offsets [" + std::to_string(e.begin) + ", " +
                             std::to_string(e.end) + "] lie outside the data section of " +
                             Bytes(data_size) + "; the file is truncated or corrupt",
                         hint_convert);
    }
    e.padding = key.rfind(kPaddingPrefix, 0) == 0;
    if (e.padding && (e.dtype != DType::kU8 || e.shape.rank() != 1 ||
                      e.end - e.begin >= kFileAlignment)) {
      return FormatError(where + ": padding entries must be U8 vectors shorter than " +
                         std::to_string(kFileAlignment) + " bytes");
    }
    if (!e.padding && (data_start + e.begin) % kFileAlignment != 0) {
      return FormatError(where + ": starts at file byte " + std::to_string(data_start + e.begin) +
                             ", expected a multiple of " + std::to_string(kFileAlignment),
                         hint_convert);
    }
    e.data = bytes + data_start + e.begin;
    mf.tensors_.push_back(std::move(e));
  }

  std::sort(mf.tensors_.begin(), mf.tensors_.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < mf.tensors_.size(); ++i) {
    const TensorEntry& a = mf.tensors_[i - 1];
    const TensorEntry& b = mf.tensors_[i];
    if (b.begin < a.end) {
      return FormatError(name + ": tensors '" + a.name + "' [" + std::to_string(a.begin) + ", " +
                         std::to_string(a.end) + ") and '" + b.name + "' [" +
                         std::to_string(b.begin) + ", " + std::to_string(b.end) + ") overlap");
    }
  }
  for (size_t i = 0; i < mf.tensors_.size(); ++i) mf.index_[mf.tensors_[i].name] = i;

  auto fmt = mf.metadata_.find("format");
  if (fmt == mf.metadata_.end() || fmt->second != kFormatName) {
    return FormatError(name + ": __metadata__ has no \"format\": \"" + std::string(kFormatName) +
                           "\"; this safetensors file was not written by our converter",
                       hint_convert);
  }
  auto ver = mf.metadata_.find("format_version");
  if (ver == mf.metadata_.end() || ver->second != kFormatVersion) {
    return FormatError(name + ": format_version is '" +
                           (ver == mf.metadata_.end() ? std::string("absent") : ver->second) +
                           "', this engine reads version " + kFormatVersion,
                       "convert the checkpoint again with this version's tools/convert.py");
  }
  return mf;
}

const TensorEntry* ModelFile::Find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Result<std::string> ModelFile::MetaString(const std::string& key) const {
  auto it = metadata_.find(key);
  if (it == metadata_.end()) {
    return FormatError(path_ + ": __metadata__ lacks '" + key + "'",
                       "convert the checkpoint again with tools/convert.py");
  }
  return it->second;
}

Result<int64_t> ModelFile::MetaInt(const std::string& key, int64_t lo, int64_t hi) const {
  GPEN_ASSIGN_OR_RETURN(std::string s, MetaString(key));
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0 || v < lo || v > hi) {
    return FormatError(path_ + ": __metadata__ '" + key + "' is '" + s +
                       "', expected an integer in [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "]");
  }
  return static_cast<int64_t>(v);
}

Result<double> ModelFile::MetaDouble(const std::string& key, double lo, double hi) const {
  GPEN_ASSIGN_OR_RETURN(std::string s, MetaString(key));
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !std::isfinite(v) || v < lo || v > hi) {
    return FormatError(path_ + ": __metadata__ '" + key + "' is '" + s +
                       "', expected a number in [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "]");
  }
  return v;
}

Result<bool> ModelFile::MetaBool(const std::string& key) const {
  GPEN_ASSIGN_OR_RETURN(std::string s, MetaString(key));
  if (s == "true") return true;
  if (s == "false") return false;
  return FormatError(path_ + ": __metadata__ '" + key + "' is '" + s +
                     "', expected true or false");
}

Result<std::vector<int64_t>> ModelFile::MetaIntList(const std::string& key) const {
  GPEN_ASSIGN_OR_RETURN(std::string s, MetaString(key));
  nlohmann::json j = nlohmann::json::parse(s, nullptr, false);
  std::vector<int64_t> out;
  bool ok = !j.is_discarded() && j.is_array() && !j.empty() && j.size() <= 16;
  if (ok) {
    for (const auto& v : j) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 1000) {
        ok = false;
        break;
      }
      out.push_back(v.get<int64_t>());
    }
  }
  if (!ok) {
    return FormatError(path_ + ": __metadata__ '" + key + "' is '" + s +
                       "', expected a JSON list of 1 to 16 small non-negative integers");
  }
  return out;
}

}  // namespace gpen
