// CPU backend: runs the graph node by node with the reference ops in one planned arena.
//
// The arena is allocated once, at exactly the planner's size, and every tensor lives
// at its planned offset; this is what proves the plan on the CPU. Its pages are first
// touched at creation on every thread (FirstTouch), part of a cheap cold start. Weight-derived
// tables (transposed deconvolution weights, demodulation sums of squares) are
// computed once at creation. An allocation that fails, at creation or while running,
// is an OutOfMemory Status, never an exception: the caller plans again for less. A
// profiled run times each node with the wall clock (the ops are synchronous).
#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <utility>

#include "backend.h"
#include "core/check.h"
#include "core/parallel.h"
#include "cpu/ops.h"

namespace gpen {

namespace {

// An allocator whose resize leaves floats uninitialized, so that the arena's pages are
// first touched by FirstTouch on every thread instead of zeroed by one.
template <typename T>
struct UninitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = UninitAllocator<U>;
  };
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    if constexpr (sizeof...(Args) == 0) {
      ::new (static_cast<void*>(p)) U;
    } else {
      ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
  }
};

// Zeroes `count` floats in blocks of 2 MiB spread over the pool: the page faults of a
// fresh arena (hundreds of MiB at GPEN-512) are taken in parallel at creation, not by
// one thread, nor inside the first pass.
void FirstTouch(float* p, size_t count) {
  constexpr size_t kBlock = (size_t{2} << 20) / sizeof(float);
  const int64_t blocks = static_cast<int64_t>((count + kBlock - 1) / kBlock);
  ParallelFor(blocks, [&](int64_t b0, int64_t b1) {
    const size_t lo = static_cast<size_t>(b0) * kBlock;
    const size_t hi = std::min(count, static_cast<size_t>(b1) * kBlock);
    std::memset(p + lo, 0, (hi - lo) * sizeof(float));
  });
}

class CpuBackend final : public Backend {
 public:
  CpuBackend(const Graph& g, const WeightStore& w) : g_(g), w_(w) {}

  Status Init(const BackendOptions& o) {
    if (o.precision != Precision::kFp32) {
      return InvalidArgument("--precision fp16 is not supported on the CPU backend",
                             "the CPU backend computes in fp32; use --device cuda for fp16");
    }
    GPEN_TRY(StartCpuThreads(o.threads));
    try {
      Allocate();
    } catch (const std::bad_alloc&) {
      return OutOfMemory("cannot allocate the CPU backend's " + std::to_string(need_ >> 20) +
                             " MiB (activation arena, prepared weights, scratch)",
                         "lower the batch size or pass --vram-budget to bound memory");
    }
    return Status::Ok();
  }

  std::string name() const override { return "cpu"; }

  Status SetTensor(int tensor, const float* host, int64_t count) override {
    GPEN_CHECK(std::find(g_.inputs().begin(), g_.inputs().end(), tensor) != g_.inputs().end());
    const TensorInfo& t = g_.tensor(tensor);
    if (count != t.shape.numel()) {
      return ShapeError("input '" + t.name + "' has " + std::to_string(count) +
                        " values, the graph expects " + t.shape.ToString());
    }
    std::copy(host, host + count, Ptr(tensor));
    return Status::Ok();
  }
  const Graph& graph() const override { return g_; }

  Status ReadOutput(int tensor, float* host, int64_t count) override {
    GPEN_CHECK(g_.tensor(tensor).is_output);
    GPEN_CHECK(count == g_.tensor(tensor).shape.numel());
    const float* p = Ptr(tensor);
    std::copy(p, p + count, host);
    return Status::Ok();
  }

  Status Run() override {
    try {
      for (size_t i = 0; i < g_.nodes().size(); ++i) RunNode(i, g_.nodes()[i]);
    } catch (const std::bad_alloc&) {  // an op's small tables (upfirdn2d taps)
      return OutOfMemory("out of host memory while running the CPU backend",
                         "lower the batch size or pass --vram-budget to bound memory");
    }
    return Status::Ok();
  }

