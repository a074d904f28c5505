// cudasim runtime: the CUDA runtime calls our engine and tests make, on the CPU.
//
// Device memory: heap blocks, poisoned with 0xFF (NaN as float and half) so that a
// read of memory no kernel wrote shows, tracked in a registry so that copies and
// sets are checked against their allocation, and counted against a simulated device
// size (GPEN_CUDASIM_MEMORY) so that out-of-memory paths can be exercised.
// Streams run work at once in submission order; a capturing stream records it
// instead, and cudaGraphLaunch replays the recording. Synchronous calls during a
// capture fail and invalidate it, as they do on a GPU.
#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cudasim/control.h"
#include "internal.h"

struct CUstream_st {
  bool capturing = false;
  bool invalidated = false;
  std::vector<std::function<void()>> recorded;
};
struct CUevent_st {
  bool recorded = false;
  std::chrono::steady_clock::time_point t;
};
struct CUgraph_st {
  std::vector<std::function<void()>> ops;
};
struct CUgraphExec_st {
  std::vector<std::function<void()>> ops;
};

namespace cudasim::internal {

namespace {

struct Registry {
  std::mutex mu;
  std::map<uintptr_t, size_t> device;  // base -> bytes
  std::set<void*> host;
  std::set<CUstream_st*> streams;
  std::set<CUevent_st*> events;
  size_t used = 0;
};

Registry& Reg() {
  static Registry* r = new Registry;  // never destroyed: RAII owners may outlive statics
  return *r;
}

thread_local cudaError_t g_last_error = cudaSuccess;

size_t ParseBytes(const char* s, size_t fallback) {
  if (!s || !*s) return fallback;
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || v < 0) return fallback;
  double mul = 1;
  switch (*end) {
    case 'K':
    case 'k':
      mul = 1024.0;
      break;
    case 'M':
    case 'm':
      mul = 1024.0 * 1024;
      break;
    case 'G':
    case 'g':
      mul = 1024.0 * 1024 * 1024;
      break;
    default:
      break;
  }
  return static_cast<size_t>(v * mul);
}

Config LoadConfig() {
  Config c;
  if (const char* d = std::getenv("GPEN_CUDASIM_DEVICES"))
    c.devices = std::string(d) == "nodriver" ? -1 : std::atoi(d);
  c.memory = ParseBytes(std::getenv("GPEN_CUDASIM_MEMORY"), c.memory);
  if (const char* o = std::getenv("GPEN_CUDASIM_ORDER")) {
    const std::string s(o);
    if (s == "reverse")
      c.order = Order::kReverse;
    else if (s == "shuffle")
      c.order = Order::kShuffle;
    else if (s != "forward")
      Report("GPEN_CUDASIM_ORDER='" + s + "' is not forward, reverse or shuffle; using forward");
  }
  if (const char* s = std::getenv("GPEN_CUDASIM_SEED")) c.seed = std::strtoull(s, nullptr, 10);
  if (const char* f = std::getenv("GPEN_CUDASIM_FIBERS"))
    c.always_fibers = std::string(f) == "always";
  if (const char* p = std::getenv("GPEN_CUDASIM_POISON"))
    c.poison = static_cast<int>(std::strtol(p, nullptr, 0) & 0xFF);
  return c;
}

bool AnyCapture() {
  Registry& r = Reg();
  std::lock_guard<std::mutex> lock(r.mu);
  for (CUstream_st* s : r.streams)
    if (s->capturing) return true;
  return false;
}

void InvalidateCaptures() {
  Registry& r = Reg();
  std::lock_guard<std::mutex> lock(r.mu);
  for (CUstream_st* s : r.streams)
    if (s->capturing) s->invalidated = true;
}

bool StreamLive(cudaStream_t s) {
  Registry& r = Reg();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.streams.count(s) != 0;
}

// The allocation containing p, or none.
bool Find(const void* p, uintptr_t* base, size_t* bytes) {
  Registry& r = Reg();
  std::lock_guard<std::mutex> lock(r.mu);
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = r.device.upper_bound(a);
  if (it == r.device.begin()) return false;
  --it;
  if (a >= it->first + std::max<size_t>(it->second, 1)) return false;
  *base = it->first;
  *bytes = it->second;
  return true;
}

size_t Granule(size_t bytes) {
  return (bytes + 255) / 256 * 256;
}

std::string Hex(uintptr_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

Config& GetConfig() {
  static Config c = LoadConfig();
  return c;
}

void Report(const std::string& message) {
  std::fprintf(stderr, "cudasim: %s\n", message.c_str());
}

void Abort(const std::string& message) {
  std::fprintf(stderr, "cudasim: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

void SetLastError(cudaError_t e) {
  g_last_error = e;
}

cudaError_t CheckNotCapturing(const char* api) {
  if (!AnyCapture()) return cudaSuccess;
  Report(std::string(api) +
         " is not allowed while a stream captures a CUDA graph; the capture is invalidated");
  InvalidateCaptures();
  return cudaErrorStreamCaptureUnsupported;
}

cudaError_t Submit(cudaStream_t stream, std::function<void()> op) {
  if (stream == nullptr) {
    if (AnyCapture()) {
      Report(
          "work on the legacy default stream while a stream captures a CUDA graph; the capture is "
          "invalidated");
      InvalidateCaptures();
      return cudaErrorStreamCaptureImplicit;
    }
    op();
    return cudaSuccess;
  }
  if (!StreamLive(stream)) {
    Report("work submitted to a stream that does not exist (destroyed or never created)");
    return cudaErrorInvalidResourceHandle;
  }
  if (stream->capturing) {
    stream->recorded.push_back(std::move(op));
    return cudaSuccess;
  }
  op();
  return cudaSuccess;
}

bool IsDevicePointer(const void* p) {
  uintptr_t base;
  size_t bytes;
  return Find(p, &base, &bytes);
}

bool DeviceRangeOk(const void* p, size_t bytes, const char* what) {
  uintptr_t base;
  size_t size;
  if (!Find(p, &base, &size)) {
    Report(std::string(what) + ": address 0x" + Hex(reinterpret_cast<uintptr_t>(p)) +
           " is not inside any device allocation");
    return false;
  }
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  if (a + bytes > base + size) {
    Report(std::string(what) + ": " + std::to_string(bytes) + " bytes at offset " +
           std::to_string(a - base) + " run past the end of a " + std::to_string(size) +
           "-byte device allocation");
    return false;
  }
  return true;
}

}  // namespace cudasim::internal

namespace cudasim {

namespace {
const float* MakeHalfTable() {
  static float table[65536];
  for (uint32_t i = 0; i < 65536; ++i) {
    const uint16_t bits = static_cast<uint16_t>(i);
    _Float16 h;
    std::memcpy(&h, &bits, 2);
    table[i] = static_cast<float>(h);
  }
  return table;
}
}  // namespace
extern const float* const kHalfToFloat = MakeHalfTable();

void SetMemoryLimit(size_t bytes) {
  internal::GetConfig().memory = bytes;
}
void SetDeviceCount(int devices) {
  internal::GetConfig().devices = devices;
}
size_t DeviceBytesInUse() {
  internal::Registry& r = internal::Reg();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.used;
}

}  // namespace cudasim

using namespace cudasim::internal;

namespace {

cudaError_t Fail(cudaError_t e) {
  SetLastError(e);
  return e;
}

cudaError_t DeviceAvailable() {
  const int d = GetConfig().devices;
  if (d < 0) return cudaErrorInsufficientDriver;
  if (d == 0) return cudaErrorNoDevice;
  return cudaSuccess;
}

bool KindOk(const void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, const char* api) {
  const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind == cudaMemcpyDefault) return true;
  if (dst_dev && !DeviceRangeOk(dst, bytes, (std::string(api) + " destination").c_str()))
    return false;
  if (src_dev && !DeviceRangeOk(src, bytes, (std::string(api) + " source").c_str())) return false;
  if (!dst_dev && IsDevicePointer(dst)) {
    Report(std::string(api) + ": the destination is device memory but the kind says host");
    return false;
  }
  if (!src_dev && IsDevicePointer(src)) {
    Report(std::string(api) + ": the source is device memory but the kind says host");
    return false;
  }
  return true;
}

cudaError_t DefaultRanges(void* dst, const void* src, size_t bytes, const char* api) {
  if (IsDevicePointer(dst) && !DeviceRangeOk(dst, bytes, api)) return cudaErrorInvalidValue;
  if (IsDevicePointer(src) && !DeviceRangeOk(src, bytes, api)) return cudaErrorInvalidValue;
  return cudaSuccess;
}

}  // namespace

cudaError_t cudaGetDeviceCount(int* count) {
  const cudaError_t e = DeviceAvailable();
  *count = e == cudaSuccess ? GetConfig().devices : 0;
  return e == cudaSuccess ? e : Fail(e);
}

cudaError_t cudaDriverGetVersion(int* version) {
  *version = GetConfig().devices < 0 ? 0 : 13000;
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* version) {
  *version = 13000;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (DeviceAvailable() != cudaSuccess) return Fail(DeviceAvailable());
  if (device < 0 || device >= GetConfig().devices) return Fail(cudaErrorInvalidDevice);
  *p = cudaDeviceProp{};
  std::snprintf(p->name, sizeof(p->name), "cudasim (CUDA emulated on the CPU)");
  p->totalGlobalMem = GetConfig().memory;
  p->sharedMemPerBlock = 48 << 10;
  p->sharedMemPerBlockOptin = 48 << 10;
  p->regsPerBlock = 65536;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 2147483647;
  p->maxGridSize[1] = p->maxGridSize[2] = 65535;
  p->major = 8;
  p->minor = 0;
  p->multiProcessorCount = 1;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (DeviceAvailable() != cudaSuccess) return Fail(DeviceAvailable());
  return device >= 0 && device < GetConfig().devices ? cudaSuccess : Fail(cudaErrorInvalidDevice);
}
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() {
  return CheckNotCapturing("cudaDeviceSynchronize");
}

cudaError_t cudaGetLastError() {
  const cudaError_t e = g_last_error;
  g_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() {
  return g_last_error;
}

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "cudaSuccess";
    case cudaErrorInvalidValue:
      return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation:
      return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError:
      return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration:
      return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer:
      return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection:
      return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorStubLibrary:
      return "cudaErrorStubLibrary";
    case cudaErrorInsufficientDriver:
      return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice:
      return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice:
      return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle:
      return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady:
      return "cudaErrorNotReady";
    case cudaErrorIllegalAddress:
      return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources:
      return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchFailure:
      return "cudaErrorLaunchFailure";
    case cudaErrorStreamCaptureUnsupported:
      return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated:
      return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureUnmatched:
      return "cudaErrorStreamCaptureUnmatched";
    case cudaErrorStreamCaptureImplicit:
      return "cudaErrorStreamCaptureImplicit";
    case cudaErrorUnknown:
      return "cudaErrorUnknown";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "no error";
    case cudaErrorInvalidValue:
      return "invalid argument";
    case cudaErrorMemoryAllocation:
      return "out of memory";
    case cudaErrorInitializationError:
      return "initialization error";
    case cudaErrorInvalidConfiguration:
      return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer:
      return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection:
      return "invalid copy direction for memcpy";
    case cudaErrorStubLibrary:
      return "CUDA driver is a stub library";
    case cudaErrorInsufficientDriver:
      return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice:
      return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice:
      return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle:
      return "invalid resource handle";
    case cudaErrorNotReady:
      return "device not ready";
    case cudaErrorIllegalAddress:
      return "an illegal memory access was encountered";
    case cudaErrorLaunchOutOfResources:
      return "too many resources requested for launch";
    case cudaErrorLaunchFailure:
      return "unspecified launch failure";
    case cudaErrorStreamCaptureUnsupported:
      return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated:
      return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureUnmatched:
      return "capture was not initiated in this stream";
    case cudaErrorStreamCaptureImplicit:
      return "operation would make the legacy stream depend on a capturing blocking stream";
    case cudaErrorUnknown:
      return "unknown error";
  }
  return "unknown error";
}

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  *ptr = nullptr;
  if (DeviceAvailable() != cudaSuccess) return Fail(DeviceAvailable());
  if (const cudaError_t e = CheckNotCapturing("cudaMalloc"); e != cudaSuccess) return Fail(e);
  Registry& r = Reg();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    if (r.used + Granule(bytes) > GetConfig().memory) return Fail(cudaErrorMemoryAllocation);
  }
  void* p = nullptr;
  if (posix_memalign(&p, 256, bytes ? bytes : 1) != 0) return Fail(cudaErrorMemoryAllocation);
  std::memset(p, GetConfig().poison, bytes);  // poison: NaN in float and half by default
  std::lock_guard<std::mutex> lock(r.mu);
  r.device[reinterpret_cast<uintptr_t>(p)] = bytes;
  r.used += Granule(bytes);
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  if (const cudaError_t e = CheckNotCapturing("cudaFree"); e != cudaSuccess) return Fail(e);
  Registry& r = Reg();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.device.find(reinterpret_cast<uintptr_t>(ptr));
    if (it == r.device.end()) {
      Report("cudaFree of a pointer that cudaMalloc did not return (or freed twice)");
      return Fail(cudaErrorInvalidValue);
    }
    r.used -= Granule(it->second);
    r.device.erase(it);
  }
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** ptr, size_t bytes) {
  *ptr = nullptr;
  if (DeviceAvailable() != cudaSuccess) return Fail(DeviceAvailable());
  void* p = std::malloc(bytes ? bytes : 1);
  if (!p) return Fail(cudaErrorMemoryAllocation);
  std::memset(p, GetConfig().poison, bytes);
  Registry& r = Reg();
  std::lock_guard<std::mutex> lock(r.mu);
  r.host.insert(p);
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFreeHost(void* ptr) {
  if (!ptr) return cudaSuccess;
  Registry& r = Reg();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    if (!r.host.erase(ptr)) {
      Report("cudaFreeHost of a pointer that cudaMallocHost did not return");
      return Fail(cudaErrorInvalidValue);
    }
  }
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  if (DeviceAvailable() != cudaSuccess) return Fail(DeviceAvailable());
  Registry& r = Reg();
  std::lock_guard<std::mutex> lock(r.mu);
  *total_bytes = GetConfig().memory;
  *free_bytes = GetConfig().memory > r.used ? GetConfig().memory - r.used : 0;
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault)
    return Fail(cudaErrorInvalidMemcpyDirection);
  if (!KindOk(dst, src, bytes, kind, "cudaMemcpy")) return Fail(cudaErrorInvalidValue);
  if (kind == cudaMemcpyDefault && DefaultRanges(dst, src, bytes, "cudaMemcpy") != cudaSuccess)
    return Fail(cudaErrorInvalidValue);
  const cudaError_t e = Submit(stream, [dst, src, bytes]() { std::memmove(dst, src, bytes); });
  return e == cudaSuccess ? e : Fail(e);
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (const cudaError_t e = CheckNotCapturing("cudaMemcpy"); e != cudaSuccess) return Fail(e);
  return cudaMemcpyAsync(dst, src, bytes, kind, nullptr);
}

cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  if (!DeviceRangeOk(dst, bytes, "cudaMemset")) return Fail(cudaErrorInvalidValue);
  const cudaError_t e = Submit(stream, [dst, value, bytes]() { std::memset(dst, value, bytes); });
  return e == cudaSuccess ? e : Fail(e);
}

cudaError_t cudaMemset(void* dst, int value, size_t bytes) {
  if (const cudaError_t e = CheckNotCapturing("cudaMemset"); e != cudaSuccess) return Fail(e);
  return cudaMemsetAsync(dst, value, bytes, nullptr);
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned) {
  if (DeviceAvailable() != cudaSuccess) return Fail(DeviceAvailable());
  *stream = new CUstream_st;
  Registry& r = Reg();
  std::lock_guard<std::mutex> lock(r.mu);
  r.streams.insert(*stream);
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  return cudaStreamCreateWithFlags(stream, 0);
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  Registry& r = Reg();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    if (!r.streams.erase(stream)) return Fail(cudaErrorInvalidResourceHandle);
  }
  delete stream;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (stream && !StreamLive(stream)) return Fail(cudaErrorInvalidResourceHandle);
  return CheckNotCapturing("cudaStreamSynchronize") == cudaSuccess
             ? cudaSuccess
             : Fail(cudaErrorStreamCaptureUnsupported);
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode) {
  if (!stream || !StreamLive(stream)) {
    Report(
        "cudaStreamBeginCapture needs a created stream (the legacy default stream cannot capture)");
    return Fail(cudaErrorStreamCaptureUnsupported);
  }
  if (stream->capturing) return Fail(cudaErrorInvalidValue);
  stream->capturing = true;
  stream->invalidated = false;
  stream->recorded.clear();
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  *graph = nullptr;
  if (!stream || !StreamLive(stream) || !stream->capturing)
    return Fail(cudaErrorStreamCaptureUnmatched);
  stream->capturing = false;
  if (stream->invalidated) {
    stream->recorded.clear();
    return Fail(cudaErrorStreamCaptureInvalidated);
  }
  *graph = new CUgraph_st{std::move(stream->recorded)};
  stream->recorded.clear();
  return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  *status = stream && stream->capturing ? (stream->invalidated ? cudaStreamCaptureStatusInvalidated
                                                               : cudaStreamCaptureStatusActive)
                                        : cudaStreamCaptureStatusNone;
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (!graph) return Fail(cudaErrorInvalidValue);
  *exec = new CUgraphExec_st{graph->ops};
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (!exec) return Fail(cudaErrorInvalidValue);
  const cudaError_t e = Submit(stream, [exec]() {
    for (const auto& op : exec->ops) op();
  });
  return e == cudaSuccess ? e : Fail(e);
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  *event = new CUevent_st;
  Registry& r = Reg();
  std::lock_guard<std::mutex> lock(r.mu);
  r.events.insert(*event);
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned) {
  return cudaEventCreate(event);
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  Registry& r = Reg();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    if (!r.events.erase(event)) return Fail(cudaErrorInvalidResourceHandle);
  }
  delete event;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!event) return Fail(cudaErrorInvalidResourceHandle);
  const cudaError_t e = Submit(stream, [event]() {
    event->recorded = true;
    event->t = std::chrono::steady_clock::now();
  });
  return e == cudaSuccess ? e : Fail(e);
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (!event) return Fail(cudaErrorInvalidResourceHandle);
  return CheckNotCapturing("cudaEventSynchronize") == cudaSuccess
             ? cudaSuccess
             : Fail(cudaErrorStreamCaptureUnsupported);
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!start || !end) return Fail(cudaErrorInvalidResourceHandle);
  if (!start->recorded || !end->recorded) return Fail(cudaErrorNotReady);
  *ms = std::chrono::duration<float, std::milli>(end->t - start->t).count();
  return cudaSuccess;
}
