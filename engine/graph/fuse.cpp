// Pattern matching over the node list; tensors are renumbered into a fresh Graph.
#include "graph/fuse.h"

#include <map>

#include "core/check.h"

namespace gpen {

namespace {

std::vector<int> CountReaders(const Graph& g) {
  std::vector<int> readers(g.tensors().size(), 0);
  for (const Node& n : g.nodes())
    for (int t : n.in) ++readers[t];
  for (int t : g.outputs()) readers[t] += 1000;  // outputs must stay
  return readers;
}

}  // namespace

Graph FuseGraph(const Graph& g) {
  const auto& nodes = g.nodes();
  const std::vector<int> readers = CountReaders(g);
  std::vector<int> consumer(g.tensors().size(), -1);  // the reader of single-reader tensors
  for (size_t i = 0; i < nodes.size(); ++i)
    for (int t : nodes[i].in) consumer[t] = static_cast<int>(i);

  Graph out;
  std::map<int, int> remap;  // old tensor -> new tensor
  auto mapped = [&](int t) {
    auto it = remap.find(t);
    GPEN_CHECK_MSG(it != remap.end(), "tensor " << t << " used before it is produced");
    return it->second;
  };
  for (int t : g.inputs()) {
    const TensorInfo& in = g.tensor(t);
    remap[t] = out.AddTensor(in.shape, in.name, in.cls);
    out.AddInput(remap[t]);
  }

  // Emission order: every modulation-style node right after the node that produces its
  // input (the latent), so that a backend can compute all styles of a pass with one
  // GEMM at the first of them: the rest are then adjacent and read nothing else.
  std::vector<size_t> order;
  std::vector<bool> moved(nodes.size(), false);
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (moved[i]) continue;
    order.push_back(i);
    for (size_t j = i + 1; j < nodes.size(); ++j) {
      if (nodes[j].kind == OpKind::kModStyle && !moved[j] && nodes[j].in[0] == nodes[i].out) {
        order.push_back(j);
        moved[j] = true;
      }
    }
  }

  std::vector<bool> skip(nodes.size(), false);
  for (size_t i : order) {
    if (skip[i]) continue;
    const Node& n = nodes[i];
    auto single = [&](int t) { return readers[t] == 1 ? consumer[t] : -1; };
    if (n.kind == OpKind::kScaleChannels) {
      const int next = single(n.out);
      // ToRGB: modulated 1x1 convolution.
      if (next >= 0 && nodes[next].kind == OpKind::kConv2d &&
          nodes[next].weight.shape[nodes[next].weight.shape.rank() - 1] == 1 &&
          nodes[next].a<ConvAttr>().stride == 1 && nodes[next].a<ConvAttr>().pad == 0) {
        Node f = nodes[next];
        f.kind = OpKind::kModConv1x1;
        f.in = {mapped(n.in[0]), mapped(n.in[1])};
        const TensorInfo& t = g.tensor(nodes[next].out);
        remap[nodes[next].out] = out.AddNode(f, t.shape, t.cls);
        skip[next] = true;
        continue;
      }
      // StyledConv epilogue: demodulate, concatenate the noise, bias + leaky ReLU.
      if (next >= 0 && nodes[next].kind == OpKind::kNoiseConcat && nodes[next].in[0] == n.out) {
        const int last = single(nodes[next].out);
        bool ready = true;  // every extra input of the chain already exists
        for (size_t k = 1; k < nodes[next].in.size(); ++k)
          ready = ready && remap.count(nodes[next].in[k]);
        if (last >= 0 && nodes[last].kind == OpKind::kBiasAct && ready) {
          const Node& nz = nodes[next];
          Node f = nz;
          f.kind = OpKind::kDemodNoiseAct;
          f.name = nz.name;
          f.in = {mapped(n.in[0]), mapped(n.in[1])};
          for (size_t k = 1; k < nz.in.size(); ++k)
            f.in.push_back(mapped(nz.in[k]));  // feat, origin
          f.bias = nodes[last].bias;
          f.bias_scale = nodes[last].bias_scale;
          f.act = nodes[last].act;
          const TensorInfo& t = g.tensor(nodes[last].out);
          remap[nodes[last].out] = out.AddNode(f, t.shape, t.cls);
          skip[next] = skip[last] = true;
          continue;
        }
      }
    }
    Node c = n;
    for (int& t : c.in) t = mapped(t);
    const TensorInfo& t = g.tensor(n.out);
    remap[n.out] = out.AddNode(c, t.shape, t.cls);
  }
  for (int t : g.outputs()) {
    out.Rename(mapped(t), g.tensor(t).name);
    out.MarkOutput(mapped(t));
  }
  return out;
}

}  // namespace gpen
