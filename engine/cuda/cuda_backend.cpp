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
// Convolutions go through cuDNN (GPEN_HAVE_CUDNN) or through im2col + cuBLAS. cuDNN
// gets the batch in chunks whose tensors it can index with ints (ConvBatchChunk), and
// only deterministic algorithms, so that repeated runs are bitwise equal. fp32 runs
// with TF32 off (cuDNN FMA math, cuBLAS default math). Everything else is our kernels
// in kernels/.
//
// Running out of memory (device or pinned host) anywhere in creation or in Run() is an
// OutOfMemory Status, never a failed check: the caller plans again for less and retries
// (face_runner.cpp). Other library errors are bugs and go through the CHECK macros.
//
// ProfiledRun times each node with CUDA events, eagerly, inside NVTX ranges.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>

#include "add.cuh"
#include "backend.h"
#include "bias_act.cuh"
#include "cast.cuh"
#include "col2im.cuh"
#include "concat.cuh"
#include "const_input.cuh"
#include "core/half.h"
#include "crop.cuh"
#include "cuda/cuda_layout.h"
#include "cuda/cuda_raii.h"
#include "demod_coef.cuh"
#include "demod_noise_act.cuh"
#include "depthwise_conv2d.cuh"
#include "graph/fuse.h"
#include "im2col.cuh"
#include "mask_window.cuh"
#include "max_pool2d.cuh"
#include "mod_conv1x1.cuh"
#include "noise_concat.cuh"
#include "pixel_norm.cuh"
#include "pixel_unshuffle.cuh"
#include "scale_channels.cuh"
#include "style_scatter.cuh"
#include "upfirdn2d.cuh"
#include "upsample_nearest.cuh"

// NVTX ranges for profilers (Nsight Systems), from the toolkit's header-only nvtx3; the
// emulator build (whose include path has no nvtx3) and a toolkit without it get none.
#if __has_include(<nvtx3/nvToolsExt.h>) && !defined(GPEN_CUDASIM)
#include <nvtx3/nvToolsExt.h>
#define GPEN_HAVE_NVTX 1
#else
#define GPEN_HAVE_NVTX 0
#endif

namespace gpen {

using kernels::StorageType;

namespace {

void NvtxPush(const char* what) {
#if GPEN_HAVE_NVTX
  nvtxRangePushA(what);
#else
  (void)what;
#endif
}

void NvtxPop() {
#if GPEN_HAVE_NVTX
  nvtxRangePop();
#endif
}

std::string CudaVersionString(int v) {
  return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
}

// Why cudaGetDeviceCount failed, in words for someone who may have no NVIDIA driver at
// all: the runtime's own text for that case ("CUDA driver version is insufficient for
// CUDA runtime version") reads as if a driver were installed but old.
std::string NoGpuReason(cudaError_t e) {
  switch (e) {
    case cudaErrorNoDevice:
    case cudaErrorStubLibrary:
      return "no NVIDIA driver or GPU was found";
    case cudaErrorInitializationError:
      return "the NVIDIA driver could not be initialised";
    case cudaErrorInsufficientDriver: {
      int driver = 0, runtime = 0;
      if (cudaDriverGetVersion(&driver) != cudaSuccess || driver == 0) {
        return "no NVIDIA driver or GPU was found";
      }
      (void)cudaRuntimeGetVersion(&runtime);
      return "the NVIDIA driver supports CUDA " + CudaVersionString(driver) +
             ", older than this build's CUDA " + CudaVersionString(runtime);
    }
    default:
      return std::string("the CUDA runtime cannot list GPUs (") + cudaGetErrorString(e) + ")";
  }
}

}  // namespace

bool CudaUsable(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    (void)cudaGetLastError();
    if (why) *why = e != cudaSuccess ? NoGpuReason(e) : "no NVIDIA GPU was found";
    return false;
  }
  cudaDeviceProp prop{};
  const cudaError_t pe = cudaGetDeviceProperties(&prop, 0);
  if (pe != cudaSuccess) {
    (void)cudaGetLastError();
    if (why) *why = std::string("cannot query CUDA device 0 (") + cudaGetErrorString(pe) + ")";
    return false;
  }
  if (prop.major * 10 + prop.minor < 75) {
    if (why)
      *why = std::string(prop.name) + " is sm_" + std::to_string(prop.major * 10 + prop.minor) +
             ", older than this build's oldest target sm_75";
    return false;
  }
  return true;
}

Result<int64_t> CudaFreeMemory() {
  std::string why;
  if (!CudaUsable(&why)) {
    return Unavailable("cannot measure free GPU memory: " + why, "pass --vram-budget");
  }
  size_t free_b = 0, total_b = 0;
  GPEN_CUDA_TRY(cudaSetDevice(0), "creating the CUDA context");
  GPEN_CUDA_TRY(cudaMemGetInfo(&free_b, &total_b), "measuring free GPU memory");
  return static_cast<int64_t>(free_b);
}

