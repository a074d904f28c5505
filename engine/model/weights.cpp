// Binder: checking, reading and converting tensors, collecting problems, reporting
// unknown names. A tensor is allocated only after the file is known to hold it with the
// expected shape and dtype (see weights.h for the two passes).
#include "model/weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "core/half.h"

namespace gpen {

int64_t WeightStore::total_params() const {
  return total_params_;
}

namespace {

// Elements [begin, begin + count) of a stored F32/F16/BF16 tensor, as float32.
void Convert(const TensorEntry& e, size_t begin, size_t count, float* out) {
  switch (e.dtype) {
    case DType::kF32:
      std::memcpy(out, e.data + 4 * begin, 4 * count);
      break;
    case DType::kF16:
      for (size_t i = 0; i < count; ++i) {
        uint16_t h;
        std::memcpy(&h, e.data + 2 * (begin + i), 2);
        out[i] = HalfToFloat(h);
      }
      break;
    case DType::kBF16:
      for (size_t i = 0; i < count; ++i) {
        uint16_t h;
        std::memcpy(&h, e.data + 2 * (begin + i), 2);
        const uint32_t bits = static_cast<uint32_t>(h) << 16;
        std::memcpy(&out[i], &bits, 4);
      }
      break;
    case DType::kU8:
      std::fill(out, out + count, 0.f);
      break;
  }
}

// Whether element i is finite, from its bits (no conversion).
bool IsFinite(const TensorEntry& e, size_t i) {
  switch (e.dtype) {
    case DType::kF32: {
      uint32_t b;
      std::memcpy(&b, e.data + 4 * i, 4);
      return (b & 0x7F800000u) != 0x7F800000u;
    }
    case DType::kF16: {
      uint16_t h;
      std::memcpy(&h, e.data + 2 * i, 2);
      return (h & 0x7C00u) != 0x7C00u;
    }
    case DType::kBF16: {
      uint16_t h;
      std::memcpy(&h, e.data + 2 * i, 2);
      return (h & 0x7F80u) != 0x7F80u;
    }
    case DType::kU8:
      break;
  }
  return true;
}

}  // namespace

const TensorEntry* Binder::CheckEntry(const std::string& name, const Shape& shape,
                                      const std::vector<float>* expected) {
  const TensorEntry* e = file_->Find(name);
  if (!e || e->padding) {
    problems_.push_back("missing tensor '" + name + "', expected shape " + shape.ToString());
    return nullptr;
  }
  if (e->shape != shape) {
    problems_.push_back("tensor '" + name + "' has shape " + e->shape.ToString() + ", expected " +
                        shape.ToString());
    return nullptr;
  }
  if (e->dtype == DType::kU8) {
    problems_.push_back("tensor '" + name + "' has dtype U8, expected F32, F16 or BF16");
    return nullptr;
  }
  const uint64_t stored = e->end - e->begin;
  if (stored != static_cast<uint64_t>(shape.numel()) * DTypeSize(e->dtype) ||
      stored > file_->data_size() - std::min(file_->data_size(), file_bytes_bound_)) {
    // ModelFile guarantees both (sizes match shapes, ranges do not overlap); this keeps
    // every allocation tied to bytes the file really holds.
    problems_.push_back("tensor '" + name + "' is not backed by the file's data section");
    return nullptr;
  }
  file_bytes_bound_ += stored;
  // The values, read in place from the mapped file: NaN or Inf is an all-ones exponent.
  const size_t n = static_cast<size_t>(shape.numel());
  for (size_t i = 0; i < n; ++i) {
    if (!IsFinite(*e, i)) {
      problems_.push_back("tensor '" + name + "' holds a NaN or Inf at flat index " +
                          std::to_string(i));
      return nullptr;
    }
  }
  if (expected) {  // a blur kernel: a few values
    std::vector<float> got(n);
    Convert(*e, 0, n, got.data());
    for (size_t i = 0; i < n; ++i) {
      if (std::fabs(got[i] - (*expected)[i]) > 1e-6f * (1.f + std::fabs((*expected)[i]))) {
        problems_.push_back("tensor '" + name + "' element " + std::to_string(i) + " is " +
                            std::to_string(got[i]) + ", expected " +
                            std::to_string((*expected)[i]) +
                            " (the blur kernel named in __metadata__)");
        return nullptr;
      }
    }
  }
  return e;
}

Param Binder::Add(const std::string& name, const Shape& shape, const TensorEntry* e,
                  const std::vector<float>* fixed, Init init) {
  std::vector<float> values;
  if (shapes_only_) {
    // no values
  } else if (e) {
    // Only reached once the entry passed CheckEntry: the file holds these bytes.
    values.resize(static_cast<size_t>(shape.numel()));
    Convert(*e, 0, values.size(), values.data());
  } else if (fixed) {
    values = *fixed;
  } else {
    values.resize(static_cast<size_t>(shape.numel()));
    std::normal_distribution<float> normal(0.f, 1.f);
    const int64_t fan_in = shape.rank() > 0 && shape[0] > 0 ? shape.numel() / shape[0] : 1;
    const float conv_std = 0.1f * std::sqrt(2.f / static_cast<float>(std::max<int64_t>(1, fan_in)));
    for (float& v : values) {
      const float z = normal(rng_);
      switch (init) {
        case Init::kNormal:
          v = z;
          break;
        case Init::kBias:
          v = 0.1f * z;
          break;
        case Init::kModBias:
          v = 1.f + 0.1f * z;
          break;
        case Init::kNoiseWeight:
          v = 0.1f * z;
          break;
        case Init::kConv:
          v = conv_std * z;
          break;
      }
    }
  }
  Param p;
  p.index = static_cast<int32_t>(store_->tensors_.size());
  p.shape = shape;
  store_->tensors_.push_back(std::move(values));
  store_->names_.push_back(name);
  store_->total_params_ += shape.numel();
  return p;
}

Param Binder::Bind(const std::string& name, const Shape& shape, Init init) {
  bound_names_.push_back(name);
  const TensorEntry* e = nullptr;
  if (file_ && !(e = CheckEntry(name, shape, nullptr))) return {};
  return Add(name, shape, e, nullptr, init);
}

Param Binder::BindFixed(const std::string& name, const Shape& shape,
                        const std::vector<float>& expected) {
  bound_names_.push_back(name);
  const TensorEntry* e = nullptr;
  if (file_ && !(e = CheckEntry(name, shape, &expected))) return {};
  return Add(name, shape, e, &expected, Init::kNormal);
}

Status Binder::Finish(const std::string& arch_description) {
  if (file_) {
    std::set<std::string> bound(bound_names_.begin(), bound_names_.end());
    for (const TensorEntry& e : file_->tensors()) {
      if (!e.padding && !bound.count(e.name)) {
        problems_.push_back("unknown tensor " + QuoteUntrusted(e.name) + " with shape " +
                            e.shape.ToString() + " is not part of the architecture");
      }
    }
  }
  if (problems_.empty()) return Status::Ok();
  std::string msg = (file_ ? file_->path() : std::string("random weights")) +
                    ": tensors do not match " + arch_description + " (" +
                    std::to_string(problems_.size()) + " problem" +
                    (problems_.size() > 1 ? "s" : "") + "):";
  const size_t shown = std::min<size_t>(problems_.size(), 25);
  for (size_t i = 0; i < shown; ++i) msg += "\n  " + problems_[i];
  if (shown < problems_.size()) {
    msg += "\n  ... and " + std::to_string(problems_.size() - shown) + " more";
  }
  return FormatError(msg,
                     "the file's __metadata__ and its tensors disagree; convert the "
                     "checkpoint again with tools/convert.py");
}

}  // namespace gpen
