// torch.cat(inputs, dim=1) of (N, C_i, HW) tensors into (N, sum C_i, HW): RRDBNet's dense
// connections. One launch copies up to kConcatMaxInputs inputs; LaunchConcat splits longer
// lists into several launches. CPU twin: cpu::Concat.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace gpen::kernels {

inline constexpr int kConcatMaxInputs = 8;

struct ConcatParams {
  const void* x[kConcatMaxInputs];  // inputs, (N, c[i], HW) each
  int64_t c[kConcatMaxInputs];
  int count;         // inputs used, 1..kConcatMaxInputs
  void* y;           // (N, c_total, HW); this launch writes channels [c0, c0 + sum c[i])
  StorageType type;  // of every input and y
  int64_t n, hw, c_total, c0;
};

// Any number of inputs: `x` and `c` hold `count` entries; y (N, sum c, HW).
void LaunchConcat(const void* const* x, const int64_t* c, int count, void* y, StorageType type,
                  int64_t n, int64_t hw, cudaStream_t stream);

}  // namespace gpen::kernels
