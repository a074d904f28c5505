// ModelFile: a validated view of a model file in the safetensors layout (weights/FORMAT.md).
//
// The file is treated as hostile. Open() checks, before anything uses it: the path is
// a regular file; the header length lies inside the file; the header is JSON nested at
// most kMaxHeaderDepth deep with at most kMaxHeaderEntries entries and no duplicate
// key in any object, parsed in one linear pass without recursion; every dtype is
// supported; every shape is sane; each tensor's byte size equals its shape times its
// dtype size; offsets lie inside the data section, start 64-byte aligned and do not
// overlap; `__metadata__` is a string map naming our format. Each failure is its own
// Status naming the file and tensor with what was found and expected; text taken from
// the file is quoted through QuoteUntrusted(), so a message stays short whatever the
// file holds. Whether the tensors are the ones an architecture needs is checked later,
// when weights are bound (model/weights.h).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/shape.h"
#include "core/status.h"

namespace gpen {

enum class DType { kF32, kF16, kBF16, kU8 };
const char* DTypeName(DType t);
size_t DTypeSize(DType t);

inline constexpr size_t kFileAlignment = 64;
inline constexpr const char* kPaddingPrefix = "__pad__.";
inline constexpr const char* kFormatName = "gpen-engine";
inline constexpr const char* kFormatVersion = "1";
// Header limits. A GPEN file needs 3 levels (header object, entry object, shape array)
// and about 400 entries for the largest release (GPEN-BFR-2048: 198 tensors and their
// padding entries).
inline constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // 100 MiB of JSON
inline constexpr size_t kMaxHeaderDepth = 8;
inline constexpr size_t kMaxHeaderEntries = 16384;
inline constexpr size_t kMaxHeaderValues = size_t{1} << 20;  // every JSON value and key

// Text from an untrusted file made safe for a message: at most `max_bytes` bytes (cut
// at a UTF-8 boundary, with the full length said), control characters as \xNN, in
// single quotes.
std::string QuoteUntrusted(const std::string& s, size_t max_bytes = 100);

struct TensorEntry {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  uint64_t begin = 0;  // byte offsets relative to the data section
  uint64_t end = 0;
  const uint8_t* data = nullptr;  // points into the mapped file
  bool padding = false;           // a "__pad__.N" filler entry, not a weight
};

class ModelFile {
 public:
  // Maps and validates a file.
  static Result<ModelFile> Open(const std::string& path);
  // Validates an in-memory image; `name` stands for the path in messages.
  static Result<ModelFile> FromBytes(std::vector<uint8_t> bytes, const std::string& name);

  const std::string& path() const { return path_; }
  // Bytes after the header: every tensor's [begin, end) lies inside it.
  uint64_t data_size() const { return data_size_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::vector<TensorEntry>& tensors() const { return tensors_; }
  const TensorEntry* Find(const std::string& name) const;
  // Metadata lookups with a Status naming the key when absent or malformed.
  Result<std::string> MetaString(const std::string& key) const;
  Result<int64_t> MetaInt(const std::string& key, int64_t lo, int64_t hi) const;
  Result<double> MetaDouble(const std::string& key, double lo, double hi) const;
  Result<bool> MetaBool(const std::string& key) const;
  Result<std::vector<int64_t>> MetaIntList(const std::string& key) const;

 private:
  static Result<ModelFile> Parse(const uint8_t* bytes, size_t size, const std::string& name);

  std::string path_;
  uint64_t data_size_ = 0;
  std::shared_ptr<MappedFile> map_;              // keeps mapped bytes alive
  std::shared_ptr<std::vector<uint8_t>> owned_;  // or owned bytes (FromBytes)
  std::map<std::string, std::string> metadata_;
  std::vector<TensorEntry> tensors_;  // in file order of offsets
  std::map<std::string, size_t> index_;
};

}  // namespace gpen
