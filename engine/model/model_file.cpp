// ModelFile parsing and validation. nlohmann::json tokenizes the header through a SAX
// handler of our own that builds the DOM in one linear pass and stops at the first
// breach of a limit (depth, entries, values) or a duplicate key; every other check is
// explicit here and yields its own message. See model_file.h for the list.
//
// Why a SAX handler: nlohmann's own parser with a callback rescans the parent object
// after every child object (quadratic in the number of entries), and keeps the last of
// two duplicate keys silently; and a DOM nested 100,000 deep overflows the stack when
// printed. Here duplicates are found by the object's own ordered map (O(log n), immune
// to hash flooding), depth never exceeds kMaxHeaderDepth, and messages never print
// JSON from the file except through Excerpt()/QuoteUntrusted(), which are bounded.
#include "model/model_file.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

namespace gpen {

namespace {

using nlohmann::json;

constexpr size_t kMaxRank = 8;
constexpr size_t kMaxExcerpt = 100;

bool ParseDType(const std::string& s, DType* out) {
  if (s == "F32")
    *out = DType::kF32;
  else if (s == "F16")
    *out = DType::kF16;
  else if (s == "BF16")
    *out = DType::kBF16;
  else if (s == "U8")
    *out = DType::kU8;
  else
    return false;
  return true;
}

std::string Bytes(uint64_t n) {
  return std::to_string(n) + " bytes";
}

// A JSON value from the file, printed to at most about kMaxExcerpt characters. The
// recursion is bounded by kMaxHeaderDepth (the parser below refuses deeper headers)
// and stops as soon as the budget is spent.
void AppendExcerpt(const json& j, std::string* out, size_t depth) {
  if (out->size() > kMaxExcerpt) return;
  if (depth > kMaxHeaderDepth) {
    *out += "...";
    return;
  }
  if (j.is_array() || j.is_object()) {
    *out += j.is_array() ? "[" : "{";
    bool first = true;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (out->size() > kMaxExcerpt) break;
      if (!first) *out += ", ";
      first = false;
      if (j.is_object()) *out += QuoteUntrusted(it.key(), 24) + ": ";
      AppendExcerpt(it.value(), out, depth + 1);
    }
    *out += j.is_array() ? "]" : "}";
  } else if (j.is_string()) {
    *out += QuoteUntrusted(j.get_ref<const std::string&>(), 40);
  } else {
    *out += j.dump();  // a number, true, false or null: short
  }
}

std::string Excerpt(const json& j) {
  std::string out;
  AppendExcerpt(j, &out, 0);
  if (out.size() > kMaxExcerpt) out = out.substr(0, kMaxExcerpt) + "...";
  return out;
}

// Builds the header DOM from SAX events without recursion, enforcing the header limits
// and rejecting duplicate keys as they arrive. On a breach it records a message and
// stops the parse (returns false).
class HeaderBuilder {
 public:
  explicit HeaderBuilder(json* root) : root_(root) {}
  const std::string& error() const { return error_; }
  size_t error_offset() const { return error_offset_; }

