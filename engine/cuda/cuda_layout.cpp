// BuildWeightLayout (the upload rules, see cuda_layout.h), ConvBatchChunk (the batch
// split for cuDNN) and CudaBackendMemory (the planner's figures for a CUDA backend), all
// host-only: compiled in every build, so `gpen plan --device cuda --vram-budget` works
// and the split is tested on a machine without a GPU.
#include "cuda/cuda_layout.h"

#include <algorithm>
#include <cstring>

#include "backend.h"
#include "core/check.h"
#include "core/half.h"
#include "graph/fuse.h"

namespace gpen {

namespace cuda {

namespace {

class Blob {
 public:
  explicit Blob(bool with_data) : with_data_(with_data) {}
  // Appends n floats (or their fp16 rounding) at the next aligned offset.
  size_t Add(const float* v, size_t n, bool as_half) {
    const size_t off = AlignUp(size_);
    const size_t bytes = n * (as_half ? 2 : 4);
    size_ = AlignUp(off + bytes);
    if (with_data_ && v != nullptr) {
      data_.resize(size_);
      if (as_half) {
        for (size_t i = 0; i < n; ++i) {
          const uint16_t h = FloatToHalf(v[i]);
          std::memcpy(data_.data() + off + 2 * i, &h, 2);
        }
      } else {
        std::memcpy(data_.data() + off, v, bytes);
      }
    }
    return off;
  }
  size_t Add(const std::vector<float>& v, bool as_half) { return Add(v.data(), v.size(), as_half); }
  size_t size() const { return size_; }
  std::vector<uint8_t> Take() {
    if (with_data_) data_.resize(size_);  // trailing alignment of the last piece
    return std::move(data_);
  }

