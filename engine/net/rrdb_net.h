// RRDBNet: the background upscaler of Real-ESRGAN and of upstream GPEN's
// sr_model/rrdbnet_arch.py (basicsr's rrdbnet_arch.RRDBNet), on the engine's op graph.
//
//   feat = conv_first(pixel_unshuffle(x, 4 / scale))        (no unshuffle at x4)
//   feat = feat + conv_body(RRDB^num_block(feat))
//   feat = lrelu(conv_up1(nearest_x2(feat))); feat = lrelu(conv_up2(nearest_x2(feat)))
//   out  = conv_last(lrelu(conv_hr(feat)))
// where RRDB(x) = 0.2 * RDB3(RDB2(RDB1(x))) + x, and each residual dense block
// RDB(x) = 0.2 * conv5(cat(x, x1..x4)) + x with xi = lrelu(convi(cat(x, x1..x{i-1}))),
// every convolution 3x3 with bias, lrelu = leaky ReLU 0.2 without gain.
//
// One item is an RGB image in [0, 1] of its own size, padded at the bottom and right by
// reflection to a multiple of the unshuffle factor as upstream's RealESRGANer does, and
// the output cropped back to scale x the image; the output is clamped to [0, 1] and
// rounded to 8 bits (RealESRGANer.post_process).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/model_file.h"
#include "model/weights.h"
#include "net/network.h"

namespace gpen {

struct RrdbArch {
  int64_t scale = 4;  // 1, 2 or 4
  int64_t num_in_ch = 3, num_out_ch = 3;
  int64_t num_feat = 64, num_block = 23, num_grow_ch = 32;

  // The pixel-unshuffle factor before conv_first: 4 at x1, 2 at x2, 1 (none) at x4.
  int64_t Unshuffle() const { return 4 / scale; }
  std::string ToString() const;
  Status Validate(const std::string& where) const;
  static Result<RrdbArch> FromModelFile(const ModelFile& file);
  // "realesrgan-x4plus" (64 features, 23 blocks, growth 32, x4), "realesrgan-x2plus"
  // (the same at x2), "rrdb-small" (32, 6, 16, x4), "rrdb-tiny" (16, 2, 8, x4).
  static Result<RrdbArch> Preset(const std::string& name);
  static std::vector<std::string> PresetNames();
};

// A 3x3 convolution with bias: weight (Cout, Cin, 3, 3), bias (Cout).
struct RrdbConvW {
  Param weight, bias;
};
struct ResidualDenseBlockW {
  RrdbConvW conv[5];  // conv1 .. conv5
};
struct RrdbBlockW {
  ResidualDenseBlockW rdb[3];  // rdb1 .. rdb3
};

struct RrdbWeights {
  RrdbArch arch;
  WeightStore store;
  RrdbConvW conv_first;
  std::vector<RrdbBlockW> body;
  RrdbConvW conv_body, conv_up1, conv_up2, conv_hr, conv_last;

  // Binds every tensor from a validated model file, checked before anything is allocated.
  static Result<RrdbWeights> FromFile(const ModelFile& file);
  static Result<RrdbWeights> Random(const RrdbArch& arch, uint64_t seed);
  static Result<RrdbWeights> ShapesOnly(const RrdbArch& arch);
};

// The op graph of a batch: input "x" (N, num_in_ch, H, W) with H and W multiples of
// Unshuffle(), output "image" (N, num_out_ch, H * scale, W * scale).
Graph BuildRrdbGraph(const RrdbWeights& w, const GraphOptions& options);

class RrdbNetwork : public Network {
 public:
  explicit RrdbNetwork(std::shared_ptr<const RrdbWeights> w) : w_(std::move(w)) {}
  std::string family() const override { return "rrdbnet"; }
  std::string Describe() const override { return w_->arch.ToString(); }
  std::string ItemNoun() const override { return "image"; }
  const WeightStore& store() const override { return w_->store; }
  const RrdbWeights& weights() const { return *w_; }

  Result<IoSpec> Io(int64_t h, int64_t w) const override;
  Graph BuildGraph(const GraphOptions& options) const override;
  bool FullyConvolutional() const override { return true; }
  int64_t Scale() const override { return w_->arch.scale; }
  int64_t InputMultiple() const override { return w_->arch.Unshuffle(); }
  void Preprocess(const Image& img, const IoSpec& io, float* dst) const override;
  Image Postprocess(const float* src, const IoSpec& io) const override;

 private:
  std::shared_ptr<const RrdbWeights> w_;
};

}  // namespace gpen