  bool null() { return Add(json(nullptr)); }
  bool boolean(bool v) { return Add(json(v)); }
  bool number_integer(json::number_integer_t v) { return Add(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return Add(json(v)); }
  bool number_float(json::number_float_t v, const json::string_t&) { return Add(json(v)); }
  bool string(json::string_t& v) { return Add(json(std::move(v))); }
  bool binary(json::binary_t&) { return Fail("the header holds binary data, which JSON cannot"); }
  bool start_object(std::size_t) { return Open(json::object()); }
  bool start_array(std::size_t) { return Open(json::array()); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }
  bool key(json::string_t& k) {
    if (!Count()) return false;
    json* obj = stack_.back();
    if (stack_.size() == 1 && obj->size() >= kMaxHeaderEntries) {
      return Fail("the header has more than " + std::to_string(kMaxHeaderEntries) +
                  " entries (the largest GPEN model has about 400)");
    }
    if (obj->contains(k)) {
      if (stack_.size() == 1) {
        return Fail("tensor name " + QuoteUntrusted(k) + " appears more than once in the header");
      }
      return Fail("key " + QuoteUntrusted(k) + " appears more than once in the entry " +
                  QuoteUntrusted(top_key_));
    }
    if (stack_.size() == 1) top_key_ = k;
    key_ = std::move(k);
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) {
    error_offset_ = position;
    return false;
  }

 private:
  bool Fail(std::string message) {
    error_ = std::move(message);
    return false;
  }
  bool Count() {
    if (++values_ > kMaxHeaderValues) {
      return Fail("the header holds more than " + std::to_string(kMaxHeaderValues) +
                  " JSON values and keys");
    }
    return true;
  }
  // Places `v` in the open container (or as the root) and returns where it now lives.
  json* Place(json&& v) {
    if (stack_.empty()) {
      *root_ = std::move(v);
      return root_;
    }
    json* top = stack_.back();
    if (top->is_array()) {
      top->push_back(std::move(v));
      return &top->back();
    }
    json& slot = (*top)[key_];
    slot = std::move(v);
    return &slot;
  }
  bool Add(json&& v) {
    if (!Count()) return false;
    Place(std::move(v));
    return true;
  }
  bool Open(json&& container) {
    if (!Count()) return false;
    if (stack_.size() >= kMaxHeaderDepth) {
      return Fail("the header is nested more than " + std::to_string(kMaxHeaderDepth) +
                  " levels deep (a model file needs 3)");
    }
    // A child container is only reached through the stack while it is open; its
    // parent does not grow meanwhile, so the pointer stays valid.
    stack_.push_back(Place(std::move(container)));
    return true;
  }
  bool Close() {
    stack_.pop_back();
    return true;
  }

  json* root_;
  std::vector<json*> stack_;
  std::string key_, top_key_;
  size_t values_ = 0;
  std::string error_;
  size_t error_offset_ = 0;
};

}  // namespace

std::string QuoteUntrusted(const std::string& s, size_t max_bytes) {
  size_t n = std::min(s.size(), max_bytes);
  // Do not cut a UTF-8 sequence: back up over continuation bytes.
  if (n < s.size()) {
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  }
  std::string out = "'";
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += "'";
  if (n < s.size()) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

const char* DTypeName(DType t) {
  switch (t) {
    case DType::kF32:
      return "F32";
    case DType::kF16:
      return "F16";
    case DType::kBF16:
      return "BF16";
    case DType::kU8:
      return "U8";
  }
  return "?";
}

size_t DTypeSize(DType t) {
  switch (t) {
    case DType::kF32:
      return 4;
    case DType::kF16:
      return 2;
    case DType::kBF16:
      return 2;
    case DType::kU8:
      return 1;
  }
  return 0;
}

Result<ModelFile> ModelFile::Open(const std::string& path) {
  // stat() first: MappedFile::Open() opens before it checks the file type, and opening
  // a FIFO blocks until a writer comes. (A file swapped for a FIFO between the two
  // calls still blocks; MappedFile would need O_NONBLOCK to close that gap.)
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return IoError(path + ": cannot open: " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return IoError(path + ": not a regular file (" +
                       (S_ISDIR(st.st_mode)    ? std::string("a folder")
                        : S_ISFIFO(st.st_mode) ? std::string("a FIFO")
                                               : std::string("a device or socket")) +
                       "); a model file is read from a regular file",
                   "pass the path of a .safetensors file made by tools/convert.py");
  }
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

  json header;
  HeaderBuilder builder(&header);
  const bool parsed = json::sax_parse(hbegin, hend, &builder);
  if (!builder.error().empty()) return FormatError(name + ": " + builder.error(), hint_convert);
  if (!parsed) {
    return FormatError(name + ": the " + Bytes(header_len) +
                           " header is not valid JSON (error near byte " +
                           std::to_string(builder.error_offset()) +
                           "; the file is damaged or not a safetensors file)",
                       hint_convert);
  }
  if (!header.is_object()) {
    return FormatError(name + ": header is JSON but not an object of tensor entries");
  }

  ModelFile mf;
  mf.path_ = name;
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = size - data_start;
  mf.data_size_ = data_size;
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
          return FormatError(name + ": __metadata__ entry " + QuoteUntrusted(m.key()) +
                             " is not a string (safetensors metadata maps strings to strings)");
        }
        mf.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = name + ": tensor " + QuoteUntrusted(key);
    if (!v.is_object()) return FormatError(where + ": entry is not a JSON object");
    if (!v.contains("dtype") || !v["dtype"].is_string()) {
      return FormatError(where + ": missing string field 'dtype'");
    }
    TensorEntry e;
    e.name = key;
    const std::string dt = v["dtype"].get<std::string>();
    if (!ParseDType(dt, &e.dtype)) {
      return FormatError(
          where + ": unsupported dtype " + QuoteUntrusted(dt) + ", expected F32, F16, BF16 or U8",
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
        return FormatError(where + ": shape " + Excerpt(v["shape"]) +
                           " is not a list of non-negative integers below 2^40");
      }
      const uint64_t dim = d.get<uint64_t>();
      e.shape.dims.push_back(static_cast<int64_t>(dim));
      if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / 8 / dim) {
        return FormatError(where + ": shape " + Excerpt(v["shape"]) + " overflows");
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
    if (e.padding &&
        (e.dtype != DType::kU8 || e.shape.rank() != 1 || e.end - e.begin >= kFileAlignment)) {
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
      return FormatError(name + ": tensors " + QuoteUntrusted(a.name) + " [" +
                         std::to_string(a.begin) + ", " + std::to_string(a.end) + ") and " +
                         QuoteUntrusted(b.name) + " [" + std::to_string(b.begin) + ", " +
                         std::to_string(b.end) + ") overlap");
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
    return FormatError(
        name + ": format_version is " +
            (ver == mf.metadata_.end() ? std::string("absent") : QuoteUntrusted(ver->second)) +
            ", this engine reads version " + kFormatVersion,
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
    return FormatError(path_ + ": __metadata__ lacks " + QuoteUntrusted(key),
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
    return FormatError(path_ + ": __metadata__ '" + key + "' is " + QuoteUntrusted(s) +
                       ", expected an integer in [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "]");
  }
  return static_cast<int64_t>(v);
}

Result<double> ModelFile::MetaDouble(const std::string& key, double lo, double hi) const {
  GPEN_ASSIGN_OR_RETURN(std::string s, MetaString(key));
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !std::isfinite(v) || v < lo || v > hi) {
    return FormatError(path_ + ": __metadata__ '" + key + "' is " + QuoteUntrusted(s) +
                       ", expected a number in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                       "]");
  }
  return v;
}

Result<bool> ModelFile::MetaBool(const std::string& key) const {
  GPEN_ASSIGN_OR_RETURN(std::string s, MetaString(key));
  if (s == "true") return true;
  if (s == "false") return false;
  return FormatError(path_ + ": __metadata__ '" + key + "' is " + QuoteUntrusted(s) +
                     ", expected true or false");
}

Result<std::vector<int64_t>> ModelFile::MetaIntList(const std::string& key) const {
  GPEN_ASSIGN_OR_RETURN(std::string s, MetaString(key));
  // 16 small integers fit in far fewer than 256 characters; the cap keeps the parse
  // (and any nesting in the string) small.
  json j = s.size() <= 256 ? json::parse(s, nullptr, false) : json(json::value_t::discarded);
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
    return FormatError(path_ + ": __metadata__ '" + key + "' is " + QuoteUntrusted(s) +
                       ", expected a JSON list of 1 to 16 small non-negative integers");
  }
  return out;
}

}  // namespace gpen
