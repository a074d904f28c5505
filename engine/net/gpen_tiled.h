// TiledGpenSession: exact staged tiling of one GPEN pass (see graph/gpen_graph.h).
//
// The global graph (encoder, mapping, generator up to resolution R) runs once per
// batch; its outputs come back to the host; then the tile graph runs once per output
// tile, fed with windows of those outputs (zero outside the image) and the tile's
// origin, and each tile is pasted into the image. The result equals the untiled pass
// to float rounding, with no seams, while only one tile's high-resolution activations
// exist at a time. Tiles lie inside the image; the last one in a row or column is
// shifted back to end at the border, and overlapping pixels are identical.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "graph/gpen_graph.h"
#include "model/gpen_weights.h"
#include "net/network.h"

namespace gpen {

class TiledGpenSession : public ItemRunner {
 public:
  static Result<std::unique_ptr<TiledGpenSession>> Create(
      std::shared_ptr<const GpenWeights> weights, const GpenGraphOptions& graph_options,
      const TileSpec& spec, Device device, const BackendOptions& backend_options);
  // in: (N, 3, in_size, in_size) in [-1, 1]; out: (N, 3, out_size, out_size).
  Status Run(const float* in, float* out) override;
  int64_t batch() const override;

  int64_t tiles_per_face() const;
  const Backend& global_backend() const { return *global_; }
  const Backend& tile_backend() const { return *tile_; }

 private:
  // A global output cut into windows for the tile graph's input `tile_input`.
  struct Source {
    int global_output = -1, tile_input = -1;
    Span win;
    int64_t res = 0;
  };
  Status ReadAll(int tensor, std::vector<float>* out, Shape* shape);
  std::shared_ptr<const GpenWeights> weights_;
  TileSpec spec_;
  Graph global_graph_;
  TileGraph tile_graph_;
  std::unique_ptr<Backend> global_, tile_;
  // Tensor ids, found once at creation.
  std::vector<Source> sources_;
  int latent_out_ = -1, latent_in_ = -1, origin_in_ = -1, image_out_ = -1;
};

// The tile origins along one axis of an out_size image (multiples of the step).
std::vector<int64_t> TileOrigins(int64_t out_size, int64_t tile);

}  // namespace gpen
