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

#include "backend.h"
#include "graph/gpen_graph.h"
#include "model/gpen_weights.h"

namespace gpen {

class TiledGpenSession {
 public:
  static Result<std::unique_ptr<TiledGpenSession>> Create(std::shared_ptr<const GpenWeights> weights,
                                                          const GpenGraphOptions& graph_options,
                                                          const TileSpec& spec, Device device,
                                                          const BackendOptions& backend_options);
  // in: (N, 3, in_size, in_size) in [-1, 1]; out: (N, 3, out_size, out_size).
  Status Run(const float* in, float* out);

  int64_t tiles_per_face() const;
  const Backend& global_backend() const { return *global_; }
  const Backend& tile_backend() const { return *tile_; }

 private:
  Status ReadAll(const std::string& name, std::vector<float>* out, Shape* shape);
  std::shared_ptr<const GpenWeights> weights_;
  TileSpec spec_;
  Graph global_graph_;
  TileGraph tile_graph_;
  std::unique_ptr<Backend> global_, tile_;
};

// The tile origins along one axis of an out_size image (multiples of the step).
std::vector<int64_t> TileOrigins(int64_t out_size, int64_t tile);

}  // namespace gpen
