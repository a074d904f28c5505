// Lowers a bound GPEN model into the primitive op graph, for a fixed batch.
//
// Mirrors upstream FullGenerator.forward / FullGenerator_SR.forward
// (face_model/gpen_model.py): encoder levels, final_linear, the mapping network,
// then the StyleGAN2 generator whose StyledConvs concatenate the encoder features.
#pragma once

#include <cstdint>

#include "graph/graph.h"
#include "model/gpen_weights.h"

namespace gpen {

struct GpenGraphOptions {
  int64_t batch = 1;
  // Also expose "latent" and "ecd0".."ecdK" as outputs (tests); costs memory.
  bool expose_intermediates = false;
  // Seed of the N(0, 1) noise upstream draws for the generator levels above the
  // encoder's resolution (FullGenerator_SR only).
  uint64_t noise_seed = 0;
};

// Output "image": (N, 3, out_size, out_size) in upstream's [-1, 1] scale.
Graph BuildGpenGraph(const GpenWeights& w, const GpenGraphOptions& opt);

}  // namespace gpen