namespace cuda {

namespace {

constexpr size_t kGemmBandBytes = size_t{64} << 20;  // im2col band (cuBLAS path)

// A size passed to a library that takes int. Sizes come from the graph, whose
// convolutions are split so that they fit (ConvBatchChunk, per-sample GEMMs); a value
// that does not fit is a bug, never a silent wrap.
int I32(int64_t v) {
  GPEN_CHECK_MSG(v >= 0 && v <= INT_MAX, v << " does not fit the int a CUDA library takes");
  return static_cast<int>(v);
}

#if GPEN_HAVE_CUDNN
// One convolution's cuDNN state. The batch runs in chunks of `chunk` samples
// (ConvBatchChunk: cuDNN indexes a tensor with ints); x and y describe one chunk,
// x_last and y_last the last, smaller one when the batch does not divide evenly.
struct CudnnConv {
  int64_t chunk = 0;
  TensorDesc x, y, x_last, y_last;
  FilterDesc w;
  ConvDesc conv;
  cudnnConvolutionFwdAlgo_t fwd_algo{};
  cudnnConvolutionBwdDataAlgo_t bwd_algo{};
};

// Backward-data algorithm 0 accumulates with atomics; excluded by name as well as by
// the determinism cuDNN reports.
bool KnownNondeterministic(cudnnConvolutionFwdAlgo_t) {
  return false;
}
bool KnownNondeterministic(cudnnConvolutionBwdDataAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_0;
}

// The first of cuDNN's suggestions (best first) that is deterministic (runs are bitwise
// equal, which the bench checks), computes fp32 with FMA only (no TF32), and whose
// workspace for every chunk, queried for it and its math type, fits `limit`. The chosen
// math type is left on `conv`: cuDNN runs an algorithm with the descriptor's math type.
// `workspace(algo, &bytes)` returns false when the algorithm does not support a chunk.
template <typename Perf, typename WorkspaceFn>
const Perf* PickAlgo(const Perf* perf, int count, bool half, cudnnConvolutionDescriptor_t conv,
                     size_t limit, WorkspaceFn workspace, size_t* bytes) {
  for (int j = 0; j < count; ++j) {
    const Perf& p = perf[j];
    if (p.status != CUDNN_STATUS_SUCCESS || p.determinism != CUDNN_DETERMINISTIC) continue;
    if (KnownNondeterministic(p.algo) || (!half && p.mathType != CUDNN_FMA_MATH)) continue;
    CUDNN_CHECK(cudnnSetConvolutionMathType(conv, p.mathType));
    if (workspace(p.algo, bytes) && *bytes <= limit) return &p;
  }
  return nullptr;
}

// A descriptor for `samples` samples of the (N, C, H, W) tensor `s`.
Status MakeTensorDesc(TensorDesc* d, const Shape& s, int64_t samples, cudnnDataType_t dt) {
  GPEN_CUDNN_TRY(cudnnCreateTensorDescriptor(d->out()), "creating a cuDNN descriptor");
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(d->get(), CUDNN_TENSOR_NCHW, dt, I32(samples), I32(s.c()),
                                         I32(s.h()), I32(s.w())));
  return Status::Ok();
}
#endif

// What one node needs at run time besides its weight layout: FIR taps, cuDNN state.
struct NodeRes {
  kernels::Upfirdn2dParams fir{};
#if GPEN_HAVE_CUDNN
  CudnnConv cudnn;
#endif
  size_t workspace = 0;  // convolution scratch, bytes
};

// A style group's slice table on the device (destinations are arena addresses).
struct StyleTable {
  std::vector<kernels::StyleSlice> slices;
  DeviceBuffer dev;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(const Graph& g, const WeightStore& w) : g_(FuseGraph(g)), w_(w) {}

  // Everything that can run out of memory returns OutOfMemory, for the caller to plan
  // again for less.
  Status Init(const BackendOptions& o) {
    std::string why;
    if (!CudaUsable(&why)) return Unavailable("--device cuda: " + why, "use --device cpu");
    // fp32 means fp32: no TF32 anywhere in this process's libraries (TF32 concerns fp32
    // math only, so fp16 runs keep their tensor cores).
    setenv("NVIDIA_TF32_OVERRIDE", "0", 0);
    GPEN_CUDA_TRY(cudaSetDevice(0), "creating the CUDA context");
    half_ = o.precision == Precision::kFp16;
    ws_limit_ = static_cast<size_t>(std::max<int64_t>(o.conv_workspace_limit, 0));
    plan_ = PlanMemory(g_, half_ ? 2 : 4);
    GPEN_TRY(CreateLibraries());
    layout_ = BuildWeightLayout(g_, w_, half_, GPEN_HAVE_CUDNN != 0, /*with_data=*/true);
    GPEN_TRY(PrepareNodes());
    GPEN_TRY(AllocateDevice(o));
    GPEN_TRY(UploadStyleTables());
    GPEN_TRY(AllocateStaging());
    const char* env = std::getenv("GPEN_CUDA_GRAPH");
    use_graph_ = !(env && std::string(env) == "0");
    return Status::Ok();
  }

  std::string name() const override { return half_ ? "cuda fp16" : "cuda fp32"; }

  Status SetTensor(int tensor, const float* host, int64_t count) override {
    GPEN_CHECK(std::find(g_.inputs().begin(), g_.inputs().end(), tensor) != g_.inputs().end());
    const TensorInfo& t = g_.tensor(tensor);
    if (count != t.shape.numel()) {
      return ShapeError("input '" + t.name + "' has " + std::to_string(count) +
                        " values, the graph expects " + t.shape.ToString());
    }
    CUDA_CHECK(cudaStreamSynchronize(stream_.get()));  // staging may still be in flight
    if (IsHalf(tensor)) {
      auto* h = static_cast<uint16_t*>(in_staging_.get());
      for (int64_t i = 0; i < count; ++i) h[i] = FloatToHalf(host[i]);
    } else {
      std::memcpy(in_staging_.get(), host, static_cast<size_t>(count) * 4);
    }
    CUDA_CHECK(cudaMemcpyAsync(Ptr(tensor), in_staging_.get(),
                               static_cast<size_t>(count) * ElemSize(tensor),
                               cudaMemcpyHostToDevice, stream_.get()));
    return Status::Ok();
  }
  const Graph& graph() const override { return g_; }

