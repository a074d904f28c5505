// Lowers a bound GPEN model into the primitive op graph, for a fixed batch.
//
// Mirrors upstream FullGenerator.forward / FullGenerator_SR.forward
// (face_model/gpen_model.py): encoder levels, final_linear, the mapping network,
// then the StyleGAN2 generator whose StyledConvs concatenate the encoder features.
//
// Exact staged tiling. Once the latent and the encoder features are known, every
// generator stage is local: its outputs depend on a bounded neighbourhood of its
// inputs. A run can therefore be split into a *global* graph (encoder, mapping and the
// generator up to resolution R) and a *tile* graph that computes one window of the
// output from windows of the global graph's outputs, with halos large enough that
// every value is computed from exactly the inputs the untiled graph uses. Positions
// outside the image are zeroed after each stage, which is what the untiled graph's
// zero padding means, so a tile at the border equals the untiled result too.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "graph/graph.h"
#include "graph/graph_options.h"
#include "model/gpen_weights.h"

namespace gpen {

// The batch; expose_intermediates also exposes "latent" and "ecd0".."ecdK" as outputs
// (tests; costs memory); noise_seed seeds the N(0, 1) noise upstream draws for the
// generator levels above the encoder's resolution (FullGenerator_SR only). in_h/in_w
// are ignored: GPEN's input is in_size.
using GpenGraphOptions = GraphOptions;

// Output "image": (N, 3, out_size, out_size) in upstream's [-1, 1] scale.
Graph BuildGpenGraph(const GpenWeights& w, const GpenGraphOptions& opt);

// A half-open window [lo, hi) along one axis, in absolute coordinates.
struct Span {
  int64_t lo = 0, hi = 0;
  int64_t size() const { return hi - lo; }
  bool operator==(const Span& o) const { return lo == o.lo && hi == o.hi; }
};

// TileSpec (graph/graph_options.h) here: split_res = R, the global graph ends after the
// generator stage at R; tile = the output tile edge at out_size, a multiple of
// out_size / R.

// The global graph: outputs "latent", "tile_x" (the generator activation at R),
// "tile_skip" (the RGB skip at R) and "feat<r>" for every encoder feature above R.
Graph BuildGpenGlobalGraph(const GpenWeights& w, const GpenGraphOptions& opt, int64_t split_res);

// The tile graph and the windows of its inputs for the tile whose top-left output
// pixel is the origin (0, 0); a tile at (oy, ox) shifts window w of a tensor of
// resolution r by (oy, ox) * r / out_size. Inputs: "latent", "tile_origin" (1, 2),
// "tile_x", "tile_skip", "feat<r>"; output "image" (N, 3, tile, tile).
struct TileGraph {
  Graph graph;
  std::map<std::string, Span> input_window;  // per input, the same along y and x
  std::map<std::string, int64_t> input_res;  // resolution of the tensor it is cut from
};
TileGraph BuildGpenTileGraph(const GpenWeights& w, const GpenGraphOptions& opt,
                             const TileSpec& spec);

// Whether a tile spec fits an architecture: R a power of two in [4, out_size), the
// tile a multiple of out_size / R and at most out_size.
bool TileSpecValid(const GpenArch& a, const TileSpec& s);

}  // namespace gpen