  Result<std::vector<OpTiming>> ProfiledRun() override {
    std::vector<OpTiming> t;
    t.reserve(g_.nodes().size());
    try {
      for (size_t i = 0; i < g_.nodes().size(); ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        RunNode(i, g_.nodes()[i]);
        const auto t1 = std::chrono::steady_clock::now();
        t.push_back({i, std::chrono::duration<double, std::milli>(t1 - t0).count()});
      }
    } catch (const std::bad_alloc&) {
      return OutOfMemory("out of host memory while running the CPU backend",
                         "lower the batch size or pass --vram-budget to bound memory");
    }
    return t;
  }

  // What this backend holds, counted from its actual buffers (tests compare it with
  // the estimate CpuBackendMemory gives before anything is allocated).
  MemoryReport memory() const override {
    MemoryReport r;
    for (size_t i = 0; i < w_.count(); ++i)
      r.weights += static_cast<int64_t>(w_.tensor(i).size() * 4);
    for (const auto& [k, v] : prepared_) r.weights += static_cast<int64_t>(v.size() * 4);
    for (const auto& [k, v] : demod_) r.weights += static_cast<int64_t>(v.size() * 8);
    r.arena = static_cast<int64_t>(arena_.size() * sizeof(float));
    r.workspace = static_cast<int64_t>((workspace_.buf.size() + fused_.buf.size()) * sizeof(float));
    return r;
  }
  const MemoryPlan& plan() const override { return plan_; }

 private:
  // Everything the backend holds, at the planned sizes; throws std::bad_alloc.
  void Allocate() {
    const MemoryReport need = CpuBackendMemory(g_, w_, &plan_);  // also plans the arena
    need_ = need.total();
    arena_.resize(static_cast<size_t>(plan_.arena_bytes / sizeof(float)));
    FirstTouch(arena_.data(), arena_.size());
    for (size_t i = 0; i < g_.nodes().size(); ++i) {
      const Node& n = g_.nodes()[i];
      if (n.kind == OpKind::kConvTranspose2d) {
        const Shape& wsh = n.weight.shape;  // (1, Cout, Cin, k, k)
        prepared_[i] = cpu::PrepareConvTranspose(w_.data(n.weight), wsh[1], wsh[2], wsh[3]);
      } else if (n.kind == OpKind::kDemodCoef) {
        const Shape& wsh = n.weight.shape;
        demod_[i] = cpu::PrepareDemod(w_.data(n.weight), wsh[1], wsh[2], wsh[3] * wsh[4]);
      }
    }
    workspace_.Get(static_cast<size_t>(need.workspace / 4 - FusedScratchFloats(g_)));
    fused_.Get(static_cast<size_t>(FusedScratchFloats(g_)));
  }

  float* Ptr(int t) { return arena_.data() + plan_.offset[t] / sizeof(float); }
  // The node's window origin: static, or from the runtime "tile_origin" input (last).
  cpu::NoiseWindow Window(const Node& n, const WindowAttr& wa, uint64_t seed = 0) {
    cpu::NoiseWindow w{seed, wa.y0, wa.x0, wa.full_h, wa.full_w};
    if (wa.div > 0) {
      const float* origin = Ptr(n.in.back());
      w.y0 += static_cast<int64_t>(origin[0]) / wa.div;
      w.x0 += static_cast<int64_t>(origin[1]) / wa.div;
    }
    return w;
  }
  cpu::NoiseWindow Window(const Node& n) {
    const NoiseAttr& na = n.a<NoiseAttr>();
    return Window(n, na.window, na.seed);
  }

