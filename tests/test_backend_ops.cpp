// One-op graphs, CPU backend against CUDA backend, in the style of ggml's test-backend-ops.
//
// Each row of kRows builds a graph that holds one op (plus its graph inputs), shaped and
// parameterised the way graph/gpen_graph.cpp lowers GPEN, so that the CUDA backend's layout
// code (cuda_layout.cpp) sees the nodes it expects; weights come from a Binder in random
// mode. CreateCpuBackend and CreateCudaBackend both take that graph, get the same random
// inputs, run, and their outputs are compared with test::Compare: CUDA in fp32 and in fp16
// storage against the CPU's fp32 reference, batch 1 and 3, at odd sizes (C 5 or 7, H 13,
// W 17) that no block or vector width divides. The kernel tests in test_cuda.cpp check each
// kernel against its CPU twin; these check what the backends make of a node: weight
// layouts, precisions per tensor class, workspaces, windows, fusion. The last case fails
// when an OpKind has no row, so that every op added later gets one.
//
// Tolerances. fp32: both backends round every operation in fp32 and differ only in the
// order of sums (OpenBLAS against cuBLAS/cuDNN, double against float sums of squared
// weights in DemodCoef), about 1e-7 relative, so 1e-5 absolute, relative and relative L2
// (an indexing bug is an O(1) error). fp16 (see test_cuda.cpp): the CUDA backend stores
// activation-class tensors and convolution weights in fp16, rounding inputs on SetTensor,
// weights on upload and outputs on write to 11 significant bits (2^-11 ~ 4.9e-4 relative
// each) with fp32 math in between, so 2e-3 absolute plus 2e-3 relative elementwise (a few
// roundings) and 1e-3 relative L2. Tensors of class kAlwaysFp32 stay fp32 in fp16 mode: a
// row whose tensors are all of that class (mapping, styles, demodulation, the ToRGB skip)
// keeps the fp32 bounds there, which checks that the backend indeed leaves them unrounded.
#include <cuda_runtime.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "backend.h"
#include "compare.h"

using namespace gpen;
using namespace gpen::test;

