// What a graph builder is asked for, whatever the network: the batch, the size of one
// item, a seed, and how one item is split into tiles when a whole one does not fit.
//
// Every network's builder (net/*.h) takes a GraphOptions; the session, the planner and
// the batch runner pass one through without knowing the network.
#pragma once

#include <cstdint>

namespace gpen {

struct GraphOptions {
  int64_t batch = 1;
  // One item's input height and width (N, C, H, W); 0 for a network whose input size
  // is fixed by its architecture (GPEN's in_size).
  int64_t in_h = 0, in_w = 0;
  // Seed of any noise the network draws (GPEN's FullGenerator_SR above the encoder).
  uint64_t noise_seed = 0;
  // Also expose intermediate tensors as outputs, for tests (GPEN: latent, ecd*).
  bool expose_intermediates = false;
};

// How one item runs in tiles, the parameters of the network's own tiling strategy:
// `tile` is the output tile edge; `split_res` a network-specific stage (GPEN's exact
// staged tiling: the resolution R at which the global pass ends, graph/gpen_graph.h).
struct TileSpec {
  int64_t split_res = 0;
  int64_t tile = 0;
};

}  // namespace gpen