 private:
  bool with_data_;
  size_t size_ = 0;
  std::vector<uint8_t> data_;
};

}  // namespace

WeightLayout BuildWeightLayout(const Graph& g, const WeightStore& w, bool half,
                               bool transposed_for_cudnn, bool with_data) {
  WeightLayout L;
  Blob blob(with_data);
  const auto& nodes = g.nodes();
  L.nodes.resize(nodes.size());
  auto act_half = [&](int t) { return half && g.tensor(t).cls == TensorClass::kActivation; };
  // A parameter as stored (sizes only: no values are read or computed).
  auto add = [&](const Param& p, bool as_half) {
    return blob.Add(with_data ? w.data(p) : nullptr, static_cast<size_t>(p.numel()), as_half);
  };
  int last_style = -2;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    NodeLayout& r = L.nodes[i];
    if (n.bias.valid() && n.kind != OpKind::kModStyle) r.b = add(n.bias, false);
    switch (n.kind) {
      case OpKind::kConstInput:
      case OpKind::kModConv1x1:
        r.w = add(n.weight, false);
        break;
      case OpKind::kConv2d:
        r.w = add(n.weight, act_half(n.out));
        break;
      case OpKind::kConvTranspose2d: {
        if (!with_data) {
          r.w = add(n.weight, act_half(n.out));
          break;
        }
        const Shape& ws = n.weight.shape;  // (1, Cout, Cin, k, k)
        const int64_t cout = ws[1], cin = ws[2], kk = ws[3] * ws[4];
        const float* src = w.data(n.weight);
        std::vector<float> t(static_cast<size_t>(n.weight.numel()));
        for (int64_t o = 0; o < cout; ++o)
          for (int64_t c = 0; c < cin; ++c)
            for (int64_t q = 0; q < kk; ++q) {
              const float v = src[(o * cin + c) * kk + q];
              if (transposed_for_cudnn)
                t[(c * cout + o) * kk + q] = v;
              else
                t[(o * kk + q) * cin + c] = v;
            }
        r.w = blob.Add(t, act_half(n.out));
        break;
      }
      case OpKind::kLinear:
        r.w = add(n.weight, false);
        if (act_half(n.in[0]))
          L.cast_floats = std::max(L.cast_floats, g.tensor(n.in[0]).shape.numel());
        break;
      case OpKind::kDemodCoef: {
        const Shape& ws = n.weight.shape;  // (1, Cout, Cin, k, k)
        const int64_t cout = ws[1], cin = ws[2], kk = ws[3] * ws[4];
        if (!with_data) {
          r.aux = blob.Add(nullptr, static_cast<size_t>(cout * cin), false);
          break;
        }
        const float* src = w.data(n.weight);
        std::vector<float> wsq(static_cast<size_t>(cout * cin));
        for (int64_t o = 0; o < cout; ++o)
          for (int64_t c = 0; c < cin; ++c) {
            double s = 0;
            for (int64_t q = 0; q < kk; ++q)
              s += double(src[(o * cin + c) * kk + q]) * src[(o * cin + c) * kk + q];
            wsq[o * cin + c] = static_cast<float>(s);
          }
        r.aux = blob.Add(wsq, false);
        break;
      }
      case OpKind::kNoiseConcat:
      case OpKind::kDemodNoiseAct:
        r.noise_weight = with_data ? w.data(n.weight)[0] : 0.f;
        break;
      case OpKind::kModStyle: {
        const bool continues = !L.groups.empty() && L.groups.back().input == n.in[0] &&
                               L.groups.back().scale == n.scale &&
                               L.groups.back().bias_scale == n.bias_scale &&
                               last_style == static_cast<int>(i) - 1;
        if (!continues) {
          StyleGroupLayout sg;
          sg.input = n.in[0];
          sg.scale = n.scale;
          sg.bias_scale = n.bias_scale;
          sg.sd = n.weight.shape[1];
          sg.batch = g.tensor(n.out).shape.n();
          L.groups.push_back(sg);
          r.style_leader = true;
        }
        StyleGroupLayout& sg = L.groups.back();
        r.style_group = static_cast<int>(L.groups.size()) - 1;
        bool demod = false;
        for (const Node& m : nodes)
          demod = demod || (m.kind == OpKind::kDemodCoef && m.in[0] == n.out);
        sg.slices.push_back({n.out, sg.total, n.weight.shape[0], half && demod});
        sg.total += n.weight.shape[0];
        last_style = static_cast<int>(i);
        break;
      }
      default:
        break;
    }
  }
  for (StyleGroupLayout& sg : L.groups) {
    L.style_floats = std::max(L.style_floats, sg.total * sg.batch);
    if (!with_data) {
      sg.w = blob.Add(nullptr, static_cast<size_t>(sg.total * sg.sd), false);
      sg.b = blob.Add(nullptr, static_cast<size_t>(sg.total), false);
      continue;
    }
    std::vector<float> wall, ball;
    for (const StyleSliceLayout& sl : sg.slices) {
      const Node& n = nodes[g.tensor(sl.tensor).producer];
      wall.insert(wall.end(), w.data(n.weight), w.data(n.weight) + n.weight.numel());
      ball.insert(ball.end(), w.data(n.bias), w.data(n.bias) + n.bias.numel());
    }
    sg.w = blob.Add(wall, false);
    sg.b = blob.Add(ball, false);
  }
  L.blob_bytes = blob.size();
  L.blob = blob.Take();
  return L;
}

ScratchLayout PlanScratch(size_t conv_bytes, const WeightLayout& L) {
  ScratchLayout s;
  s.style_offset = AlignUp(conv_bytes);
  s.cast_offset = AlignUp(s.style_offset + static_cast<size_t>(L.style_floats) * 4);
  s.total = AlignUp(s.cast_offset + static_cast<size_t>(L.cast_floats) * 4);
  return s;
}

int64_t ConvBatchChunk(const Shape& x, const Shape& y) {
  GPEN_CHECK(x.rank() == 4 && y.rank() == 4 && x.n() == y.n() && x.n() > 0);
  const int64_t per_sample = std::max(x.numel() / x.n(), y.numel() / y.n());
  if (per_sample > kCudnnMaxElements) return 0;
  const int64_t fit = kCudnnMaxElements / per_sample;  // >= 1
  const int64_t chunks = (x.n() + fit - 1) / fit;
  return (x.n() + chunks - 1) / chunks;  // <= fit, since chunks * fit >= N
}

}  // namespace cuda

MemoryReport CudaBackendMemory(const Graph& unfused, const WeightStore& w,
                               const BackendOptions& o) {
  const Graph g = FuseGraph(unfused);
  const bool half = o.precision == Precision::kFp16;
  const cuda::WeightLayout L = cuda::BuildWeightLayout(g, w, half, true, false);
  MemoryReport r;
  r.weights = static_cast<int64_t>(L.blob_bytes);
  r.arena = PlanMemory(g, half ? 2 : 4).arena_bytes;
  // Convolution scratch at the cap (the backend sizes each cuDNN algorithm's workspace
  // for the batch chunks it runs, and each im2col band, within it), then the style GEMM
  // result, then the fp32 copy of an fp16 GEMM input; the cuBLAS workspace; the style
  // slice tables (32 bytes a slice, one allocation per group).
  int64_t slices = 0;
  for (const cuda::StyleGroupLayout& sg : L.groups)
    slices += static_cast<int64_t>(sg.slices.size());
  r.workspace = static_cast<int64_t>(
                    cuda::PlanScratch(static_cast<size_t>(o.conv_workspace_limit), L).total) +
                o.cublas_workspace + slices * 32;
  return r;
}

}  // namespace gpen
