// Demodulation coefficients d[n, o] = rsqrt(scale^2 * sum_i s[n, i]^2 * wsq[o, i] + 1e-8),
// with wsq[o, i] = sum_k W[o, i, k]^2 precomputed at upload (upstream ModulatedConv2d's
// demod, rewritten for the shared-weight form). CPU twin: cpu::DemodCoef.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace gpen::kernels {

struct DemodCoefParams {
  const float* s;    // (N, Cin)
  const float* wsq;  // (Cout, Cin)
  float* d;          // (N, Cout)
  float scale;
  int64_t n, cin, cout;
};

void LaunchDemodCoef(DemodCoefParams p, cudaStream_t stream);

}  // namespace gpen::kernels
