// Graph: the static op graph that every backend runs and the memory planner plans.
//
// A model is lowered once (graph/gpen_graph.cpp) into a list of primitive ops over
// tensors whose shapes are fully known, for a fixed batch. Ops are the plain,
// unfused building blocks of upstream GPEN (EqualConv2d, upfirdn2d, fused leaky
// ReLU, ...). The CPU backend executes each one literally; the CUDA backend may
// fuse neighbours but must produce the same tensors. Shapes are (N, C, H, W) for
// images and (N, C) for vectors.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "core/check.h"
#include "core/shape.h"
#include "graph/activation.h"
#include "model/weights.h"

namespace gpen {

enum class OpKind {
  kInput,            // graph input, written by the caller
  kConstInput,       // param (1, C, h, w) repeated over the batch
  kConv2d,           // weight (Cout, Cin / groups, k, k) * scale, ConvAttr stride, zero pad, groups
                     // (1, or depthwise: groups == Cin == Cout), no bias
  kConvTranspose2d,  // conv_transpose2d, stride 2, no pad, weight (Cout, Cin, k, k) * scale
  kUpfirdn2d,        // UpfirdnAttr: upsample (zeros), pad, FIR, downsample
  kBiasAct,          // act(x + bias[c] * bias_scale); bias may be absent (act only)
  kLinear,           // EqualLinear on the flattened input: act((N, K) x (M, K)^T * scale + bias)
  kPixelNorm,        // x * rsqrt(mean_c(x^2) + 1e-8)
  kModStyle,         // alias of kLinear used for modulation styles (kept separate for fusion)
  kDemodCoef,        // d[n, o] = rsqrt(scale^2 * sum_i s[n, i]^2 * sum_k W[o, i, k]^2 + 1e-8)
  kScaleChannels,    // x[n, c, :, :] * s[n, c]
  kNoiseConcat,      // NoiseAttr: cat(x, noise_weight * feat) along C, or x + noise_weight * feat
  kAdd,              // AddAttr: alpha * a + beta * b (a residual add, scaled or not)
  kConcat,           // cat(in[0], in[1], ...) along C; every input (N, Ci, H, W)
  kUpsampleNearest,  // ResampleAttr: y[n, c, h, w] = x[n, c, h / f, w / f], or to an
                     // explicit size (out_h, out_w) as F.interpolate(size=..., mode='nearest')
  kPixelUnshuffle,   // ResampleAttr: (N, C, H*f, W*f) -> (N, C*f*f, H, W), torch's order
  // Fused ops, produced only by FuseGraph (graph/fuse.h); each equals a chain above.
  kModConv1x1,     // ScaleChannels(x, s) -> Conv2d 1x1: the ToRGB convolution
  kDemodNoiseAct,  // ScaleChannels(y, d) -> NoiseConcat -> BiasAct: the StyledConv epilogue
  kCrop,           // CropAttr: y = x[:, :, y0 : y0 + Ho, x0 : x0 + Wo]
  kMaskWindow,     // WindowAttr: zero what lies outside the untiled image (tiled generation)
  kMaxPool2d,      // PoolAttr: F.max_pool2d(x, k, stride, pad), padding never wins (-inf)
};

const char* OpName(OpKind k);

// Whether a tensor stays float32 when activations are stored in fp16.
enum class TensorClass { kActivation, kAlwaysFp32 };

struct TensorInfo {
  Shape shape;
  std::string name;
  TensorClass cls = TensorClass::kActivation;
  int producer = -1;  // node index, -1 for the graph input
  bool is_output = false;
};

// Per-op attributes. A node carries the one its kind needs (Node::attr); what every
// network shares (weight, bias, their scales, the activation) is in the node itself.
struct ConvAttr {  // kConv2d
  int stride = 1, pad = 0;
  // nn.Conv2d(groups=...): 1, or depthwise (groups == Cin == Cout, weight (C, 1, k, k)).
  // Any other grouping is refused when the node is added (Graph::AddNode).
  int groups = 1;
};
struct UpfirdnAttr {  // kUpfirdn2d: upstream upfirdn2d(up, down, pad=(pad0, pad1))
  int up = 1, down = 1, pad0 = 0, pad1 = 0;
};
// Windows of tiled generation. A tile's tensors cover a window of the untiled tensor
// (full_h x full_w) whose top-left corner is origin / div + (y0, x0), where `origin` is
// the (1, 2) runtime input "tile_origin" (top-resolution pixels), passed as the node's
// last input when div > 0. kMaskWindow zeroes positions outside [0, full_h) x [0,
// full_w); seeded noise uses the absolute position. div == 0 and full_h == 0: untiled.
struct WindowAttr {
  int64_t y0 = 0, x0 = 0, full_h = 0, full_w = 0;
  int div = 0;
};
// kNoiseConcat, kDemodNoiseAct (upstream NoiseInjection, isconcat).
struct NoiseAttr {
  bool concat = true;     // concatenate (isconcat) or add the noise
  bool has_feat = false;  // an encoder feature input follows x; else seeded N(0, 1) noise
  uint64_t seed = 0;
  WindowAttr window;  // where seeded noise is drawn from, when tiled
};
struct CropAttr {  // kCrop
  int y0 = 0, x0 = 0;
};
struct ResampleAttr {  // kUpsampleNearest, kPixelUnshuffle
  int factor = 2;
  // kUpsampleNearest to an explicit size (RetinaFace's FPN): out_h > 0 means the output is
  // (out_h, out_w) with source index min(floor(dst * (float)(in / out)), in - 1) as torch's
  // nearest_idx computes it; `factor` is then unused.
  int64_t out_h = 0, out_w = 0;
};
struct PoolAttr {  // kMaxPool2d: torchvision's resnet maxpool is k 3, stride 2, pad 1
  int k = 3, stride = 2, pad = 1;
};
struct AddAttr {  // kAdd: alpha * in[0] + beta * in[1]
  float alpha = 1.f, beta = 1.f;
};
using OpAttr = std::variant<std::monostate, ConvAttr, UpfirdnAttr, WindowAttr, NoiseAttr, CropAttr,
                            ResampleAttr, AddAttr, PoolAttr>;

struct Node {
  OpKind kind = OpKind::kInput;
  std::string name;        // upstream module path, for messages and profiles
  std::vector<int> in;     // tensor ids
  int out = -1;            // tensor id
  Param weight, bias;      // bound parameters (invalid when unused)
  float scale = 1.f;       // weight scale (EqualConv/EqualLinear; 1 for a plain conv)
  float bias_scale = 1.f;  // lr_mul on the bias
  Activation act;          // applied last (kBiasAct, kLinear, kDemodNoiseAct)
  OpAttr attr;             // the attributes of `kind`