namespace {

using Cls = TensorClass;
constexpr Cls kAct = TensorClass::kActivation;
constexpr Cls kF32 = TensorClass::kAlwaysFp32;

constexpr int64_t kH = 13, kW = 17;  // odd spatial sizes, H != W
constexpr int64_t kSd = 19;          // style dimension (latent width)
// Tiled windows: "tile_origin" holds (12, 20) top-resolution pixels and the tensors live at
// a quarter of the top resolution, so the runtime origin adds (3, 5) to WindowAttr (y0, x0).
constexpr int kWinDiv = 4;
const std::vector<float> kOrigin = {12.f, 20.f};

// EqualConv2d / EqualLinear: 1 / sqrt(fan_in).
float EqualScale(int64_t fan_in) {
  return static_cast<float>(1.0 / std::sqrt(double(fan_in)));
}

// A graph input.
int In(Graph& g, Shape s, const std::string& name, Cls cls = kAct) {
  const int t = g.AddTensor(std::move(s), name, cls);
  g.AddInput(t);
  return t;
}

// The (1, 2) runtime window origin of tiled graphs (top-resolution pixels).
int Origin(Graph& g) {
  return In(g, {1, 2}, "tile_origin", kF32);
}

Node Op(OpKind kind, std::vector<int> in) {
  Node n;
  n.kind = kind;
  n.name = OpName(kind);
  n.in = std::move(in);
  return n;
}

// Adds the node and marks its output as one the test reads.
int Out(Graph& g, const Node& n, Shape s, Cls cls = kAct) {
  const int t = g.AddNode(n, std::move(s), cls);
  g.MarkOutput(t);
  return t;
}

// Untiled window (SetWindow in gpen_graph.cpp): the tensor is the whole image.
void Whole(WindowAttr* w, const Shape& s) {
  w->full_h = s.h();
  w->full_w = s.w();
}

// Tiled window: origin / kWinDiv + (y0, x0) inside a (fh, fw) image; origin is n's last input.
void Tiled(Node* n, WindowAttr* w, int origin, int64_t y0, int64_t x0, int64_t fh, int64_t fw) {
  w->div = kWinDiv;
  w->y0 = y0;
  w->x0 = x0;
  w->full_h = fh;
  w->full_w = fw;
  n->in.push_back(origin);
}

// ---- Rows: each builds its graph for batch n. ----

Graph ConstInput(Binder& b, int64_t n) {
  Graph g;
  Node c = Op(OpKind::kConstInput, {});
  c.weight = b.Bind("input", {1, 7, 4, 4});
  Out(g, c, {n, 7, 4, 4});  // (N, C, 4, 4)
  return g;
}

// kConv2d with GPEN's weight layouts: (1, Cout, Cin, k, k) in StyledConv, (Cout, Cin, k, k)
// in the encoder; pad k / 2 at stride 1, 0 after the encoder's blur at stride 2.
Graph Conv(Binder& b, int64_t n, Shape w, int stride, int pad) {
  Graph g;
  const int64_t rank = static_cast<int64_t>(w.rank());
  const int64_t cout = w[rank - 4], cin = w[rank - 3], k = w[rank - 1];
  const int x = In(g, {n, cin, kH, kW}, "x");  // (N, Cin, H, W)
  Node c = Op(OpKind::kConv2d, {x});
  c.weight = b.Bind("conv.weight", w);
  c.scale = EqualScale(cin * k * k);
  c.attr = ConvAttr{stride, pad};
  const int64_t ho = (kH + 2 * pad - k) / stride + 1, wo = (kW + 2 * pad - k) / stride + 1;
  Out(g, c, {n, cout, ho, wo});  // (N, Cout, Ho, Wo)
  return g;
}
Graph ConvStyled3x3(Binder& b, int64_t n) {
  return Conv(b, n, {1, 5, 7, 3, 3}, 1, 1);
}
Graph ConvEncoder1x1(Binder& b, int64_t n) {
  return Conv(b, n, {5, 3, 1, 1}, 1, 0);
}
Graph ConvEncoderStride2(Binder& b, int64_t n) {
  return Conv(b, n, {5, 7, 3, 3}, 2, 0);
}
// Stride 2 with pad 1: not emitted by the lowering, but a parameter both backends take.
Graph ConvStride2Pad1(Binder& b, int64_t n) {
  return Conv(b, n, {5, 7, 3, 3}, 2, 1);
}

// RetinaFace's plain convolutions (weight (Cout, Cin, k, k), scale 1, BN folded in the
// bias that follows): ResNet-50's conv1 7x7 stride 2 pad 3.
Graph Conv7x7Stride2(Binder& b, int64_t n) {
  return Conv(b, n, {5, 3, 7, 7}, 2, 3);
}

// Depthwise nn.Conv2d(C, C, k, stride, pad, groups=C): weight (C, 1, k, k); MobileNetV1's
// conv_dw is 3x3 pad 1 at stride 1 and 2; 5x5 pad 2 stride 2 shows any kernel size works.
Graph Depthwise(Binder& b, int64_t n, int64_t k, int stride, int pad) {
  Graph g;
  const int64_t c = 7;
  const int x = In(g, {n, c, kH, kW}, "x");  // (N, C, H, W)
  Node d = Op(OpKind::kConv2d, {x});
  d.weight = b.Bind("conv_dw.weight", {c, 1, k, k});
  d.scale = EqualScale(k * k);
  d.attr = ConvAttr{stride, pad, static_cast<int>(c)};
  const int64_t ho = (kH + 2 * pad - k) / stride + 1, wo = (kW + 2 * pad - k) / stride + 1;
  Out(g, d, {n, c, ho, wo});  // (N, C, Ho, Wo)
  return g;
}
Graph Depthwise3x3(Binder& b, int64_t n) {
  return Depthwise(b, n, 3, 1, 1);
}
Graph Depthwise3x3Stride2(Binder& b, int64_t n) {
  return Depthwise(b, n, 3, 2, 1);
}
Graph Depthwise5x5Stride2(Binder& b, int64_t n) {
  return Depthwise(b, n, 5, 2, 2);
}

// F.max_pool2d: torchvision resnet's k 3 stride 2 pad 1 (every border window has padding),
// and k 2 stride 2 pad 0 (the odd last row and column are dropped).
Graph MaxPool(Binder&, int64_t n, int k, int stride, int pad) {
  Graph g;
  Node m = Op(OpKind::kMaxPool2d, {In(g, {n, 5, kH, kW}, "x")});  // (N, C, H, W)
  m.attr = PoolAttr{k, stride, pad};
  Out(g, m, {n, 5, (kH + 2 * pad - k) / stride + 1, (kW + 2 * pad - k) / stride + 1});
  return g;
}
Graph MaxPoolResnet(Binder& b, int64_t n) {
  return MaxPool(b, n, 3, 2, 1);
}
Graph MaxPool2x2(Binder& b, int64_t n) {
  return MaxPool(b, n, 2, 2, 0);
}

Graph ConvTranspose(Binder& b, int64_t n) {
  Graph g;
  const int x = In(g, {n, 7, kH, kW}, "x");  // (N, Cin, H, W)
  Node c = Op(OpKind::kConvTranspose2d, {x});
  c.weight = b.Bind("conv.weight", {1, 5, 7, 3, 3});  // (1, Cout, Cin, k, k)
  c.scale = EqualScale(7 * 3 * 3);
  Out(g, c, {n, 5, 2 * kH + 1, 2 * kW + 1});  // (N, Cout, 2H + k - 2, 2W + k - 2)
  return g;
}

// A random FIR kernel (not GPEN's symmetric blur), so that a flipped or transposed kernel
// shows.
Graph Fir(Binder& b, int64_t n, int64_t c, Cls cls, int64_t kh, int64_t kw, int up, int down,
          int pad0, int pad1) {
  Graph g;
  const int x = In(g, {n, c, kH, kW}, "x", cls);  // (N, C, H, W)
  Node u = Op(OpKind::kUpfirdn2d, {x});
  u.weight = b.Bind("fir.kernel", {kh, kw});
  u.attr = UpfirdnAttr{up, down, pad0, pad1};
  const int64_t ho = (kH * up + pad0 + pad1 - kh) / down + 1;
  const int64_t wo = (kW * up + pad0 + pad1 - kw) / down + 1;
  Out(g, u, {n, c, ho, wo}, cls);  // (N, C, Ho, Wo)
  return g;
}
// Encoder blur before a stride-2 convolution: pad (2, 2).
Graph FirEncoderBlur(Binder& b, int64_t n) {
  return Fir(b, n, 5, kAct, 4, 4, 1, 1, 2, 2);
}
// Blur after the transposed convolution: pad (1, 1).
Graph FirUpconvBlur(Binder& b, int64_t n) {
  return Fir(b, n, 5, kAct, 4, 4, 1, 1, 1, 1);
}
// ToRGB's Upsample of the fp32 skip: up 2, pad (2, 1).
Graph FirSkipUp2(Binder& b, int64_t n) {
  return Fir(b, n, 3, kF32, 4, 4, 2, 1, 2, 1);
}
// Down 2 and a 3x5 kernel: not emitted by the lowering; the op takes any up to 8x8.
Graph FirDown2(Binder& b, int64_t n) {
  return Fir(b, n, 5, kAct, 4, 4, 1, 2, 1, 1);
}
Graph FirNonSquare(Binder& b, int64_t n) {
  return Fir(b, n, 5, kAct, 3, 5, 1, 1, 1, 2);
}

// An empty bias shape: no bias, the activation alone.
Graph BiasAct(Binder& b, int64_t n, Shape bias, int64_t c, Cls cls, float bias_scale,
              Activation act) {
  Graph g;
  const int x = In(g, {n, c, kH, kW}, "x", cls);  // (N, C, H, W)
  Node a = Op(OpKind::kBiasAct, {x});
  if (bias.rank() > 0) a.bias = b.Bind("bias", bias, Init::kBias);
  a.bias_scale = bias_scale;
  a.act = act;
  Out(g, a, {n, c, kH, kW}, cls);
  return g;
}
// FusedLeakyReLU of the encoder and StyledConv.
Graph BiasActLrelu(Binder& b, int64_t n) {
  return BiasAct(b, n, {7}, 7, kAct, 1.f, Activation::GpenLeakyRelu());
}
// ToRGB's bias on its fp32 output, bias shaped (1, 3, 1, 1).
Graph BiasActToRgb(Binder& b, int64_t n) {
  return BiasAct(b, n, {1, 3, 1, 1}, 3, kF32, 1.f, Activation::None());
}
// An lr_mul on the bias: not emitted for BiasAct by the lowering, a parameter all the same.
Graph BiasActLrMul(Binder& b, int64_t n) {
  return BiasAct(b, n, {7}, 7, kAct, 0.25f, Activation::GpenLeakyRelu());
}
// RRDBNet's conv bias + nn.LeakyReLU(negative_slope=0.2): no gain.
Graph BiasActLeaky(Binder& b, int64_t n) {
  return BiasAct(b, n, {7}, 7, kAct, 1.f, Activation::LeakyRelu(0.2f));
}
// ReLU (RetinaFace) and LeakyReLU(0.1).
Graph BiasActRelu(Binder& b, int64_t n) {
  return BiasAct(b, n, {7}, 7, kAct, 1.f, Activation::Relu());
}
Graph BiasActLeaky01(Binder& b, int64_t n) {
  return BiasAct(b, n, {5}, 5, kAct, 1.f, Activation::LeakyRelu(0.1f));
}
// No bias: an activation alone (after a bias-free convolution).
Graph BiasActNoBias(Binder& b, int64_t n) {
  return BiasAct(b, n, {}, 7, kAct, 1.f, Activation::LeakyRelu(0.2f));
}

// EqualLinear (kLinear or kModStyle) from x to (N, m); weight (m, K), K = x per sample.
Node Linear(Binder& b, OpKind kind, int x, int64_t k, int64_t m, float lr_mul, bool act,
            Init bias_init, const std::string& name) {  // act: GPEN's fused leaky ReLU
  Node l = Op(kind, {x});
  l.weight = b.Bind(name + ".weight", {m, k});
  l.bias = b.Bind(name + ".bias", {m}, bias_init);
  l.scale = EqualScale(k) * lr_mul;
  l.bias_scale = lr_mul;
  l.act = act ? Activation::GpenLeakyRelu() : Activation::None();
  return l;
}

// The mapping network's layers: (N, sd) fp32, lr_mul 0.01, fused leaky ReLU.
Graph LinearMapping(Binder& b, int64_t n) {
  Graph g;
  const int x = In(g, {n, kSd}, "latent", kF32);  // (N, sd)
  Out(g, Linear(b, OpKind::kLinear, x, kSd, kSd, 0.01f, true, Init::kBias, "style.1"), {n, kSd},
      kF32);
  return g;
}
// final_linear: the encoder's last (N, C, 4, 4) activation flattened (fp16 in fp16 mode,
// cast to fp32 by the backend), output (N, sd) fp32.
Graph LinearFinal(Binder& b, int64_t n) {
  Graph g;
  const int x = In(g, {n, 7, 4, 4}, "ecd", kAct);  // (N, C, 4, 4)
  Out(g, Linear(b, OpKind::kLinear, x, 7 * 16, kSd, 1.f, true, Init::kBias, "final_linear"),
      {n, kSd}, kF32);
  return g;
}
// No activation (not emitted by the lowering for kLinear; ModStyle's form).
Graph LinearNoAct(Binder& b, int64_t n) {
  Graph g;
  const int x = In(g, {n, kSd}, "latent", kF32);  // (N, sd)
  Out(g, Linear(b, OpKind::kLinear, x, kSd, 23, 1.f, false, Init::kBias, "linear"), {n, 23}, kF32);
  return g;
}

Graph PixelNorm(Binder&, int64_t n) {
  Graph g;
  const int x = In(g, {n, kSd}, "latent", kF32);  // (N, sd)
  Out(g, Op(OpKind::kPixelNorm, {x}), {n, kSd}, kF32);
  return g;
}

// Two modulation layers reading one latent back to back: one style group, one GEMM,
// scattered into both style tensors (no DemodCoef reads them, so no fp16 normalisation).
Graph ModStyleGroup(Binder& b, int64_t n) {
  Graph g;
  const int lat = In(g, {n, kSd}, "latent", kF32);  // (N, sd)
  Out(g, Linear(b, OpKind::kModStyle, lat, kSd, 7, 1.f, false, Init::kModBias, "mod.a"), {n, 7},
      kF32);
  Out(g, Linear(b, OpKind::kModStyle, lat, kSd, 5, 1.f, false, Init::kModBias, "mod.b"), {n, 5},
      kF32);
  return g;
}

// d (N, Cout) from a style input s (N, Cin): standalone, no ModStyle in front (in fp16 the
// backend normalises styles that feed a DemodCoef; StyledConvChain covers that pairing).
Graph DemodCoef(Binder& b, int64_t n) {
  Graph g;
  const int s = In(g, {n, 7}, "style", kF32);  // (N, Cin)
  Node d = Op(OpKind::kDemodCoef, {s});
  d.weight = b.Bind("conv.weight", {1, 5, 7, 3, 3});  // (1, Cout, Cin, k, k)
  d.scale = EqualScale(7 * 3 * 3);
  Out(g, d, {n, 5}, kF32);  // (N, Cout)
  return g;
}

Graph ScaleChannels(Binder&, int64_t n) {
  Graph g;
  const int x = In(g, {n, 7, kH, kW}, "x");    // (N, C, H, W)
  const int s = In(g, {n, 7}, "style", kF32);  // (N, C)
  Node m = Op(OpKind::kScaleChannels, {x, s});
  Out(g, m, {n, 7, kH, kW});
  return g;
}

// NoiseInjection at (N, 5, H, W): the noise is the encoder feature or seeded N(0, 1);
// concatenated (isconcat) or added. `tiled`: seeded noise drawn at the absolute position
// of a window of a larger image, whose origin comes from the tile_origin input.
Graph Noise(Binder& b, int64_t n, bool feat, bool concat, bool tiled) {
  Graph g;
  const Shape xs{n, 5, kH, kW};
  Node z = Op(OpKind::kNoiseConcat, {In(g, xs, "x")});
  if (feat) z.in.push_back(In(g, xs, "feat"));  // (N, C, H, W)
  NoiseAttr na;
  na.has_feat = feat;
  na.seed = feat ? 0 : 0x5eed1234abcdull;
  z.weight = b.Bind("noise.weight", {1}, Init::kNoiseWeight);
  na.concat = concat;
  if (tiled) {
    Tiled(&z, &na.window, Origin(g), 1, 2, 21, 29);  // rows 4..16 of 21, columns 7..23 of 29
  } else {
    Whole(&na.window, xs);
  }
  z.attr = na;
  Out(g, z, {n, concat ? 10 : 5, kH, kW});  // (N, 2C or C, H, W)
  return g;
}
Graph NoiseFeatConcat(Binder& b, int64_t n) {
  return Noise(b, n, true, true, false);
}
Graph NoiseSeededConcat(Binder& b, int64_t n) {
  return Noise(b, n, false, true, false);
}
Graph NoiseSeededAdd(Binder& b, int64_t n) {
  return Noise(b, n, false, false, false);
}
Graph NoiseSeededTiled(Binder& b, int64_t n) {
  return Noise(b, n, false, true, true);
}

// ToRGB's skip sum: fp32 tensors.
Graph Add(Binder&, int64_t n) {
  Graph g;
  const Shape s{n, 3, kH, kW};  // (N, 3, H, W)
  Node a = Op(OpKind::kAdd, {In(g, s, "rgb", kF32), In(g, s, "skip", kF32)});
  a.attr = AddAttr{};
  Out(g, a, s, kF32);
  return g;
}
// RRDB's scaled residual `x5 * 0.2 + x` on activations (fp16 in fp16 mode).
Graph AddScaled(Binder&, int64_t n) {
  Graph g;
  const Shape s{n, 7, kH, kW};  // (N, C, H, W)
  Node a = Op(OpKind::kAdd, {In(g, s, "x5"), In(g, s, "x")});
  a.attr = AddAttr{0.2f, 1.f};
  Out(g, a, s);
  return g;
}

// torch.cat((x, x1, x2), 1) as RRDBNet's dense block does, channels 5, 3 and 7; and the
// whole dense block's five inputs, the longest list it uses.
Graph Concat(Binder&, int64_t n, std::vector<int64_t> channels) {
  Graph g;
  Node c = Op(OpKind::kConcat, {});
  int64_t total = 0;
  for (size_t i = 0; i < channels.size(); ++i) {
    c.in.push_back(In(g, {n, channels[i], kH, kW}, "x" + std::to_string(i)));  // (N, C_i, H, W)
    total += channels[i];
  }
  Out(g, c, {n, total, kH, kW});
  return g;
}
Graph Concat3(Binder& b, int64_t n) {
  return Concat(b, n, {5, 3, 7});
}
Graph Concat5(Binder& b, int64_t n) {
  return Concat(b, n, {7, 2, 2, 2, 3});
}

// F.interpolate(x, scale_factor=2, mode='nearest') as RRDBNet upsamples, and factor 3.
Graph Nearest(Binder&, int64_t n, int f) {
  Graph g;
  Node u = Op(OpKind::kUpsampleNearest, {In(g, {n, 5, kH, kW}, "x")});  // (N, C, H, W)
  u.attr = ResampleAttr{f};
  Out(g, u, {n, 5, kH * f, kW * f});
  return g;
}
Graph Nearest2(Binder& b, int64_t n) {
  return Nearest(b, n, 2);
}
Graph Nearest3(Binder& b, int64_t n) {
  return Nearest(b, n, 3);
}

// F.interpolate(x, size=(ho, wo), mode='nearest') as RetinaFace's FPN upsamples a level to
// the next one's size: 2H - 1 (an odd input), 2H, and a ratio that is no integer.
Graph NearestTo(Binder&, int64_t n, int64_t ho, int64_t wo) {
  Graph g;
  Node u = Op(OpKind::kUpsampleNearest, {In(g, {n, 5, kH, kW}, "x")});  // (N, C, H, W)
  ResampleAttr ra;
  ra.out_h = ho;
  ra.out_w = wo;
  u.attr = ra;
  Out(g, u, {n, 5, ho, wo});
  return g;
}
Graph NearestToOdd(Binder& b, int64_t n) {
  return NearestTo(b, n, 2 * kH - 1, 2 * kW - 1);
}
Graph NearestToTwice(Binder& b, int64_t n) {
  return NearestTo(b, n, 2 * kH, 2 * kW);
}
Graph NearestToRatio(Binder& b, int64_t n) {
  return NearestTo(b, n, 20, 23);
}

// pixel_unshuffle(x, f): RRDBNet's input at scale 2 (f 2) and 1 (f 4); odd output sizes.
Graph Unshuffle(Binder&, int64_t n, int f) {
  Graph g;
  Node u = Op(OpKind::kPixelUnshuffle, {In(g, {n, 3, kH * f, kW * f}, "x")});
  u.attr = ResampleAttr{f};
  Out(g, u, {n, 3 * f * f, kH, kW});  // (N, C f^2, H, W)
  return g;
}
Graph Unshuffle2(Binder& b, int64_t n) {
  return Unshuffle(b, n, 2);
}
Graph Unshuffle4(Binder& b, int64_t n) {
  return Unshuffle(b, n, 4);
}

// ToRGB's fused modulated 1x1 convolution: x (N, Cin, H, W) activation, s (N, Cin) fp32,
// weight (1, 3, Cin, 1, 1), output (N, 3, H, W) fp32.
Graph ModConv1x1(Binder& b, int64_t n) {
  Graph g;
  Node c = Op(OpKind::kModConv1x1, {In(g, {n, 7, kH, kW}, "x"), In(g, {n, 7}, "style", kF32)});
  c.weight = b.Bind("to_rgb.conv.weight", {1, 3, 7, 1, 1});
  c.scale = EqualScale(7);
  Out(g, c, {n, 3, kH, kW}, kF32);
  return g;
}

// StyledConv's fused epilogue: y (N, 5, H, W) * d (N, 5), noise as in Noise(), bias (2C or
// C) and leaky ReLU.
Graph DemodNoiseAct(Binder& b, int64_t n, bool feat, bool concat, bool tiled) {
  Graph g;
  const Shape ys{n, 5, kH, kW};
  Node e = Op(OpKind::kDemodNoiseAct, {In(g, ys, "y"), In(g, {n, 5}, "demod", kF32)});
  if (feat) e.in.push_back(In(g, ys, "feat"));
  NoiseAttr na;
  na.has_feat = feat;
  na.seed = feat ? 0 : 0xfeedbeef77ull;
  e.weight = b.Bind("noise.weight", {1}, Init::kNoiseWeight);
  e.bias = b.Bind("activate.bias", {concat ? 10 : 5}, Init::kBias);
  e.act = Activation::GpenLeakyRelu();
  na.concat = concat;
  if (tiled) {
    Tiled(&e, &na.window, Origin(g), 1, 2, 21, 29);
  } else {
    Whole(&na.window, ys);
  }
  e.attr = na;
  Out(g, e, {n, concat ? 10 : 5, kH, kW});
  return g;
}
Graph DnaFeatConcat(Binder& b, int64_t n) {
  return DemodNoiseAct(b, n, true, true, false);
}
Graph DnaSeededConcat(Binder& b, int64_t n) {
  return DemodNoiseAct(b, n, false, true, false);
}
Graph DnaSeededAddTiled(Binder& b, int64_t n) {
  return DemodNoiseAct(b, n, false, false, true);
}

// Crop of an activation with different row and column offsets (the lowering uses equal
// ones; different ones show swapped axes), and of an fp32 skip as the lowering crops it.
Graph Crop(Binder&, int64_t n, int64_t c, Cls cls, int y0, int x0, int64_t ho, int64_t wo) {
  Graph g;
  Node k = Op(OpKind::kCrop, {In(g, {n, c, kH, kW}, "x", cls)});  // (N, C, H, W)
  k.attr = CropAttr{y0, x0};
  Out(g, k, {n, c, ho, wo}, cls);  // (N, C, Ho, Wo)
  return g;
}
Graph CropAct(Binder& b, int64_t n) {
  return Crop(b, n, 7, kAct, 2, 3, 8, 11);
}
Graph CropSkip(Binder& b, int64_t n) {
  return Crop(b, n, 3, kF32, 1, 1, 11, 15);
}

// Zeroes what lies outside a (9, 12) image of a window at (-5, -7) + (3, 5): rows -2..10 and
// columns -2..14, so all four borders are cut. The lowering's Mask() lists the origin
// twice (once in `in`, once more from SetWindow); mirrored.
Graph Mask(Binder&, int64_t n, int64_t c, Cls cls) {
  Graph g;
  const Shape s{n, c, kH, kW};  // (N, C, H, W)
  const int x = In(g, s, "x", cls), origin = Origin(g);
  Node m = Op(OpKind::kMaskWindow, {x, origin});
  WindowAttr w;
  Tiled(&m, &w, origin, -5, -7, 9, 12);
  m.attr = w;
  Out(g, m, s, cls);
  return g;
}
Graph MaskAct(Binder& b, int64_t n) {
  return Mask(b, n, 7, kAct);
}
Graph MaskSkip(Binder& b, int64_t n) {
  return Mask(b, n, 3, kF32);
}

// ---- Chains: pairs that only exist together in real graphs, as the lowering emits them
// (the CUDA backend fuses them; the CPU backend runs them op by op). ----

// StyledConv: ModStyle -> DemodCoef and ScaleChannels -> Conv2d 3x3 -> ScaleChannels ->
// NoiseConcat(feat) -> BiasAct. In fp16 the backend divides styles that feed a DemodCoef by
// their per-sample max |s| (cuda_layout.h); only the whole chain cancels that, so the
// ModStyle -> DemodCoef pairing is tested here rather than one op at a time.
Graph StyledConvChain(Binder& b, int64_t n) {
  Graph g;
  const int lat = In(g, {n, kSd}, "latent", kF32);  // (N, sd)
  const int x = In(g, {n, 7, kH, kW}, "x");         // (N, Cin, H, W)
  const int feat = In(g, {n, 5, kH, kW}, "feat");   // (N, Cout, H, W)
  const float scale = EqualScale(7 * 3 * 3);
  const Param w = b.Bind("conv.weight", {1, 5, 7, 3, 3});
  const Node ms = Linear(b, OpKind::kModStyle, lat, kSd, 7, 1.f, false, Init::kModBias, "mod");
  const int s = g.AddNode(ms, {n, 7}, kF32);
  Node d = Op(OpKind::kDemodCoef, {s});
  d.weight = w;
  d.scale = scale;
  const int demod = g.AddNode(d, {n, 5}, kF32);
  Node m = Op(OpKind::kScaleChannels, {x, s});
  Node c = Op(OpKind::kConv2d, {g.AddNode(m, {n, 7, kH, kW})});
  c.weight = w;
  c.scale = scale;
  c.attr = ConvAttr{1, 1};
  Node dm = Op(OpKind::kScaleChannels, {g.AddNode(c, {n, 5, kH, kW}), demod});
  Node z = Op(OpKind::kNoiseConcat, {g.AddNode(dm, {n, 5, kH, kW}), feat});
  NoiseAttr na;
  na.has_feat = true;
  z.weight = b.Bind("noise.weight", {1}, Init::kNoiseWeight);
  Whole(&na.window, {n, 5, kH, kW});
  z.attr = na;
  Node a = Op(OpKind::kBiasAct, {g.AddNode(z, {n, 10, kH, kW})});
  a.bias = b.Bind("activate.bias", {10}, Init::kBias);
  a.act = Activation::GpenLeakyRelu();
  Out(g, a, {n, 10, kH, kW});  // (N, 2 Cout, H, W)
  return g;
}

// ToRGB: ModStyle -> ScaleChannels -> Conv2d 1x1 (activation in, fp32 out, which exists only
// fused into ModConv1x1 on CUDA) -> BiasAct, plus the upsampled skip: Upfirdn2d -> Add.
Graph ToRgbChain(Binder& b, int64_t n) {
  Graph g;
  const int lat = In(g, {n, kSd}, "latent", kF32);     // (N, sd)
  const int x = In(g, {n, 7, kH, kW}, "x");            // (N, Cin, H, W)
  const int skip = In(g, {n, 3, 7, 9}, "skip", kF32);  // (N, 3, H / 2 + 1, W / 2 + 1)
  const Node ms = Linear(b, OpKind::kModStyle, lat, kSd, 7, 1.f, false, Init::kModBias, "mod");
  Node m = Op(OpKind::kScaleChannels, {x, g.AddNode(ms, {n, 7}, kF32)});
  Node c = Op(OpKind::kConv2d, {g.AddNode(m, {n, 7, kH, kW})});
  c.weight = b.Bind("conv.weight", {1, 3, 7, 1, 1});
  c.scale = EqualScale(7);
  c.attr = ConvAttr{};
  Node a = Op(OpKind::kBiasAct, {g.AddNode(c, {n, 3, kH, kW}, kF32)});
  a.bias = b.Bind("bias", {1, 3, 1, 1}, Init::kBias);
  const int rgb = g.AddNode(a, {n, 3, kH, kW}, kF32);
  Node u = Op(OpKind::kUpfirdn2d, {skip});
  u.weight = b.Bind("upsample.kernel", {4, 4});
  u.attr = UpfirdnAttr{2, 1, 2, 1};
  const int up = g.AddNode(u, {n, 3, 14, 18}, kF32);  // (N, 3, 2 h, 2 w)
  Node k = Op(OpKind::kCrop, {up});  // the lowering crops the skip to the window needed
  k.attr = CropAttr{1, 1};
  const int cropped = g.AddNode(k, {n, 3, kH, kW}, kF32);
  Node s = Op(OpKind::kAdd, {rgb, cropped});
  s.attr = AddAttr{};
  Out(g, s, {n, 3, kH, kW}, kF32);
  return g;
}

struct Row {
  const char* name;
  Graph (*build)(Binder& b, int64_t batch);
};

const Row kRows[] = {
    {"const_input", ConstInput},
    {"conv2d 3x3 stride 1 pad 1, (1, Cout, Cin, k, k)", ConvStyled3x3},
    {"conv2d 1x1 (encoder ecd0)", ConvEncoder1x1},
    {"conv2d 3x3 stride 2 pad 0 (encoder)", ConvEncoderStride2},
    {"conv2d 3x3 stride 2 pad 1", ConvStride2Pad1},
    {"conv2d 7x7 stride 2 pad 3 (ResNet-50 conv1)", Conv7x7Stride2},
    {"conv2d depthwise 3x3 stride 1 pad 1 (conv_dw)", Depthwise3x3},
    {"conv2d depthwise 3x3 stride 2 pad 1 (conv_dw)", Depthwise3x3Stride2},
    {"conv2d depthwise 5x5 stride 2 pad 2", Depthwise5x5Stride2},
    {"max_pool2d k3 s2 p1 (ResNet-50 maxpool)", MaxPoolResnet},
    {"max_pool2d k2 s2 p0", MaxPool2x2},
    {"conv_transpose2d 3x3 stride 2", ConvTranspose},
    {"upfirdn2d blur pad (2, 2)", FirEncoderBlur},
    {"upfirdn2d blur pad (1, 1)", FirUpconvBlur},
    {"upfirdn2d up 2 pad (2, 1), fp32 skip", FirSkipUp2},
    {"upfirdn2d down 2 pad (1, 1)", FirDown2},
    {"upfirdn2d 3x5 kernel pad (1, 2)", FirNonSquare},
    {"bias_act act", BiasActLrelu},
    {"bias_act no act, fp32 ToRGB bias", BiasActToRgb},
    {"bias_act act, bias_scale 0.25", BiasActLrMul},
    {"bias_act LeakyReLU(0.2) gain 1 (RRDBNet)", BiasActLeaky},
    {"bias_act ReLU", BiasActRelu},
    {"bias_act LeakyReLU(0.1)", BiasActLeaky01},
    {"bias_act no bias, LeakyReLU(0.2)", BiasActNoBias},
    {"linear mapping, lr_mul 0.01, act", LinearMapping},
    {"linear final_linear from (N, C, 4, 4) activation, act", LinearFinal},
    {"linear no act", LinearNoAct},
    {"pixel_norm", PixelNorm},
    {"mod_style x2, one style group", ModStyleGroup},
    {"demod_coef", DemodCoef},
    {"scale_channels", ScaleChannels},
    {"noise_concat feat, concat", NoiseFeatConcat},
    {"noise_concat seeded, concat", NoiseSeededConcat},
    {"noise_concat seeded, add", NoiseSeededAdd},
    {"noise_concat seeded, concat, tiled window", NoiseSeededTiled},
    {"add", Add},
    {"add alpha 0.2 beta 1, activations (RRDB residual)", AddScaled},
    {"concat of 3 (C 5, 3, 7)", Concat3},
    {"concat of 5 (dense block)", Concat5},
    {"upsample_nearest x2", Nearest2},
    {"upsample_nearest x3", Nearest3},
    {"upsample_nearest to (2H - 1, 2W - 1) (FPN)", NearestToOdd},
    {"upsample_nearest to (2H, 2W)", NearestToTwice},
    {"upsample_nearest to (20, 23)", NearestToRatio},
    {"pixel_unshuffle 2", Unshuffle2},
    {"pixel_unshuffle 4", Unshuffle4},
    {"mod_conv1x1", ModConv1x1},
    {"demod_noise_act feat, concat", DnaFeatConcat},
    {"demod_noise_act seeded, concat", DnaSeededConcat},
    {"demod_noise_act seeded, add, tiled window", DnaSeededAddTiled},
    {"crop activation (2, 3)", CropAct},
    {"crop fp32 skip (1, 1)", CropSkip},
    {"mask_window activation, tiled window", MaskAct},
    {"mask_window fp32 skip, tiled window", MaskSkip},
    {"chain StyledConv (mod_style -> demod_coef, fused epilogue)", StyledConvChain},
    {"chain ToRGB (fused mod_conv1x1, upsampled skip)", ToRgbChain},
};

// ---- Running a row ----

std::vector<float> Uniform(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = u(rng);
  return v;
}

// fp16 bounds only where the CUDA backend stores some tensor in fp16 (see the top).
Tolerance TolFor(const Graph& g, Precision p) {
  bool any_half = false;
  for (const TensorInfo& t : g.tensors()) any_half = any_half || t.cls == kAct;
  if (p == Precision::kFp16 && any_half) return {2e-3, 2e-3, 1e-3};
  return {1e-5, 1e-5, 1e-5};
}

struct Worst {
  double max_abs = 0, rel_l2 = 0;
  void Add(double m, double r) {
    max_abs = std::max(max_abs, m);
    rel_l2 = std::max(rel_l2, r);
  }
};

// Fails the check (and the row, without stopping the others) when a call returns an error.
#define ROW_OK(expr)                                                        \
  do {                                                                      \
    const Status s_ = (expr);                                               \
    CHECK_MESSAGE(s_.ok(), what << ": " << #expr << ": " << s_.ToString()); \
    if (!s_.ok()) return;                                                   \
  } while (0)

// The same random inputs to both backends, by position: a backend may renumber tensors.
void SetInputs(const Graph& g, Backend& c, Backend& d, size_t index, const std::string& what) {
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    const TensorInfo& t = g.tensor(g.inputs()[i]);
    const std::vector<float> v =
        t.name == "tile_origin" ? kOrigin : Uniform(t.shape.numel(), uint32_t(index * 16 + i));
    const int64_t count = static_cast<int64_t>(v.size());
    ROW_OK(c.SetTensor(c.graph().inputs()[i], v.data(), count));
    ROW_OK(d.SetTensor(d.graph().inputs()[i], v.data(), count));
  }
}

// Compares every output of d (CUDA) with c's (CPU reference), adding to *worst.
void CompareOutputs(const Graph& g, Backend& c, Backend& d, Precision p, const std::string& what,
                    Worst* worst) {
  for (size_t j = 0; j < g.outputs().size(); ++j) {
    const Shape& s = g.tensor(g.outputs()[j]).shape;
    std::vector<float> want(static_cast<size_t>(s.numel())), got(want.size());
    ROW_OK(c.ReadOutput(c.graph().outputs()[j], want.data(), s.numel()));
    ROW_OK(d.ReadOutput(d.graph().outputs()[j], got.data(), s.numel()));
    const CompareResult r =
        Compare(what + " " + g.tensor(g.outputs()[j]).name, got, s, want, s, TolFor(g, p));
    CHECK_MESSAGE(r.ok, r.message);
    worst->Add(r.max_abs, r.rel_l2);
  }
}

// Both backends on row `index`'s graph at batch n, CUDA in precision p.
void RunRow(size_t index, int64_t n, Precision p, Worst* worst) {
  const Row& row = kRows[index];
  const std::string what = std::string(row.name) + ", batch " + std::to_string(n) +
                           (p == Precision::kFp16 ? " [fp16]" : " [fp32]");
  WeightStore store;
  Binder binder(static_cast<uint64_t>(1000 + index), &store);
  const Graph g = row.build(binder, n);
  ROW_OK(binder.Finish(row.name));
  BackendOptions o;
  auto cpu = CreateCpuBackend(g, store, o);
  ROW_OK(cpu.status());
  o.precision = p;
  auto gpu = CreateCudaBackend(g, store, o);
  ROW_OK(gpu.status());
  Backend& c = *cpu.value();
  Backend& d = *gpu.value();
  SetInputs(g, c, d, index, what);
  ROW_OK(c.Run());
  ROW_OK(d.Run());
  CompareOutputs(g, c, d, p, what, worst);
}
#undef ROW_OK

}  // namespace

