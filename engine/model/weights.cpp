// Binder: reading and converting tensors, collecting problems, reporting unknown names.
#include "model/weights.h"

#include <cmath>
#include <cstring>
#include <set>

#include "core/half.h"

namespace gpen {

int64_t WeightStore::total_params() const { return total_params_; }

Param Binder::Bind(const std::string& name, const Shape& shape, Init init) {
  bound_names_.push_back(name);
  std::vector<float> values(shapes_only_ ? 0 : static_cast<size_t>(shape.numel()));
  if (shapes_only_) {
  } else if (file_) {
    const TensorEntry* e = file_->Find(name);
    if (!e || e->padding) {
      problems_.push_back("missing tensor '" + name + "', expected shape " + shape.ToString());
      return {};
    }
    if (e->shape != shape) {
      problems_.push_back("tensor '" + name + "' has shape " + e->shape.ToString() +
                          ", expected " + shape.ToString());
      return {};
    }
    const size_t n = values.size();
    switch (e->dtype) {
      case DType::kF32:
        std::memcpy(values.data(), e->data, n * sizeof(float));
        break;
      case DType::kF16:
        for (size_t i = 0; i < n; ++i) {
          uint16_t h;
          std::memcpy(&h, e->data + 2 * i, 2);
          values[i] = HalfToFloat(h);
        }
        break;
      case DType::kBF16:
        for (size_t i = 0; i < n; ++i) {
          uint16_t h;
          std::memcpy(&h, e->data + 2 * i, 2);
          uint32_t bits = static_cast<uint32_t>(h) << 16;
          std::memcpy(&values[i], &bits, 4);
        }
        break;
      case DType::kU8:
        problems_.push_back("tensor '" + name + "' has dtype U8, expected F32, F16 or BF16");
        return {};
    }
    for (size_t i = 0; i < n; ++i) {
      if (!std::isfinite(values[i])) {
        problems_.push_back("tensor '" + name + "' holds a NaN or Inf at flat index " +
                            std::to_string(i));
        return {};
      }
    }
  } else {
    std::normal_distribution<float> normal(0.f, 1.f);
    for (float& v : values) {
      const float z = normal(rng_);
      switch (init) {
        case Init::kNormal: v = z; break;
        case Init::kBias: v = 0.1f * z; break;
        case Init::kModBias: v = 1.f + 0.1f * z; break;
        case Init::kNoiseWeight: v = 0.1f * z; break;
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

Param Binder::BindFixed(const std::string& name, const Shape& shape,
                        const std::vector<float>& expected) {
  if (!file_) {
    bound_names_.push_back(name);
    Param p;
    p.index = static_cast<int32_t>(store_->tensors_.size());
    p.shape = shape;
    store_->tensors_.push_back(shapes_only_ ? std::vector<float>() : expected);
    store_->names_.push_back(name);
    store_->total_params_ += shape.numel();
    return p;
  }
  Param p = Bind(name, shape);
  if (!p.valid()) return p;
  const std::vector<float>& got = store_->tensors_[p.index];
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::fabs(got[i] - expected[i]) > 1e-6f * (1.f + std::fabs(expected[i]))) {
      problems_.push_back("tensor '" + name + "' element " + std::to_string(i) + " is " +
                          std::to_string(got[i]) + ", expected " + std::to_string(expected[i]) +
                          " (the blur kernel named in __metadata__)");
      return {};
    }
  }
  return p;
}

Status Binder::Finish(const std::string& arch_description) {
  if (file_) {
    std::set<std::string> bound(bound_names_.begin(), bound_names_.end());
    for (const TensorEntry& e : file_->tensors()) {
      if (!e.padding && !bound.count(e.name)) {
        problems_.push_back("unknown tensor '" + e.name + "' with shape " + e.shape.ToString() +
                            " is not part of the architecture");
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
  return FormatError(msg, "the file's __metadata__ and its tensors disagree; convert the "
                          "checkpoint again with tools/convert.py");
}

}  // namespace gpen
