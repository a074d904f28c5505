// FuseGraph: rewrites chains of primitive ops into the fused ops a fast backend runs.
//
// Two patterns, each only where every intermediate has exactly one reader:
//   ScaleChannels(x, s) -> Conv2d(1x1)                     => ModConv1x1(x, s)
//   ScaleChannels(y, d) -> NoiseConcat(., f) -> BiasAct    => DemodNoiseAct(y, d, f)
// The intermediates then never exist, which the memory planner sees because it plans
// the fused graph. The CPU backend can run fused graphs too (as the same chain of
// reference ops), which is how the rewrite itself is tested without a GPU.
#pragma once

#include "graph/graph.h"

namespace gpen {

Graph FuseGraph(const Graph& g);

}  // namespace gpen
