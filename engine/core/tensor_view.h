// TensorView: a batch of items (N, C, H, W) in host float memory that the view does not
// own, cut into items and sub-batches without offset arithmetic at the call sites.
//
// The pipeline and the batch runner pass views; a view checks (GPEN_CHECK) that every
// item or slice asked for lies inside it.
#pragma once

#include <cstdint>
#include <vector>

#include "core/check.h"
#include "core/shape.h"

namespace gpen {

class TensorView {
 public:
  TensorView() = default;
  // `data` holds shape.numel() floats, (N, C, H, W).
  TensorView(float* data, Shape shape) : data_(data), shape_(std::move(shape)) {
    GPEN_CHECK(shape_.rank() == 4);
  }
  // A view of a vector sized to hold `shape` (resized here).
  static TensorView Of(std::vector<float>* v, const Shape& shape) {
    v->resize(static_cast<size_t>(shape.numel()));
    return TensorView(v->data(), shape);
  }

  float* data() const { return data_; }
  const Shape& shape() const { return shape_; }
  int64_t n() const { return shape_.n(); }
  int64_t item_numel() const { return shape_.c() * shape_.h() * shape_.w(); }
  // Items [start, start + count) as a batch of their own.
  TensorView Slice(int64_t start, int64_t count) const {
    GPEN_CHECK(start >= 0 && count >= 0 && start + count <= n());
    Shape s = shape_;
    s[0] = count;
    return TensorView(data_ + start * item_numel(), s);
  }
  // Item i, (C, H, W).
  float* Item(int64_t i) const {
    GPEN_CHECK(i >= 0 && i < n());
    return data_ + i * item_numel();
  }

 private:
  float* data_ = nullptr;
  Shape shape_{0, 0, 0, 0};
};

}  // namespace gpen