TEST_CASE("gpu backend-ops: every row, CPU backend against CUDA backend, fp32 and fp16") {
  for (size_t i = 0; i < std::size(kRows); ++i) {
    Worst w[2];  // fp32, fp16
    for (int64_t n : {1, 3}) {
      for (Precision p : {Precision::kFp32, Precision::kFp16}) {
        try {
          RunRow(i, n, p, &w[p == Precision::kFp16]);
        } catch (const std::exception& e) {  // a failed GPEN_CHECK: fail this row, go on
          const std::string msg =
              std::string(kRows[i].name) + ", batch " + std::to_string(n) + ": " + e.what();
          FAIL_CHECK(msg);
          (void)cudaGetLastError();  // the failed call's error would fail the next launch
        }
      }
    }
    char line[256];
    std::snprintf(line, sizeof line, "%-58s fp32 %.1e %.1e | fp16 %.1e %.1e", kRows[i].name,
                  w[0].max_abs, w[0].rel_l2, w[1].max_abs, w[1].rel_l2);
    MESSAGE("max |diff|, rel L2: " << line);
  }
}

// kInput is no node (graph inputs are tensors); every other OpKind needs a row.
TEST_CASE("gpu backend-ops: every OpKind has a row") {
  std::vector<bool> covered(static_cast<size_t>(OpKind::kMaxPool2d) + 1, false);
  for (const Row& row : kRows) {
    WeightStore store;
    Binder binder(uint64_t{1}, &store);
    const Graph g = row.build(binder, 1);
    for (const Node& n : g.nodes()) covered[static_cast<size_t>(n.kind)] = true;
  }
  for (int k = static_cast<int>(OpKind::kConstInput); k <= static_cast<int>(OpKind::kMaxPool2d);
       ++k) {
    CHECK_MESSAGE(covered[static_cast<size_t>(k)],
                  "OpKind " << OpName(static_cast<OpKind>(k)) << " has no row in kRows");
  }
}
