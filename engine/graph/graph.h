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
#include <vector>

#include "core/shape.h"
#include "model/weights.h"

namespace gpen {

enum class OpKind {
  kInput,            // graph input, written by the caller
  kConstInput,       // param (1, C, h, w) repeated over the batch
  kConv2d,           // EqualConv2d: weight (Cout, Cin, k, k) * scale, stride, zero pad
  kConvTranspose2d,  // conv_transpose2d, stride 2, no pad, weight (Cout, Cin, k, k) * scale
  kUpfirdn2d,        // upsample (zeros), pad (pad0 before, pad1 after), FIR, downsample
  kBiasAct,          // x + bias[c] * bias_scale, then optionally sqrt(2) * leaky_relu(., 0.2)
  kLinear,           // EqualLinear on the flattened input: (N, K) x (M, K)^T * scale + bias
  kPixelNorm,        // x * rsqrt(mean_c(x^2) + 1e-8)
  kModStyle,         // alias of kLinear used for modulation styles (kept separate for fusion)
  kDemodCoef,        // d[n, o] = rsqrt(scale^2 * sum_i s[n, i]^2 * sum_k W[o, i, k]^2 + 1e-8)
  kScaleChannels,    // x[n, c, :, :] * s[n, c]
  kNoiseConcat,      // cat(x, noise_weight * feat) along C (feat: a tensor or seeded N(0, 1))
  kAdd,              // a + b
  // Fused ops, produced only by FuseGraph (graph/fuse.h); each equals a chain above.
  kModConv1x1,       // ScaleChannels(x, s) -> Conv2d 1x1: the ToRGB convolution
  kDemodNoiseAct,    // ScaleChannels(y, d) -> NoiseConcat -> BiasAct: the StyledConv epilogue
  kCrop,             // y = x[:, :, pad0 : pad0 + Ho, padx0 : padx0 + Wo] (tiled generation)
  kMaskWindow,       // zero what lies outside the untiled image (tiled generation, see below)
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

struct Node {
  OpKind kind = OpKind::kInput;
  std::string name;      // upstream module path, for messages and profiles
  std::vector<int> in;   // tensor ids
  int out = -1;          // tensor id
  Param weight, bias;    // bound parameters (invalid when unused)
  float scale = 1.f;       // weight scale (EqualConv/EqualLinear)
  float bias_scale = 1.f;  // lr_mul on the bias
  bool act = false;        // fused leaky ReLU x sqrt(2)
  int stride = 1, pad = 0;
  int up = 1, down = 1, pad0 = 0, pad1 = 0;  // upfirdn2d; kCrop: row offset in pad0
  int padx0 = 0;         // kCrop: column offset
  uint64_t seed = 0;     // kNoiseConcat without a feature tensor
  // Windows of tiled generation. A tile's tensors cover a window of the untiled tensor
  // (full_h x full_w) whose top-left corner is origin / win_div + (win_y0, win_x0),
  // where `origin` is the (1, 2) runtime input "tile_origin" (top-resolution pixels),
  // passed as the node's last input when win_div > 0. kMaskWindow zeroes positions
  // outside [0, full_h) x [0, full_w); seeded noise uses the absolute position.
  // win_div == 0 and full_h == 0: the tensor is untiled.
  int64_t win_y0 = 0, win_x0 = 0, full_h = 0, full_w = 0;
  int win_div = 0;
  bool concat = true;    // kNoiseConcat: concatenate (isconcat) or add the noise
  bool has_feat = false; // kNoiseConcat/kDemodNoiseAct: an encoder feature input follows x
  bool inplace = false;  // output may reuse in[0]'s memory when in[0] dies here
};

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
  // Multiply-accumulate count x 2 of the whole graph (for GFLOP/s).
  double Flops() const;
  // Bytes every node reads and writes (activations and weights), a lower bound on traffic.
  double BytesMoved(size_t act_elem_bytes) const;

 private:
  std::vector<TensorInfo> tensors_;
  std::vector<Node> nodes_;
  std::vector<int> outputs_;
  std::vector<int> inputs_;
};

}  // namespace gpen