  void RunNode(size_t i, const Node& n) {
    float* y = Ptr(n.out);
    const Shape& ys = g_.tensor(n.out).shape;
    const float* x = n.in.empty() ? nullptr : Ptr(n.in[0]);
    const Shape xs = n.in.empty() ? Shape{} : g_.tensor(n.in[0]).shape;
    const float* W = n.weight.valid() ? w_.data(n.weight) : nullptr;
    const float* B = n.bias.valid() ? w_.data(n.bias) : nullptr;
    switch (n.kind) {
      case OpKind::kInput:
        break;
      case OpKind::kConstInput:
        cpu::ConstInput(W, n.weight.numel(), ys.n(), y);
        break;
      case OpKind::kConv2d: {
        const int64_t k = n.weight.shape[n.weight.shape.rank() - 1];
        const ConvAttr& ca = n.a<ConvAttr>();
        if (ca.groups > 1) {  // depthwise (Graph::AddNode admits no other grouping)
          cpu::DepthwiseConv2d(x, xs, W, k, n.scale, ca.stride, ca.pad, y, ys);
        } else {
          cpu::Conv2d(x, xs, W, k, n.scale, ca.stride, ca.pad, y, ys, &workspace_);
        }
        break;
      }
      case OpKind::kConvTranspose2d:
        cpu::ConvTranspose2d(x, xs, prepared_.at(i).data(), ys.c(), n.weight.shape[3], n.scale, y,
                             ys, &workspace_);
        break;
      case OpKind::kUpfirdn2d: {
        const UpfirdnAttr& u = n.a<UpfirdnAttr>();
        cpu::Upfirdn2d(x, xs, W, n.weight.shape[0], n.weight.shape[1], u.up, u.down, u.pad0, u.pad1,
                       y, ys);
        break;
      }
      case OpKind::kBiasAct:
        cpu::BiasAct(x, xs, B, n.bias_scale, n.act, y);
        break;
      case OpKind::kLinear:
      case OpKind::kModStyle:
        cpu::Linear(x, ys.n(), xs.numel() / ys.n(), W, ys[1], n.scale, B, n.bias_scale, n.act, y);
        break;
      case OpKind::kPixelNorm:
        cpu::PixelNorm(x, xs.n(), xs.numel() / xs.n(), y);
        break;
      case OpKind::kDemodCoef:
        cpu::DemodCoef(x, xs.n(), xs[1], demod_.at(i).data(), ys[1], n.scale, y);
        break;
      case OpKind::kScaleChannels:
        cpu::ScaleChannels(x, xs, Ptr(n.in[1]), y);
        break;
      case OpKind::kNoiseConcat: {
        const NoiseAttr& na = n.a<NoiseAttr>();
        cpu::NoiseConcat(x, xs, na.has_feat ? Ptr(n.in[1]) : nullptr, Window(n), W[0], na.concat,
                         y);
        break;
      }
      case OpKind::kCrop:
        cpu::Crop(x, xs, n.a<CropAttr>().y0, n.a<CropAttr>().x0, y, ys);
        break;
      case OpKind::kMaskWindow: {
        const WindowAttr& wa = n.a<WindowAttr>();
        const cpu::NoiseWindow w = Window(n, wa);
        cpu::MaskWindow(x, xs, w.y0, w.x0, wa.full_h, wa.full_w, y);
        break;
      }
      case OpKind::kAdd: {
        const AddAttr& aa = n.a<AddAttr>();
        cpu::Add(x, Ptr(n.in[1]), ys.numel(), aa.alpha, aa.beta, y);
        break;
      }
      case OpKind::kConcat: {
        std::vector<const float*> inputs;
        std::vector<int64_t> channels;
        for (int t : n.in) {
          inputs.push_back(Ptr(t));
          channels.push_back(g_.tensor(t).shape.c());
        }
        cpu::Concat(inputs, channels, ys.n(), ys.h() * ys.w(), y);
        break;
      }
      case OpKind::kUpsampleNearest:
        if (n.a<ResampleAttr>().out_h > 0) {
          cpu::UpsampleNearestTo(x, xs, ys, y);
        } else {
          cpu::UpsampleNearest(x, xs, n.a<ResampleAttr>().factor, y);
        }
        break;
      case OpKind::kMaxPool2d: {
        const PoolAttr& pa = n.a<PoolAttr>();
        cpu::MaxPool2d(x, xs, pa.k, pa.stride, pa.pad, y, ys);
        break;
      }
      case OpKind::kPixelUnshuffle:
        cpu::PixelUnshuffle(x, xs, n.a<ResampleAttr>().factor, y);
        break;
      // Fused ops run as the chain of reference ops they replace.
      case OpKind::kModConv1x1: {
        float* xm = fused_.Get(static_cast<size_t>(xs.numel()));
        cpu::ScaleChannels(x, xs, Ptr(n.in[1]), xm);
        cpu::Conv2d(xm, xs, W, 1, n.scale, 1, 0, y, ys, &workspace_);
        break;
      }
      case OpKind::kDemodNoiseAct: {
        float* yd = fused_.Get(static_cast<size_t>(xs.numel()));
        cpu::ScaleChannels(x, xs, Ptr(n.in[1]), yd);
        const NoiseAttr& na = n.a<NoiseAttr>();
        cpu::NoiseConcat(yd, xs, na.has_feat ? Ptr(n.in[2]) : nullptr, Window(n), W[0], na.concat,
                         y);
        cpu::BiasAct(y, ys, B, n.bias_scale, n.act, y);
        break;
      }
    }
  }

