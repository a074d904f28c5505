// GpenNetwork: GPEN's item shapes, pre/post-processing and staged tiling.
#include "net/gpen_net.h"

#include "graph/gpen_graph.h"
#include "net/gpen_tiled.h"

namespace gpen {

Result<IoSpec> GpenNetwork::Io(int64_t h, int64_t w) const {
  if (h < 1 || w < 1) {
    return InvalidArgument("an image of " + std::to_string(w) + "x" + std::to_string(h) +
                           " pixels has nothing to restore");
  }
  IoSpec io;
  io.in_h = io.in_w = w_->arch.in_size;  // every face is resized to the encoder's input
  io.out_h = io.out_w = io.valid_h = io.valid_w = w_->arch.out_size;
  return io;
}

Graph GpenNetwork::BuildGraph(const GraphOptions& options) const {
  return BuildGpenGraph(*w_, options);
}

void GpenNetwork::Preprocess(const Image& img, const IoSpec& io, float* dst) const {
  ToModelInput(img, io.in_h, dst);
}

Image GpenNetwork::Postprocess(const float* src, const IoSpec& io) const {
  return FromModelOutput(src, io.out_h);
}

std::vector<TileSpec> GpenNetwork::TileChoices(const IoSpec&) const {
  // Fewest tiles first (the largest tile edge); every valid split resolution of each,
  // for the planner to pick the one whose plan is smallest.
  std::vector<TileSpec> out;
  const GpenArch& a = w_->arch;
  for (int64_t tile = a.out_size / 2; tile >= 16; tile /= 2) {
    for (int64_t split = a.out_size / 2; split >= 8; split /= 2) {
      const TileSpec spec{split, tile};
      if (TileSpecValid(a, spec)) out.push_back(spec);
    }
  }
  return out;
}

int64_t GpenNetwork::TilesPerItem(const TileSpec& spec, const IoSpec&) const {
  const int64_t per_axis = static_cast<int64_t>(TileOrigins(w_->arch.out_size, spec.tile).size());
  return per_axis * per_axis;
}

TiledGraphs GpenNetwork::BuildTiledGraphs(const TileSpec& spec, const GraphOptions& options) const {
  TiledGraphs t;
  t.graphs.push_back(BuildGpenGlobalGraph(*w_, options, spec.split_res));
  t.graphs.push_back(BuildGpenTileGraph(*w_, options, spec).graph);
  // The global pass's outputs wait on the host while the tiles run.
  const Graph& g = t.graphs[0];
  for (int id : g.outputs()) t.host_staging_floats += g.tensor(id).shape.numel();
  return t;
}

Result<std::unique_ptr<ItemRunner>> GpenNetwork::CreateTiledRunner(const TileSpec& spec,
                                                                   const GraphOptions& options,
                                                                   Device device,
                                                                   const BackendOptions& bo) const {
  GPEN_ASSIGN_OR_RETURN(std::unique_ptr<TiledGpenSession> s,
                        TiledGpenSession::Create(w_, options, spec, device, bo));
  return std::unique_ptr<ItemRunner>(std::move(s));
}

}  // namespace gpen
