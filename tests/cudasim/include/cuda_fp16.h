// cudasim stand-in for <cuda_fp16.h>: __half as IEEE binary16 bits, converted through
// g++'s _Float16 (round to nearest even, NaN and infinities kept), and the intrinsics
// our kernels use. Arithmetic happens in float, as in our kernels. Widening reads a
// table of all 65536 values (made with _Float16 at start-up): libgcc's soft-float
// widening was a fifth of the emulator's time.
#pragma once

#include <cstdint>
#include <cstring>

struct __half {
  unsigned short __x;
  __half() = default;
  __half(float f);         // NOLINT: implicit, as CUDA's
  operator float() const;  // NOLINT: implicit, as CUDA's
};

inline __half __float2half_rn(float f) {
  const _Float16 h = static_cast<_Float16>(f);
  __half r;
  std::memcpy(&r.__x, &h, 2);
  return r;
}
inline __half __float2half(float f) {
  return __float2half_rn(f);
}
namespace cudasim {
extern const float* const kHalfToFloat;  // 65536 entries, by bit pattern
}
inline float __half2float(__half h) {
  return cudasim::kHalfToFloat[h.__x];
}
inline __half::__half(float f) : __x(__float2half_rn(f).__x) {}
inline __half::operator float() const {
  return __half2float(*this);
}
inline __half __ushort_as_half(unsigned short x) {
  __half r;
  r.__x = x;
  return r;
}
inline unsigned short __half_as_ushort(__half h) {
  return h.__x;
}
inline bool __hisnan(__half h) {
  return (h.__x & 0x7C00u) == 0x7C00u && (h.__x & 0x03FFu) != 0;
}
inline __half __hadd(__half a, __half b) {
  return __float2half_rn(__half2float(a) + __half2float(b));
}
inline __half __hmul(__half a, __half b) {
  return __float2half_rn(__half2float(a) * __half2float(b));
}
