// Graph bookkeeping: tensor/node creation, outputs, FLOP and byte counts (whole graph and
// per node, for the per-op profile).
#include "graph/graph.h"

#include "core/check.h"

namespace gpen {

const char* OpName(OpKind k) {
  switch (k) {
    case OpKind::kInput:
      return "input";
    case OpKind::kConstInput:
      return "const_input";
    case OpKind::kConv2d:
      return "conv2d";
    case OpKind::kConvTranspose2d:
      return "conv_transpose2d";
    case OpKind::kUpfirdn2d:
      return "upfirdn2d";
    case OpKind::kBiasAct:
      return "bias_act";
    case OpKind::kLinear:
      return "linear";
    case OpKind::kPixelNorm:
      return "pixel_norm";
    case OpKind::kModStyle:
      return "mod_style";
    case OpKind::kDemodCoef:
      return "demod_coef";
    case OpKind::kScaleChannels:
      return "scale_channels";
    case OpKind::kNoiseConcat:
      return "noise_concat";
    case OpKind::kAdd:
      return "add";
    case OpKind::kConcat:
      return "concat";
    case OpKind::kUpsampleNearest:
      return "upsample_nearest";
    case OpKind::kPixelUnshuffle:
      return "pixel_unshuffle";
    case OpKind::kModConv1x1:
      return "mod_conv1x1";
    case OpKind::kDemodNoiseAct:
      return "demod_noise_act";
    case OpKind::kCrop:
      return "crop";
    case OpKind::kMaskWindow:
      return "mask_window";
    case OpKind::kMaxPool2d:
      return "max_pool2d";
  }
  return "?";
}

bool MayRunInPlace(const Node& n) {
  switch (n.kind) {
    // Element-wise in in[0]: output element i reads input element i only (the other
    // inputs are per-channel vectors, a second operand, or the tile origin).
    case OpKind::kBiasAct:
    case OpKind::kAdd:
    case OpKind::kScaleChannels:
    case OpKind::kMaskWindow:
      return true;
    // Adding the noise is element-wise; concatenating it doubles the channels.
    case OpKind::kNoiseConcat:
      return !n.a<NoiseAttr>().concat;
    // Everything else reads neighbours, rearranges, or changes the size; the fused ops
    // are kept out of place as their chains' outputs were.
    default:
      return false;
  }
}

// Grouped convolutions: only depthwise ones (groups == Cin == Cout, weight (C, 1, k, k), as
// MobileNetV1's conv_dw) have an implementation; any other grouping is a builder's error.
void Graph::CheckGroups(const Node& n, const Shape& out) const {
  const ConvAttr* ca = std::get_if<ConvAttr>(&n.attr);
  if (ca == nullptr || ca->groups == 1) return;
  const int64_t cin = tensors_[n.in[0]].shape.c(), cout = out.c();
  const Shape& w = n.weight.shape;
  GPEN_CHECK_MSG(ca->groups == cin && cin == cout && w.rank() == 4 && w[0] == cout && w[1] == 1,
                 "convolution '" << n.name << "' with groups " << ca->groups << ", " << cin
                                 << " -> " << cout << " channels, weight " << w.ToString()
                                 << ": only depthwise grouping (groups == Cin == Cout, weight "
                                    "(C, 1, k, k)) is implemented");
}

int Graph::AddTensor(Shape shape, std::string name, TensorClass cls) {
  TensorInfo t;
  t.shape = std::move(shape);
  t.name = std::move(name);
  t.cls = cls;
  tensors_.push_back(std::move(t));
  return static_cast<int>(tensors_.size()) - 1;
}

int Graph::AddNode(Node node, Shape out_shape, TensorClass cls) {
  for (int i : node.in) GPEN_CHECK(i >= 0 && i < static_cast<int>(tensors_.size()));
  if (node.kind == OpKind::kConv2d) CheckGroups(node, out_shape);
  const int t = AddTensor(std::move(out_shape), node.name, cls);
  tensors_[t].producer = static_cast<int>(nodes_.size());
  node.out = t;
  nodes_.push_back(std::move(node));
  return t;
}

void Graph::MarkOutput(int t) {
  GPEN_CHECK(t >= 0 && t < static_cast<int>(tensors_.size()));
  if (!tensors_[t].is_output) {
    tensors_[t].is_output = true;
    outputs_.push_back(t);
  }
}

int Graph::FindInput(const std::string& name) const {
  for (int t : inputs_)
    if (tensors_[t].name == name) return t;
  return -1;
}

int Graph::FindOutput(const std::string& name) const {
  for (int t : outputs_)
    if (tensors_[t].name == name) return t;
  return -1;
}

double Graph::NodeFlops(size_t node) const {
  GPEN_CHECK(node < nodes_.size());
  const Node& n = nodes_[node];
  const Shape& o = tensors_[n.out].shape;
  switch (n.kind) {
    case OpKind::kModConv1x1:
    case OpKind::kConv2d: {
      const Shape& w = n.weight.shape;  // (Cout, Cin, k, k) or (1, Cout, Cin, k, k)
      const int64_t k = w[w.rank() - 1] * w[w.rank() - 2] * w[w.rank() - 3];
      return 2.0 * static_cast<double>(o.numel()) * static_cast<double>(k);
    }
    case OpKind::kConvTranspose2d: {
      const Shape& x = tensors_[n.in[0]].shape;
      const Shape& w = n.weight.shape;
      const int64_t cout = w[w.rank() - 4], k = w[w.rank() - 1] * w[w.rank() - 2];
      return 2.0 * static_cast<double>(x.numel()) * static_cast<double>(cout * k);
    }
    case OpKind::kLinear:
    case OpKind::kModStyle:
      return 2.0 * static_cast<double>(o.numel()) * static_cast<double>(n.weight.shape[1]);
    // Element-wise and data movement: no multiply-accumulates counted (kAdd's scaled
    // sum, kConcat, kUpsampleNearest, kPixelUnshuffle, activations, crops, masks).
    default:
      return 0;
  }
}

double Graph::Flops() const {
  double f = 0;
  for (size_t i = 0; i < nodes_.size(); ++i) f += NodeFlops(i);
  return f;
}

// Every input read once and the output written once: exact for the copies (kConcat reads
// each input once, kUpsampleNearest reads x once and writes f^2 times as much,
// kPixelUnshuffle reads and writes the same count) and for the element-wise ops.
double Graph::NodeBytes(size_t node, size_t act_elem_bytes) const {
  GPEN_CHECK(node < nodes_.size());
  auto bytes = [&](int t) {
    const size_t es = tensors_[t].cls == TensorClass::kAlwaysFp32 ? 4 : act_elem_bytes;
    return static_cast<double>(tensors_[t].shape.numel()) * static_cast<double>(es);
  };
  const Node& n = nodes_[node];
  double b = bytes(n.out);
  for (int t : n.in) b += bytes(t);
  if (n.weight.valid()) b += 4.0 * static_cast<double>(n.weight.numel());
  if (n.bias.valid()) b += 4.0 * static_cast<double>(n.bias.numel());
  return b;
}

double Graph::BytesMoved(size_t act_elem_bytes) const {
  double b = 0;
  for (size_t i = 0; i < nodes_.size(); ++i) b += NodeBytes(i, act_elem_bytes);
  return b;
}

}  // namespace gpen
