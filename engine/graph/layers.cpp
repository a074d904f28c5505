// Layers: conv + bias + activation, scaled sums, concatenation as graph nodes.
#include "graph/layers.h"

namespace gpen {

int AddConvLayer(Graph& g, int x, const Param& weight, const Param& bias, const ConvAttr& attr,
                 Activation act, const std::string& name) {
  const Shape s = g.tensor(x).shape;  // (N, Cin, H, W)
  const int64_t k = weight.shape[3];
  Node n;
  n.kind = OpKind::kConv2d;
  n.name = name;
  n.in = {x};
  n.weight = weight;
  n.attr = attr;
  const int64_t ho = (s.h() + 2 * attr.pad - k) / attr.stride + 1;
  const int64_t wo = (s.w() + 2 * attr.pad - k) / attr.stride + 1;
  const int y = g.AddNode(n, {s.n(), weight.shape[0], ho, wo});  // (N, Cout, Ho, Wo)
  Node b;
  b.kind = OpKind::kBiasAct;
  b.name = name + ".bias";
  b.in = {y};
  b.bias = bias;
  b.act = act;
  return g.AddNode(b, g.tensor(y).shape);
}

int AddSum(Graph& g, int a, int b, float alpha, float beta, const std::string& name) {
  GPEN_CHECK(g.tensor(a).shape == g.tensor(b).shape);
  Node n;
  n.kind = OpKind::kAdd;
  n.name = name;
  n.in = {a, b};
  n.attr = AddAttr{alpha, beta};
  return g.AddNode(n, g.tensor(a).shape);
}

int AddConcat(Graph& g, const std::vector<int>& parts, const std::string& name) {
  const Shape s = g.tensor(parts.at(0)).shape;
  int64_t c = 0;
  for (int p : parts) c += g.tensor(p).shape.c();
  Node n;
  n.kind = OpKind::kConcat;
  n.name = name;
  n.in = parts;
  return g.AddNode(n, {s.n(), c, s.h(), s.w()});
}

}  // namespace gpen