  // The attributes of this node's kind; a programmer error (GPEN_CHECK) if absent.
  template <typename T>
  const T& a() const {
    const T* p = std::get_if<T>(&attr);
    GPEN_CHECK(p != nullptr);
    return *p;
  }
  template <typename T>
  T& a() {
    T* p = std::get_if<T>(&attr);
    GPEN_CHECK(p != nullptr);
    return *p;
  }
};

// Whether the node's output may reuse in[0]'s memory when in[0] dies there: decided by
// the op kind (elementwise ops, an additive noise injection), never by a builder.
bool MayRunInPlace(const Node& n);

class Graph {
 public:
  int AddTensor(Shape shape, std::string name, TensorClass cls = TensorClass::kActivation);
  int AddNode(Node node, Shape out_shape, TensorClass cls = TensorClass::kActivation);
  void MarkOutput(int tensor);
  void Rename(int tensor, std::string name) { tensors_[tensor].name = std::move(name); }

  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo& tensor(int id) const { return tensors_[id]; }
  // The first input is the image; tiled graphs have more (features, latent).
  int input() const { return inputs_.empty() ? -1 : inputs_[0]; }
  const std::vector<int>& inputs() const { return inputs_; }
  void set_input(int t) { inputs_.assign(1, t); }
  void AddInput(int t) { inputs_.push_back(t); }
  int FindInput(const std::string& name) const;
  // Output tensors by name ("image", "latent", "ecd3", ...), in the order marked.
  int FindOutput(const std::string& name) const;
  const std::vector<int>& outputs() const { return outputs_; }
  // Multiply-accumulate count x 2 of the whole graph (for GFLOP/s): the sum of NodeFlops.
  double Flops() const;
  // Bytes every node reads and writes (activations and weights), a lower bound on traffic:
  // the sum of NodeBytes.
  double BytesMoved(size_t act_elem_bytes) const;
  // The same for one node (per-op profiles: gpen bench --profile).
  double NodeFlops(size_t node) const;
  double NodeBytes(size_t node, size_t act_elem_bytes) const;

 private:
  void CheckGroups(const Node& n, const Shape& out) const;

  std::vector<TensorInfo> tensors_;
  std::vector<Node> nodes_;
  std::vector<int> outputs_;
  std::vector<int> inputs_;
};

}  // namespace gpen
