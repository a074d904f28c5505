// CudaBackendMemory: the CUDA backend's device memory, computed on the host alone.
//
// Compiled in every build (no CUDA headers), so `gpen plan --device cuda --vram-budget`
// works on a machine without a GPU. It mirrors the upload rules of cuda_backend.cpp
// (which checks at creation that its weight blob has exactly this size): every piece
// starts at a 256-byte boundary; convolution weights are fp16 in fp16 mode; biases,
// styles, ToRGB weights, demodulation sums of squares are fp32; all modulation layers
// that read the latent share one matrix. The activation arena is the plan of the fused
// graph; the convolution workspace is counted at its cap.
#include <algorithm>

#include "backend.h"
#include "graph/fuse.h"

namespace gpen {

namespace {
constexpr int64_t kAlign = 256;
int64_t AlignUp(int64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }
}  // namespace

MemoryReport CudaBackendMemory(const Graph& unfused, const WeightStore&, const BackendOptions& o) {
  const Graph g = FuseGraph(unfused);
  const bool half = o.precision == Precision::kFp16;
  auto act_bytes = [&](int t) { return half && g.tensor(t).cls == TensorClass::kActivation ? 2 : 4; };
  MemoryReport r;
  int64_t cast_floats = 0, style_floats = 0, slices = 0;
  int64_t group_total = 0, group_sd = 0, group_batch = 0;
  int group_input = -1, last_style = -2;
  auto close_group = [&]() {
    if (group_input < 0) return;
    r.weights += AlignUp(group_total * group_sd * 4) + AlignUp(group_total * 4);
    style_floats = std::max(style_floats, group_total * group_batch);
    group_input = -1;
  };
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    const Node& n = g.nodes()[i];
    if (n.bias.valid() && n.kind != OpKind::kModStyle) r.weights += AlignUp(n.bias.numel() * 4);
    switch (n.kind) {
      case OpKind::kConstInput:
      case OpKind::kModConv1x1:
        r.weights += AlignUp(n.weight.numel() * 4);
        break;
      case OpKind::kConv2d:
      case OpKind::kConvTranspose2d:
        r.weights += AlignUp(n.weight.numel() * act_bytes(n.out));
        break;
      case OpKind::kLinear:
        r.weights += AlignUp(n.weight.numel() * 4);
        if (act_bytes(n.in[0]) == 2) cast_floats = std::max(cast_floats, g.tensor(n.in[0]).shape.numel());
        break;
      case OpKind::kDemodCoef:
        r.weights += AlignUp(n.weight.shape[1] * n.weight.shape[2] * 4);
        break;
      case OpKind::kModStyle: {
        const bool continues = group_input == n.in[0] && last_style == static_cast<int>(i) - 1;
        if (!continues) {
          close_group();
          group_input = n.in[0];
          group_total = 0;
          group_sd = n.weight.shape[1];
          group_batch = g.tensor(n.out).shape.n();
        }
        group_total += n.weight.shape[0];
        ++slices;
        last_style = static_cast<int>(i);
        break;
      }
      default:
        break;
    }
  }
  close_group();
  r.arena = PlanMemory(g, half ? 2 : 4).arena_bytes;
  // Convolution scratch (at most the cap), then the style GEMM result, then the fp32
  // copy of an fp16 GEMM input; the cuBLAS workspace; the style slice tables.
  r.workspace = AlignUp(AlignUp(AlignUp(o.conv_workspace_limit) + style_floats * 4) + cast_floats * 4) +
                o.cublas_workspace + slices * 32;
  return r;
}

}  // namespace gpen