  Status Run() override {
    if (!use_graph_) return RunNodes();
    if (!graph_exec_.get()) {
      GPEN_TRY(RunNodes());  // eager first run: lazy library initialisation happens outside capture
      CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
      GPEN_TRY(CaptureGraph());
    }
    GPEN_CUDA_TRY(cudaGraphLaunch(graph_exec_.get(), stream_.get()), "launching the CUDA graph");
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

  // Eager (a CUDA graph's nodes cannot be timed one by one): an event before each node
  // and one after the last, each node inside an NVTX range named "op name".
  Result<std::vector<OpTiming>> ProfiledRun() override {
    const size_t count = g_.nodes().size();
    std::vector<Event> ev(count + 1);
    for (Event& e : ev) GPEN_CUDA_TRY(cudaEventCreate(e.out()), "creating a CUDA event");
    CUDA_CHECK(cudaEventRecord(ev[0].get(), stream_.get()));
    for (size_t i = 0; i < count; ++i) {
      const Node& n = g_.nodes()[i];
      NvtxPush((std::string(OpName(n.kind)) + " " + n.name).c_str());
      const Status s = RunNode(i);
      NvtxPop();
      GPEN_TRY(s);
      CUDA_CHECK(cudaEventRecord(ev[i + 1].get(), stream_.get()));
    }
    CUDA_CHECK(cudaEventSynchronize(ev[count].get()));
    std::vector<OpTiming> t(count);
    for (size_t i = 0; i < count; ++i) {
      float ms = 0.f;
      CUDA_CHECK(cudaEventElapsedTime(&ms, ev[i].get(), ev[i + 1].get()));
      t[i] = {i, static_cast<double>(ms)};
    }
    return t;
  }

  Status ReadOutput(int tensor, float* host, int64_t count) override {
    GPEN_CHECK(g_.tensor(tensor).is_output);
    GPEN_CHECK(count == g_.tensor(tensor).shape.numel());
    const size_t bytes = static_cast<size_t>(count) * ElemSize(tensor);
    CUDA_CHECK(cudaMemcpyAsync(out_staging_.get(), Ptr(tensor), bytes, cudaMemcpyDeviceToHost,
                               stream_.get()));
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
  void SetWindow(const Node& n, const WindowAttr& w, P* p) const {
    p->y0 = w.y0;
    p->x0 = w.x0;
    p->full_h = w.full_h;
    p->full_w = w.full_w;
    p->origin = w.div > 0 ? static_cast<const float*>(Ptr(n.in.back())) : nullptr;
    p->div = w.div;
  }

  // Stream, cuBLAS and cuDNN handles: each can fail for lack of memory.
  Status CreateLibraries() {
    GPEN_CUDA_TRY(cudaStreamCreateWithFlags(stream_.out(), cudaStreamNonBlocking),
                  "creating a CUDA stream");
    const cublasStatus_t cs = cublasCreate(cublas_.out());
    if (cs == CUBLAS_STATUS_ALLOC_FAILED) {
      return GpuOutOfMemory("out of memory while creating the cuBLAS handle");
    }
    if (cs != CUBLAS_STATUS_SUCCESS) {
      return Unavailable(
          "cuBLAS could not be initialised (" + std::string(cublasGetStatusString(cs)) + ")",
          "check the NVIDIA driver, or use --device cpu");
    }
    CUBLAS_CHECK(cublasSetStream(cublas_.get(), stream_.get()));
    CUBLAS_CHECK(cublasSetMathMode(cublas_.get(), CUBLAS_DEFAULT_MATH));  // no TF32
#if GPEN_HAVE_CUDNN
    const cudnnStatus_t ds = cudnnCreate(cudnn_.out());
    if (CudnnOutOfMemory(ds)) {
      return GpuOutOfMemory("out of memory while creating the cuDNN handle");
    }
    if (ds != CUDNN_STATUS_SUCCESS) {
      return Unavailable("cuDNN could not be initialised (" + std::string(cudnnGetErrorString(ds)) +
                             "; library missing or too old for this driver)",
                         "install nvidia-cudnn-cu13 or rebuild with -DGPEN_CUDNN=OFF");
    }
    CUDNN_CHECK(cudnnSetStream(cudnn_.get(), stream_.get()));
#endif
    return Status::Ok();
  }

  // The weights (uploaded), the activation arena and the workspaces.
  Status AllocateDevice(const BackendOptions& o) {
    GPEN_TRY(weights_dev_.Allocate(layout_.blob.size(), "the model weights"));
    if (!layout_.blob.empty()) {  // a graph without weights (one-op tests) has nothing to upload
      CUDA_CHECK(cudaMemcpy(weights_dev_.get(), layout_.blob.data(), layout_.blob.size(),
                            cudaMemcpyHostToDevice));
    }
    layout_.blob = {};  // uploaded; the host copy is no longer needed
    GPEN_TRY(arena_.Allocate(static_cast<size_t>(plan_.arena_bytes), "the activation arena"));
    GPEN_TRY(workspace_.Allocate(workspace_bytes_, "convolution and GEMM workspace"));
    GPEN_TRY(cublas_ws_.Allocate(static_cast<size_t>(o.cublas_workspace), "the cuBLAS workspace"));
    CUBLAS_CHECK(cublasSetWorkspace(cublas_.get(), cublas_ws_.get(), cublas_ws_.bytes()));
    return Status::Ok();
  }

  // One slice table per style group, pointing into the arena.
  Status UploadStyleTables() {
    tables_.resize(layout_.groups.size());
    for (size_t gi = 0; gi < layout_.groups.size(); ++gi) {
      StyleTable& t = tables_[gi];
      for (const StyleSliceLayout& sl : layout_.groups[gi].slices) {
        t.slices.push_back(
            {static_cast<float*>(Ptr(sl.tensor)), sl.offset, sl.count, sl.normalize ? 1 : 0});
      }
      const size_t bytes = t.slices.size() * sizeof(kernels::StyleSlice);
      GPEN_TRY(t.dev.Allocate(bytes, "style tables"));
      CUDA_CHECK(cudaMemcpy(t.dev.get(), t.slices.data(), bytes, cudaMemcpyHostToDevice));
    }
    return Status::Ok();
  }

  // Pinned host buffers for the copies in and out (float32 each), and the timing events.
  Status AllocateStaging() {
    size_t in_bytes = 0, out_bytes = 0;
    for (int t : g_.inputs()) {
      in_bytes = std::max(in_bytes, static_cast<size_t>(g_.tensor(t).shape.numel()) * 4);
    }
    for (int t : g_.outputs()) {
      out_bytes = std::max(out_bytes, static_cast<size_t>(g_.tensor(t).shape.numel()) * 4);
    }
    GPEN_TRY(in_staging_.Allocate(in_bytes, "the input staging buffer"));
    GPEN_TRY(out_staging_.Allocate(out_bytes, "the output staging buffer"));
    GPEN_CUDA_TRY(cudaEventCreate(ev_start_.out()), "creating a CUDA event");
    GPEN_CUDA_TRY(cudaEventCreate(ev_stop_.out()), "creating a CUDA event");
    return Status::Ok();
  }

  // Records one pass as a CUDA graph. The capture is ended whatever happens, so the
  // stream is never left capturing.
  Status CaptureGraph() {
    CUDA_CHECK(cudaStreamBeginCapture(stream_.get(), cudaStreamCaptureModeThreadLocal));
    const Status run = RunNodes();
    CudaGraph graph;
    const cudaError_t end = cudaStreamEndCapture(stream_.get(), graph.out());
    if (!run.ok()) {
      (void)cudaGetLastError();  // the capture was abandoned; its error is not the news
      return run;
    }
    GPEN_CUDA_TRY(end, "capturing the CUDA graph");
    CudaGraphExec exec;
    GPEN_CUDA_TRY(cudaGraphInstantiate(exec.out(), graph.get(), 0), "instantiating the CUDA graph");
    graph_ = std::move(graph);
    graph_exec_ = std::move(exec);
    return Status::Ok();
  }

  // Per-node run-time state beyond the weight layout: FIR taps, convolution setup; then
  // the workspace layout: convolution scratch, style GEMM result, fp32 cast buffer.
  Status PrepareNodes() {
    const auto& nodes = g_.nodes();
    res_.resize(nodes.size());
    size_t conv_ws = 0;
    for (size_t i = 0; i < nodes.size(); ++i) {
      const Node& n = nodes[i];
      NodeRes& r = res_[i];
      if (IsDepthwise(n)) {
        GPEN_CHECK(IsHalf(n.in[0]) == IsHalf(n.out));  // our kernel: no library, no scratch
      } else if (n.kind == OpKind::kConv2d || n.kind == OpKind::kConvTranspose2d) {
        GPEN_CHECK(IsHalf(n.in[0]) == IsHalf(n.out));
        const bool transposed = n.kind == OpKind::kConvTranspose2d;
#if GPEN_HAVE_CUDNN
        GPEN_TRY(PrepareCudnnConv(n, transposed, &r));
#else
        GPEN_TRY(PrepareGemmConv(n, transposed, &r));
#endif
      } else if (n.kind == OpKind::kUpfirdn2d) {
        PrepareFir(n, &r);
      }
      conv_ws = std::max(conv_ws, r.workspace);
    }
    // conv_ws <= the cap: every algorithm and band was chosen within it.
    const ScratchLayout scratch = PlanScratch(conv_ws, layout_);
    style_offset_ = scratch.style_offset;
    cast_offset_ = scratch.cast_offset;
    workspace_bytes_ = scratch.total;
    return Status::Ok();
  }

  void PrepareFir(const Node& n, NodeRes* r) const {
    const Shape& xs = g_.tensor(n.in[0]).shape;  // (N, C, H, W)
    const Shape& ys = g_.tensor(n.out).shape;    // (N, C, Ho, Wo)
    GPEN_CHECK(n.weight.numel() <= 64);
    r->fir.type = Type(n.out);
    r->fir.planes = xs.n() * xs.c();
    r->fir.h = xs.h();
    r->fir.w = xs.w();
    r->fir.ho = ys.h();
    r->fir.wo = ys.w();
    const UpfirdnAttr& u = n.a<UpfirdnAttr>();
    r->fir.up = u.up;
    r->fir.down = u.down;
    r->fir.pad0 = u.pad0;
    r->fir.kh = static_cast<int>(n.weight.shape[0]);
    r->fir.kw = static_cast<int>(n.weight.shape[1]);
    std::copy(w_.data(n.weight), w_.data(n.weight) + n.weight.numel(), r->fir.kernel);
  }

  // A depthwise convolution (the only grouping Graph::AddNode admits) runs our kernel.
  static bool IsDepthwise(const Node& n) {
    return n.kind == OpKind::kConv2d && n.a<ConvAttr>().groups > 1;
  }

  static int64_t KernelSize(const Node& n) {
    return n.weight.shape[n.weight.shape.rank() - 1];
  }

#if GPEN_HAVE_CUDNN
  // Descriptors for the batch chunks, then the algorithm. A transposed convolution runs
  // as cuDNN's backward data: x is its dy, y its dx, the filter (K = Cin of x, C = Cout).
  Status PrepareCudnnConv(const Node& n, bool transposed, NodeRes* r) {
    const Shape& xs = g_.tensor(n.in[0]).shape;  // (N, Cin, H, W)
    const Shape& ys = g_.tensor(n.out).shape;    // (N, Cout, Ho, Wo)
    CudnnConv& c = r->cudnn;
    c.chunk = ConvBatchChunk(xs, ys);
    if (c.chunk == 0) {
      return ShapeError("convolution '" + n.name + "' " + xs.ToString() + " -> " + ys.ToString() +
                            ": one sample has more than 2^31 - 1 elements, more than cuDNN can "
                            "index",
                        "use --device cpu");
    }
    const cudnnDataType_t dt = IsHalf(n.out) ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
    const int64_t last = xs.n() % c.chunk;
    GPEN_TRY(MakeTensorDesc(&c.x, xs, c.chunk, dt));
    GPEN_TRY(MakeTensorDesc(&c.y, ys, c.chunk, dt));
    if (last > 0) {
      GPEN_TRY(MakeTensorDesc(&c.x_last, xs, last, dt));
      GPEN_TRY(MakeTensorDesc(&c.y_last, ys, last, dt));
    }
    GPEN_CUDNN_TRY(cudnnCreateFilterDescriptor(c.w.out()), "creating a cuDNN descriptor");
    GPEN_CUDNN_TRY(cudnnCreateConvolutionDescriptor(c.conv.out()), "creating a cuDNN descriptor");
    const int k = I32(KernelSize(n));
    if (transposed) {
      CUDNN_CHECK(cudnnSetFilter4dDescriptor(c.w.get(), dt, CUDNN_TENSOR_NCHW, I32(xs.c()),
                                             I32(ys.c()), k, k));
      CUDNN_CHECK(cudnnSetConvolution2dDescriptor(c.conv.get(), 0, 0, 2, 2, 1, 1,
                                                  CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    } else {
      CUDNN_CHECK(cudnnSetFilter4dDescriptor(c.w.get(), dt, CUDNN_TENSOR_NCHW, I32(ys.c()),
                                             I32(xs.c()), k, k));
      const ConvAttr& ca = n.a<ConvAttr>();
      CUDNN_CHECK(cudnnSetConvolution2dDescriptor(c.conv.get(), ca.pad, ca.pad, ca.stride,
                                                  ca.stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                                  CUDNN_DATA_FLOAT));
    }
    // The math types cuDNN may suggest: fp32 FMA only (CUDNN_DEFAULT_MATH would allow
    // TF32 on Ampere and later); fp16 tensor cores.
    const cudnnMathType_t math = IsHalf(n.out) ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
    CUDNN_CHECK(cudnnSetConvolutionMathType(c.conv.get(), math));
    return transposed ? ChooseBwdDataAlgo(n, r) : ChooseFwdAlgo(n, r);
  }

  Status ChooseFwdAlgo(const Node& n, NodeRes* r) {
    CudnnConv& c = r->cudnn;
    const cudnnHandle_t h = cudnn_.get();
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int count = 0;
    GPEN_CUDNN_TRY(
        cudnnGetConvolutionForwardAlgorithm_v7(h, c.x.get(), c.w.get(), c.conv.get(), c.y.get(),
                                               CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, perf),
        "choosing a cuDNN algorithm for '" + n.name + "'");
    auto workspace = [&](cudnnConvolutionFwdAlgo_t algo, size_t* bytes) {
      size_t full = 0, last = 0;
      if (cudnnGetConvolutionForwardWorkspaceSize(h, c.x.get(), c.w.get(), c.conv.get(), c.y.get(),
                                                  algo, &full) != CUDNN_STATUS_SUCCESS) {
        return false;
      }
      if (c.x_last.get() && cudnnGetConvolutionForwardWorkspaceSize(
                                h, c.x_last.get(), c.w.get(), c.conv.get(), c.y_last.get(), algo,
                                &last) != CUDNN_STATUS_SUCCESS) {
        return false;
      }
      *bytes = std::max(full, last);
      return true;
    };
    const auto* p =
        PickAlgo(perf, count, IsHalf(n.out), c.conv.get(), ws_limit_, workspace, &r->workspace);
    if (!p) return NoAlgorithm(n);
    c.fwd_algo = p->algo;
    return Status::Ok();
  }

  Status ChooseBwdDataAlgo(const Node& n, NodeRes* r) {
    CudnnConv& c = r->cudnn;
    const cudnnHandle_t h = cudnn_.get();
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int count = 0;
    GPEN_CUDNN_TRY(cudnnGetConvolutionBackwardDataAlgorithm_v7(
                       h, c.w.get(), c.x.get(), c.conv.get(), c.y.get(),
                       CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count, perf),
                   "choosing a cuDNN algorithm for '" + n.name + "'");
    auto workspace = [&](cudnnConvolutionBwdDataAlgo_t algo, size_t* bytes) {
      size_t full = 0, last = 0;
      if (cudnnGetConvolutionBackwardDataWorkspaceSize(h, c.w.get(), c.x.get(), c.conv.get(),
                                                       c.y.get(), algo,
                                                       &full) != CUDNN_STATUS_SUCCESS) {
        return false;
      }
      if (c.x_last.get() && cudnnGetConvolutionBackwardDataWorkspaceSize(
                                h, c.w.get(), c.x_last.get(), c.conv.get(), c.y_last.get(), algo,
                                &last) != CUDNN_STATUS_SUCCESS) {
        return false;
      }
      *bytes = std::max(full, last);
      return true;
    };
    const auto* p =
        PickAlgo(perf, count, IsHalf(n.out), c.conv.get(), ws_limit_, workspace, &r->workspace);
    if (!p) return NoAlgorithm(n);
    c.bwd_algo = p->algo;
    return Status::Ok();
  }

  Status NoAlgorithm(const Node& n) const {
    return Unavailable("cuDNN offers no deterministic" + std::string(half_ ? "" : " FMA-only") +
                           " algorithm within the " + std::to_string(ws_limit_ >> 20) +
                           " MiB workspace cap for convolution '" + n.name + "' " +
                           g_.tensor(n.in[0]).shape.ToString() + " -> " +
                           g_.tensor(n.out).shape.ToString(),
                       "rebuild with -DGPEN_CUDNN=OFF to use the cuBLAS path");
  }

  // One cuDNN call per batch chunk, at the chunk's offset in x and y.
  Status RunCudnnConv(const Node& n, const NodeRes& r, const NodeLayout& L, bool transposed) {
    const CudnnConv& c = r.cudnn;
    const Shape& xs = g_.tensor(n.in[0]).shape;  // (N, Cin, H, W)
    const Shape& ys = g_.tensor(n.out).shape;    // (N, Cout, Ho, Wo)
    const int64_t es = static_cast<int64_t>(ElemSize(n.out));
    const int64_t x_sample = xs.numel() / xs.n() * es, y_sample = ys.numel() / ys.n() * es;
    const float alpha = n.scale, beta = 0.f;
    for (int64_t b0 = 0; b0 < xs.n(); b0 += c.chunk) {
      const bool last = xs.n() - b0 < c.chunk;
      const cudnnTensorDescriptor_t xd = last ? c.x_last.get() : c.x.get();
      const cudnnTensorDescriptor_t yd = last ? c.y_last.get() : c.y.get();
      const void* x = static_cast<const char*>(Ptr(n.in[0])) + b0 * x_sample;
      void* y = static_cast<char*>(Ptr(n.out)) + b0 * y_sample;
      if (transposed) {
        GPEN_CUDNN_TRY(cudnnConvolutionBackwardData(cudnn_.get(), &alpha, c.w.get(), W(L.w), xd, x,
                                                    c.conv.get(), c.bwd_algo, workspace_.get(),
                                                    r.workspace, &beta, yd, y),
                       "running convolution '" + n.name + "'");
      } else {
        GPEN_CUDNN_TRY(
            cudnnConvolutionForward(cudnn_.get(), &alpha, xd, x, c.w.get(), W(L.w), c.conv.get(),
                                    c.fwd_algo, workspace_.get(), r.workspace, &beta, yd, y),
            "running convolution '" + n.name + "'");
      }
    }
    return Status::Ok();
  }
#else
  // im2col + cuBLAS: one sample at a time, in bands of rows whose column buffer fits the
  // workspace cap (output rows for a convolution, input rows for a transposed one).
  Status PrepareGemmConv(const Node& n, bool transposed, NodeRes* r) {
    const Shape& xs = g_.tensor(n.in[0]).shape;  // (N, Cin, H, W)
    const Shape& ys = g_.tensor(n.out).shape;    // (N, Cout, Ho, Wo)
    const int64_t k = KernelSize(n);
    const size_t es = IsHalf(n.out) ? 2 : 4;
    const size_t band_bytes = std::min(kGemmBandBytes, ws_limit_);
    if (transposed) {
      const int64_t rows_k = ys.c() * k * k;
      const int64_t band =
          std::clamp<int64_t>(int64_t(band_bytes / 4) / (rows_k * xs.w()), 1, xs.h());
      r->workspace = static_cast<size_t>(rows_k * band * xs.w()) * 4;  // fp32 cols
    } else {
      const int64_t kdim = xs.c() * k * k;
      const int64_t band =
          std::clamp<int64_t>(int64_t(band_bytes / es) / (kdim * ys.w()), 1, ys.h());
      r->workspace = static_cast<size_t>(kdim * band * ys.w()) * es;
    }
    if (r->workspace > ws_limit_) {
      return OutOfMemory("convolution '" + n.name + "' needs " +
                             std::to_string(r->workspace >> 20) +
                             " MiB of scratch for one row, above the planned cap",
                         "raise the memory budget");
    }
    return Status::Ok();
  }

  Status RunGemmConv(const Node& n, const NodeRes& r, const NodeLayout& L, bool transposed) {
    const Shape& xs = g_.tensor(n.in[0]).shape;  // (N, Cin, H, W)
    const Shape& ys = g_.tensor(n.out).shape;    // (N, Cout, Ho, Wo)
    const int64_t es = static_cast<int64_t>(ElemSize(n.out));
    for (int64_t b = 0; b < xs.n(); ++b) {
      const char* xb = static_cast<const char*>(Ptr(n.in[0])) + b * xs.c() * xs.h() * xs.w() * es;
      char* yb = static_cast<char*>(Ptr(n.out)) + b * ys.c() * ys.h() * ys.w() * es;
      GPEN_TRY(transposed ? GemmConvTransposedSample(n, r, L, xb, yb)
                          : GemmConvSample(n, r, L, xb, yb));
    }
    return Status::Ok();
  }

  // y (Cout, Ho*Wo) = W (Cout, Cin*k*k) x cols (Cin*k*k, Ho*Wo), band by band (cuBLAS's
  // column-major view: y^T = cols^T W^T).
  Status GemmConvSample(const Node& n, const NodeRes& r, const NodeLayout& L, const char* xb,
                        char* yb) {
    const Shape& xs = g_.tensor(n.in[0]).shape;
    const Shape& ys = g_.tensor(n.out).shape;
    const int64_t k = KernelSize(n), es = static_cast<int64_t>(ElemSize(n.out));
    const cudaDataType_t dt = IsHalf(n.out) ? CUDA_R_16F : CUDA_R_32F;
    const int64_t kdim = xs.c() * k * k;
    const int64_t band =
        std::max<int64_t>(1, static_cast<int64_t>(r.workspace) / es / (kdim * ys.w()));
    const float alpha = n.scale, beta = 0.f;
    void* ws = workspace_.get();
    for (int64_t r0 = 0; r0 < ys.h(); r0 += band) {
      const int64_t rows = std::min(band, ys.h() - r0);
      const int64_t ncol = rows * ys.w();
      const ConvAttr& ca = n.a<ConvAttr>();
      kernels::Im2colParams ip{xb,     ws,     Type(n.in[0]), xs.c(), xs.h(), xs.w(),
                               ys.w(), I32(k), ca.stride,     ca.pad, r0,     rows};
      kernels::LaunchIm2col(ip, stream_.get());
      GPEN_CUBLAS_TRY(cublasGemmEx(cublas_.get(), CUBLAS_OP_N, CUBLAS_OP_N, I32(ncol), I32(ys.c()),
                                   I32(kdim), &alpha, ws, dt, I32(ncol), W(L.w), dt, I32(kdim),
                                   &beta, yb + r0 * ys.w() * es, dt, I32(ys.h() * ys.w()),
                                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                      "running convolution '" + n.name + "'");
    }
    return Status::Ok();
  }

  // cols (Cout*k*k, rows*W) = W^T x band of x (Cin, rows*W), in fp32, scattered and
  // summed into y by col2im; y is zeroed first.
  Status GemmConvTransposedSample(const Node& n, const NodeRes& r, const NodeLayout& L,
                                  const char* xb, char* yb) {
    const Shape& xs = g_.tensor(n.in[0]).shape;
    const Shape& ys = g_.tensor(n.out).shape;
    const int64_t k = KernelSize(n), es = static_cast<int64_t>(ElemSize(n.out));
    const cudaDataType_t dt = IsHalf(n.out) ? CUDA_R_16F : CUDA_R_32F;
    const int64_t rows_k = ys.c() * k * k;
    const int64_t band =
        std::max<int64_t>(1, static_cast<int64_t>(r.workspace / 4) / (rows_k * xs.w()));
    const float alpha = n.scale, beta = 0.f;
    void* ws = workspace_.get();
    CUDA_CHECK(
        cudaMemsetAsync(yb, 0, static_cast<size_t>(ys.c() * ys.h() * ys.w() * es), stream_.get()));
    for (int64_t r0 = 0; r0 < xs.h(); r0 += band) {
      const int64_t rows = std::min(band, xs.h() - r0);
      const int64_t ncol = rows * xs.w();
      GPEN_CUBLAS_TRY(cublasGemmEx(cublas_.get(), CUBLAS_OP_N, CUBLAS_OP_N, I32(ncol), I32(rows_k),
                                   I32(xs.c()), &alpha, xb + r0 * xs.w() * es, dt,
                                   I32(xs.h() * xs.w()), W(L.w), dt, I32(xs.c()), &beta, ws,
                                   CUDA_R_32F, I32(ncol), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                      "running convolution '" + n.name + "'");
      kernels::Col2imParams cp{static_cast<const float*>(ws),
                               yb,
                               Type(n.out),
                               ys.c(),
                               xs.w(),
                               ys.h(),
                               ys.w(),
                               I32(k),
                               r0,
                               rows};
      kernels::LaunchCol2im(cp, stream_.get());
    }
    return Status::Ok();
  }
#endif

  Status RunConv(const Node& n, const NodeRes& r, const NodeLayout& L, bool transposed) {
#if GPEN_HAVE_CUDNN
    return RunCudnnConv(n, r, L, transposed);
#else
    return RunGemmConv(n, r, L, transposed);
#endif
  }

  // EqualLinear: y (N, M) = scale * x (N, K) W^T (fp32; an fp16 input is cast first),
  // then bias and activation.
  Status RunLinear(const Node& n, const NodeLayout& L) {
    cudaStream_t s = stream_.get();
    const Shape& xs = g_.tensor(n.in[0]).shape;
    const Shape& ys = g_.tensor(n.out).shape;  // (N, M)
    const int64_t batch = ys.n(), m = ys[1], k = xs.numel() / batch;
    const float* x = static_cast<const float*>(Ptr(n.in[0]));
    if (IsHalf(n.in[0])) {
      float* tmp = reinterpret_cast<float*>(static_cast<char*>(workspace_.get()) + cast_offset_);
      kernels::LaunchCast({Ptr(n.in[0]), StorageType::kF16, tmp, StorageType::kF32, xs.numel()}, s);
      x = tmp;
    }
    const float alpha = n.scale, beta = 0.f;
    GPEN_CUBLAS_TRY(
        cublasSgemm(cublas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, I32(m), I32(batch), I32(k), &alpha,
                    Wf(L.w), I32(k), x, I32(k), &beta, static_cast<float*>(Ptr(n.out)), I32(m)),
        "running linear layer '" + n.name + "'");
    kernels::LaunchBiasAct({Ptr(n.out), Ptr(n.out), StorageType::kF32, StorageType::kF32, Wf(L.b),
                            n.bias_scale, n.act, batch, m, 1},
                           s);
    return Status::Ok();
  }

  // A style group (computed with its leader): one GEMM for all its styles (N, total),
  // then the scatter into each style tensor with its bias.
  Status RunModStyle(const Node& n, const NodeLayout& L) {
    if (!L.style_leader) return Status::Ok();
    const StyleGroupLayout& sg = layout_.groups[L.style_group];
    const StyleTable& table = tables_[L.style_group];
    const int64_t batch = g_.tensor(n.out).shape.n();
    float* all = reinterpret_cast<float*>(static_cast<char*>(workspace_.get()) + style_offset_);
    const float alpha = sg.scale, beta = 0.f;
    GPEN_CUBLAS_TRY(
        cublasSgemm(cublas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, I32(sg.total), I32(batch), I32(sg.sd),
                    &alpha, Wf(sg.w), I32(sg.sd), static_cast<const float*>(Ptr(sg.input)),
                    I32(sg.sd), &beta, all, I32(sg.total)),
        "computing the styles of '" + n.name + "'");
    kernels::LaunchStyleScatter(
        {all, Wf(sg.b), sg.bias_scale, static_cast<const kernels::StyleSlice*>(table.dev.get()),
         static_cast<int64_t>(table.slices.size()), batch, sg.total},
        stream_.get());
    return Status::Ok();
  }

  void RunNoiseConcat(const Node& n, const NodeLayout& L) {
    const Shape& xs = g_.tensor(n.in[0]).shape;  // (N, C, H, W)
    kernels::NoiseConcatParams p{};
    p.x = Ptr(n.in[0]);
    const NoiseAttr& na = n.a<NoiseAttr>();
    p.feat = na.has_feat ? Ptr(n.in[1]) : nullptr;
    p.seed = na.seed;
    SetWindow(n, na.window, &p);
    p.weight = L.noise_weight;
    p.concat = na.concat;
    p.y = Ptr(n.out);
    p.type = Type(n.out);
    p.n = xs.n();
    p.c = xs.c();
    p.hw = xs.h() * xs.w();
    p.w = xs.w();
    kernels::LaunchNoiseConcat(p, stream_.get());
  }

  void RunMaskWindow(const Node& n) {
    const Shape& xs = g_.tensor(n.in[0]).shape;  // (N, C, H, W)
    kernels::MaskWindowParams p{};
    p.x = Ptr(n.in[0]);
    p.y = Ptr(n.out);
    p.type = Type(n.out);
    p.planes = xs.n() * xs.c();
    p.h = xs.h();
    p.w = xs.w();
    SetWindow(n, n.a<WindowAttr>(), &p);
    kernels::LaunchMaskWindow(p, stream_.get());
  }

  void RunDemodNoiseAct(const Node& n, const NodeLayout& L) {
    const Shape& xs = g_.tensor(n.in[0]).shape;  // (N, C, H, W)
    kernels::DemodNoiseActParams p{};
    p.y = Ptr(n.in[0]);
    p.d = static_cast<const float*>(Ptr(n.in[1]));
    const NoiseAttr& na = n.a<NoiseAttr>();
    p.feat = na.has_feat ? Ptr(n.in[2]) : nullptr;
    p.seed = na.seed;
    SetWindow(n, na.window, &p);
    p.noise_weight = L.noise_weight;
    p.concat = na.concat;
    p.bias = Wf(L.b);
    p.bias_scale = n.bias_scale;
    p.act = n.act;
    p.out = Ptr(n.out);
    p.type = Type(n.out);
    p.n = xs.n();
    p.c = xs.c();
    p.hw = xs.h() * xs.w();
    p.w = xs.w();
    kernels::LaunchDemodNoiseAct(p, stream_.get());
  }

  // nn.Conv2d(groups=C): the filter in the activations' precision (cuda_layout.cpp).
  void RunDepthwise(const Node& n, const NodeLayout& L) {
    const Shape& xs = g_.tensor(n.in[0]).shape;  // (N, C, H, W)
    const Shape& ys = g_.tensor(n.out).shape;    // (N, C, Ho, Wo)
    const ConvAttr& ca = n.a<ConvAttr>();
    GPEN_CHECK(Type(n.in[0]) == Type(n.out));
    kernels::LaunchDepthwiseConv2d(
        {Ptr(n.in[0]), W(L.w), Ptr(n.out), Type(n.out), xs.n(), xs.c(), xs.h(), xs.w(), ys.h(),
         ys.w(), static_cast<int>(KernelSize(n)), ca.stride, ca.pad, n.scale},
        stream_.get());
  }

  // torch.cat along C: one kernel copies every input (cheap to record in a CUDA graph).
  void RunConcat(const Node& n) {
    const Shape& ys = g_.tensor(n.out).shape;  // (N, sum C_i, H, W)
    std::vector<const void*> x;
    std::vector<int64_t> c;
    for (int t : n.in) {
      GPEN_CHECK(Type(t) == Type(n.out));
      x.push_back(Ptr(t));
      c.push_back(g_.tensor(t).shape.c());
    }
    kernels::LaunchConcat(x.data(), c.data(), static_cast<int>(x.size()), Ptr(n.out), Type(n.out),
                          ys.n(), ys.h() * ys.w(), stream_.get());
  }

  // One pass over the graph on stream_ (eager, or recorded by CaptureGraph).
  Status RunNodes() {
    for (size_t i = 0; i < g_.nodes().size(); ++i) GPEN_TRY(RunNode(i));
    return Status::Ok();
  }

  Status RunNode(size_t i) {
    cudaStream_t s = stream_.get();
    const Node& n = g_.nodes()[i];
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
        if (IsDepthwise(n)) {
          RunDepthwise(n, L);
          break;
        }
        return RunConv(n, r, L, false);
      case OpKind::kConvTranspose2d:
        return RunConv(n, r, L, true);
      case OpKind::kUpfirdn2d: {
        kernels::Upfirdn2dParams p = r.fir;
        p.x = Ptr(n.in[0]);
        p.y = Ptr(n.out);
        kernels::LaunchUpfirdn2d(p, s);
        break;
      }
      case OpKind::kBiasAct:
        kernels::LaunchBiasAct(
            {Ptr(n.in[0]), Ptr(n.out), Type(n.in[0]), Type(n.out), Wf(L.b), n.bias_scale, n.act,
             ys.n(), ys.c(), ys.numel() / (ys.n() * ys.c())},
            s);
        break;
      case OpKind::kLinear:
        return RunLinear(n, L);
      case OpKind::kPixelNorm:
        kernels::LaunchPixelNorm({static_cast<const float*>(Ptr(n.in[0])),
                                  static_cast<float*>(Ptr(n.out)), xs.n(), xs.numel() / xs.n()},
                                 s);
        break;
      case OpKind::kModStyle:
        return RunModStyle(n, L);
      case OpKind::kDemodCoef:
        kernels::LaunchDemodCoef({static_cast<const float*>(Ptr(n.in[0])), Wf(L.aux),
                                  static_cast<float*>(Ptr(n.out)), n.scale, ys.n(), xs[1], ys[1]},
                                 s);
        break;
      case OpKind::kScaleChannels:
        kernels::LaunchScaleChannels(
            {Ptr(n.in[0]), Ptr(n.out), Type(n.out), static_cast<const float*>(Ptr(n.in[1])),
             xs.n() * xs.c(), xs.numel() / (xs.n() * xs.c())},
            s);
        break;
      case OpKind::kNoiseConcat:
        RunNoiseConcat(n, L);
        break;
      case OpKind::kMaskWindow:
        RunMaskWindow(n);
        break;
      case OpKind::kCrop:
        kernels::LaunchCrop({Ptr(n.in[0]), Ptr(n.out), Type(n.out), xs.n() * xs.c(), xs.h(), xs.w(),
                             ys.h(), ys.w(), n.a<CropAttr>().y0, n.a<CropAttr>().x0},
                            s);
        break;
      case OpKind::kAdd: {
        const AddAttr& aa = n.a<AddAttr>();
        GPEN_CHECK(Type(n.in[0]) == Type(n.out) && Type(n.in[1]) == Type(n.out));
        kernels::LaunchAdd(
            {Ptr(n.in[0]), Ptr(n.in[1]), Ptr(n.out), Type(n.out), aa.alpha, aa.beta, ys.numel()},
            s);
        break;
      }
      case OpKind::kConcat:
        RunConcat(n);
        break;
      case OpKind::kUpsampleNearest:
        GPEN_CHECK(Type(n.in[0]) == Type(n.out));
        if (n.a<ResampleAttr>().out_h > 0) {
          kernels::LaunchUpsampleNearestTo({Ptr(n.in[0]), Ptr(n.out), Type(n.out), xs.n() * xs.c(),
                                            xs.h(), xs.w(), ys.h(), ys.w()},
                                           s);
          break;
        }
        kernels::LaunchUpsampleNearest({Ptr(n.in[0]), Ptr(n.out), Type(n.out), xs.n() * xs.c(),
                                        xs.h(), xs.w(), n.a<ResampleAttr>().factor},
                                       s);
        break;
      case OpKind::kPixelUnshuffle:
        GPEN_CHECK(Type(n.in[0]) == Type(n.out));
        kernels::LaunchPixelUnshuffle({Ptr(n.in[0]), Ptr(n.out), Type(n.out), xs.n() * xs.c(),
                                       ys.h(), ys.w(), n.a<ResampleAttr>().factor},
                                      s);
        break;
      case OpKind::kMaxPool2d: {
        GPEN_CHECK(Type(n.in[0]) == Type(n.out));
        const PoolAttr& pa = n.a<PoolAttr>();
        kernels::LaunchMaxPool2d({Ptr(n.in[0]), Ptr(n.out), Type(n.out), xs.n() * xs.c(), xs.h(),
                                  xs.w(), ys.h(), ys.w(), pa.k, pa.stride, pa.pad},
                                 s);
        break;
      }
      case OpKind::kModConv1x1:
        kernels::LaunchModConv1x1(
            {Ptr(n.in[0]), Type(n.in[0]), static_cast<const float*>(Ptr(n.in[1])), Wf(L.w), n.scale,
             static_cast<float*>(Ptr(n.out)), xs.n(), xs.c(), ys.c(),
             xs.numel() / (xs.n() * xs.c())},
            s);
        break;
      case OpKind::kDemodNoiseAct:
        RunDemodNoiseAct(n, L);
        break;
    }
    return Status::Ok();
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

Result<std::unique_ptr<Backend>> CreateCudaBackend(const Graph& g, const WeightStore& w,
                                                   const BackendOptions& o) {
  auto b = std::make_unique<cuda::CudaBackend>(g, w);
  GPEN_TRY(b->Init(o));
  return std::unique_ptr<Backend>(std::move(b));
}

}  // namespace gpen