  const Graph& g_;
  const WeightStore& w_;
  MemoryPlan plan_;
  int64_t need_ = 0;  // bytes the backend holds once allocated, for messages
  std::vector<float, UninitAllocator<float>> arena_;  // zeroed by FirstTouch
  cpu::Workspace workspace_;
  cpu::Workspace fused_;
  std::map<size_t, std::vector<float>> prepared_;
  std::map<size_t, std::vector<double>> demod_;
};

}  // namespace

int64_t FusedScratchFloats(const Graph& g) {
  int64_t fused = 0;  // the intermediate of a fused op, run as its chain
  for (const Node& n : g.nodes())
    if (n.kind == OpKind::kModConv1x1 || n.kind == OpKind::kDemodNoiseAct)
      fused = std::max(fused, g.tensor(n.in[0]).shape.numel());
  return fused;
}

MemoryReport CpuBackendMemory(const Graph& g, const WeightStore& w, MemoryPlan* plan) {
  MemoryReport r;
  r.weights = w.total_params() * 4;
  size_t ws = 0;
  for (const Node& n : g.nodes()) {
    const Shape& xs = n.in.empty() ? Shape{} : g.tensor(n.in[0]).shape;
    const Shape& ys = g.tensor(n.out).shape;
    if (n.kind == OpKind::kConv2d && n.a<ConvAttr>().groups == 1) {  // depthwise: none
      ws = std::max(ws,
                    cpu::Conv2dWorkspaceFloats(xs, n.weight.shape[n.weight.shape.rank() - 1], ys));
    } else if (n.kind == OpKind::kConvTranspose2d) {
      const Shape& wsh = n.weight.shape;
      ws = std::max(ws, cpu::ConvTranspose2dWorkspaceFloats(xs, wsh[1], wsh[3]));
      r.weights += n.weight.numel() * 4;  // the pre-transposed copy
    } else if (n.kind == OpKind::kDemodCoef) {
      r.weights += n.weight.shape[1] * n.weight.shape[2] * 8;  // sums of squares, double
    }
  }
  r.workspace = static_cast<int64_t>(ws + static_cast<size_t>(FusedScratchFloats(g))) * 4;
  const MemoryPlan p = PlanMemory(g, sizeof(float));
  r.arena = p.arena_bytes;
  if (plan) *plan = p;
  return r;
}

Result<std::unique_ptr<Backend>> CreateCpuBackend(const Graph& g, const WeightStore& w,
                                                  const BackendOptions& o) {
  auto b = std::make_unique<CpuBackend>(g, w);
  GPEN_TRY(b->Init(o));
  return std::unique_ptr<Backend>(std::move(b));
}

}  // namespace gpen
