// GpenNetwork: GPEN (upstream face_model/gpen_model.py FullGenerator, FullGenerator_SR)
// behind the Network interface.
//
// One item is an aligned face: resized to in_size and scaled to [-1, 1] as upstream's
// FaceGAN.process does, restored at out_size. When one face does not fit, GPEN's own
// exact staged tiling (graph/gpen_graph.h, net/gpen_tiled.h) runs it in tiles that equal
// the untiled result.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/gpen_weights.h"
#include "net/network.h"

namespace gpen {

class GpenNetwork : public Network {
 public:
  explicit GpenNetwork(std::shared_ptr<const GpenWeights> weights) : w_(std::move(weights)) {}
  static std::shared_ptr<const GpenNetwork> Wrap(std::shared_ptr<const GpenWeights> weights) {
    return std::make_shared<const GpenNetwork>(std::move(weights));
  }

  std::string family() const override { return "gpen"; }
  std::string Describe() const override { return w_->arch.ToString(); }
  std::string ItemNoun() const override { return "face"; }
  const WeightStore& store() const override { return w_->store; }
  const GpenWeights& weights() const { return *w_; }
  const std::shared_ptr<const GpenWeights>& shared_weights() const { return w_; }

  Result<IoSpec> Io(int64_t h, int64_t w) const override;
  Graph BuildGraph(const GraphOptions& options) const override;
  void Preprocess(const Image& img, const IoSpec& io, float* dst) const override;
  Image Postprocess(const float* src, const IoSpec& io) const override;

  std::vector<TileSpec> TileChoices(const IoSpec& io) const override;
  int64_t TilesPerItem(const TileSpec& spec, const IoSpec& io) const override;
  TiledGraphs BuildTiledGraphs(const TileSpec& spec, const GraphOptions& options) const override;
  Result<std::unique_ptr<ItemRunner>> CreateTiledRunner(const TileSpec& spec,
                                                        const GraphOptions& options, Device device,
                                                        const BackendOptions& bo) const override;

 private:
  std::shared_ptr<const GpenWeights> w_;
};

}  // namespace gpen
