// CUDA backend: the same op graph on the GPU, fp32 or fp16 storage with fp32 math.
//
// At creation: the graph is fused (graph/fuse.h) and planned; weights are uploaded
// once, in the layouts the kernels want (fp16 copies of convolution weights in fp16
// mode, transposed filters for the upsampling convolutions, per-layer sums of squared
// weights for demodulation, one concatenated matrix for all modulation styles); the
// activation arena is allocated at exactly the plan's size; cuDNN algorithms are
// chosen and the largest workspace allocated. Each Run() is one H2D copy in, the graph
// (captured as a CUDA graph after the first eager run), one D2H copy out.
//
// Convolutions go through cuDNN (GPEN_HAVE_CUDNN) or through im2col + cuBLAS. fp32
// runs with TF32 off (cuDNN FMA math, cuBLAS default math). Everything else is our
// kernels in kernels/.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>

#include "add.cuh"
#include "backend.h"
#include "bias_act.cuh"
#include "cast.cuh"
#include "col2im.cuh"
#include "const_input.cuh"
#include "crop.cuh"
#include "core/half.h"
#include "cuda/cuda_layout.h"
#include "cuda/cuda_raii.h"
#include "demod_coef.cuh"
#include "demod_noise_act.cuh"
#include "graph/fuse.h"
#include "im2col.cuh"
#include "mask_window.cuh"
#include "mod_conv1x1.cuh"
#include "noise_concat.cuh"
#include "pixel_norm.cuh"
#include "scale_channels.cuh"
#include "style_scatter.cuh"
#include "upfirdn2d.cuh"

namespace gpen {

using kernels::StorageType;

bool CudaUsable(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    (void)cudaGetLastError();
    if (why) *why = e != cudaSuccess ? std::string("CUDA: ") + cudaGetErrorString(e) : "no CUDA device";
    return false;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    if (why) *why = "cannot query CUDA device 0";
    return false;
  }
  if (prop.major * 10 + prop.minor < 75) {
    if (why) *why = std::string(prop.name) + " is sm_" + std::to_string(prop.major * 10 + prop.minor) +
                    ", older than this build's oldest target sm_75";
    return false;
  }
  return true;
}

Result<int64_t> CudaFreeMemory() {
  std::string why;
  if (!CudaUsable(&why)) return Unavailable("cannot measure free GPU memory: " + why, "pass --vram-budget");
  size_t free_b = 0, total_b = 0;
  CUDA_CHECK(cudaSetDevice(0));
  CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  return static_cast<int64_t>(free_b);
}

