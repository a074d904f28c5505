// GpenWeights: every tensor of an upstream GPEN FullGenerator, bound into typed structs.
//
// Field names follow upstream modules (face_model/gpen_model.py); the binding in
// gpen_weights.cpp is the single place where state_dict key strings appear.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "model/gpen_arch.h"
#include "model/model_file.h"
#include "model/weights.h"

namespace gpen {

// EqualLinear: weight (out, in), bias (out). Scale 1/sqrt(in)*lr_mul at run time.
struct LinearW {
  Param weight, bias;
  float lr_mul = 1.f;
  bool activate = false;  // fused bias + leaky ReLU x sqrt(2)
};

// Encoder level ConvLayer: [blur] + EqualConv2d (no bias) + FusedLeakyReLU(bias).
struct EncoderLevelW {
  Param blur_kernel;  // (4, 4) for the stride-2 levels, invalid for ecd0
  Param weight;       // (Cout, Cin, k, k)
  Param act_bias;     // (Cout)
  bool downsample = false;
};

// StyledConv: ModulatedConv2d (+ optional upsampling) + NoiseInjection + FusedLeakyReLU.
struct StyledConvW {
  Param weight;       // (1, Cout, Cin, 3, 3)
  Param blur_kernel;  // (4, 4) x4 gain, upsampling layers only
  LinearW modulation; // style_dim -> Cin, bias initialised to 1 upstream
  Param noise_weight; // (1)
  Param act_bias;     // (Cout * 2) with isconcat
  bool upsample = false;
};

// ToRGB: 1x1 ModulatedConv2d without demodulation + bias + upsampled skip.
struct ToRgbW {
  Param weight;       // (1, 3, Cin, 1, 1)
  LinearW modulation;
  Param bias;         // (1, 3, 1, 1)
  Param up_kernel;    // (4, 4) x4 gain, all but to_rgb1
};

struct GpenWeights {
  GpenArch arch;
  WeightStore store;
  std::vector<EncoderLevelW> ecd;  // ecd0 (highest resolution) first
  LinearW final_linear;
  std::vector<LinearW> style;      // mapping network, after PixelNorm
  Param const_input;               // (1, C4, 4, 4)
  StyledConvW conv1;
  ToRgbW to_rgb1;
  std::vector<StyledConvW> convs;
  std::vector<ToRgbW> to_rgbs;

  // Binds every tensor from a validated model file (checked in both directions).
  static Result<GpenWeights> FromFile(const ModelFile& file);
  // Seeded random weights of an architecture, for benchmarks without trained weights.
  static Result<GpenWeights> Random(const GpenArch& arch, uint64_t seed);
  // Shapes without values, for planning memory; cannot be run.
  static Result<GpenWeights> ShapesOnly(const GpenArch& arch);
};

// Loads and binds a GPEN model file: ModelFile::Open + FromModelFile + FromFile.
Result<GpenWeights> LoadGpenModel(const std::string& path);

}  // namespace gpen
