// Activation: the pointwise nonlinearity an op applies last, as data rather than code.
//
// GPEN's FusedLeakyReLU is LeakyRelu(0.2, sqrt(2)) (upstream op/fused_act.py); RRDBNet
// uses LeakyRelu(0.2) without gain (sr_model/rrdbnet_arch.py), RetinaFace ReLU and
// LeakyRelu(0.1). The struct is plain data, passed by value into CUDA kernels, and
// Apply() is the one definition both the CPU ops and the kernels use.
#pragma once

#if defined(__CUDACC__)
#define GPEN_HOST_DEVICE __host__ __device__
#else
#define GPEN_HOST_DEVICE
#endif

namespace gpen {

struct Activation {
  enum class Kind : int { kNone, kRelu, kLeakyRelu };
  Kind kind = Kind::kNone;
  float slope = 0.f;  // the negative side's slope (kLeakyRelu)
  float gain = 1.f;   // multiplies the result (kRelu, kLeakyRelu)

  static Activation None() { return {}; }
  static Activation Relu(float gain = 1.f) { return {Kind::kRelu, 0.f, gain}; }
  static Activation LeakyRelu(float slope, float gain = 1.f) {
    return {Kind::kLeakyRelu, slope, gain};
  }
  // upstream GPEN's fused_leaky_relu(x, bias, 0.2, 2 ** 0.5).
  static Activation GpenLeakyRelu() { return LeakyRelu(0.2f, 1.4142135623730951f); }

  GPEN_HOST_DEVICE bool active() const { return kind != Kind::kNone; }
  GPEN_HOST_DEVICE float Apply(float x) const {
    switch (kind) {
      case Kind::kNone:
        return x;
      case Kind::kRelu:
        return (x > 0.f ? x : 0.f) * gain;
      case Kind::kLeakyRelu:
        return (x >= 0.f ? x : x * slope) * gain;
    }
    return x;
  }
  bool operator==(const Activation& o) const {
    return kind == o.kind && slope == o.slope && gain == o.gain;
  }
};

}  // namespace gpen
