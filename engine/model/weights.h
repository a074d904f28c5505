// Weights: tensors bound once, by name, into typed structs; nothing looks names up later.
//
// A Binder is asked for each tensor an architecture needs (name and exact shape).
// From a ModelFile it converts the stored F32/F16/BF16 data to float32 host memory;
// in random mode it draws seeded values instead (benchmarks of a real architecture
// without a download). Problems are collected, not returned one at a time: Finish()
// reports every missing tensor and wrong shape, then every tensor the file holds
// that the architecture does not use, each with got and expected.
//
// A file's metadata alone must not decide how much memory is allocated: binding from
// a file runs twice. A CheckOnly() binder first checks every tensor (presence, shape,
// dtype, values: no NaN or Inf, blur kernels as expected; the values are read from the
// mapped file in place) and allocates nothing; only when that pass finds no problem
// does a second binder allocate. Either binder allocates a tensor only after finding
// it in the file with its shape, so the float32 copies total at most twice the file's
// data section (F16/BF16 widen to F32), which the binder also checks as it goes.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/shape.h"
#include "core/status.h"
#include "model/model_file.h"

namespace gpen {

// A handle to one bound tensor: its index in the WeightStore and its shape.
struct Param {
  int32_t index = -1;
  Shape shape;
  bool valid() const { return index >= 0; }
  int64_t numel() const { return shape.numel(); }
};

// Owns the float32 host copy of every bound tensor.
class WeightStore {
 public:
  const float* data(const Param& p) const { return tensors_[p.index].data(); }
  // For tests that construct extreme weights on purpose.
  float* mutable_data(const Param& p) { return tensors_[p.index].data(); }
  const std::string& name(const Param& p) const { return names_[p.index]; }
  size_t count() const { return tensors_.size(); }
  int64_t total_params() const;
  const std::vector<float>& tensor(size_t i) const { return tensors_[i]; }
  const std::string& name(size_t i) const { return names_[i]; }

 private:
  friend class Binder;
  std::vector<std::vector<float>> tensors_;  // empty for a shapes-only store
  std::vector<std::string> names_;
  int64_t total_params_ = 0;
};

// How a tensor is drawn in random mode.
// kConv: a plain convolution's weight (Cout, Cin, k, k), He-normal scaled by 0.1 as
// basicsr's default_init_weights(scale=0.1) draws RRDBNet's, so that a deep residual
// network of random weights stays finite.
enum class Init { kNormal, kBias, kModBias, kNoiseWeight, kConv };

class Binder {
 public:
  Binder(const ModelFile* file, WeightStore* store) : file_(file), store_(store) {}
  Binder(uint64_t seed, WeightStore* store) : store_(store), rng_(seed) {}
  // Shapes only: records every tensor's shape and holds no values (memory planning of
  // an architecture without building its weights).
  static Binder ShapesOnly(WeightStore* store) {
    Binder b(uint64_t{0}, store);
    b.shapes_only_ = true;
    return b;
  }
  // Checks a file's tensors (presence, shape, dtype, values, unknown names) and
  // allocates nothing: the pass to run before binding from a file.
  static Binder CheckOnly(const ModelFile* file, WeightStore* store) {
    Binder b(file, store);
    b.shapes_only_ = true;
    return b;
  }

  // Binds `name` with exactly `shape`; on a problem records it and returns an
  // invalid Param (the caller goes on so that every problem is reported at once).
  Param Bind(const std::string& name, const Shape& shape, Init init = Init::kNormal);
  // Binds a buffer whose values are fixed by the architecture (a blur kernel) and
  // checks that the stored values equal `expected`.
  Param BindFixed(const std::string& name, const Shape& shape, const std::vector<float>& expected);
  // Every problem found so far plus unknown tensors, or Ok.
  Status Finish(const std::string& arch_description);

 private:
  const ModelFile* file_ = nullptr;
  WeightStore* store_;
  // From a file: the entry of `name` if it passes every check (shape, dtype, bytes in
  // the data section, finite values, `expected` values when given), else records the
  // problem and returns null.
  const TensorEntry* CheckEntry(const std::string& name, const Shape& shape,
                                const std::vector<float>* expected);
  // Stores the tensor: the entry's values, `fixed`, seeded random values, or none.
  Param Add(const std::string& name, const Shape& shape, const TensorEntry* e,
            const std::vector<float>* fixed, Init init);

  std::mt19937_64 rng_;
  bool shapes_only_ = false;
  uint64_t file_bytes_bound_ = 0;  // bytes of the file's data section bound so far
  std::vector<std::string> problems_;
  std::vector<std::string> bound_names_;
};

// The three ways a network's typed weights W (with members `arch` and `store`) are
// bound, by `bind(arch, binder, &w)`, the network's one table of names and shapes:
// from a file in two passes (check only, then allocate: see the top of this file), with
// seeded random values, or as shapes only. The architecture is validated first.
enum class BindMode { kRandom, kShapesOnly };

template <typename W, typename Arch, typename BindFn>
Result<W> BindFromFile(const ModelFile& file, const Arch& arch, BindFn bind) {
  {
    W probe;  // pass 1: presence, shapes, dtypes and values; allocates nothing
    probe.arch = arch;
    Binder check = Binder::CheckOnly(&file, &probe.store);
    GPEN_TRY(bind(arch, check, &probe));
  }
  W w;  // pass 2: every tensor is now known to be in the file
  w.arch = arch;
  Binder b(&file, &w.store);
  GPEN_TRY(bind(arch, b, &w));
  return w;
}

template <typename W, typename Arch, typename BindFn>
Result<W> BindWithoutFile(const Arch& arch, BindMode mode, uint64_t seed, BindFn bind) {
  GPEN_TRY(arch.Validate(mode == BindMode::kRandom ? "random weights" : "architecture"));
  W w;
  w.arch = arch;
  Binder b = mode == BindMode::kRandom ? Binder(seed, &w.store) : Binder::ShapesOnly(&w.store);
  GPEN_TRY(bind(arch, b, &w));
  return w;
}

}  // namespace gpen
