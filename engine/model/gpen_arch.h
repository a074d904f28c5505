// GpenArch: the hyperparameters of an upstream GPEN FullGenerator (or FullGenerator_SR),
// read from a model file's __metadata__ and checked for range and consistency.
//
// Mirrors the constructor arguments of upstream face_model/gpen_model.py.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/model_file.h"

namespace gpen {

struct GpenArch {
  int64_t in_size = 512;   // encoder input resolution
  int64_t out_size = 512;  // generator output resolution (> in_size for FullGenerator_SR)
  int64_t style_dim = 512;
  int64_t n_mlp = 8;
  int64_t channel_multiplier = 2;
  double narrow = 1.0;
  bool isconcat = true;
  double lr_mlp = 0.01;
  std::vector<int64_t> blur_kernel = {1, 3, 3, 1};

  // upstream's `channels` dict: resolution -> channel count.
  int64_t Channels(int64_t resolution) const;
  int LogIn() const;
  int LogOut() const;
  // Number of encoder levels (ecd0 .. ecd{n-1}) and of generator resolutions.
  int NumEncoderLevels() const { return LogIn() - 1; }
  std::string ToString() const;

  static Result<GpenArch> FromModelFile(const ModelFile& file);
  // Named presets of upstream releases: "bfr512", "bfr256", "bfr1024", "bfr2048".
  static Result<GpenArch> Preset(const std::string& name);
  Status Validate(const std::string& where) const;
};

}  // namespace gpen
