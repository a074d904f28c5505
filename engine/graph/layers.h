// Layers: the few node patterns plain CNNs are made of, added to a Graph in one call.
//
// RRDBNet (net/rrdb_net.cpp) and RetinaFace (net/retinaface_net.cpp) are built from the
// same handful of patterns: a convolution followed by its bias and activation (the pair
// of nodes every conv layer lowers to), a scaled residual sum, a channel concatenation.
// Each function adds the nodes, computes the output shape, and returns the output tensor.
// GPEN's modulated convolutions have their own lowering (graph/gpen_graph.cpp).
#pragma once

#include <string>
#include <vector>

#include "graph/graph.h"

namespace gpen {

// Conv2d(x, weight; stride, zero pad, groups) then BiasAct(bias, act): weight
// (Cout, Cin / groups, k, k) with k its own, bias (Cout) or absent. Nodes `name` and
// `name`.bias. Output (N, Cout, (H + 2 pad - k) / stride + 1, likewise W).
int AddConvLayer(Graph& g, int x, const Param& weight, const Param& bias, const ConvAttr& attr,
                 Activation act, const std::string& name);

// alpha * a + beta * b, both of one shape.
int AddSum(Graph& g, int a, int b, float alpha, float beta, const std::string& name);

// cat(parts) along C; every part (N, Ci, H, W) of one N, H, W.
int AddConcat(Graph& g, const std::vector<int>& parts, const std::string& name);

}  // namespace gpen