namespace cuda {

namespace {

constexpr size_t kAlign = 256;
constexpr size_t kGemmBandBytes = size_t{64} << 20;      // im2col band (cuBLAS path)

size_t AlignUp(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

// What one node needs at run time besides its weight layout: FIR taps, cuDNN state.
struct NodeRes {
  kernels::Upfirdn2dParams fir{};
  // convolution
  bool use_cudnn = false;
#if GPEN_HAVE_CUDNN
  TensorDesc x_desc, y_desc;
  FilterDesc w_desc;
  ConvDesc conv_desc;
  cudnnConvolutionFwdAlgo_t fwd_algo{};
  cudnnConvolutionBwdDataAlgo_t bwd_algo{};
#endif
  size_t workspace = 0;
};

// A style group's slice table on the device (destinations are arena addresses).
struct StyleTable {
  std::vector<kernels::StyleSlice> slices;
  DeviceBuffer dev;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(const Graph& g, const WeightStore& w) : g_(FuseGraph(g)), w_(w) {}

  Status Init(const BackendOptions& o) {
    std::string why;
    if (!CudaUsable(&why)) return Unavailable("--device cuda: " + why, "use --device cpu");
    // fp32 means fp32: no TF32 anywhere in this process's libraries (TF32 concerns fp32
    // math only, so fp16 runs keep their tensor cores).
    setenv("NVIDIA_TF32_OVERRIDE", "0", 0);
    CUDA_CHECK(cudaSetDevice(0));
    half_ = o.precision == Precision::kFp16;
    ws_limit_ = static_cast<size_t>(std::max<int64_t>(o.conv_workspace_limit, 0));
    plan_ = PlanMemory(g_, half_ ? 2 : 4);
    CUDA_CHECK(cudaStreamCreateWithFlags(stream_.out(), cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasCreate(cublas_.out()));
    CUBLAS_CHECK(cublasSetStream(cublas_.get(), stream_.get()));
    CUBLAS_CHECK(cublasSetMathMode(cublas_.get(), CUBLAS_DEFAULT_MATH));  // no TF32
#if GPEN_HAVE_CUDNN
    if (cudnnCreate(cudnn_.out()) != CUDNN_STATUS_SUCCESS) {
      return Unavailable("cuDNN could not be initialised (library missing or too old for this driver)",
                         "install nvidia-cudnn-cu13 or rebuild with -DGPEN_CUDNN=OFF");
    }
    CUDNN_CHECK(cudnnSetStream(cudnn_.get(), stream_.get()));
#endif
    layout_ = BuildWeightLayout(g_, w_, half_, GPEN_HAVE_CUDNN != 0, /*with_data=*/true);
    GPEN_TRY(PrepareNodes());
    GPEN_TRY(weights_dev_.Allocate(layout_.blob.size(), "the model weights"));
    CUDA_CHECK(cudaMemcpy(weights_dev_.get(), layout_.blob.data(), layout_.blob.size(), cudaMemcpyHostToDevice));
    layout_.blob = {};  // uploaded; the host copy is no longer needed
    GPEN_TRY(arena_.Allocate(static_cast<size_t>(plan_.arena_bytes), "the activation arena"));
    GPEN_TRY(workspace_.Allocate(workspace_bytes_, "convolution and GEMM workspace"));
    GPEN_TRY(cublas_ws_.Allocate(static_cast<size_t>(o.cublas_workspace), "the cuBLAS workspace"));
    CUBLAS_CHECK(cublasSetWorkspace(cublas_.get(), cublas_ws_.get(), cublas_ws_.bytes()));
    tables_.resize(layout_.groups.size());
    for (size_t gi = 0; gi < layout_.groups.size(); ++gi) {
      StyleTable& t = tables_[gi];
      for (const StyleSliceLayout& sl : layout_.groups[gi].slices) {
        t.slices.push_back({static_cast<float*>(Ptr(sl.tensor)), sl.offset, sl.count, sl.normalize ? 1 : 0});
      }
      GPEN_TRY(t.dev.Allocate(t.slices.size() * sizeof(kernels::StyleSlice), "style tables"));
      CUDA_CHECK(cudaMemcpy(t.dev.get(), t.slices.data(), t.slices.size() * sizeof(kernels::StyleSlice),
                            cudaMemcpyHostToDevice));
    }
    size_t in_bytes = 0;
    for (int t : g_.inputs()) in_bytes = std::max(in_bytes, static_cast<size_t>(g_.tensor(t).shape.numel()) * 4);
    GPEN_TRY(in_staging_.Allocate(in_bytes));
    size_t out_bytes = 0;
    for (int t : g_.outputs()) out_bytes = std::max(out_bytes, static_cast<size_t>(g_.tensor(t).shape.numel()) * 4);
    GPEN_TRY(out_staging_.Allocate(out_bytes));
    CUDA_CHECK(cudaEventCreate(ev_start_.out()));
    CUDA_CHECK(cudaEventCreate(ev_stop_.out()));
    const char* env = std::getenv("GPEN_CUDA_GRAPH");
    use_graph_ = !(env && std::string(env) == "0");
    return Status::Ok();
  }

  std::string name() const override { return half_ ? "cuda fp16" : "cuda fp32"; }

  Status SetTensor(int tensor, const float* host, int64_t count) override {
    GPEN_CHECK(std::find(g_.inputs().begin(), g_.inputs().end(), tensor) != g_.inputs().end());
    const TensorInfo& t = g_.tensor(tensor);
    if (count != t.shape.numel()) {
      return ShapeError("input '" + t.name + "' has " + std::to_string(count) + " values, the graph expects " +
                        t.shape.ToString());
    }
    CUDA_CHECK(cudaStreamSynchronize(stream_.get()));  // staging may still be in flight
    if (IsHalf(tensor)) {
      auto* h = static_cast<uint16_t*>(in_staging_.get());
      for (int64_t i = 0; i < count; ++i) h[i] = FloatToHalf(host[i]);
    } else {
      std::memcpy(in_staging_.get(), host, static_cast<size_t>(count) * 4);
    }
    CUDA_CHECK(cudaMemcpyAsync(Ptr(tensor), in_staging_.get(), static_cast<size_t>(count) * ElemSize(tensor),
                               cudaMemcpyHostToDevice, stream_.get()));
    return Status::Ok();
  }
  const Graph& graph() const override { return g_; }

  Status Run() override {
    if (!use_graph_) {
      RunNodes();
      return Status::Ok();
    }
    if (!graph_exec_.get()) {
      RunNodes();  // eager first run: lazy library initialisation happens outside capture
      CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
      CUDA_CHECK(cudaStreamBeginCapture(stream_.get(), cudaStreamCaptureModeThreadLocal));
      RunNodes();
      CUDA_CHECK(cudaStreamEndCapture(stream_.get(), graph_.out()));
      CUDA_CHECK(cudaGraphInstantiate(graph_exec_.out(), graph_.get(), 0));
    }
    CUDA_CHECK(cudaGraphLaunch(graph_exec_.get(), stream_.get()));
    return Status::Ok();
  }

  Result<double> TimedRun() override {
    CUDA_CHECK(cudaEventRecord(ev_start_.get(), stream_.get()));
    GPEN_TRY(Run());
    CUDA_CHECK(cudaEventRecord(ev_stop_.get(), stream_.get()));
    CUDA_CHECK(cudaEventSynchronize(ev_stop_.get()));
    float ms = 0.f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, ev_start_.get(), ev_stop_.get()));
    return static_cast<double>(ms);
  }

  Status ReadOutput(int tensor, float* host, int64_t count) override {
    GPEN_CHECK(g_.tensor(tensor).is_output);
    GPEN_CHECK(count == g_.tensor(tensor).shape.numel());
    const size_t bytes = static_cast<size_t>(count) * ElemSize(tensor);
    CUDA_CHECK(cudaMemcpyAsync(out_staging_.get(), Ptr(tensor), bytes, cudaMemcpyDeviceToHost, stream_.get()));
    CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
    if (IsHalf(tensor)) {
      const auto* h = static_cast<const uint16_t*>(out_staging_.get());
      for (int64_t i = 0; i < count; ++i) host[i] = HalfToFloat(h[i]);
    } else {
      std::memcpy(host, out_staging_.get(), bytes);
    }
    return Status::Ok();
  }

  MemoryReport memory() const override {
    MemoryReport r;
    r.weights = static_cast<int64_t>(weights_dev_.bytes());
    r.arena = static_cast<int64_t>(arena_.bytes());
    r.workspace = static_cast<int64_t>(workspace_.bytes() + cublas_ws_.bytes());
    for (const StyleTable& t : tables_) r.workspace += static_cast<int64_t>(t.dev.bytes());
    return r;
  }
  const MemoryPlan& plan() const override { return plan_; }

 private:
  bool IsHalf(int t) const { return half_ && g_.tensor(t).cls == TensorClass::kActivation; }
  size_t ElemSize(int t) const { return IsHalf(t) ? 2 : 4; }
  StorageType Type(int t) const { return IsHalf(t) ? StorageType::kF16 : StorageType::kF32; }
  void* Ptr(int t) const { return static_cast<char*>(arena_.get()) + plan_.offset[t]; }
  const void* W(size_t off) const {
    return off == kNoPiece ? nullptr : static_cast<const char*>(weights_dev_.get()) + off;
  }
  const float* Wf(size_t off) const { return static_cast<const float*>(W(off)); }
  // A windowed node's window: static origin, untiled size, and the runtime
  // "tile_origin" input (its last input) when it has one.
  template <typename P>
  void SetWindow(const Node& n, P* p) const {
    p->y0 = n.win_y0;
    p->x0 = n.win_x0;
    p->full_h = n.full_h;
    p->full_w = n.full_w;
    p->origin = n.win_div > 0 ? static_cast<const float*>(Ptr(n.in.back())) : nullptr;
    p->div = n.win_div;
  }

  // Per-node run-time state beyond the weight layout: FIR taps, convolution setup.
  Status PrepareNodes() {
    const auto& nodes = g_.nodes();
    res_.resize(nodes.size());
    size_t gemm_ws = 0;
    for (size_t i = 0; i < nodes.size(); ++i) {
      const Node& n = nodes[i];
      NodeRes& r = res_[i];
      switch (n.kind) {
        case OpKind::kConv2d:
          GPEN_TRY(PrepareConv(n, &r, false));
          break;
        case OpKind::kConvTranspose2d:
          GPEN_TRY(PrepareConv(n, &r, true));
          break;
        case OpKind::kUpfirdn2d: {
          const Shape& xs = g_.tensor(n.in[0]).shape;
          const Shape& ys = g_.tensor(n.out).shape;
          GPEN_CHECK(n.weight.numel() <= 64);
          r.fir.type = Type(n.out);
          r.fir.planes = xs.n() * xs.c();
          r.fir.h = xs.h();
          r.fir.w = xs.w();
          r.fir.ho = ys.h();
          r.fir.wo = ys.w();
          r.fir.up = n.up;
          r.fir.down = n.down;
          r.fir.pad0 = n.pad0;
          r.fir.kh = static_cast<int>(n.weight.shape[0]);
          r.fir.kw = static_cast<int>(n.weight.shape[1]);
          std::copy(w_.data(n.weight), w_.data(n.weight) + n.weight.numel(), r.fir.kernel);
          break;
        }
        default:
          break;
      }
      gemm_ws = std::max(gemm_ws, r.workspace);
    }
    style_offset_ = AlignUp(gemm_ws);  // <= the cap: every algorithm/band was chosen within it
    cast_offset_ = AlignUp(style_offset_ + static_cast<size_t>(layout_.style_floats) * 4);
    workspace_bytes_ = AlignUp(cast_offset_ + static_cast<size_t>(layout_.cast_floats) * 4);
    return Status::Ok();
  }

  Status PrepareConv(const Node& n, NodeRes* r, bool transposed) {
    const Shape& xs = g_.tensor(n.in[0]).shape;
    const Shape& ys = g_.tensor(n.out).shape;
    GPEN_CHECK(IsHalf(n.in[0]) == IsHalf(n.out));
    const int64_t k = n.weight.shape[n.weight.shape.rank() - 1];
#if GPEN_HAVE_CUDNN
    r->use_cudnn = true;
    const cudnnDataType_t dt = IsHalf(n.out) ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
    CUDNN_CHECK(cudnnCreateTensorDescriptor(r->x_desc.out()));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(r->y_desc.out()));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(r->w_desc.out()));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(r->conv_desc.out()));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(r->x_desc.get(), CUDNN_TENSOR_NCHW, dt, int(xs.n()), int(xs.c()), int(xs.h()), int(xs.w())));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(r->y_desc.get(), CUDNN_TENSOR_NCHW, dt, int(ys.n()), int(ys.c()), int(ys.h()), int(ys.w())));
    if (transposed) {  // filter (K = Cin of x, C = Cout), backward data
      CUDNN_CHECK(cudnnSetFilter4dDescriptor(r->w_desc.get(), dt, CUDNN_TENSOR_NCHW, int(xs.c()), int(ys.c()), int(k), int(k)));
      CUDNN_CHECK(cudnnSetConvolution2dDescriptor(r->conv_desc.get(), 0, 0, 2, 2, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    } else {
      CUDNN_CHECK(cudnnSetFilter4dDescriptor(r->w_desc.get(), dt, CUDNN_TENSOR_NCHW, int(ys.c()), int(xs.c()), int(k), int(k)));
      CUDNN_CHECK(cudnnSetConvolution2dDescriptor(r->conv_desc.get(), n.pad, n.pad, n.stride, n.stride, 1, 1,
                                                  CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    }
    const cudnnMathType_t math = IsHalf(n.out) ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
    CUDNN_CHECK(cudnnSetConvolutionMathType(r->conv_desc.get(), math));
    // fp32: only FMA algorithms (CUDNN_DEFAULT_MATH would allow TF32 on Ampere and later).
    auto math_ok = [&](cudnnMathType_t m) { return IsHalf(n.out) || m == CUDNN_FMA_MATH; };
    int returned = 0;
    if (transposed) {
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnn_.get(), r->w_desc.get(), r->x_desc.get(),
                                                              r->conv_desc.get(), r->y_desc.get(),
                                                              CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &returned, perf));
      for (int j = 0; j < returned; ++j) {
        if (perf[j].status == CUDNN_STATUS_SUCCESS && perf[j].memory <= ws_limit_ && math_ok(perf[j].mathType)) {
          r->bwd_algo = perf[j].algo;
          r->workspace = perf[j].memory;
          return Status::Ok();
        }
      }
    } else {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(cudnn_.get(), r->x_desc.get(), r->w_desc.get(),
                                                         r->conv_desc.get(), r->y_desc.get(),
                                                         CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf));
      for (int j = 0; j < returned; ++j) {
        if (perf[j].status == CUDNN_STATUS_SUCCESS && perf[j].memory <= ws_limit_ && math_ok(perf[j].mathType)) {
          r->fwd_algo = perf[j].algo;
          r->workspace = perf[j].memory;
          return Status::Ok();
        }
      }
    }
    return Unavailable("cuDNN offers no algorithm for convolution '" + n.name + "' " + xs.ToString() + " -> " +
                           ys.ToString(),
                       "rebuild with -DGPEN_CUDNN=OFF to use the cuBLAS path");
#else
    const size_t es = IsHalf(n.out) ? 2 : 4;
    const size_t band_bytes = std::min(kGemmBandBytes, ws_limit_);
    if (transposed) {
      const int64_t rows_k = ys.c() * k * k;
      const int64_t band = std::clamp<int64_t>(int64_t(band_bytes / 4) / (rows_k * xs.w()), 1, xs.h());
      r->workspace = static_cast<size_t>(rows_k * band * xs.w()) * 4;  // fp32 cols
    } else {
      const int64_t kdim = xs.c() * k * k;
      const int64_t band = std::clamp<int64_t>(int64_t(band_bytes / es) / (kdim * ys.w()), 1, ys.h());
      r->workspace = static_cast<size_t>(kdim * band * ys.w()) * es;
    }
    if (r->workspace > ws_limit_) {
      return OutOfMemory("convolution '" + n.name + "' needs " + std::to_string(r->workspace >> 20) +
                             " MiB of scratch for one row, above the planned cap",
                         "raise the memory budget");
    }
    return Status::Ok();
#endif
  }

  void RunConv(const Node& n, const NodeRes& r, const NodeLayout& L, bool transposed) {
    void* ws = workspace_.get();
    const float alpha = n.scale, beta = 0.f;
#if GPEN_HAVE_CUDNN
    if (transposed) {
      CUDNN_CHECK(cudnnConvolutionBackwardData(cudnn_.get(), &alpha, r.w_desc.get(), W(L.w), r.x_desc.get(),
                                               Ptr(n.in[0]), r.conv_desc.get(), r.bwd_algo, ws, r.workspace, &beta,
                                               r.y_desc.get(), Ptr(n.out)));
    } else {
      CUDNN_CHECK(cudnnConvolutionForward(cudnn_.get(), &alpha, r.x_desc.get(), Ptr(n.in[0]), r.w_desc.get(), W(L.w),
                                          r.conv_desc.get(), r.fwd_algo, ws, r.workspace, &beta, r.y_desc.get(),
                                          Ptr(n.out)));
    }
#else
    const Shape& xs = g_.tensor(n.in[0]).shape;
    const Shape& ys = g_.tensor(n.out).shape;
    const int64_t k = n.weight.shape[n.weight.shape.rank() - 1];
    const bool h = IsHalf(n.out);
    const cudaDataType_t dt = h ? CUDA_R_16F : CUDA_R_32F;
    const size_t es = h ? 2 : 4;
    for (int64_t b = 0; b < xs.n(); ++b) {
      const char* xb = static_cast<const char*>(Ptr(n.in[0])) + b * xs.c() * xs.h() * xs.w() * es;
      char* yb = static_cast<char*>(Ptr(n.out)) + b * ys.c() * ys.h() * ys.w() * es;
      if (transposed) {
        const int64_t rows_k = ys.c() * k * k;
        const int64_t band = std::max<int64_t>(1, static_cast<int64_t>(r.workspace / 4) / (rows_k * xs.w()));
        CUDA_CHECK(cudaMemsetAsync(yb, 0, ys.c() * ys.h() * ys.w() * es, stream_.get()));
        for (int64_t r0 = 0; r0 < xs.h(); r0 += band) {
          const int64_t rows = std::min(band, xs.h() - r0);
          const int64_t ncol = rows * xs.w();
          CUBLAS_CHECK(cublasGemmEx(cublas_.get(), CUBLAS_OP_N, CUBLAS_OP_N, int(ncol), int(rows_k), int(xs.c()), &alpha,
                                    xb + r0 * xs.w() * es, dt, int(xs.h() * xs.w()), W(L.w), dt, int(xs.c()), &beta,
                                    ws, CUDA_R_32F, int(ncol), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
          kernels::Col2imParams cp{static_cast<const float*>(ws), yb, Type(n.out), ys.c(), xs.w(), ys.h(), ys.w(),
                                   int(k), r0, rows};
          kernels::LaunchCol2im(cp, stream_.get());
        }
      } else {
        const int64_t kdim = xs.c() * k * k;
        const int64_t band = std::max<int64_t>(1, static_cast<int64_t>(r.workspace / es) / (kdim * ys.w()));
        for (int64_t r0 = 0; r0 < ys.h(); r0 += band) {
          const int64_t rows = std::min(band, ys.h() - r0);
          const int64_t ncol = rows * ys.w();
          kernels::Im2colParams ip{xb, ws, Type(n.in[0]), xs.c(), xs.h(), xs.w(), ys.w(), int(k), n.stride, n.pad, r0, rows};
          kernels::LaunchIm2col(ip, stream_.get());
          CUBLAS_CHECK(cublasGemmEx(cublas_.get(), CUBLAS_OP_N, CUBLAS_OP_N, int(ncol), int(ys.c()), int(kdim), &alpha,
                                    ws, dt, int(ncol), W(L.w), dt, int(kdim), &beta, yb + r0 * ys.w() * es, dt,
                                    int(ys.h() * ys.w()), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        }
      }
    }
#endif
  }

  void RunNodes() {
    cudaStream_t s = stream_.get();
    const auto& nodes = g_.nodes();
    for (size_t i = 0; i < nodes.size(); ++i) {
      const Node& n = nodes[i];
      const NodeRes& r = res_[i];
      const NodeLayout& L = layout_.nodes[i];
      const Shape& ys = g_.tensor(n.out).shape;
      const Shape xs = n.in.empty() ? Shape{} : g_.tensor(n.in[0]).shape;
      switch (n.kind) {
        case OpKind::kInput:
          break;
        case OpKind::kConstInput:
          kernels::LaunchConstInput({Wf(L.w), Ptr(n.out), Type(n.out), n.weight.numel(), ys.n()}, s);
          break;
        case OpKind::kConv2d:
          RunConv(n, r, L, false);
          break;
        case OpKind::kConvTranspose2d:
          RunConv(n, r, L, true);
          break;
        case OpKind::kUpfirdn2d: {
          kernels::Upfirdn2dParams p = r.fir;
          p.x = Ptr(n.in[0]);
          p.y = Ptr(n.out);
          kernels::LaunchUpfirdn2d(p, s);
          break;
        }
        case OpKind::kBiasAct:
          kernels::LaunchBiasAct({Ptr(n.in[0]), Ptr(n.out), Type(n.in[0]), Type(n.out), Wf(L.b), n.bias_scale, n.act,
                                  ys.n(), ys.c(), ys.numel() / (ys.n() * ys.c())},
                                 s);
          break;
        case OpKind::kLinear: {
          const int64_t batch = ys.n(), m = ys[1], k = xs.numel() / batch;
          const float* x = static_cast<const float*>(Ptr(n.in[0]));
          if (IsHalf(n.in[0])) {
            float* tmp = reinterpret_cast<float*>(static_cast<char*>(workspace_.get()) + cast_offset_);
            kernels::LaunchCast({Ptr(n.in[0]), StorageType::kF16, tmp, StorageType::kF32, xs.numel()}, s);
            x = tmp;
          }
          const float alpha = n.scale, beta = 0.f;
          CUBLAS_CHECK(cublasSgemm(cublas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, int(m), int(batch), int(k), &alpha, Wf(L.w),
                                   int(k), x, int(k), &beta, static_cast<float*>(Ptr(n.out)), int(m)));
          kernels::LaunchBiasAct({Ptr(n.out), Ptr(n.out), StorageType::kF32, StorageType::kF32, Wf(L.b), n.bias_scale,
                                  n.act, batch, m, 1},
                                 s);
          break;
        }
        case OpKind::kPixelNorm:
          kernels::LaunchPixelNorm({static_cast<const float*>(Ptr(n.in[0])), static_cast<float*>(Ptr(n.out)), xs.n(),
                                    xs.numel() / xs.n()},
                                   s);
          break;
        case OpKind::kModStyle: {
          if (!L.style_leader) break;  // computed with its group's leader
          const StyleGroupLayout& sg = layout_.groups[L.style_group];
          const StyleTable& table = tables_[L.style_group];
          const int64_t batch = ys.n();
          float* all = reinterpret_cast<float*>(static_cast<char*>(workspace_.get()) + style_offset_);
          const float alpha = sg.scale, beta = 0.f;
          CUBLAS_CHECK(cublasSgemm(cublas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, int(sg.total), int(batch), int(sg.sd), &alpha,
                                   Wf(sg.w), int(sg.sd), static_cast<const float*>(Ptr(sg.input)), int(sg.sd), &beta,
                                   all, int(sg.total)));
          kernels::LaunchStyleScatter({all, Wf(sg.b), sg.bias_scale,
                                       static_cast<const kernels::StyleSlice*>(table.dev.get()),
                                       static_cast<int64_t>(table.slices.size()), batch, sg.total},
                                      s);
          break;
        }
        case OpKind::kDemodCoef:
          kernels::LaunchDemodCoef({static_cast<const float*>(Ptr(n.in[0])), Wf(L.aux), static_cast<float*>(Ptr(n.out)),
                                    n.scale, ys.n(), xs[1], ys[1]},
                                   s);
          break;
        case OpKind::kScaleChannels:
          kernels::LaunchScaleChannels({Ptr(n.in[0]), Ptr(n.out), Type(n.out),
                                        static_cast<const float*>(Ptr(n.in[1])), xs.n() * xs.c(),
                                        xs.numel() / (xs.n() * xs.c())},
                                       s);
          break;
        case OpKind::kNoiseConcat: {
          kernels::NoiseConcatParams p{};
          p.x = Ptr(n.in[0]);
          p.feat = n.has_feat ? Ptr(n.in[1]) : nullptr;
          p.seed = n.seed;
          SetWindow(n, &p);
          p.weight = L.noise_weight;
          p.concat = n.concat;
          p.y = Ptr(n.out);
          p.type = Type(n.out);
          p.n = xs.n();
          p.c = xs.c();
          p.hw = xs.h() * xs.w();
          p.w = xs.w();
          kernels::LaunchNoiseConcat(p, s);
          break;
        }
        case OpKind::kMaskWindow: {
          kernels::MaskWindowParams p{};
          p.x = Ptr(n.in[0]);
          p.y = Ptr(n.out);
          p.type = Type(n.out);
          p.planes = xs.n() * xs.c();
          p.h = xs.h();
          p.w = xs.w();
          SetWindow(n, &p);
          kernels::LaunchMaskWindow(p, s);
          break;
        }
        case OpKind::kCrop:
          kernels::LaunchCrop({Ptr(n.in[0]), Ptr(n.out), Type(n.out), xs.n() * xs.c(), xs.h(), xs.w(), ys.h(), ys.w(),
                               n.pad0, n.padx0},
                              s);
          break;
        case OpKind::kAdd:
          kernels::LaunchAdd({static_cast<const float*>(Ptr(n.in[0])), static_cast<const float*>(Ptr(n.in[1])),
                              static_cast<float*>(Ptr(n.out)), ys.numel()},
                             s);
          break;
        case OpKind::kModConv1x1:
          kernels::LaunchModConv1x1({Ptr(n.in[0]), Type(n.in[0]), static_cast<const float*>(Ptr(n.in[1])), Wf(L.w),
                                     n.scale, static_cast<float*>(Ptr(n.out)), xs.n(), xs.c(), ys.c(),
                                     xs.numel() / (xs.n() * xs.c())},
                                    s);
          break;
        case OpKind::kDemodNoiseAct: {
          kernels::DemodNoiseActParams p{};
          p.y = Ptr(n.in[0]);
          p.d = static_cast<const float*>(Ptr(n.in[1]));
          p.feat = n.has_feat ? Ptr(n.in[2]) : nullptr;
          p.seed = n.seed;
          SetWindow(n, &p);
          p.noise_weight = L.noise_weight;
          p.concat = n.concat;
          p.bias = Wf(L.b);
          p.bias_scale = n.bias_scale;
          p.act = n.act;
          p.out = Ptr(n.out);
          p.type = Type(n.out);
          p.n = xs.n();
          p.c = xs.c();
          p.hw = xs.h() * xs.w();
          p.w = xs.w();
          kernels::LaunchDemodNoiseAct(p, s);
          break;
        }
      }
    }
  }

  Graph g_;
  const WeightStore& w_;
  bool half_ = false;
  size_t ws_limit_ = 0;
  bool use_graph_ = true;
  MemoryPlan plan_;
  Stream stream_;
  Cublas cublas_;
#if GPEN_HAVE_CUDNN
  Cudnn cudnn_;
#endif
  WeightLayout layout_;
  std::vector<NodeRes> res_;
  std::vector<StyleTable> tables_;
  size_t workspace_bytes_ = 0, style_offset_ = 0, cast_offset_ = 0;
  DeviceBuffer weights_dev_, arena_, workspace_, cublas_ws_;
  PinnedBuffer in_staging_, out_staging_;
  Event ev_start_, ev_stop_;
  CudaGraph graph_;
  CudaGraphExec graph_exec_;
};

}  // namespace

}  // namespace cuda

Result<std::unique_ptr<Backend>> CreateCudaBackend(const Graph& g, const WeightStore& w, const BackendOptions& o) {
  auto b = std::make_unique<cuda::CudaBackend>(g, w);
  GPEN_TRY(b->Init(o));
  return std::unique_ptr<Backend>(std::move(b));
}

}  // namespace gpen
